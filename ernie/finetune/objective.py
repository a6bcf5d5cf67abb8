"""Fine-tuning on a benchmark as an objective on the engine.

Training reads a stream of examples made of one seeded permutation per epoch, laid end to end and
cut into global batches of ``trainer.global_batch_size`` (``data.BatchOrder``): every batch is full
and each epoch's examples are all seen. Global batch ``s`` is split into ``accumulate_steps``
micro-steps of ``micro_batch_size x world_size`` examples; rank ``r`` takes its consecutive
``micro_batch_size`` of each. The batches do not depend on the number of processes, so one process
and N processes train the same thing, and the objective's state is just the step.

The loss of a micro-batch is summed over its units (examples, labelled tokens, windows: the
adapter says which); the engine divides by the global batch's units. Evaluation scores the dev
splits; the first one's ``trainer.metric`` picks the best checkpoint.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..engine import Evaluation, Objective, Step, StepRecord, TrainerSettings, distributed
from .adapters import Adapter
from .benchmarks import BenchmarkSpec
from .data import BatchOrder, rank_micro_batches
from .evaluation import evaluate_splits


class FinetuningObjective(Objective):
    def __init__(
        self,
        spec: BenchmarkSpec,
        model: Any,
        adapter: Adapter,
        train_features: list,
        dev_splits: dict,
        dev_features: dict,
        selection: str,
        settings: TrainerSettings,
        total_steps: int,
        seed: int,
        save_files: Any,
    ):
        self.spec, self.model, self.adapter = spec, model, adapter
        self.features = train_features
        self.dev_splits, self.dev_features = dev_splits, dev_features
        self.selection = selection
        self.settings = settings
        self.total_steps = total_steps
        self.order = BatchOrder(len(train_features), settings.global_batch_size, seed)
        self.units = np.array([adapter.units(f) for f in train_features], dtype=np.int64)
        self._save_files = save_files
        self.step = 0

    def epoch(self, steps: int) -> float:
        return round(steps * self.settings.global_batch_size / len(self.features), 4)

    def next_step(self) -> Step:
        batch = self.order.batch(self.step)
        self.step += 1
        s = self.settings
        chunks = rank_micro_batches(
            batch, s.micro_batch_size, s.accumulate_steps, distributed.rank(), s.world_size
        )
        micro_batches = [[self.features[i] for i in chunk] for chunk in chunks]
        return Step(
            micro_batches=micro_batches,
            units=[int(self.units[chunk].sum()) for chunk in chunks],
            samples=len(batch),
            info={"benchmark": self.spec.name},
        )

    def loss(self, model: Any, features: list):
        loss_sum = self.adapter.loss_sum(model, self.adapter.inputs(features), features)
        return loss_sum, {"tokens": float(sum(len(f.input_ids) for f in features))}

    def log_fields(self, window: list[StepRecord]) -> dict[str, Any]:
        return {"benchmark": self.spec.name, "epoch": self.epoch(window[-1].step)}

    def evaluate(self, model: Any) -> Optional[Evaluation]:
        if not self.dev_splits:
            return None
        results = evaluate_splits(
            model, self.adapter, self.dev_splits, self.dev_features, self.settings.eval_batch_size
        )
        metrics = {name: split_metrics for name, (split_metrics, _) in results.items()}
        primary = next(iter(metrics.values()))
        score = float(primary[self.selection])
        return Evaluation(
            metrics=metrics,
            score=score,
            summary=f"dev {self.selection} {score:.4f}",
            fields={"benchmark": self.spec.name},
            outputs=results,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])

    def save(self, directory: str) -> None:
        self._save_files(directory)

    def describe(self) -> str:
        s = self.settings
        return (
            f"training {self.spec.name}: {len(self.features)} features, {self.total_steps} steps of "
            f"{s.global_batch_size} ({s.micro_batch_size} per process x {s.accumulate_steps} accumulation x "
            f"{s.world_size} processes), lr {s.optimizer.learning_rate:g}"
        )
