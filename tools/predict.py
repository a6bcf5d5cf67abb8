"""Run an exported model over a file of examples (see --help, or ernie/serving/predict_cli.py)."""

# Importing ``ernie`` before paddle sets MKL_DEBUG_CPU_TYPE=5 on AMD CPUs (see ernie/__init__.py).
from ernie.serving.predict_cli import main

if __name__ == "__main__":
    main()
