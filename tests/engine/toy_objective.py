"""A small objective for the engine's tests: token tagging on random data with a tiny ERNIE.

Examples have different lengths and a varying share of labelled tokens (-100 elsewhere), so the loss
units of micro-batches differ: exactly the case where dividing by the global batch's units matters.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ernie.config import ErnieConfig
from ernie.engine import Evaluation, Objective, Step, StepRecord, TrainerSettings, distributed

IGNORE = -100


def toy_examples(n: int, seed: int = 0, vocab: int = 40) -> list[dict[str, np.ndarray]]:
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        length = int(rng.randint(3, 12))
        ids = rng.randint(5, vocab, size=length)
        labels = (ids % 3).astype(np.int64)
        labels[rng.rand(length) < 0.4] = IGNORE  # a varying number of units per example
        out.append({"input_ids": ids.astype(np.int64), "labels": labels})
    return out


def collate(examples: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    width = max(len(e["input_ids"]) for e in examples)
    ids = np.zeros((len(examples), width), dtype=np.int64)
    labels = np.full((len(examples), width), IGNORE, dtype=np.int64)
    for row, e in enumerate(examples):
        ids[row, : len(e["input_ids"])] = e["input_ids"]
        labels[row, : len(e["labels"])] = e["labels"]
    return {"input_ids": ids, "labels": labels}


def tiny_model(seed: int = 0, dropout: float = 0.0):
    import paddle

    from ernie.modeling import ErnieForTokenClassification

    paddle.seed(seed)
    config = ErnieConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
    )
    return ErnieForTokenClassification(config)


class ToyObjective(Objective):
    """``scores``: the evaluation scores to report in turn (None: token accuracy on a fixed dev set)."""

    def __init__(
        self,
        settings: TrainerSettings,
        total_steps: int,
        n_examples: int = 24,
        dropout: float = 0.0,
        scores: Optional[list[float]] = None,
    ):
        self.settings = settings
        self.total_steps = total_steps
        self.examples = toy_examples(n_examples)
        self.dev = collate(toy_examples(16, seed=1))
        self.model = tiny_model(dropout=dropout)
        self.scores = list(scores) if scores is not None else None
        self.evaluations = 0
        self.step = 0
        self.saved: list[str] = []

    def next_step(self) -> Step:
        s = self.settings
        start = (self.step * s.global_batch_size) % len(self.examples)
        batch = [(start + k) % len(self.examples) for k in range(s.global_batch_size)]
        self.step += 1
        per_pass = s.micro_batch_size * s.world_size
        micro = [
            [
                self.examples[i]
                for i in batch[a * per_pass + distributed.rank() * s.micro_batch_size :][: s.micro_batch_size]
            ]
            for a in range(s.accumulate_steps)
        ]
        return Step(
            micro_batches=micro,
            units=[int(sum((e["labels"] != IGNORE).sum() for e in m)) for m in micro],
            samples=len(batch),
            info={"phase": "toy"},
        )

    def loss(self, model: Any, examples: list):
        import paddle
        import paddle.nn.functional as F

        batch = collate(examples)
        logits = model(paddle.to_tensor(batch["input_ids"]))
        labels = paddle.to_tensor(batch["labels"])
        summed = F.cross_entropy(
            logits.reshape([-1, 3]), labels.reshape([-1]), ignore_index=IGNORE, reduction="sum"
        )
        return summed, {"tokens": float(sum(len(e["input_ids"]) for e in examples))}

    def log_fields(self, window: list[StepRecord]) -> dict[str, Any]:
        return {"phase": window[-1].info["phase"]}

    def evaluate(self, model: Any) -> Optional[Evaluation]:
        import paddle

        self.evaluations += 1
        logits = model(paddle.to_tensor(self.dev["input_ids"])).numpy()
        scored = self.dev["labels"] != IGNORE
        accuracy = float((logits.argmax(-1)[scored] == self.dev["labels"][scored]).mean())
        score = self.scores.pop(0) if self.scores else accuracy
        return Evaluation(
            metrics={"dev": {"accuracy": accuracy, "score": score}}, score=score, summary=f"{score}"
        )

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]

    def save(self, directory: str) -> None:
        with open(f"{directory}/toy.txt", "w") as f:
            f.write("toy objective files\n")
        self.saved.append(directory)
