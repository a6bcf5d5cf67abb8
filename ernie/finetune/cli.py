"""``ernie-finetune`` / ``python tools/finetune.py``: fine-tune ERNIE on a benchmark with its official recipe."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ..cli import run_cli, run_parser, setup_logging
from .config import FINETUNE_KEYS

USAGE = """\
Fine-tune ERNIE on a GLUE, Chinese or CLUE benchmark with its official recipe (one process, or data
parallel under fleetrun: the same global batch gives the same model).

examples:
  python tools/finetune.py --config configs/finetune/glue/sst2.yaml --model_dir MODEL --data_dir glue/SST-2 --output out/sst2
  python tools/finetune.py ... --output out/sst2 --resume auto          # continue a killed run exactly
  python tools/finetune.py ... --set trainer.max_steps=100 --set trainer.micro_batch_size=8
  fleetrun --nproc_per_node 2 tools/finetune.py --config ... --model_dir ... --data_dir ... --output ...

Without any --do_* flag it trains, evaluates and predicts, skipping splits whose files are absent; with
flags, the files they need must exist. Writes log.jsonl, checkpoints/, best/, results.json, predictions/
and submission/ under --output. Bad input: one line on stderr, exit status 2.
"""


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = run_parser(
        "ernie-finetune", USAGE, FINETUNE_KEYS, "recipe YAML, e.g. configs/finetune/glue/sst2.yaml"
    )
    parser.add_argument("--model_dir", help="checkpoint dir: ours, PaddleNLP's, or a converted official one")
    parser.add_argument("--data_dir", help="folder with the benchmark's files as distributed")
    parser.add_argument("--output", help="output dir (sets output_dir)")
    parser.add_argument("--do_train", action="store_true", help="train (needs data.train and data.dev files)")
    parser.add_argument("--do_eval", action="store_true", help="evaluate on the dev files")
    parser.add_argument("--do_predict", action="store_true", help="predict the test files")
    parser.add_argument("--strict", action="store_true", help="malformed rows are an error (exit 2)")
    return parser.parse_args(argv)


def _main() -> int:
    args = parse_args()
    setup_logging(verbose=not args.quiet)
    from . import load_finetune_config, run_finetune

    config = load_finetune_config(args.config, args.set)
    for key, value in (
        ("model_dir", args.model_dir),
        ("data_dir", args.data_dir),
        ("output_dir", args.output),
    ):
        if value:
            config[key] = value
    if args.strict:
        config["strict"] = True
    explicit = args.do_train or args.do_eval or args.do_predict
    run_finetune(
        config,
        do_train=args.do_train or not explicit,
        do_eval=args.do_eval or not explicit,
        do_predict=args.do_predict or not explicit,
        files_required=explicit,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    return 0


def main() -> None:
    run_cli(_main)
