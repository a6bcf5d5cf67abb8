"""``ernie-predict`` / ``tools/predict.py``: run an export over a file of examples."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ..cli import run_cli
from .metadata import describe_fallback_defaults
from .predictor_args import add_predictor_arguments, predictor_from_args

DESCRIPTION = """\
Run an exported ERNIE model (tools/export.py) over a file of examples with Paddle Inference or ONNX
Runtime, as the export says or --backend chooses (the same command as ernie-predict).

Input (--format auto picks by extension, else by the first line): JSONL with `text_a` (+ `text_b`),
or `question` and `context` for question answering; TSV with a header naming those columns (GLUE's
`sentence`, `sentence1`/`sentence2`, QQP's `question1`/`question2` and QNLI's `question` + `sentence`
pairs too); plain text, one text per line, for single-text tasks.
`-` reads stdin. Blank lines are skipped and counted. Output: one JSON object per example, in
order: `label` and `probs` (classification), `score` (regression), `entities` (token classification,
character offsets into text_a), `answer` (question answering, character offsets into context),
`embedding` (bare encoder). A summary goes to stderr.

Input with gold answers is scored too (the summary ends with the metrics, x100, as fine-tuning's
results table): JSONL key `label` (a label, a score, or NER tags as a list or a string split by spaces
or \\x02, one per unit) or `answers` (QA: texts or SQuAD answer objects); TSV column `label`,
`gold_label` or `score` (`answer` for QA). The metrics are fine-tuning's for the benchmark the model
was fine-tuned on; otherwise accuracy (and F1 of the label with id 1 for two labels), Pearson/Spearman,
entity F1, EM/F1. Rows without one are counted; a label the model does not have is an error.

Features and decoding are fine-tuning's, with the settings the model was fine-tuned with (recorded
in the export from finetune_settings.json); the flags below override them only when given. An
export of a model without that file uses fine-tuning's defaults (the data.* keys of its configs):
  {defaults}.
"""

EXAMPLES = """\
examples:
  python tools/predict.py --model exported/sst2/ --input dev.tsv --output preds.jsonl  # dev accuracy too
  echo '{"question": "...", "context": "..."}' | python tools/predict.py --model exported/cmrc/ --input -
  python tools/predict.py --model exported/ner/inference --input texts.txt --ner_units words --threads 4
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION.format(defaults=describe_fallback_defaults()),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, help="input file, or - for stdin")
    parser.add_argument(
        "--output", default=None, help="output JSONL file (default: stdout); written whole or not at all"
    )
    parser.add_argument("--format", default="auto", choices=["auto", "jsonl", "tsv", "text"])
    add_predictor_arguments(parser)
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from .predict_file import check_output_path, predict_file

    check_output_path(args.output)  # before the model loads
    predictor = predictor_from_args(args)
    summary = predict_file(predictor, args.input, args.output, fmt=args.format)
    print(summary, file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: bad input ends with one line on stderr and exit status 2."""
    run_cli(lambda: run(argv))


__all__ = ["build_parser", "main", "run"]
