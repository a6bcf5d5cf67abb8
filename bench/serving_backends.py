"""Serving backends and precisions: Paddle Inference fp32 (the reference) vs Paddle bf16, ONNX Runtime fp32 and
ONNX Runtime int8, same weights, same inputs, same run.

For each model size a random-weight ErnieForSequenceClassification is saved and exported once with
``export_model(precision="int8", onnx=True)``, which writes every backend's file (the Paddle program,
the fp32 ONNX model and its int8 quantization); a copy gets the int8 model quantized with
``reduce_range`` (7-bit weights, ONNX Runtime's advice for CPUs without VNNI). Each runner is a
``Predictor(prefix, backend=..., precision=...)`` calling ``run`` on the same int64 arrays:

* throughput: batch ``batch`` x ``seq_len``, sequences per second;
* latency: batch 1 x ``seq_len``, milliseconds per call;

each the median of ``rounds`` interleaved rounds (every runner once per round, so machine noise hits
all alike), and the largest probability difference from Paddle fp32 on the throughput batch.
``ran`` says what ran: bf16 on a CPU without avx512_bf16 runs fp32 (the row is then Paddle fp32 again).
Prints one JSON line.

    python bench/serving_backends.py [--configs tiny,base] [--threads 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time

from common import SIZES  # noqa: E402  (first: the repository on sys.path)

# (row name, backend, precision, int8 model quantized with reduce_range); the first is the reference.
RUNNERS = [
    ("paddle_fp32", "paddle", "fp32", False),
    ("paddle_bf16", "paddle", "bf16", False),
    ("onnxruntime_fp32", "onnxruntime", "fp32", False),
    ("onnxruntime_int8", "onnxruntime", "int8", False),
    ("onnxruntime_int8_reduce_range", "onnxruntime", "int8", True),
]


def export(size: str, directory: str, vocab_size: int) -> tuple[str, str]:
    """(export prefix, prefix of its copy with a reduce_range int8 model) of a random-weight classifier."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.modeling import ErnieForSequenceClassification
    from ernie.serving import export_model
    from ernie.serving.onnx_export import quantize_int8

    vocab = os.path.join(directory, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        special = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
        f.write("\n".join(special + [f"w{i}" for i in range(vocab_size - len(special))]) + "\n")
    paddle.seed(0)
    config = ErnieConfig(
        vocab_size=vocab_size, num_labels=2, id2label={"0": "neg", "1": "pos"}, **SIZES[size]
    )
    model = ErnieForSequenceClassification(config)
    checkpoint = os.path.join(directory, "checkpoint")
    model.save_pretrained(checkpoint)
    ErnieTokenizer(vocab).save_pretrained(checkpoint)
    prefix = export_model(
        checkpoint,
        os.path.join(directory, "export", "inference"),
        max_seq_len=128,
        precision="int8",
        onnx=True,
    ).prefix
    shutil.copytree(os.path.dirname(prefix), os.path.join(directory, "export-rr"))
    reduced = os.path.join(directory, "export-rr", "inference")
    quantize_int8(prefix + ".onnx", reduced + ".int8.onnx", reduce_range=True)
    return prefix, reduced


def softmax(logits):
    import numpy as np

    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def measure(name: str, args: argparse.Namespace, directory: str) -> dict:
    import numpy as np

    from ernie.serving import Predictor

    prefix, reduced = export(name, directory, args.vocab_size)
    runners = {
        row: Predictor(reduced if rr else prefix, threads=args.threads, backend=backend, precision=precision)
        for row, backend, precision, rr in RUNNERS
    }
    rng = np.random.default_rng(0)
    result: dict = {row: {"ran": f"{p.backend} {p.precision}"} for row, p in runners.items()}
    for label, batch in ((f"throughput_seq_s_b{args.batch}", args.batch), ("latency_ms_b1", 1)):
        ids = rng.integers(5, args.vocab_size, size=(batch, args.seq_len), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 1, 2
        types = np.zeros_like(ids)
        probs = {row: softmax(p.run(ids, types)[0]) for row, p in runners.items()}  # warm-up
        for p in runners.values():
            p.run(ids, types)
        times: dict = {row: [] for row in runners}
        for _ in range(args.rounds):
            for row, p in runners.items():
                start = time.perf_counter()
                p.run(ids, types)
                times[row].append(time.perf_counter() - start)
        for row, ts in times.items():
            median = statistics.median(ts)
            result[row][label] = round(batch / median if batch > 1 else median * 1000, 2)
            if batch > 1:
                diff = float(np.abs(probs[row] - probs[RUNNERS[0][0]]).max())
                result[row]["max_prob_diff"] = float(f"{diff:.2g}")
    reference = result[RUNNERS[0][0]]
    for row in result.values():
        key = f"throughput_seq_s_b{args.batch}"
        row["throughput_vs_paddle_fp32"] = round(row[key] / reference[key], 2)
        row["latency_vs_paddle_fp32"] = round(reference["latency_ms_b1"] / row["latency_ms_b1"], 2)
    result["model_mb"] = {
        "paddle": round(os.path.getsize(prefix + ".pdiparams") / 2**20),
        "onnx_fp32": round(os.path.getsize(prefix + ".onnx") / 2**20),
        "onnx_int8": round(os.path.getsize(prefix + ".int8.onnx") / 2**20),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="tiny,base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (median)")
    parser.add_argument("--vocab_size", type=int, default=18000)
    args = parser.parse_args()

    import ernie  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE on AMD CPUs)

    logging.getLogger("ernie").setLevel(logging.ERROR)  # the bf16 fallback warns once per predictor
    import paddle
    from paddle.base import core

    started = time.time()
    report: dict = {
        "bench": "serving_backends",
        "seq_len": args.seq_len,
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "paddle": paddle.__version__,
        "cpu_bf16": bool(core.supports_bfloat16_fast_performance()),
        "cpu_vnni": bool(core.supports_vnni()),
        "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE"),
    }
    try:
        import onnxruntime

        report["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        raise SystemExit(
            "bench/serving_backends.py needs onnxruntime and paddle2onnx (requirements-dev.txt)"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            os.makedirs(os.path.join(tmp, name))
            report[name] = measure(name, args, os.path.join(tmp, name))
    report["seconds"] = round(time.time() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
