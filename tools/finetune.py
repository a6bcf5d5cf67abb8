"""Fine-tune ERNIE on a GLUE, Chinese or CLUE benchmark task with its official recipe.

    python tools/finetune.py --config configs/finetune/glue/sst2.yaml --model_dir MODEL --data_dir GLUE/SST-2 \\
        --output out/sst2 [--do_train] [--do_eval] [--do_predict] [--set trainer.max_steps=100] [--strict]
    fleetrun --nproc_per_node 2 tools/finetune.py ...   # data parallel

Without any --do_* flag it trains, evaluates and predicts, skipping splits whose files are absent;
with flags, the files they need must exist. Writes log.jsonl, results.json, best/, predictions/
and submission/ under --output. Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ernie.cli import run_cli, setup_logging  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. configs/finetune/glue/sst2.yaml")
    parser.add_argument("--model_dir", help="checkpoint dir: ours, PaddleNLP's, or a converted official one")
    parser.add_argument("--data_dir", help="folder with the task's files as distributed")
    parser.add_argument("--output", help="output dir (sets output_dir)")
    parser.add_argument("--do_train", action="store_true")
    parser.add_argument("--do_eval", action="store_true")
    parser.add_argument("--do_predict", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    parser.add_argument("--strict", action="store_true", help="malformed rows are an error (exit 2)")
    parser.add_argument("--quiet", action="store_true", help="warnings only")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    setup_logging(verbose=not args.quiet)
    from ernie.finetune import load_finetune_config, run_finetune

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
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
