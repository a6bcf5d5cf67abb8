"""Inference on the CPU, every way we offer and the ways a user could take instead, in one run.

Per model size (random weights, the official English vocabulary) a classifier is saved, exported once with
``export_model(precision="int8", onnx=True)`` (the Paddle program, the fp32 ONNX model and its int8
quantization) and written as an HF transformers folder (``export_hf_checkpoint``, i.e. ``--to hf``). The engines:

* ``paddle_fp32`` (the reference), ``paddle_bf16``, ``onnxruntime_fp32``, ``onnxruntime_int8``: our
  ``Predictor(prefix, backend=..., precision=...).run``; ``ran`` says what ran (bf16 on a CPU without
  avx512_bf16 runs fp32: the same engine as ``paddle_fp32`` twice, so their ratio shows the noise);
* ``onnxruntime_direct_fp32``: a plain ``onnxruntime.InferenceSession`` on the export's ``.onnx``, what a user
  exporting to ONNX gets (only the thread count set);
* ``torch_eager_fp32``: transformers' ``ErnieForSequenceClassification`` loaded from the HF folder;
* ``paddle_dygraph_fp32``: our model in dygraph (``paddle.no_grad``, eval mode).

Every engine gets ``--threads`` threads. Timed on the same random int64 ids: throughput at batch ``--batch`` x
``--seq_len`` (sequences/s) and latency at batch 1 x ``--seq_len`` (ms), each the median of interleaved rounds
(every engine once per round, the order rotated each round, so machine noise hits all alike); the ``*_vs_*``
entries are per-round ratios (median, min and max). Timed calls are ``PAUSE`` apart: idle OpenMP and ONNX
Runtime threads spin for a while after a call (Intel OpenMP, Paddle's: 200 ms), which would take the cores
from the engine timed next. Fidelity on the 872 real SST-2 dev sentences (sorted by length, batches of
``--batch`` padded to their longest): the largest probability difference from ``paddle_fp32`` and the share
of equal argmax. Random weights leave probabilities near ties, so the classifier head is scaled up (as
tests/serving/helpers.py does) and ``dev_positive_share`` shows the predictions are not constant.

The accuracy claim needs a real classifier: ``fine_tuned`` fine-tunes the ERNIE tiny config
(configs/model/ernie-tiny-en.json, 2 x 128, random init: no pre-trained weights here) on SST-2 with the
recipe for ``--finetune_steps`` steps, exports it the same way and gives every engine's dev accuracy.

MKL_DEBUG_CPU_TYPE: importing ``ernie`` sets it to 5 on AMD CPUs (ernie/__init__.py). It changes Paddle's
MKL BLAS only, i.e. the dygraph row here: oneDNN, ONNX Runtime (MLAS) and torch's MKL (too new to read the
variable) do not look at it (measured: unset, dygraph ran at half the speed, the rest within noise). The
former bench ran each setting in a child process, doubling the time for one row;
``MKL_DEBUG_CPU_TYPE= python bench/inference.py`` measures the default path.
Prints one JSON line (13 min with the defaults on 2 AMD EPYC cores).

    python bench/inference.py [--configs tiny,base] [--threads 2] [--rounds 5] [--finetune_steps 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time

from common import ROOT, bench_parser, random_classifier  # noqa: E402  (first: the repository on sys.path)

REFERENCE = "paddle_fp32"
PAUSE = 0.25  # seconds before each timed call: the previous engine's threads stop spinning
# Our Predictor's rows: (row, backend, precision).
PREDICTORS = [
    ("paddle_fp32", "paddle", "fp32"),
    ("paddle_bf16", "paddle", "bf16"),
    ("onnxruntime_fp32", "onnxruntime", "fp32"),
    ("onnxruntime_int8", "onnxruntime", "int8"),
]


def softmax(logits):
    import numpy as np

    logits = logits.astype(np.float64)
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def vocab_file(args: argparse.Namespace) -> str:
    return os.path.join(args.data, "ernie_official", "vocab_en.txt")


def sst2_dir(args: argparse.Namespace) -> str:
    return os.path.join(args.data, "glue", "SST-2")


def fine_tune(directory: str, args: argparse.Namespace) -> tuple[str, dict]:
    """(best checkpoint, summary) of the ERNIE tiny config fine-tuned on SST-2 from random weights."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.finetune import load_finetune_config, run_finetune
    from ernie.modeling import ErnieModel

    config = ErnieConfig.from_json_file(os.path.join(ROOT, "configs", "model", "ernie-tiny-en.json"))
    encoder = os.path.join(directory, "encoder")
    paddle.seed(1)
    ErnieModel(config).save_pretrained(encoder)
    ErnieTokenizer(vocab_file(args)).save_pretrained(encoder)
    steps = args.finetune_steps
    overrides = [
        f"trainer.max_steps={steps}",
        "trainer.global_batch_size=32",
        f"trainer.eval_steps={max(1, steps // 3)}",
        f"trainer.logging_steps={max(1, steps // 10)}",
        f"optimizer.learning_rate={args.finetune_lr}",  # the recipe's 2e-5 is for pre-trained weights
        "data.test=null",
    ]
    recipe = load_finetune_config(os.path.join(ROOT, "configs", "finetune", "glue", "sst2.yaml"), overrides)
    output = os.path.join(directory, "out")
    recipe.update(model_dir=encoder, data_dir=sst2_dir(args), output_dir=output)
    start = time.time()
    with contextlib.redirect_stdout(sys.stderr):  # fine-tuning's table; stdout is the JSON line
        results = run_finetune(recipe, do_train=True, do_eval=True, do_predict=False)
    summary = {
        "model": "configs/model/ernie-tiny-en.json (2 x 128), random init, SST-2 train",
        "steps": steps,
        "batch": 32,
        "learning_rate": args.finetune_lr,
        "best_step": results["best_step"],
        "finetune_dev_acc": round(results["dev"]["acc"], 4),  # fine-tuning's own evaluation
        "seconds": round(time.time() - start, 1),
    }
    return os.path.join(output, "best"), summary


def export(checkpoint: str, directory: str) -> tuple[str, str]:
    """(export prefix with every backend's files, HF transformers folder) of ``checkpoint``."""
    from ernie.conversion import export_hf_checkpoint
    from ernie.serving import export_model

    with contextlib.redirect_stdout(sys.stderr):
        prefix = export_model(
            checkpoint, os.path.join(directory, "export", "inference"), precision="int8", onnx=True
        ).prefix
    hf = os.path.join(directory, "hf")
    export_hf_checkpoint(checkpoint, hf)
    return prefix, hf


def engines(checkpoint: str, prefix: str, hf: str, threads: int) -> dict:
    """``{row: (what ran, run(ids, types) -> logits)}``, ``paddle_fp32`` first."""
    import numpy as np
    import onnxruntime as ort
    import paddle
    import torch
    import transformers

    from ernie.modeling import ErnieForSequenceClassification
    from ernie.serving import Predictor

    out: dict = {}
    for row, backend, precision in PREDICTORS:
        p = Predictor(prefix, threads=threads, backend=backend, precision=precision)
        out[row] = (f"Predictor {p.backend} {p.precision}", lambda ids, types, p=p: p.run(ids, types)[0])

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # paddle2onnx leaves unused constants: one warning each at load
    session = ort.InferenceSession(prefix + ".onnx", options, providers=["CPUExecutionProvider"])
    names = [x.name for x in session.get_inputs()]

    def onnxruntime_direct(ids, types):
        feed = {"input_ids": ids, "token_type_ids": types, "task_type_ids": np.zeros_like(ids)}
        return session.run(None, {name: feed[name] for name in names})[0]

    out["onnxruntime_direct_fp32"] = (
        f"onnxruntime {ort.__version__} InferenceSession fp32",
        onnxruntime_direct,
    )

    torch.set_num_threads(threads)
    hf_model = transformers.ErnieForSequenceClassification.from_pretrained(hf).eval()
    pad = hf_model.config.pad_token_id

    def torch_eager(ids, types):
        with torch.inference_mode():
            return hf_model(
                input_ids=torch.from_numpy(ids),
                token_type_ids=torch.from_numpy(types),
                attention_mask=torch.from_numpy((ids != pad).astype(np.int64)),
            ).logits.numpy()

    attention = hf_model.config._attn_implementation
    out["torch_eager_fp32"] = (
        f"torch {torch.__version__} transformers {transformers.__version__} ({attention} attention)",
        torch_eager,
    )

    paddle.base.core.set_num_threads(threads)  # dygraph's CPU math threads
    model = ErnieForSequenceClassification.from_pretrained(checkpoint, verbose=False)
    model.eval()

    def dygraph(ids, types):
        with paddle.no_grad():
            return model(paddle.to_tensor(ids), paddle.to_tensor(types)).numpy()

    out["paddle_dygraph_fp32"] = (f"paddle {paddle.__version__} dygraph fp32", dygraph)
    return out


def dev_set(tokenizer, batch: int, data_dir: str) -> tuple[list, list, list]:
    """SST-2 dev as (batches of (ids, types) sorted by length, the row order, gold label ids)."""
    import numpy as np

    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.data import build_text_features
    from ernie.finetune.readers import LabelSet, read_split

    spec = get_benchmark("sst2")
    examples = read_split(spec, os.path.join(data_dir, "dev.tsv"), LabelSet.for_task(spec)).examples
    features = build_text_features(examples, tokenizer, 128)
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    batches = []
    for begin in range(0, len(order), batch):
        rows = [features[i] for i in order[begin : begin + batch]]
        width = max(len(f.input_ids) for f in rows)
        ids = np.full((len(rows), width), tokenizer.pad_token_id, dtype=np.int64)
        types = np.zeros_like(ids)
        for r, f in enumerate(rows):
            ids[r, : len(f.input_ids)], types[r, : len(f.input_ids)] = f.input_ids, f.token_type_ids
        batches.append((ids, types))
    return batches, order, [e.label for e in examples]


def dev_probs(run, batches: list, order: list):
    """Probabilities of every dev sentence, in file order."""
    import numpy as np

    probs = np.concatenate([softmax(run(ids, types)) for ids, types in batches])
    out = np.empty_like(probs)
    out[order] = probs
    return out


def fidelity(runners: dict, batches: list, order: list) -> tuple[dict, dict]:
    """(per row: the largest dev probability difference from ``paddle_fp32`` and the share of equal argmax;
    per row: the dev probabilities)."""
    import numpy as np

    probs = {row: dev_probs(run, batches, order) for row, (_, run) in runners.items()}
    reference = probs[REFERENCE]
    out = {
        row: {
            "dev_max_prob_diff": float(f"{np.abs(p - reference).max():.2g}"),
            "dev_argmax_agree": round(float((p.argmax(-1) == reference.argmax(-1)).mean()), 4),
        }
        for row, p in probs.items()
    }
    return out, probs


def timed(runners: dict, ids, types, rounds: int) -> dict:
    """``{row: [seconds per round]}``: every runner once per round, the order rotated each round."""
    rows = list(runners)
    for row in rows:  # warm-up: oneDNN primitives, ONNX Runtime and torch allocations for this shape
        runners[row][1](ids, types)
    times: dict = {row: [] for row in rows}
    for r in range(rounds):
        for row in rows[r % len(rows) :] + rows[: r % len(rows)]:
            time.sleep(PAUSE)
            start = time.perf_counter()
            runners[row][1](ids, types)
            times[row].append(time.perf_counter() - start)
    return times


def ratio(times: dict, faster: str, slower: str) -> dict:
    """How many times ``faster`` outruns ``slower``: median of the per-round ratios, and their range."""
    ratios = [s / f for f, s in zip(times[faster], times[slower])]
    return {
        "median": round(statistics.median(ratios), 2),
        "range": [round(min(ratios), 2), round(max(ratios), 2)],
    }


def measure(size: str, args: argparse.Namespace, directory: str) -> dict:
    import numpy as np

    from ernie import ErnieTokenizer

    checkpoint = random_classifier(os.path.join(directory, "checkpoint"), size, vocab_file(args))
    prefix, hf = export(checkpoint, directory)
    runners = engines(checkpoint, prefix, hf, args.threads)
    batches, order, _ = dev_set(ErnieTokenizer.from_pretrained(checkpoint), args.batch, sst2_dir(args))
    result, probs = fidelity(runners, batches, order)
    for row, (ran, _) in runners.items():
        result[row] = {"ran": ran, **result[row]}
    result["dev_positive_share"] = round(float(probs[REFERENCE].argmax(-1).mean()), 3)

    rng = np.random.default_rng(0)
    times = {}
    for label, batch, rounds in (
        (f"throughput_seq_s_b{args.batch}", args.batch, args.rounds),
        ("latency_ms_b1", 1, args.rounds_b1),
    ):
        ids = rng.integers(5, 30000, size=(batch, args.seq_len), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 1, 2  # [CLS] ... [SEP]
        times[label] = timed(runners, ids, np.zeros_like(ids), rounds)
        for row, ts in times[label].items():
            median = statistics.median(ts)
            result[row][label] = round(batch / median if batch > 1 else median * 1000, 2)
    # The bars: our best fp32 against ONNX Runtime used directly, and int8 against our fp32.
    for label, ts in times.items():
        best = min(("paddle_fp32", "onnxruntime_fp32"), key=lambda row: statistics.median(ts[row]))
        result.setdefault("best_fp32_vs_onnxruntime_direct", {})[label] = {
            "best": best,
            **ratio(ts, best, "onnxruntime_direct_fp32"),
        }
        result.setdefault("int8_vs_paddle_fp32", {})[label] = ratio(ts, "onnxruntime_int8", REFERENCE)
        result.setdefault("bf16_vs_paddle_fp32", {})[label] = ratio(ts, "paddle_bf16", REFERENCE)
    result["model_mb"] = {
        "paddle": round(os.path.getsize(prefix + ".pdiparams") / 2**20),
        "onnx_fp32": round(os.path.getsize(prefix + ".onnx") / 2**20),
        "onnx_int8": round(os.path.getsize(prefix + ".int8.onnx") / 2**20),
    }
    return result


def fine_tuned(args: argparse.Namespace, directory: str) -> dict:
    """Dev accuracy of every engine on the fine-tuned classifier, and the agreement with ``paddle_fp32``."""
    import numpy as np

    from ernie import ErnieTokenizer

    checkpoint, summary = fine_tune(directory, args)
    prefix, hf = export(checkpoint, directory)
    runners = engines(checkpoint, prefix, hf, args.threads)
    batches, order, gold = dev_set(ErnieTokenizer.from_pretrained(checkpoint), args.batch, sst2_dir(args))
    agreement, probs = fidelity(runners, batches, order)
    gold = np.array(gold)
    accuracy = {row: round(float((p.argmax(-1) == gold).mean()), 4) for row, p in probs.items()}
    return {
        **summary,
        "dev_sentences": len(gold),
        "dev_acc": accuracy,
        "int8_minus_fp32_points": round(100 * (accuracy["onnxruntime_int8"] - accuracy[REFERENCE]), 2),
        "vs_paddle_fp32": agreement,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--configs", default="tiny,base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds at --batch (median)")
    parser.add_argument("--rounds_b1", type=int, default=15, help="interleaved rounds at batch 1 (median)")
    parser.add_argument("--finetune_steps", type=int, default=300, help="0: no fine-tuned classifier")
    parser.add_argument("--finetune_lr", type=float, default=1e-3)
    args = parser.parse_args()

    import ernie  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE on AMD CPUs)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ernie").setLevel(logging.ERROR)  # the bf16 fallback warns once per predictor
    try:
        import onnxruntime
        import paddle
        import torch
        import transformers
        from paddle.base import core
    except ImportError as exc:
        raise SystemExit(f"bench/inference.py needs the development requirements ({exc})") from None

    started = time.time()
    report: dict = {
        "bench": "inference",
        "seq_len": args.seq_len,
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "rounds_b1": args.rounds_b1,
        "paddle": paddle.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu": {
            "avx512f": bool(core.supports_avx512f()),
            "vnni": bool(core.supports_vnni()),
            "bf16": bool(core.supports_bfloat16_fast_performance()),
        },
        "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.finetune_steps:
            report["fine_tuned"] = fine_tuned(args, os.path.join(tmp, "fine_tuned"))
        for name in args.configs.split(","):
            report[name] = measure(name, args, os.path.join(tmp, name))
    report["seconds"] = round(time.time() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
