"""Fine-tune ERNIE on a benchmark with its official recipe (the ``ernie-finetune`` command): see ``--help``."""

from ernie.finetune.cli import main

if __name__ == "__main__":
    main()
