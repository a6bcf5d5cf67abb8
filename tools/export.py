"""Export a fine-tuned (or bare) ERNIE checkpoint to a Paddle Inference model for tools/predict.py.

    python tools/export.py --model_dir runs/sst2/best --output exported/sst2/inference [--max_seq_len 128] [--onnx]

Writes PREFIX.json (PREFIX.pdmodel before PIR) and PREFIX.pdiparams, the tokenizer files beside them,
and PREFIX.predictor.json (head, labels, inputs, max_seq_len) that the predictor reads. The head
comes from `architectures` in config.json (the bare encoder when none); classification heads need
`id2label` (or --labels). A directory as --output means DIR/inference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
warnings.filterwarnings("ignore", message=".*ccache.*")

from ernie.cli import run_cli, setup_logging  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model_dir",
        required=True,
        help="checkpoint directory (config.json, model_state.pdparams, vocab.txt)",
    )
    parser.add_argument(
        "--output", required=True, help="output prefix, e.g. exported/inference (or a directory)"
    )
    parser.add_argument(
        "--max_seq_len",
        type=int,
        default=None,
        help="default max tokens per input for the predictor (default: min(512, max_position_embeddings))",
    )
    parser.add_argument(
        "--labels", default=None, help="comma-separated labels in id order, for a checkpoint without id2label"
    )
    parser.add_argument("--onnx", action="store_true", help="also write PREFIX.onnx (needs paddle2onnx)")
    parser.add_argument("--opset_version", type=int, default=13, help="ONNX opset (with --onnx)")
    args = parser.parse_args()
    setup_logging()
    from ernie.inference import export_model

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    result = export_model(
        args.model_dir,
        args.output,
        max_seq_len=args.max_seq_len,
        onnx=args.onnx,
        labels=labels,
        opset_version=args.opset_version,
    )
    print(
        json.dumps(
            {
                "prefix": result.prefix,
                "head": result.head,
                "files": result.files,
                "labels": result.meta["labels"],
                "inputs": result.meta["inputs"],
                "max_seq_len": result.meta["max_seq_len"],
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
