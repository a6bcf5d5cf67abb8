"""Continual multi-task ERNIE 2.0 pre-training: one process, or data parallel under fleetrun.

    python tools/pretrain.py --config configs/pretrain/demo_en.yaml [--set trainer.max_steps=100] [--resume auto]
    fleetrun --nproc_per_node 8 tools/pretrain.py --config configs/pretrain/ernie2_en.yaml --resume auto

Writes checkpoints/ (step_N folders loadable by from_pretrained and tools/finetune.py, and a `latest`
pointer), log.jsonl and config.yaml under output_dir. --resume auto continues the newest checkpoint
exactly. Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ernie.cli import run_cli, setup_logging  # noqa: E402

FINETUNE_EXAMPLE = {
    "en": ("configs/finetune/glue/sst2.yaml", "path/to/glue/SST-2", "sst2"),
    "zh": ("configs/finetune/chinese/chnsenticorp.yaml", "path/to/chnsenticorp", "chnsenticorp"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", required=True, help="pre-training YAML, e.g. configs/pretrain/demo_en.yaml"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (model.<key> too)",
    )
    parser.add_argument(
        "--resume",
        metavar="auto|DIR",
        help="auto: continue from output_dir's newest checkpoint; or a checkpoint dir",
    )
    parser.add_argument("--quiet", action="store_true", help="warnings only, no progress bar")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    setup_logging(verbose=not args.quiet)
    from ernie import distributed
    from tasks.config import load_pretrain_config
    from tasks.runner import run_pretraining

    config = load_pretrain_config(args.config, args.set)
    progress = not args.quiet and sys.stderr.isatty()
    result = run_pretraining(config, args.config, resume=args.resume, progress=progress)
    if distributed.rank() == 0 and not args.quiet:
        lang = config["data"]["build"].get("lang") or "en"
        recipe, data_dir, name = FINETUNE_EXAMPLE.get(lang, FINETUNE_EXAMPLE["en"])
        print(
            f"\nDone: {result['steps']} steps. Checkpoint: {result['checkpoint']}\n"
            f"Fine-tune it:\n  python tools/finetune.py --config {recipe} --model_dir {result['checkpoint']} "
            f"--data_dir {data_dir} --output output/{name}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
