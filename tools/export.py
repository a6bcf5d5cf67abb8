"""Export a checkpoint to a Paddle Inference model (see --help, or ernie/serving/export_cli.py)."""

from ernie.serving.export_cli import main

if __name__ == "__main__":
    main()
