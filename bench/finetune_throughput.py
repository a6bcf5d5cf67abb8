"""Fine-tuning loop overhead: the engine's full step vs the bare model step, on real SST-2 sentences.

Two identical fine-tuning objectives (a random ERNIE of the chosen size with the official English
vocabulary, ``ErnieForSequenceClassification``, the SST-2 recipe's features):

* full: ``Engine.train_step`` as ``tools/finetune.py`` runs it, plus the run log's bookkeeping: the
  global batch is picked, split into micro-batches, padded, converted to tensors, forward, loss,
  backward, all-reduce (a no-op here), gradient norm, AdamW;
* bare: the same batches padded beforehand (outside the timer) and only forward, loss, backward and
  AdamW timed.

Steps alternate full / bare so that machine noise hits both alike. The ratio is bare time / full
time (target >= 0.9). One JSON line.

    python bench/finetune_throughput.py [--data ../shared/data] [--size tiny|base] [--steps 40] [--batch 32]
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from common import SIZES, alternate, bench_parser, engine_step_timer  # noqa: E402  (first: the repository on sys.path)

import ernie  # noqa: E402,F401  (before paddle: sets MKL_DEBUG_CPU_TYPE on AMD CPUs)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, default=40, help="timed steps of each kind")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="global batch")
    parser.add_argument("--micro", type=int, default=None, help="micro batch (default: the global batch)")
    args = parser.parse_args()

    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.engine import resolve_settings
    from ernie.engine.loop import Engine
    from ernie.finetune import finetune_defaults, get_benchmark
    from ernie.finetune.adapters import make_adapter
    from ernie.finetune.data import BatchOrder
    from ernie.finetune.objective import FinetuningObjective
    from ernie.finetune.readers import LabelSet, read_split
    from ernie.modeling import ErnieForSequenceClassification
    from ernie.optimization import build_optimizer

    spec = get_benchmark("sst2")
    tokenizer = ErnieTokenizer(os.path.join(args.data, "ernie_official", "vocab_en.txt"))
    labels = LabelSet.for_task(spec, None)
    split = read_split(spec, os.path.join(args.data, "glue", "SST-2", "train.tsv"), labels)
    config = finetune_defaults()
    config["output_dir"] = tempfile.mkdtemp(prefix="bench_finetune_")
    config["trainer"].update(global_batch_size=args.batch, micro_batch_size=args.micro, logging_steps=10)
    config["optimizer"]["learning_rate"] = 2e-5
    adapter = make_adapter(spec, labels, tokenizer, config["data"])
    features = adapter.features(split, training=True)
    total = 2 * (args.warmup + args.steps)
    settings = resolve_settings(config, world_size=1).replace(eval_steps=0, save_steps=0)

    def model():
        paddle.seed(1)
        model_config = ErnieConfig(**SIZES[args.size], vocab_size=tokenizer.vocab_size, num_labels=2)
        return ErnieForSequenceClassification(model_config)

    objective = FinetuningObjective(
        spec, model(), adapter, features, {}, {}, "acc", settings, total, 1, lambda d: None
    )
    full = Engine(objective, settings, checkpoint=None)
    bare_model = model()
    bare_optimizer, bare_scheduler = build_optimizer(bare_model, learning_rate=2e-5, total_steps=total)
    order = BatchOrder(len(features), args.batch, seed=1)  # the same batches as the full loop, step by step
    full_step = engine_step_timer(full, config["output_dir"])

    def bare_step(step: int) -> float:
        indices = order.batch(step)
        micro = settings.micro_batch_size
        chunks = [[features[i] for i in indices[k : k + micro]] for k in range(0, len(indices), micro)]
        inputs = [adapter.inputs(chunk) for chunk in chunks]  # padded outside the timer
        start = time.perf_counter()
        bare_model.train()
        for chunk, batch in zip(chunks, inputs):
            (adapter.loss_sum(bare_model, batch, chunk) / len(indices)).backward()
        bare_optimizer.step()
        bare_scheduler.step()
        bare_optimizer.clear_grad(set_to_zero=False)
        return time.perf_counter() - start

    full_times, bare_times, tokens = alternate(full_step, bare_step, args.warmup, args.steps)
    full_total, bare_total = sum(full_times), sum(bare_times)
    print(
        json.dumps(
            {
                "bench": "finetune_throughput",
                "size": args.size,
                "global_batch": args.batch,
                "micro_batch": settings.micro_batch_size,
                "steps": args.steps,
                "full_loop_tokens_per_s": round(tokens / full_total, 1),
                "bare_step_tokens_per_s": round(tokens / bare_total, 1),
                "ratio": round(bare_total / full_total, 3),
                "full_step_ms_median": round(1000 * statistics.median(full_times), 2),
                "bare_step_ms_median": round(1000 * statistics.median(bare_times), 2),
                "mkl_debug_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),
                "target_ratio": 0.9,
            }
        )
    )


if __name__ == "__main__":
    main()
