"""Convert official ERNIE or HF transformers checkpoints into our layout, or ours into an HF folder
(the ``ernie-convert`` command): see ``--help``."""

from ernie.conversion_cli import main

if __name__ == "__main__":
    main()
