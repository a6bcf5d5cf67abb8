"""data_tools build speed and memory, each against its limit measured in the same run. Prints one JSON line.

Speed (one worker, full builds of every task of the language, best of ``--rounds`` interleaved runs):

* zh: hongloumeng.txt (one document per line, sentence-split), against plain ``jieba.cut`` over the
  same paragraphs (target: build >= 0.8x jieba.cut);
* en: the English corpora (one sentence per line), against HF ``tokenizers`` WordPiece (the fast
  backend of ernie.ErnieTokenizer, ids only) and PaddleNLP's ErnieTokenizer over the same lines
  (target: build >= 2 MB/s per worker);
* reader: random sentences (ids, and ids + the three knowledge-masking fields) from the
  memory-mapped shards (target >= 100,000 samples/s).

Memory: a ~``--memory-mb`` MB corpus generated from the real English corpora into a temporary
directory (documents repeated in shuffled orders, never kept), built by ``python -m data_tools build
--workers N`` in a child process; the peak RSS of the main process, of the largest worker and of the
whole process tree is sampled from /proc (target: tree < 1 GiB).

    python bench/build_shards.py [--data $ERNIE_TEST_DATA] [--rounds 3] [--memory-mb 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per worker, references included

EN_FILES = [
    "pg1342_pride_and_prejudice.txt",
    "pg84_frankenstein.txt",
    "pg11_alice_in_wonderland.txt",
    "wikitext-2_test.tokens.txt",
    "wikitext-2_valid.tokens.txt",
]


def mb(path_or_bytes) -> float:
    size = os.path.getsize(path_or_bytes) if isinstance(path_or_bytes, str) else path_or_bytes
    return size / 1e6


def best(seconds: list[float]) -> float:
    return min(seconds)


def bench_zh(data: str, vocab: str, work: str, rounds: int) -> dict:
    import jieba

    from data_tools.build import build_shards

    path = os.path.join(data, "corpus", "zh", "hongloumeng.txt")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    jieba.initialize()
    build_times, jieba_times = [], []
    for r in range(rounds):
        start = time.perf_counter()
        for line in lines:
            for _ in jieba.cut(line):
                pass
        jieba_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        build_shards([path], vocab, os.path.join(work, f"zh{r}"), "zh", input_format="docs")
        build_times.append(time.perf_counter() - start)
        shutil.rmtree(os.path.join(work, f"zh{r}"))
    size = mb(path)
    return {
        "text_mb": round(size, 3),
        "build_mb_s_per_worker": round(size / best(build_times), 3),
        "jieba_cut_mb_s": round(size / best(jieba_times), 3),
        "build_vs_jieba_cut": round(best(jieba_times) / best(build_times), 3),
        "target": "build_vs_jieba_cut >= 0.8",
    }


def bench_en(data: str, vocab: str, work: str, rounds: int, paddlenlp_mb: float) -> dict:
    from data_tools.build import build_shards
    from ernie.tokenizer import ErnieTokenizer

    corpus = os.path.join(work, "en.txt")
    with open(corpus, "w", encoding="utf-8") as out:
        for name in EN_FILES:
            with open(os.path.join(data, "corpus", "en", name), encoding="utf-8") as f:
                out.write(f.read().rstrip("\n") + "\n\n")
    with open(corpus, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    fast = ErnieTokenizer(vocab)._fast
    build_times, hf_times = [], []
    for r in range(rounds):
        start = time.perf_counter()
        for k in range(0, len(lines), 2048):
            fast.encode_batch(lines[k : k + 2048], add_special_tokens=False)
        hf_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        build_shards([corpus], vocab, os.path.join(work, f"en{r}"), "en")
        build_times.append(time.perf_counter() - start)
        if r < rounds - 1:
            shutil.rmtree(os.path.join(work, f"en{r}"))
    size = mb(corpus)
    result = {
        "text_mb": round(size, 3),
        "build_mb_s_per_worker": round(size / best(build_times), 3),
        "hf_tokenizers_mb_s": round(size / best(hf_times), 3),
        "target": "build_mb_s_per_worker >= 2",
    }
    try:
        import warnings

        warnings.filterwarnings("ignore")
        from paddlenlp.transformers import ErnieTokenizer as PaddleNLPTokenizer

        reference = PaddleNLPTokenizer(vocab_file=vocab)
        sample, budget = [], paddlenlp_mb * 1e6
        for line in lines:
            sample.append(line)
            budget -= len(line.encode("utf-8")) + 1
            if budget <= 0:
                break
        start = time.perf_counter()
        for line in sample:
            reference(line, add_special_tokens=False)
        result["paddlenlp_mb_s"] = round(
            sum(len(s.encode("utf-8")) + 1 for s in sample) / 1e6 / (time.perf_counter() - start), 3
        )
    except ImportError:
        result["paddlenlp_mb_s"] = None
    result["shards"] = os.path.join(work, f"en{rounds - 1}")
    return result


def bench_reader(shards: str, samples: int = 200_000) -> dict:
    import numpy as np

    from data_tools.shards import open_task

    task = open_task(shards, "knowledge_masking")
    order = np.random.default_rng(0).integers(0, len(task.ids), size=samples).tolist()
    ids = task.ids
    start = time.perf_counter()
    for k in order:
        ids[k]
    ids_only = samples / (time.perf_counter() - start)
    start = time.perf_counter()
    for k in order:
        task.sentence(k)  # ids + word, phrase, entity
    with_fields = samples / (time.perf_counter() - start)
    return {
        "sequences": len(ids),
        "samples_per_s_ids": round(ids_only),
        "samples_per_s_ids_and_3_fields": round(with_fields),
        "target": ">= 100000",
    }


# ---------------------------------------------------------------------------------------------- memory
def _tree_rss(root_pid: int) -> tuple[int, int, int]:
    """(main RSS, largest descendant RSS, total) in bytes, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/statm") as f:
                resident = int(f.read().split()[1]) * page
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(name)] = int(fields[1])
        rss[int(name)] = resident
    tree = {root_pid}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                changed = True
    children = [rss.get(pid, 0) for pid in tree if pid != root_pid]
    return rss.get(root_pid, 0), max(children, default=0), sum(rss.get(pid, 0) for pid in tree)


def bench_memory(data: str, vocab: str, work: str, target_mb: int, workers: int) -> dict:
    corpus = os.path.join(work, "big_en.txt")
    documents: list[str] = []
    for name in EN_FILES:
        with open(os.path.join(data, "corpus", "en", name), encoding="utf-8") as f:
            current: list[str] = []
            for line in f:
                if line.strip():
                    current.append(line.strip())
                elif current:
                    documents.append("\n".join(current))
                    current = []
            if current:
                documents.append("\n".join(current))
    rng = random.Random(0)
    written = 0
    with open(corpus, "w", encoding="utf-8") as out:
        while written < target_mb * 1e6:
            rng.shuffle(documents)
            for doc in documents:
                out.write(doc + "\n\n")
                written += len(doc.encode("utf-8")) + 2
    command = [
        sys.executable,
        "-m",
        "data_tools",
        "build",
        "--lang",
        "en",
        "--input",
        corpus,
        "--vocab",
        vocab,
    ]
    command += ["--output", os.path.join(work, "big_out"), "--workers", str(workers), "--quiet"]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks = [0, 0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for k, value in enumerate(_tree_rss(child.pid)):
                peaks[k] = max(peaks[k], value)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(
            f"memory build failed: {err.strip().splitlines()[-1] if err.strip() else child.returncode}"
        )
    return {
        "corpus_mb": round(mb(corpus), 1),
        "workers": workers,
        "seconds": round(seconds, 1),
        "build_mb_s_total": round(mb(corpus) / seconds, 3),
        "peak_rss_mb_main": round(peaks[0] / 2**20, 1),
        "peak_rss_mb_largest_worker": round(peaks[1] / 2**20, 1),
        "peak_rss_mb_tree": round(peaks[2] / 2**20, 1),
        "target": "peak_rss_mb_tree < 1024",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("ERNIE_TEST_DATA"), help="real data folder (ERNIE_TEST_DATA)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds per speed measurement (best is kept)"
    )
    parser.add_argument(
        "--paddlenlp-mb", type=float, default=0.3, help="MB of text for the slow PaddleNLP tokenizer"
    )
    parser.add_argument("--memory-mb", type=int, default=200, help="size of the generated corpus (0: skip)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the memory build")
    parser.add_argument(
        "--only", choices=["zh", "en", "memory"], action="append", help="run only these parts"
    )
    args = parser.parse_args()
    if not args.data:
        raise SystemExit("set ERNIE_TEST_DATA or pass --data")
    vocab = {lang: os.path.join(args.data, "ernie_official", f"vocab_{lang}.txt") for lang in ("zh", "en")}
    parts = args.only or ["zh", "en", "memory"]
    result: dict = {"bench": "build_shards", "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench_shards_") as work:
        if "zh" in parts:
            result["zh"] = bench_zh(args.data, vocab["zh"], work, args.rounds)
        if "en" in parts:
            result["en"] = bench_en(args.data, vocab["en"], work, args.rounds, args.paddlenlp_mb)
            result["reader"] = bench_reader(result["en"].pop("shards"))
        if "memory" in parts and args.memory_mb > 0:
            result["memory"] = bench_memory(args.data, vocab["en"], work, args.memory_mb, args.workers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
