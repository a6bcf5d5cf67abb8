"""Serving speed: the exported Paddle Inference predictor vs the dygraph model, same weights, same run.

For each model size, a random-weight ErnieForSequenceClassification is saved, exported with
``ernie.serving.export_model`` and timed on the same int64 inputs:

* latency: batch 1 x ``seq_len`` tokens, median milliseconds per call;
* throughput: batch ``batch`` x ``seq_len``, median sequences per second;

for the dygraph model (``paddle.no_grad``, eval mode) and the predictor with and without oneDNN,
calls interleaved so that machine noise hits all alike. Each MKL setting (``MKL_DEBUG_CPU_TYPE``
unset and ``=5``) runs in its own child process, because MKL reads it when paddle loads. Dygraph and
predictor get the same CPU thread count. Prints one JSON line.

    python bench/inference.py [--configs tiny,base] [--threads 2] [--mkl unset,5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import SIZES  # noqa: E402  (first: the repository on sys.path)


def child(args: argparse.Namespace) -> dict:
    import numpy as np
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.modeling import ErnieForSequenceClassification
    from ernie.serving import Predictor, export_model

    paddle.base.core.set_num_threads(args.threads)  # dygraph's CPU math threads = the predictor's
    rng = np.random.default_rng(0)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "w", encoding="utf-8") as f:
            f.write(
                "\n".join(
                    ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
                    + [f"w{i}" for i in range(args.vocab_size - 5)]
                )
                + "\n"
            )
        for name in args.configs.split(","):
            paddle.seed(0)
            config = ErnieConfig(
                vocab_size=args.vocab_size, num_labels=2, id2label={"0": "neg", "1": "pos"}, **SIZES[name]
            )
            model = ErnieForSequenceClassification(config)
            model.eval()
            ckpt = os.path.join(tmp, name)
            model.save_pretrained(ckpt)
            ErnieTokenizer(vocab).save_pretrained(ckpt)
            export_model(ckpt, os.path.join(tmp, f"{name}-export", "inference"), max_seq_len=args.seq_len)
            predictors = {
                "predictor_onednn": Predictor(os.path.join(tmp, f"{name}-export"), threads=args.threads),
                "predictor_no_onednn": Predictor(
                    os.path.join(tmp, f"{name}-export"), threads=args.threads, use_onednn=False
                ),
            }

            def dygraph(ids: np.ndarray, types: np.ndarray, model=model) -> np.ndarray:
                with paddle.no_grad():
                    return model(paddle.to_tensor(ids), paddle.to_tensor(types)).numpy()

            runners = {"dygraph": dygraph, **{k: p.run for k, p in predictors.items()}}
            result: dict = {}
            for label, batch, repeats in (
                ("latency_ms_b1", 1, args.repeats),
                (f"throughput_seq_s_b{args.batch}", args.batch, args.repeats_batch),
            ):
                ids = rng.integers(5, args.vocab_size, size=(batch, args.seq_len), dtype=np.int64)
                ids[:, 0], ids[:, -1] = 1, 2
                types = np.zeros_like(ids)
                reference = dygraph(ids, types)
                times: dict = {k: [] for k in runners}
                for k, run in runners.items():  # warm-up, and check that all agree
                    got = run(ids, types)
                    got = got[0] if isinstance(got, list) else got
                    assert np.abs(got - reference).max() < 1e-3, (k, np.abs(got - reference).max())
                for _ in range(repeats):
                    for k, run in runners.items():
                        start = time.perf_counter()
                        run(ids, types)
                        times[k].append(time.perf_counter() - start)
                for k, ts in times.items():
                    median = statistics.median(ts)
                    value = median * 1000 if batch == 1 else batch / median
                    result.setdefault(k, {})[label] = round(value, 2)
            for k in predictors:
                result[k]["speedup_latency"] = round(
                    result["dygraph"]["latency_ms_b1"] / result[k]["latency_ms_b1"], 2
                )
                key = f"throughput_seq_s_b{args.batch}"
                result[k]["speedup_throughput"] = round(result[k][key] / result["dygraph"][key], 2)
            out[name] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="tiny,base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls at batch 1")
    parser.add_argument("--repeats_batch", type=int, default=3, help="timed calls at the large batch")
    parser.add_argument("--vocab_size", type=int, default=18000)
    parser.add_argument(
        "--mkl", default="unset,5", help="MKL_DEBUG_CPU_TYPE settings to compare, each in a child process"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    report: dict = {
        "bench": "inference",
        "seq_len": args.seq_len,
        "batch": args.batch,
        "threads": args.threads,
    }
    try:
        import paddle

        report["paddle"] = paddle.__version__
    except ImportError:
        pass
    for setting in args.mkl.split(","):
        env = dict(os.environ)
        env.pop("MKL_DEBUG_CPU_TYPE", None)
        if setting != "unset":
            env["MKL_DEBUG_CPU_TYPE"] = setting
        command = [sys.executable, os.path.abspath(__file__), "--child", *sys.argv[1:]]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"bench child (MKL_DEBUG_CPU_TYPE={setting}) failed")
        report[f"MKL_DEBUG_CPU_TYPE={setting}"] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
