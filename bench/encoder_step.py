"""Training-step speed: our ErnieForPretraining vs PaddleNLP's, same config, batch and process.

One step = forward with masked-LM logits at the masked positions, cross entropy, backward, AdamW
step. Batch 8 x 128, 15% of tokens masked. Runs interleaved (ours, theirs, ours, ...) and reports
the median tokens/s of each and the ratio. Prints one JSON line.

    python bench/encoder_step.py [--configs tiny,base] [--steps 6] [--batch 8] [--seq_len 128]

Set MKL_DEBUG_CPU_TYPE=5 before running on AMD CPUs (Paddle's MKL takes a slow path otherwise); the
JSON records whether it was set. It affects both models alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from common import SIZES  # noqa: E402  (first: the repository on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="tiny,base")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model and config")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=18000)
    args = parser.parse_args()

    import numpy as np
    import paddle
    import paddle.nn.functional as F
    from paddlenlp.transformers import ErnieConfig as PConfig
    from paddlenlp.transformers import ErnieForPretraining as PPretraining

    from ernie import ErnieConfig, ErnieForPretraining
    from ernie.optimization import build_optimizer

    rng = np.random.RandomState(0)
    input_ids = rng.randint(5, args.vocab_size, size=(args.batch, args.seq_len)).astype("int64")
    token_type_ids = np.zeros_like(input_ids)
    token_type_ids[:, args.seq_len // 2 :] = 1
    n_tokens = args.batch * args.seq_len
    masked = np.sort(rng.choice(n_tokens, size=int(0.15 * n_tokens), replace=False)).astype("int64")
    labels = input_ids.reshape(-1)[masked]
    input_ids.reshape(-1)[masked] = 3  # [MASK]
    batch = {
        k: paddle.to_tensor(v)
        for k, v in dict(
            input_ids=input_ids, token_type_ids=token_type_ids, masked_positions=masked, labels=labels
        ).items()
    }

    results = {}
    for name in args.configs.split(","):
        sizes = dict(
            SIZES[name],
            vocab_size=args.vocab_size,
            hidden_act="gelu",
            type_vocab_size=4,
            max_position_embeddings=512,
        )
        paddle.seed(0)
        theirs = PPretraining(PConfig(**sizes))
        paddle.seed(0)
        ours = ErnieForPretraining(ErnieConfig(**sizes, layer_norm_eps=1e-12))
        models = {"ours": ours, "paddlenlp": theirs}
        optimizers = {}
        for key, model in models.items():
            model.train()
            optimizers[key] = build_optimizer(model, 1e-4, total_steps=1000, warmup=10)[0]

        def step(key: str, models=models, optimizers=optimizers) -> float:
            model, optimizer = models[key], optimizers[key]
            start = time.perf_counter()
            if key == "ours":
                logits = model(
                    batch["input_ids"], batch["token_type_ids"], masked_positions=batch["masked_positions"]
                )
            else:
                logits = model(
                    batch["input_ids"], batch["token_type_ids"], masked_positions=batch["masked_positions"]
                )[0]
            loss = F.cross_entropy(logits, batch["labels"])
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            float(loss)  # wait for the step to finish
            return time.perf_counter() - start

        for _ in range(args.warmup):
            step("ours")
            step("paddlenlp")
        times = {"ours": [], "paddlenlp": []}
        for _ in range(args.steps):
            for key in ("ours", "paddlenlp"):
                times[key].append(step(key))
        ours_tps = n_tokens / statistics.median(times["ours"])
        theirs_tps = n_tokens / statistics.median(times["paddlenlp"])
        results[name] = {
            "ours_tokens_per_s": round(ours_tps, 1),
            "paddlenlp_tokens_per_s": round(theirs_tps, 1),
            "ratio": round(ours_tps / theirs_tps, 3),
        }

    print(
        json.dumps(
            {
                "bench": "encoder_step",
                "batch": args.batch,
                "seq_len": args.seq_len,
                "masked_fraction": 0.15,
                "steps": args.steps,
                "mkl_debug_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),
                "results": results,
                "target_ratio": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
