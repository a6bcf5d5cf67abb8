"""Run an exported ERNIE model (tools/export.py) over a file of examples with Paddle Inference.

    python tools/predict.py --model exported/sst2/inference --input dev.jsonl [--output preds.jsonl]

Input (--format auto picks by extension, else by the first line): JSONL with `text_a` (+ `text_b`),
or `question` and `context` for question answering; TSV with a header naming those columns (GLUE's
`sentence`, `sentence1`, `sentence2` too); plain text, one text per line, for single-text tasks.
`-` reads stdin. Blank lines are skipped and counted. Output: one JSON object per example, in
order: `label` and `probs` (classification), `score` (regression), `entities` (token classification),
`answer` (question answering), `embedding` (bare encoder). A summary goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

# Importing ``ernie`` (below, before paddle) sets MKL_DEBUG_CPU_TYPE=5 on AMD CPUs, where Paddle's bundled
# MKL otherwise takes a slow path; an explicit setting in the environment wins.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
warnings.filterwarnings("ignore", message=".*ccache.*")

from ernie.cli import run_cli  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
    parser.add_argument("--max_seq_len", type=int, default=None, help="default: the export's max_seq_len")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--no_onednn", action="store_true", help="CPU: run without oneDNN kernels")
    parser.add_argument(
        "--doc_stride", type=int, default=128, help="QA: tokens between document window starts"
    )
    parser.add_argument("--max_query_len", type=int, default=64, help="QA: max question tokens")
    parser.add_argument("--max_answer_len", type=int, default=30, help="QA: max answer tokens")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        from ernie.cli import UsageError

        raise UsageError(f"--threads: must be a positive integer, got {args.threads}")
    from ernie.inference import Predictor, check_output_path, predict_file

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
    )
    summary = predict_file(predictor, args.input, args.output, fmt=args.format)
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
