"""Convert an official ERNIE checkpoint into our layout (the ``ernie-convert`` command): see ``--help``."""

from ernie.conversion_cli import main

if __name__ == "__main__":
    main()
