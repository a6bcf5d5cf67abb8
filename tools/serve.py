"""Serve an exported model over HTTP (see --help, or ernie/serving/serve_cli.py)."""

# Importing ``ernie`` before paddle sets MKL_DEBUG_CPU_TYPE=5 on AMD CPUs (see ernie/__init__.py).
from ernie.serving.serve_cli import main

if __name__ == "__main__":
    main()
