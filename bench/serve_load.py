"""The HTTP server under load: throughput and latency with and without micro-batching, bad requests mixed in.

A random-weight classifier (tiny by default, official English vocabulary) is exported and served by
``tools/serve.py`` on a free 127.0.0.1 port, twice: with micro-batching (the server's defaults, up to 32
examples per run after a 5 ms wait) and without (``--max_batch 1``: one example per run; ``--max_wait_ms
0`` would still batch whatever is already queued). Each time ``--clients`` threads, each on its own
keep-alive connection, send requests back to back for ``--warmup`` seconds (not counted), then for
``--seconds``. A request is one SST-2 dev sentence, or with probability ``--bad`` one of the bad bodies
in ``bad_bodies`` (malformed JSON, a wrong key, over ``--max_body_bytes`` with and without a
Content-Length, over ``--max_examples``, not UTF-8, nested too deeply, an over-long integer, an ``id``
too deep to write back).

Reported per mode: well-formed answers per second, their p50/p99 latency, the counts, the server's batch
counters over the measured run (from ``GET /health``), whether it still answers at the end and how many
tracebacks it logged. Exit 1 when a well-formed request was not answered 200 with a label, a bad one was
not answered 4xx, a server died or logged a traceback. One JSON line.

    python bench/serve_load.py [--data ../shared/data] [--size tiny] [--clients 8] [--seconds 20]
                               [--warmup 3] [--bad 0.1] [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

from common import ROOT, bench_parser  # noqa: E402  (first: the repository on sys.path)
from predictor_memory import export  # noqa: E402

HOST = "127.0.0.1"  # loopback only: the bench never listens or connects elsewhere
MAX_CLIENTS = 64
START_TIMEOUT = 300  # seconds for the server to load the model and answer /health
REQUEST_TIMEOUT = 60  # seconds; a request that takes longer counts as failed

Body = Union[bytes, list]  # a list of chunks is sent chunked, without a Content-Length


@dataclass
class Tally:
    """One client's record of the measured run."""

    latencies: list = field(default_factory=list)  # seconds, of the well-formed requests answered 200
    failed_good: int = 0
    bad: int = 0
    bad_not_4xx: int = 0
    bad_statuses: dict = field(default_factory=dict)  # status (or "error") -> count
    failures: list = field(default_factory=list)  # a few, to show on stderr


def bad_bodies(sentence: str, max_body_bytes: int, max_examples: int) -> dict[str, Body]:
    """Requests the server must refuse with a 4xx and survive."""
    one = json.dumps({"text_a": sentence})
    oversized = json.dumps({"text_a": "a " * (max_body_bytes // 2 + 16)}).encode()
    return {
        "malformed_json": one[:-3].encode(),
        "wrong_key": json.dumps({"sentence": sentence}).encode(),
        "oversized": oversized,
        "oversized_chunked": [oversized[k : k + 65536] for k in range(0, len(oversized), 65536)],
        "too_many_examples": json.dumps([{"text_a": sentence}] * (max_examples + 1)).encode(),
        "not_utf8": b'{"text_a": "caf\xe9"}',  # Latin-1
        "too_deep": b"[" * 100_000,
        "long_integer": b'{"text_a": "ok", "id": ' + b"7" * 5000 + b"}",
        # Parses, but is too deep to write back in the answer (the id is copied as is).
        "deep_id": b'{"text_a": "ok", "id": ' + b"[" * 700 + b"]" * 700 + b"}",
    }


def post(connection: http.client.HTTPConnection, body: Body) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if isinstance(body, list):
        # An iterable body of unknown length: http.client sends it chunked.
        connection.request("POST", "/predict", body=iter(body), headers=headers)
    else:
        connection.request("POST", "/predict", body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def client(port: int, seed: int, until: float, sentences: list, bad: dict, bad_fraction: float) -> Tally:
    """Send requests back to back until ``until`` (time.monotonic): well-formed ones and bad ones."""
    rng = random.Random(seed)
    tally = Tally()
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    kinds = sorted(bad)
    while time.monotonic() < until:
        kind = rng.choice(kinds) if rng.random() < bad_fraction else None
        body = bad[kind] if kind else json.dumps({"text_a": rng.choice(sentences)}).encode()
        start = time.perf_counter()
        try:
            status, answer = post(connection, body)
        except (OSError, http.client.HTTPException) as exc:
            status, answer = None, f"{type(exc).__name__}: {exc}".encode()
            connection.close()  # the next request opens a fresh connection
        seconds = time.perf_counter() - start
        if kind is None:
            if status == 200 and b'"label"' in answer:
                tally.latencies.append(seconds)
                continue
            tally.failed_good += 1
        else:
            tally.bad += 1
            key = str(status) if status is not None else "error"
            tally.bad_statuses[key] = tally.bad_statuses.get(key, 0) + 1
            if status is not None and 400 <= status < 500:
                continue
            tally.bad_not_4xx += 1
        if len(tally.failures) < 3:
            tally.failures.append(f"{kind or 'well-formed'}: {status} {answer[:300]!r}")
    connection.close()
    return tally


def load(
    port: int, clients: int, seconds: float, seed: int, sentences: list, bad: dict, fraction: float
) -> tuple[Tally, float]:
    """(merged tally, wall-clock seconds) of ``clients`` threads sending for ``seconds``."""
    until = time.monotonic() + seconds
    tallies: list[Optional[Tally]] = [None] * clients

    def run(k: int) -> None:
        tallies[k] = client(port, seed * 1000 + k, until, sentences, bad, fraction)

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    merged = Tally()
    for tally in tallies:
        assert tally is not None, "a client thread raised (see stderr)"
        merged.latencies += tally.latencies
        merged.failed_good += tally.failed_good
        merged.bad += tally.bad
        merged.bad_not_4xx += tally.bad_not_4xx
        for key, count in tally.bad_statuses.items():
            merged.bad_statuses[key] = merged.bad_statuses.get(key, 0) + count
        merged.failures += tally.failures
    return merged, elapsed


def health(port: int) -> Optional[dict]:
    """The server's /health answer, or None when it does not answer 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        body = response.read()
        return json.loads(body) if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def percentile(sorted_values: list, q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))]


def run_mode(prefix: str, flags: Iterable[str], args: argparse.Namespace, sentences: list, bad: dict) -> dict:
    port = free_port()
    command = [sys.executable, os.path.join(ROOT, "tools", "serve.py"), "--model", prefix, "--host", HOST]
    command += ["--port", str(port), "--threads", str(args.threads), "--quiet", *flags]
    # The server's stderr goes to a file: a pipe nobody reads would block it once full.
    with tempfile.TemporaryFile("w+") as log:
        # This tree's ernie, not whichever one is installed.
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        }
        server = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while health(port) is None:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"the server did not come up: {log.read()[-3000:]}")
                time.sleep(0.5)
            load(port, args.clients, args.warmup, args.seed + 7919, sentences, bad, args.bad)
            before = health(port)
            tally, elapsed = load(port, args.clients, args.seconds, args.seed, sentences, bad, args.bad)
            after = health(port)
            alive = after is not None and after["status"] == "ok" and server.poll() is None
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.seek(0)
        tracebacks = log.read().count("Traceback")
    for failure in dict.fromkeys(tally.failures):  # each distinct one once
        print(f"{' '.join(flags) or 'defaults'}: {failure}", file=sys.stderr)
    latencies = sorted(tally.latencies)
    counts = {}
    if before is not None and after is not None:
        counts = {k: after["batching"][k] - before["batching"][k] for k in ("batches", "examples")}
    return {
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "ok": len(latencies),
        "failed_good": tally.failed_good,
        "bad": tally.bad,
        "bad_not_4xx": tally.bad_not_4xx,
        "bad_statuses": dict(sorted(tally.bad_statuses.items())),
        "batches": counts.get("batches"),
        "mean_batch": round(counts["examples"] / counts["batches"], 2) if counts.get("batches") else None,
        "largest_batch": after["batching"]["largest"] if after else None,
        "alive": alive,
        "server_tracebacks": tracebacks,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--size", default="tiny", choices=["tiny", "base"])
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients, 1..{MAX_CLIENTS}")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of the same load before measuring")
    parser.add_argument("--bad", type=float, default=0.1, help="fraction of bad requests")
    parser.add_argument("--threads", type=int, default=2, help="the server's CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients: 1..{MAX_CLIENTS}")
    if not (args.seconds > 0 and args.warmup >= 0 and 0 <= args.bad <= 1):
        parser.error("--seconds > 0, --warmup >= 0, 0 <= --bad <= 1")

    from ernie.serving.serve_cli import build_parser

    defaults = build_parser()  # the server runs with its default limits: the bad bodies go just past them
    with open(os.path.join(args.data, "glue", "SST-2", "dev.tsv"), encoding="utf-8") as f:
        sentences = [line.split("\t")[0].strip() for line in f.read().splitlines()[1:] if line.strip()]
    bad = bad_bodies(
        sentences[0], defaults.get_default("max_body_bytes"), defaults.get_default("max_examples")
    )
    with tempfile.TemporaryDirectory() as tmp:
        prefix = export(args.size, tmp, os.path.join(args.data, "ernie_official", "vocab_en.txt"))
        batched = run_mode(prefix, [], args, sentences, bad)
        unbatched = run_mode(prefix, ["--max_batch", "1"], args, sentences, bad)
    line = {
        "bench": "serve_load",
        "size": args.size,
        "clients": args.clients,
        "seconds": args.seconds,
        "bad_fraction": args.bad,
        "threads": args.threads,
        "batched": batched,
        "unbatched": unbatched,
        "ratio_batched_vs_unbatched": round(batched["requests_per_s"] / unbatched["requests_per_s"], 3)
        if unbatched["requests_per_s"]
        else None,
    }
    print(json.dumps(line))
    broken = [
        name
        for name, mode in (("batched", batched), ("unbatched", unbatched))
        if mode["failed_good"] or mode["bad_not_4xx"] or not mode["alive"] or mode["server_tracebacks"]
    ]
    if broken:
        print(f"serve_load: failed in {', '.join(broken)} (see the counts above)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
