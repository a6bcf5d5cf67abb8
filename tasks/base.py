"""The pre-training task interface: what the controller and the objective know about a task.

A task turns its shards into samples (``samples``), samples into padded numpy batches, and batches
into a loss and metrics through ``ErnieForPretraining.forward(..., head=<task head>)``. Samples are
pure functions of their index (``context``). Within a split, the sample index walks a fresh seeded
permutation of the split's units every pass ("epoch").
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Optional

import numpy as np

from data_tools.shards import ShardError, TaskShards
from ernie.errors import ConfigError

from .context import IGNORE_INDEX, SPLIT_CODES, Batch, Sample, TaskContext, philox_key, sample_rng, stable_key
from .samples import collate


class Task(ABC):
    """One ERNIE 2.0 pre-training task.

    Subclasses set ``name``, ``level`` ("token" or "sentence"), ``defaults`` (the options and their
    default values), ``stage_options`` (options a stage may change; the rest shape the head or the
    data and are fixed for the run), and implement ``_build_units``, ``num_units``, ``sample``,
    ``num_classes`` and, unless the task uses the masked-LM head, ``build_head``.
    """

    name: ClassVar[str]
    level: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    stage_options: ClassVar[frozenset[str]] = frozenset()
    # The headline held-out metric (a key of Pretrainer.evaluate's results; "<metric>_chance" or
    # "chance" is its blind-guess level).
    metric_name: ClassVar[str] = "accuracy"

    def __init__(self, task_id: int, options: dict[str, Any], shards: TaskShards, context: TaskContext):
        self.task_id = int(task_id)
        self.options = self.check_options(options, f"tasks.{self.name}")
        self.shards = shards
        self.context = context
        self.vocab = context.vocab
        self.max_seq_len = context.max_seq_len
        self._orders: dict[tuple[str, int], np.ndarray] = {}
        self._philox_key: Optional[np.ndarray] = None
        self._build_units()

    # ------------------------------------------------------------------ options
    @classmethod
    def check_options(cls, options: Optional[dict[str, Any]], where: str) -> dict[str, Any]:
        """Defaults merged with ``options``; unknown keys and bad values raise ConfigError naming the key."""
        merged = copy.deepcopy(cls.defaults)
        for key, value in (options or {}).items():
            if key == "task_id":
                continue
            if key not in cls.defaults:
                known = ", ".join(["task_id", *cls.defaults]) or "task_id"
                raise ConfigError(f"unknown key '{where}.{key}' (options of {cls.name}: {known})")
            merged[key] = value
        cls.validate_options(merged, where)
        return merged

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """Check option values (here: each has its default's type); subclasses check more and
        raise ConfigError naming ``where.<key>``."""
        for key, default in cls.defaults.items():
            value = options[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, type(default))
            if not ok:
                raise ConfigError(f"key '{where}.{key}' must be a {type(default).__name__}, got {value!r}")

    def with_options(self, overrides: Optional[dict[str, Any]]) -> Task:
        """This task with some stage options changed (shares the shards and the split)."""
        if not overrides:
            return self
        for key in overrides:
            if key not in self.stage_options:
                allowed = ", ".join(sorted(self.stage_options)) or "none"
                raise ConfigError(
                    f"key '{key}' of task {self.name} cannot change per stage (allowed: {allowed})"
                )
        variant = copy.copy(self)
        variant.options = self.check_options({**self.options, **overrides}, f"tasks.{self.name}")
        variant._orders = {}
        return variant

    # ------------------------------------------------------------------ data
    @abstractmethod
    def _build_units(self) -> None:
        """Split the shards into training and held-out units (called once at construction)."""

    @abstractmethod
    def num_units(self, split: str) -> int:
        """Units in one pass over ``split``."""

    @property
    @abstractmethod
    def num_classes(self) -> int: ...

    def seeded_order(self, key: tuple[str, int], seed: list[int], n: int, cache_size: int = 4) -> np.ndarray:
        """A permutation of ``n`` from ``default_rng([context seed, task key, *seed])``, cached under
        ``key``; the cache holds at most ``cache_size`` orders (the passes in use, not all of them)."""
        order = self._orders.get(key)
        if order is None:
            order = np.random.default_rng([self.context.seed, stable_key(self.name), *seed]).permutation(n)
            if len(self._orders) >= cache_size:
                self._orders.clear()
            self._orders[key] = order
        return order

    def unit_order(self, split: str, epoch: int) -> np.ndarray:
        """The seeded order in which pass ``epoch`` visits the units of ``split``."""
        return self.seeded_order((split, epoch), [SPLIT_CODES[split], 1 << 30, epoch], self.num_units(split))

    def unit_for(self, index: int, split: str) -> int:
        """Which unit sample ``index`` of ``split`` is built from (one pass = every unit once)."""
        n = self.num_units(split)
        if n == 0:
            raise ShardError(f"{self.shards.root}: task {self.name} has no {split} data")
        epoch, position = divmod(index, n)
        return int(self.unit_order(split, epoch)[position])

    def rng(self, index: int, split: str) -> np.random.Generator:
        if self._philox_key is None:
            self._philox_key = philox_key(self.context.seed, self.name)
        return sample_rng(self.context.seed, self.name, split, index, self._philox_key)

    @abstractmethod
    def sample(self, index: int, split: str = "train") -> Sample:
        """Sample ``index`` of ``split``: ``input_ids`` and ``token_type_ids`` (with [CLS]/[SEP]) plus
        the task's labels (``label``, ``token_labels``, or ``mlm_positions``/``mlm_labels``)."""

    def samples(self, indices, split: str = "train") -> list[Sample]:
        return [self.sample(int(i), split) for i in indices]

    def batch(self, indices, split: str = "train") -> Batch:
        return self.collate(self.samples(indices, split))

    def collate(self, samples: list[Sample]) -> Batch:
        return collate(samples, self.vocab.pad_id, self.task_id)

    # ------------------------------------------------------------------ model
    def build_head(self, config):
        """This task's head on the shared encoder, or None (the masked-LM head of the model)."""
        return None

    @property
    def head_name(self) -> Optional[str]:
        return self.name

    def forward(self, model, batch: dict[str, Any]):
        """Logits for a batch of paddle tensors, through ``model.forward`` (a DP wrapper sees it)."""
        return model(
            batch["input_ids"],
            token_type_ids=batch["token_type_ids"],
            attention_mask=batch["attention_mask"],
            task_type_ids=batch["task_type_ids"],
            masked_positions=batch.get("masked_positions"),
            head=self.head_name,
        )

    @staticmethod
    def label_count(batch: Batch) -> int:
        """How many items the loss of this batch sums over (the normaliser across micro-batches)."""
        if "masked_labels" in batch:
            return int((batch["masked_labels"] != IGNORE_INDEX).sum())
        if "token_labels" in batch:
            return int((batch["token_labels"] != IGNORE_INDEX).sum())
        return int(batch["labels"].size)

    def loss_and_stats(self, logits, batch: dict[str, Any]):
        """``(summed cross entropy, {"loss_sum", "correct", "count"})`` for one batch of tensors."""
        import paddle
        import paddle.nn.functional as F

        if "masked_labels" in batch:
            labels = batch["masked_labels"]
        elif "token_labels" in batch:
            labels = batch["token_labels"]
        else:
            labels = batch["labels"]
        flat_logits = logits.reshape([-1, logits.shape[-1]])
        flat_labels = labels.reshape([-1])
        loss_sum = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE_INDEX, reduction="sum")
        with paddle.no_grad():
            valid = flat_labels != IGNORE_INDEX
            correct = ((flat_logits.argmax(axis=-1) == flat_labels) & valid).astype("int64").sum()
        stats = {
            "loss_sum": float(loss_sum),
            "correct": int(correct),
            "count": int(valid.astype("int64").sum()),
        }
        return loss_sum, stats

    # ------------------------------------------------------------------ evaluation
    def class_stats(self, logits, batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per class, ``(correct, count)`` of the scored items of a batch (for balanced accuracy)."""
        labels = batch["token_labels"] if "token_labels" in batch else batch["labels"]
        labels = labels.numpy().reshape(-1)
        predictions = logits.argmax(axis=-1).numpy().reshape(-1)
        scored = labels != IGNORE_INDEX
        labels, predictions = labels[scored], predictions[scored]
        k = self.num_classes
        correct = np.bincount(labels[predictions == labels], minlength=k)[:k]
        return correct.astype(np.float64), np.bincount(labels, minlength=k)[:k].astype(np.float64)

    def chance_level(self, batches: list[Batch]) -> float:
        """Accuracy of the best constant guess on these batches (the majority label)."""
        labels = []
        for batch in batches:
            for key in ("masked_labels", "token_labels", "labels"):
                if key in batch:
                    values = batch[key].reshape(-1)
                    labels.append(values[values != IGNORE_INDEX])
                    break
        values = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        if values.size == 0:
            return 0.0
        return float(np.bincount(values).max() / values.size)

    def describe(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "level": self.level,
            "classes": self.num_classes,
            "train_units": self.num_units("train"),
            "heldout_units": self.num_units("heldout"),
        }


# ---------------------------------------------------------------------------------------------- registry
TASK_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASK_REGISTRY[cls.name] = cls
    return cls


def task_class(name: str, where: str = "tasks") -> type[Task]:
    if name not in TASK_REGISTRY:
        raise ConfigError(f"unknown task '{where}.{name}' (known: {', '.join(TASK_REGISTRY)})")
    return TASK_REGISTRY[name]
