"""``ernie-export`` / ``tools/export.py``: export a checkpoint for ``ernie-predict``."""

from __future__ import annotations

import argparse
import json
from typing import Optional

from ..cli import run_cli, setup_logging
from .metadata import describe_fallback_defaults

DESCRIPTION = """\
Export a fine-tuned (or bare) ERNIE checkpoint to a Paddle Inference model for tools/predict.py
(the same command as ernie-export).

Writes PREFIX.json (PREFIX.pdmodel before PIR) and PREFIX.pdiparams, the tokenizer files beside them,
and PREFIX.predictor.json (head, labels, inputs and the predictor's defaults) that the predictor reads.
The head comes from `architectures` in config.json (the bare encoder when none); classification heads
need `id2label` (or --labels). The predictor's defaults are what the model was fine-tuned with, copied
from the finetune_settings.json that fine-tuning writes into best/ and every checkpoint: max_seq_len;
for QA doc_stride, max_query_len, max_answer_len, n_best; for NER the units (characters or words).
A model without that file (a PaddleNLP checkpoint, a bare encoder) gets max_seq_len
min(512, max_position_embeddings) and fine-tuning's defaults:
  {defaults}.
A directory as --output means DIR/inference.
"""

EXAMPLES = """\
examples:
  python tools/export.py --model_dir runs/sst2/best --output exported/sst2/
  python tools/export.py --model_dir runs/cmrc2018/best --output exported/cmrc/inference --max_seq_len 384
  python tools/export.py --model_dir paddlenlp_ckpt --output exported/cls/ --labels negative,positive --onnx
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION.format(defaults=describe_fallback_defaults()),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="default max tokens per input for the predictor (default: finetune_settings.json's, "
        "else min(512, max_position_embeddings))",
    )
    parser.add_argument(
        "--labels", default=None, help="comma-separated labels in id order, for a checkpoint without id2label"
    )
    parser.add_argument("--onnx", action="store_true", help="also write PREFIX.onnx (needs paddle2onnx)")
    parser.add_argument("--opset_version", type=int, default=13, help="ONNX opset (with --onnx)")
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    from .export import export_model

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    result = export_model(
        args.model_dir,
        args.output,
        max_seq_len=args.max_seq_len,
        onnx=args.onnx,
        labels=labels,
        opset_version=args.opset_version,
    )
    summary = {
        "prefix": result.prefix,
        "head": result.head,
        "files": result.files,
        "labels": result.meta["labels"],
        "inputs": result.meta["inputs"],
        "max_seq_len": result.meta["max_seq_len"],
        "finetune_settings": result.meta["finetune_settings"],
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: bad input ends with one line on stderr and exit status 2."""
    run_cli(lambda: run(argv))


__all__ = ["build_parser", "main", "run"]
