"""``ernie-export`` / ``tools/export.py``: export a checkpoint for ``ernie-predict``."""

from __future__ import annotations

import argparse
import json
from typing import Optional

from ..cli import run_cli, setup_logging
from .metadata import BACKENDS, DEFAULT_BACKEND, FP32, PRECISIONS, describe_fallback_defaults

DESCRIPTION = """\
Export a fine-tuned (or bare) ERNIE checkpoint to a Paddle Inference model for tools/predict.py
(the same command as ernie-export).

Writes PREFIX.json (PREFIX.pdmodel before PIR) and PREFIX.pdiparams, the tokenizer files beside them,
and PREFIX.predictor.json (head, labels, inputs and the predictor's defaults) that the predictor reads.
The head comes from `architectures` in config.json (the bare encoder when none). Labels come from
--labels, else config.json's `id2label`, else finetune_settings.json; a sequence classifier with none of
them (PaddleNLP leaves `id2label` out when it is its default) gets `0..n-1`, n counted from its
classifier's weights, and the export says so (token classification needs named tags). The predictor's
defaults are what the model was fine-tuned with, copied from the finetune_settings.json that fine-tuning
writes into best/ and every checkpoint: max_seq_len;
for QA doc_stride, max_query_len, max_answer_len, n_best; for NER the units (characters or words).
A model without that file (a PaddleNLP checkpoint, a bare encoder) gets max_seq_len
min(512, max_position_embeddings) and fine-tuning's defaults:
  {defaults}.
A directory as --output means DIR/inference.

--precision chooses what the predictor runs: fp32 (default: the exact outputs; the others change them
and pay off on CPUs with VNNI or avx512_bf16, see the README's benchmarks), bf16 (Paddle Inference with
oneDNN, on CPUs with avx512_bf16; elsewhere the predictor runs fp32 and says so) or int8 (ONNX Runtime's
dynamic quantization, PREFIX.int8.onnx; needs paddle2onnx and onnxruntime). --backend records the runtime that
serves it by default (paddle, or onnxruntime: fp32 adds PREFIX.onnx), and tools/predict.py --backend
overrides it when the export has that runtime's files. Defaults, chosen by bench/inference.py:
{backends}.
--calibrate FILE runs the new export over FILE (predict.py's input; gold answers optional) in fp32 and as
exported, then prints and records the agreement, the largest difference and, with gold answers, both
scores (key `calibration` of PREFIX.predictor.json).
"""

EXAMPLES = """\
examples:
  python tools/export.py --model_dir runs/sst2/best --output exported/sst2/
  python tools/export.py --model_dir runs/cmrc2018/best --output exported/cmrc/inference --max_seq_len 384
  python tools/export.py --model_dir paddlenlp_ckpt --output exported/cls/ --labels negative,positive --onnx
  python tools/export.py --model_dir runs/sst2/best --output exported/sst2-int8/ --precision int8 --calibrate dev.tsv
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION.format(
            defaults=describe_fallback_defaults(),
            backends=", ".join(f"{precision} on {backend}" for precision, backend in DEFAULT_BACKEND.items()),
        ),
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
        "--labels",
        default=None,
        help="comma-separated labels in id order (default: config.json's id2label, else 0..n-1)",
    )
    parser.add_argument("--onnx", action="store_true", help="also write PREFIX.onnx (needs paddle2onnx)")
    parser.add_argument("--opset_version", type=int, default=13, help="ONNX opset (with --onnx)")
    parser.add_argument(
        "--precision", default=FP32, choices=PRECISIONS, help="what the predictor runs (default: %(default)s)"
    )
    parser.add_argument(
        "--backend", default=None, choices=BACKENDS, help="the runtime that serves it by default (see above)"
    )
    parser.add_argument(
        "--calibrate",
        metavar="FILE",
        default=None,
        help="examples (JSONL/TSV/text, gold answers optional) to measure agreement with fp32 on",
    )
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
        precision=args.precision,
        backend=args.backend,
        calibrate=args.calibrate,
    )
    summary = {
        "prefix": result.prefix,
        "head": result.head,
        "files": result.files,
        "labels": result.meta["labels"],
        "labels_source": result.meta["labels_source"],
        "inputs": result.meta["inputs"],
        "max_seq_len": result.meta["max_seq_len"],
        "finetune_settings": result.meta["finetune_settings"],
        "precision": result.meta["precision"],
        "backend": result.meta["backend"],
        "calibration": result.meta["calibration"],
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: bad input ends with one line on stderr and exit status 2."""
    run_cli(lambda: run(argv))


__all__ = ["build_parser", "main", "run"]
