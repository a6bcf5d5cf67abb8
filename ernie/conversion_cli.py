"""``ernie-convert`` / ``python tools/convert_checkpoint.py``: official ERNIE or HF transformers checkpoints
into our layout, and ours into an HF transformers folder (``--to hf``)."""

from __future__ import annotations

import argparse
import json
from typing import Optional

from .cli import run_cli, setup_logging
from .errors import UsageError

USAGE = """\
Convert an official PaddlePaddle/ERNIE checkpoint or an HF transformers ERNIE folder into a checkpoint
folder in our (PaddleNLP) layout, loadable by from_pretrained, tools/finetune.py and PaddleNLP; or, with
--to hf, one of ours into an HF transformers folder that transformers' from_pretrained loads.

examples:
  python tools/convert_checkpoint.py --input ERNIE_Base_en_stable-2.0.0/params \\
      --output checkpoints/ernie-2.0-base-en
  python tools/convert_checkpoint.py --input saved_weights.pdparams --head qa --output checkpoints/cmrc
  python tools/convert_checkpoint.py --input hf/ernie-2.0-base-en --output checkpoints/ernie-2.0-base-en
  python tools/convert_checkpoint.py --input checkpoints/sst2/best --to hf --output hf/ernie-sst2

Reads static params/ directories (one file per parameter), dygraph saved_weights.pdparams, and HF
folders (config.json with model.safetensors, or pytorch_model.bin when torch is installed). The
ernie_config.json and vocab.txt beside official weights, and an HF folder's tokenizer files, are carried.
Bad input: one line on stderr, exit status 2.
"""

# Options that only mean something for official checkpoints (flag -> argparse default).
OFFICIAL_ONLY = {"config": None, "vocab": None, "use_task_id": "auto", "cased": False, "head": "auto"}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ernie-convert", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input",
        required=True,
        help="official params/ dir, saved_weights.pdparams, a folder holding one, an HF folder, "
        "or (--to hf) a checkpoint folder",
    )
    parser.add_argument("--output", required=True, help="new checkpoint directory")
    parser.add_argument(
        "--to",
        choices=["paddle", "hf"],
        default="paddle",
        help="paddle: our (PaddleNLP) layout (default); hf: an HF transformers folder",
    )
    parser.add_argument("--config", help="official ernie_config.json (default: found beside the weights)")
    parser.add_argument(
        "--vocab", help="vocab.txt to save with an official checkpoint (default: found beside the weights)"
    )
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
    from .checkpoint import is_hf_checkpoint
    from .conversion import convert_hf_checkpoint, convert_official_checkpoint, export_hf_checkpoint

    if args.to == "hf" or is_hf_checkpoint(args.input):
        for flag, default in OFFICIAL_ONLY.items():
            if getattr(args, flag) != default:
                raise UsageError(f"--{flag} applies to official ERNIE checkpoints only")
        convert = export_hf_checkpoint if args.to == "hf" else convert_hf_checkpoint
        print(json.dumps(convert(args.input, args.output), ensure_ascii=False))
        return 0
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
