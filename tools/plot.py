"""Draw runs' log.jsonl into PNG figures (the ``ernie-plot`` command): see ``--help``."""

from ernie.engine.plot import main

if __name__ == "__main__":
    main()
