"""Predictor memory and speed on text of varied lengths: the oneDNN primitive cache and the batch widths.

Every distinct input shape makes oneDNN build (and cache) its own primitives: on base, ~130-150 ms and
~350 MB each, so predicting a dev file whose batches all differ in width grows the process by GBs. Two
knobs bound it: the cache capacity (``Predictor(onednn_cache=...)``) and rounding each batch width up to
a multiple (``width_multiple``: fewer shapes, a little more padding). This bench predicts the real SST-2
dev file (872 sentences) with a random-weight classifier of the chosen size, each setting in its own
child process (peak RSS is per process), and reports peak RSS and sentences per second; the reference
is the setting the predictor had before (cache 16, exact widths) in the same run. ``sorted: false``
predicts batch by batch in file order (no sorting by length across the file) to show what the sorting
gains. Prints one JSON line.

    python bench/predictor_memory.py [--size base] [--data ../shared/data] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import SIZES, bench_parser, random_classifier  # noqa: E402  (first: the repository on sys.path)

# (cache capacity, width multiple, sorted): the first is the reference (the predictor's old setting).
SETTINGS = [(16, 1, True), (16, 1, False), (1, 1, True), (2, 1, True), (4, 1, True), (1, 8, True)]


def child(args: argparse.Namespace) -> dict:
    from ernie.serving import Predictor, read_examples

    examples, _ = read_examples(os.path.join(args.data, "glue", "SST-2", "dev.tsv"), qa=False)
    predictor = Predictor(
        args.prefix, threads=args.threads, onednn_cache=args.cache, width_multiple=args.multiple
    )
    start = time.perf_counter()
    # Unsorted: one batch per chunk, so batches keep the file's order and mix lengths.
    chunk = 0 if args.sorted else predictor.batch_size
    outputs = list(predictor.predict_stream(examples, chunk_size=chunk))
    seconds = time.perf_counter() - start
    # VmHWM, the peak of this process's own memory since exec: ru_maxrss would also count the parent's
    # peak before the fork (Linux keeps it across exec), i.e. the base model the parent built and exported.
    with open("/proc/self/status", encoding="ascii") as f:
        peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return {"seconds": seconds, "sentences_per_s": len(outputs) / seconds, "peak_rss_mb": peak_kib / 1024}


def export(size: str, directory: str, vocab: str) -> str:
    """A random-weight classifier of ``size`` exported under ``directory``; returns the export prefix."""
    from ernie.serving import export_model

    checkpoint = random_classifier(os.path.join(directory, "checkpoint"), size, vocab)
    prefix = os.path.join(directory, "export", "inference")
    export_model(checkpoint, prefix, max_seq_len=128)
    return prefix


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--size", default="base", choices=sorted(SIZES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--multiple", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sorted", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = export(args.size, tmp, os.path.join(args.data, "ernie_official", "vocab_en.txt"))
        model_mb = os.path.getsize(prefix + ".pdiparams") / 2**20
        results = []
        for cache, multiple, ordered in SETTINGS:
            command = [
                sys.executable, __file__, "--child", "--prefix", prefix, "--data", args.data,
                "--threads", str(args.threads), "--cache", str(cache), "--multiple", str(multiple),
                "--sorted", str(int(ordered)),
            ]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            measured = json.loads(out.strip().splitlines()[-1])
            results.append(
                {
                    "onednn_cache": cache,
                    "width_multiple": multiple,
                    "sorted": ordered,
                    "peak_rss_mb": round(measured["peak_rss_mb"]),
                    "sentences_per_s": round(measured["sentences_per_s"], 2),
                }
            )
    reference = results[0]
    for row in results:
        row["rss_vs_reference"] = round(row["peak_rss_mb"] / reference["peak_rss_mb"], 3)
        row["speed_vs_reference"] = round(row["sentences_per_s"] / reference["sentences_per_s"], 3)
    line = {
        "bench": "predictor_memory",
        "size": args.size,
        "params_mb": round(model_mb),
        "threads": args.threads,
        "settings": results,
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
