"""``ernie-predict`` / ``tools/predict.py``: run an export over a file of examples."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ..cli import run_cli
from ..finetune.settings_file import NER_UNITS
from .errors import ServingError
from .metadata import QUESTION_ANSWERING, decoding_defaults, describe_fallback_defaults

DESCRIPTION = """\
Run an exported ERNIE model (tools/export.py) over a file of examples with Paddle Inference
(the same command as ernie-predict).

Input (--format auto picks by extension, else by the first line): JSONL with `text_a` (+ `text_b`),
or `question` and `context` for question answering; TSV with a header naming those columns (GLUE's
`sentence`, `sentence1`, `sentence2` too); plain text, one text per line, for single-text tasks.
`-` reads stdin. Blank lines are skipped and counted. Output: one JSON object per example, in
order: `label` and `probs` (classification), `score` (regression), `entities` (token classification,
character offsets into text_a), `answer` (question answering, character offsets into context),
`embedding` (bare encoder). A summary goes to stderr.

Features and decoding are fine-tuning's, with the settings the model was fine-tuned with (recorded
in the export from finetune_settings.json); the flags below override them only when given. An
export of a model without that file uses fine-tuning's defaults (the data.* keys of its configs):
  {defaults}.
"""

EXAMPLES = """\
examples:
  python tools/predict.py --model exported/sst2/ --input dev.tsv --output preds.jsonl
  echo '{"question": "...", "context": "..."}' | python tools/predict.py --model exported/cmrc/ --input -
  python tools/predict.py --model exported/ner/inference --input texts.txt --ner_units words --threads 4
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION.format(defaults=describe_fallback_defaults()),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, help="export prefix (or its directory, meaning DIR/inference)"
    )
    parser.add_argument("--input", required=True, help="input file, or - for stdin")
    parser.add_argument(
        "--output", default=None, help="output JSONL file (default: stdout); written whole or not at all"
    )
    parser.add_argument("--format", default="auto", choices=["auto", "jsonl", "tsv", "text"])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--no_onednn", action="store_true", help="CPU: run without oneDNN kernels")
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
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        raise ServingError(f"--threads: must be a positive integer, got {args.threads}")
    from .predict_file import check_output_path, predict_file
    from .predictor import Predictor

    check_output_path(args.output)  # before the model loads
    predictor = Predictor(
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
    )
    summary = predict_file(predictor, args.input, args.output, fmt=args.format)
    print(summary, file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: bad input ends with one line on stderr and exit status 2."""
    run_cli(lambda: run(argv))


__all__ = ["build_parser", "main", "run"]
