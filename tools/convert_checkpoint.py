"""Convert an official PaddlePaddle/ERNIE checkpoint into our (PaddleNLP-layout) checkpoint directory.

    python tools/convert_checkpoint.py --input ERNIE_Base_en_stable-2.0.0/params \
        --config ERNIE_Base_en_stable-2.0.0/ernie_config.json --vocab ERNIE_Base_en_stable-2.0.0/vocab.txt \
        --output checkpoints/ernie-2.0-base-en

Reads static ``params/`` directories (one file per parameter) and dygraph ``saved_weights.pdparams``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ernie.cli import run_cli, setup_logging  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
    args = parser.parse_args()
    setup_logging()
    from ernie.checkpoint import convert_official_checkpoint

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


if __name__ == "__main__":
    run_cli(main)
