"""``ernie-convert`` / ``python tools/convert_checkpoint.py``: an official ERNIE checkpoint into our layout."""

from __future__ import annotations

import argparse
import json
from typing import Optional

from .cli import run_cli, setup_logging

USAGE = """\
Convert an official PaddlePaddle/ERNIE checkpoint into a checkpoint folder in our (PaddleNLP) layout,
loadable by from_pretrained, tools/finetune.py and PaddleNLP.

examples:
  python tools/convert_checkpoint.py --input ERNIE_Base_en_stable-2.0.0/params \\
      --config ERNIE_Base_en_stable-2.0.0/ernie_config.json --vocab ERNIE_Base_en_stable-2.0.0/vocab.txt \\
      --output checkpoints/ernie-2.0-base-en
  python tools/convert_checkpoint.py --input saved_weights.pdparams --head qa --output checkpoints/cmrc

Reads static params/ directories (one file per parameter) and dygraph saved_weights.pdparams.
Bad input: one line on stderr, exit status 2.
"""


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ernie-convert", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input", required=True, help="official params/ dir, saved_weights.pdparams, or a folder holding one"
    )
    parser.add_argument("--output", required=True, help="new checkpoint directory")
    parser.add_argument("--config", help="official ernie_config.json (default: found beside the weights)")
    parser.add_argument("--vocab", help="vocab.txt to save with the checkpoint (token or token<TAB>id lines)")
    parser.add_argument(
        "--use_task_id",
        choices=["auto", "yes", "no"],
        default="auto",
        help="keep the task embedding: auto follows the config (off for the released configs)",
    )
    parser.add_argument("--cased", action="store_true", help="the vocabulary is cased (no lower-casing)")
    parser.add_argument(
        "--head",
        choices=["auto", "sequence", "token", "qa"],
        default="auto",
        help="model of the classifier weights; auto reads the static names (dygraph QA/tagging need it)",
    )
    return parser.parse_args(argv)


def _main() -> int:
    args = parse_args()
    setup_logging()
    from .conversion import convert_official_checkpoint

    summary = convert_official_checkpoint(
        args.input,
        args.output,
        config_path=args.config,
        vocab_file=args.vocab,
        use_task_id=args.use_task_id,
        do_lower_case=not args.cased,
        head=args.head,
    )
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def main() -> None:
    run_cli(_main)
