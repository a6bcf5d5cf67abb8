"""The predictor's command-line flags, shared by the tools that load an export (``ernie-predict``,
``ernie-serve``): added to a parser, then turned into a ``Predictor``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Union

from ..finetune.settings_file import NER_UNITS
from .errors import ServingError
from .metadata import BACKENDS, QUESTION_ANSWERING, decoding_defaults

if TYPE_CHECKING:
    from .predictor import Predictor


def add_predictor_arguments(parser: Union[argparse.ArgumentParser, argparse._ArgumentGroup]) -> None:
    """``--model`` and the Predictor's settings; those left unset take the export's values."""
    parser.add_argument(
        "--model", required=True, help="export prefix (or its directory, meaning DIR/inference)"
    )
    parser.add_argument("--batch_size", type=int, default=32, help="features per run of the program")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument(
        "--no_onednn", action="store_true", help="CPU, paddle backend: run without oneDNN kernels"
    )
    parser.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="the runtime: paddle (Paddle Inference: fp32, bf16) or onnxruntime (ONNX Runtime, optional "
        "package: fp32, int8); default: the export's (its precision is always the export's)",
    )
    parser.add_argument(
        "--max_seq_len", type=int, default=None, help="max tokens per feature (default: the export's)"
    )
    parser.add_argument(
        "--doc_stride",
        type=int,
        default=None,
        help="QA: tokens between document window starts (default: the export's)",
    )
    parser.add_argument(
        "--max_query_len", type=int, default=None, help="QA: question tokens kept (default: the export's)"
    )
    parser.add_argument(
        "--max_answer_len",
        type=int,
        default=None,
        help="QA: longest answer in tokens (default: the model's fine-tuning setting, else fine-tuning's "
        f"data.max_answer_len, {decoding_defaults(None, QUESTION_ANSWERING)['max_answer_len']})",
    )
    parser.add_argument(
        "--n_best", type=int, default=None, help="QA: start/end candidates per window (default: the export's)"
    )
    parser.add_argument(
        "--ner_units",
        default=None,
        choices=NER_UNITS,
        help="NER: what one tag covers, each non-whitespace character or each whitespace-separated word "
        "(default: the model's fine-tuning setting, else characters)",
    )


def predictor_from_args(args: argparse.Namespace) -> Predictor:
    """The Predictor the parsed flags describe (this loads paddle and the model)."""
    if args.threads is not None and args.threads < 1:
        raise ServingError(f"--threads: must be a positive integer, got {args.threads}")
    from .predictor import Predictor

    return Predictor(
        args.model,
        device=args.device,
        threads=args.threads,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        use_onednn=not args.no_onednn,
        doc_stride=args.doc_stride,
        max_query_len=args.max_query_len,
        max_answer_len=args.max_answer_len,
        n_best=args.n_best,
        ner_units=args.ner_units,
        backend=args.backend,
    )


__all__ = ["add_predictor_arguments", "predictor_from_args"]
