"""Pre-training loop overhead: the engine's full step (data, controller, model, optimizer) vs the bare step.

Two identical pre-training objectives over the bundled demo corpus (all tasks of the language in one stage):

* full: ``Engine.train_step`` as ``ernie.engine.train`` calls it, plus the run log's bookkeeping:
  the controller picks the task, samples are built from the memory-mapped shards, collated,
  converted to tensors, forward, loss, backward, all-reduce (a no-op here), gradient norm, AdamW,
  metrics;
* bare: the same batches prepared beforehand (outside the timer) and only forward, loss,
  backward and AdamW timed, the step of ``bench/encoder_step.py`` on the batches the loop trains on.

Steps alternate full / bare so that machine noise hits both alike. The ratio is bare time / full time
(tokens/s of the full loop over the bare step's; target >= 0.9). Also reported: the fixed-shape MLM
step of bench/encoder_step.py (batch x seq_len random tokens) on the same model size. One JSON line.

    python bench/pretrain_throughput.py [--lang en|zh] [--steps 60] [--size tiny|base] [--batch 8] [--seq_len 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from common import ROOT, SIZES, alternate, engine_step_timer  # noqa: E402  (first: the repository on sys.path)

import ernie  # noqa: E402,F401  (before paddle: sets MKL_DEBUG_CPU_TYPE on AMD CPUs)

TASKS = {
    "en": [
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "discourse_relation",
    ],
    "zh": [
        "knowledge_masking",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
        "ir_relevance",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lang", default="en", choices=sorted(TASKS))
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, default=60, help="timed steps of each kind")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    args = parser.parse_args()

    import numpy as np
    import paddle
    import paddle.nn.functional as F

    from data_tools.build import build_shards, demo_corpus
    from ernie import ErnieConfig
    from ernie.engine import resolve_settings
    from ernie.engine.loop import Engine
    from ernie.optimization import build_optimizer
    from ernie.yaml_config import merge_config
    from tasks.config import pretrain_defaults
    from tasks.objective import PretrainingObjective, to_tensors

    work = tempfile.mkdtemp(prefix="bench_pretrain_")
    vocab = os.path.join(ROOT, "data_tools", "demo_corpus", f"vocab_{args.lang}.txt")
    inputs, ir = demo_corpus(args.lang)
    shards = os.path.join(work, "shards")
    build_shards(inputs, vocab, shards, args.lang, TASKS[args.lang], ir=ir)
    vocab_size = sum(1 for _ in open(vocab, encoding="utf-8"))
    model_json = os.path.join(work, "model.json")
    ErnieConfig(
        **SIZES[args.size],
        vocab_size=vocab_size,
        type_vocab_size=4,
        task_type_vocab_size=16,
        use_task_id=True,
    ).save(model_json)
    steps_each = (args.warmup + args.steps) // len(TASKS[args.lang]) + 1
    config = {
        "output_dir": work,
        "seed": 1,
        "model_config": model_json,
        "init_from": None,
        "vocab": vocab,
        "model": {},
        "data": {"dir": shards, "max_seq_len": args.seq_len, "heldout": 0.1, "eval_samples": 0},
        "optimizer": {"learning_rate": 1e-4, "weight_decay": 0.01, "warmup": 0.1, "max_grad_norm": 1.0},
        "trainer": {"global_batch_size": args.batch, "logging_steps": 10},
        "tasks": {name: {"task_id": k} for k, name in enumerate(TASKS[args.lang])},
        "stages": [{"name": "all", "tasks": {name: steps_each for name in TASKS[args.lang]}}],
    }
    config = merge_config(pretrain_defaults(), config, "bench", ("model", "tasks"))
    settings = resolve_settings(config, world_size=1)
    full = Engine(PretrainingObjective(config, settings), settings, checkpoint=None)
    bare = PretrainingObjective(config, settings)
    bare_optimizer, bare_scheduler = build_optimizer(
        bare.model, learning_rate=1e-4, total_steps=bare.total_steps, warmup=0.1, weight_decay=0.01
    )
    full_step = engine_step_timer(full, work)

    def bare_step(_: int) -> float:
        plan = bare.controller.next()
        task = bare.task_for(plan)
        batches = [task.batch(bare.rank_indices(plan, a), "train") for a in range(bare.accumulate_steps)]
        count = max(sum(task.label_count(batch) for batch in batches), 1)
        tensors = [to_tensors(batch) for batch in batches]  # prepared outside the timer
        start = time.perf_counter()
        for batch in tensors:
            summed, _ = task.loss_and_stats(task.forward(bare.model, batch), batch)
            (summed / count).backward()
        bare_optimizer.step()
        bare_scheduler.step()
        bare_optimizer.clear_grad(set_to_zero=False)
        return time.perf_counter() - start

    full_times, bare_times, tokens = alternate(full_step, bare_step, args.warmup, args.steps)

    # bench/encoder_step.py's step: fixed shape, random tokens, MLM at 15% of positions.
    model, optimizer = bare.model, bare_optimizer
    rng = np.random.RandomState(0)
    ids = rng.randint(5, vocab_size, size=(args.batch, args.seq_len)).astype("int64")
    masked = np.sort(rng.choice(ids.size, size=int(0.15 * ids.size), replace=False)).astype("int64")
    labels = paddle.to_tensor(ids.reshape(-1)[masked])
    ids_t, masked_t = paddle.to_tensor(ids), paddle.to_tensor(masked)
    fixed = []
    for k in range(args.warmup + 10):
        start = time.perf_counter()
        loss = F.cross_entropy(model(ids_t, masked_positions=masked_t), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        float(loss)
        if k >= args.warmup:
            fixed.append(time.perf_counter() - start)

    full_total, bare_total = sum(full_times), sum(bare_times)
    print(
        json.dumps(
            {
                "bench": "pretrain_throughput",
                "lang": args.lang,
                "size": args.size,
                "micro_batch": args.batch,
                "max_seq_len": args.seq_len,
                "steps": args.steps,
                "tasks": TASKS[args.lang],
                "full_loop_tokens_per_s": round(tokens / full_total, 1),
                "bare_step_tokens_per_s": round(tokens / bare_total, 1),
                "ratio": round(bare_total / full_total, 3),
                "full_step_ms_median": round(1000 * statistics.median(full_times), 2),
                "bare_step_ms_median": round(1000 * statistics.median(bare_times), 2),
                "encoder_step_fixed_shape_tokens_per_s": round(
                    args.batch * args.seq_len / statistics.median(fixed), 1
                ),
                "mkl_debug_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),
                "target_ratio": 0.9,
            }
        )
    )


if __name__ == "__main__":
    main()
