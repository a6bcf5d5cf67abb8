"""Continual multi-task ERNIE 2.0 pre-training (the ``ernie-pretrain`` command): see ``--help``."""

from tasks.cli import main

if __name__ == "__main__":
    main()
