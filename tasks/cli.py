"""``ernie-pretrain`` / ``python tools/pretrain.py``: continual multi-task ERNIE 2.0 pre-training."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ernie.cli import run_cli, run_parser, setup_logging

from .config import PRETRAIN_KEYS

USAGE = """\
Continual multi-task ERNIE 2.0 pre-training: one process, or data parallel under fleetrun.

examples:
  python tools/pretrain.py --config configs/pretrain/demo_en.yaml
  python tools/pretrain.py --config configs/pretrain/ernie2_en.yaml --set data.dir=shards_en --set trainer.max_steps=1000
  fleetrun --nproc_per_node 8 tools/pretrain.py --config configs/pretrain/ernie2_en.yaml --resume auto

Writes checkpoints/step_N (loadable by from_pretrained, tools/finetune.py and PaddleNLP; `latest` names the
newest), log.jsonl and config.yaml under output_dir. --resume auto continues the newest checkpoint with
the same weights and losses as an uninterrupted run. Bad input: one line on stderr, exit status 2.
Task options and the stage format: tasks/README.md.
"""

FINETUNE_EXAMPLE = {
    "en": ("configs/finetune/glue/sst2.yaml", "path/to/glue/SST-2", "sst2"),
    "zh": ("configs/finetune/chinese/chnsenticorp.yaml", "path/to/chnsenticorp", "chnsenticorp"),
}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = run_parser(
        "ernie-pretrain", USAGE, PRETRAIN_KEYS, "pre-training YAML, e.g. configs/pretrain/demo_en.yaml"
    )
    return parser.parse_args(argv)


def _main() -> int:
    args = parse_args()
    setup_logging(verbose=not args.quiet)
    from ernie.engine import distributed

    from .config import load_pretrain_config
    from .run import run_pretraining

    config = load_pretrain_config(args.config, args.set)
    progress = not args.quiet and sys.stderr.isatty()
    result = run_pretraining(config, args.config, resume=args.resume, progress=progress)
    if distributed.rank() == 0 and not args.quiet:
        print(next_steps(config, result), file=sys.stderr)
    return 0


def next_steps(config: dict, result: dict) -> str:
    """What to do with the checkpoint; a demo says plainly what its model is for."""
    demo = config["data"]["build"].get("lang")
    lang = demo or result.get("language") or "en"
    recipe, data_dir, name = FINETUNE_EXAMPLE.get(lang, FINETUNE_EXAMPLE["en"])
    text = f"\nDone: {result['steps']} steps. Checkpoint: {result['checkpoint']}\n"
    if demo:
        text += (
            "This demo runs every task and stage of the pipeline on the bundled corpus (tens of KB, a "
            "vocabulary of about a thousand tokens): it checks the machinery, and its encoder has learned "
            "nothing a downstream task can use (fine-tuned, it stays near the majority class). A model "
            f"pre-trained on real text: configs/pretrain/small_{lang}.yaml (README: does pre-training help?).\n"
            "Fine-tuning any checkpoint works the same way:\n"
        )
    else:
        text += "Fine-tune it:\n"
    return text + (
        f"  python tools/finetune.py --config {recipe} --model_dir {result['checkpoint']} "
        f"--data_dir {data_dir} --output output/{name}"
    )


def main() -> None:
    run_cli(_main)
