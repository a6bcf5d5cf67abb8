"""Tokenizer speed: ours (fast path) vs PaddleNLP's ErnieTokenizer on the same real lines.

Also checks on the way that both give identical ids (a speed number for different output would be
meaningless). Prints one JSON line; needs ERNIE_TEST_DATA (the real corpora and vocabularies).

    ERNIE_TEST_DATA=../shared/data python bench/tokenizer.py [--lines 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=20000, help="lines per language")
    args = parser.parse_args()
    data = os.environ.get("ERNIE_TEST_DATA")
    if not data:
        sys.exit("set ERNIE_TEST_DATA to the shared data folder")

    from paddlenlp.transformers import ErnieTokenizer as PaddleNLPTokenizer

    from ernie.tokenizer import ErnieTokenizer
    from tests.test_tokenizer import en_lines, zh_lines

    results = {}
    for lang, vocab_name, lines in (
        ("zh", "vocab_zh.txt", zh_lines(data)),
        ("en", "vocab_en.txt", en_lines(data)),
    ):
        lines = lines[: args.lines]
        vocab_path = os.path.join(data, "ernie_official", vocab_name)
        with tempfile.TemporaryDirectory() as folder:
            tokens = [line.rstrip("\n").split("\t")[0] for line in open(vocab_path, encoding="utf-8")]
            with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(tokens) + "\n")
            reference = PaddleNLPTokenizer.from_pretrained(folder)
        ours = ErnieTokenizer(vocab_path)
        start = time.perf_counter()
        expected = [reference(line)["input_ids"] for line in lines]
        reference_seconds = time.perf_counter() - start
        start = time.perf_counter()
        got = ours(lines)["input_ids"]
        ours_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ours.encode_texts(lines, use_fast=False)
        python_seconds = time.perf_counter() - start
        megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
        results[lang] = {
            "lines": len(lines),
            "identical_ids": got == expected,
            "ours_lines_per_s": round(len(lines) / ours_seconds),
            "ours_python_path_lines_per_s": round(len(lines) / python_seconds),
            "paddlenlp_lines_per_s": round(len(lines) / reference_seconds),
            "ours_mb_per_s": round(megabytes / ours_seconds, 2),
            "paddlenlp_mb_per_s": round(megabytes / reference_seconds, 2),
            "speedup": round(reference_seconds / ours_seconds, 2),
        }
    print(json.dumps({"bench": "tokenizer", "target_speedup": 3.0, "results": results}))


if __name__ == "__main__":
    main()
