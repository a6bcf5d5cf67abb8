"""The pre-training task interface: what the controller and the trainer know about a task.

A task turns its shards into samples, samples into padded numpy batches, and batches into a loss and
metrics through ``ErnieForPretraining.forward(..., head=<task head>)``. Everything a task draws at
random comes from a generator seeded by ``(seed, task name, split, sample index)``, so a sample is a
pure function of its index: a resumed run, another rank or another worker count builds the very same
sample, and no global RNG is touched.

Data is split once into a training part and a held-out part (documents for document tasks, pairs
for pair tasks) by a permutation whose seed does not depend on the training seed, so every run on
the same shards evaluates on the same held-out documents. Within a split, the sample index walks a
fresh seeded permutation of the split's units every pass ("epoch").
"""

from __future__ import annotations

import copy
import math
import os
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from data_tools.shards import IGNORE, ShardError, TaskShards
from ernie.errors import ConfigError

IGNORE_INDEX = -100  # label value that carries no loss (padding, [CLS]/[SEP], unscored tokens)
SPLITS = ("train", "heldout")
_SPLIT_CODES = {"train": 0, "heldout": 1}
# The held-out split must not move when the training seed changes: it has its own fixed seed.
SPLIT_SEED = 20190729

Sample = dict[str, Any]
Batch = dict[str, np.ndarray]


def stable_key(name: str) -> int:
    """A process-independent integer for a name (Python's hash() is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def philox_key(seed: int, name: str) -> np.ndarray:
    return np.random.SeedSequence([seed, stable_key(name)]).generate_state(2, np.uint64)


def sample_rng(
    seed: int, name: str, split: str, index: int, key: Optional[np.ndarray] = None
) -> np.random.Generator:
    """The generator of one sample: Philox keyed by (seed, task), counter (index, split).

    The index sits in the counter's third word and the draws advance the first, so the streams of
    two samples never overlap; building it is cheaper than hashing a fresh SeedSequence per sample.
    """
    key = philox_key(seed, name) if key is None else key
    return np.random.Generator(np.random.Philox(counter=[0, 0, index, _SPLIT_CODES[split]], key=key))


@dataclass(frozen=True)
class VocabInfo:
    """What sample construction needs from the vocabulary."""

    size: int
    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int
    unk_id: int
    special_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer) -> VocabInfo:
        return cls(
            size=len(tokenizer.vocab),
            cls_id=tokenizer.cls_token_id,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
            mask_id=tokenizer.mask_token_id,
            unk_id=tokenizer.unk_token_id,
            special_ids=tuple(sorted(set(tokenizer.all_special_ids))),
        )


@dataclass(frozen=True)
class TaskContext:
    """Run-wide settings every task is built with."""

    seed: int
    max_seq_len: int
    vocab: VocabInfo
    type_vocab_size: int = 4
    heldout: float = 0.05  # < 1: share of the units; >= 1: a count of units


def split_units(count: int, heldout: float, key: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``0..count-1`` split into (train, heldout) by a permutation seeded with ``key``."""
    if heldout < 0:
        raise ConfigError(f"key 'data.heldout' must be non-negative, got {heldout}")
    # At least two held-out units whenever there is a held-out split (sentence distance needs two
    # documents to draw its "different document" class from).
    n_heldout = int(heldout) if heldout >= 1 else (max(2, round(count * heldout)) if heldout > 0 else 0)
    if count - n_heldout < 1:
        raise ShardError(f"{what}: {count} units, too few to hold out {n_heldout} and still train")
    perm = np.random.default_rng([SPLIT_SEED, key]).permutation(count)
    return np.sort(perm[n_heldout:]), np.sort(perm[:n_heldout])


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
        return self.seeded_order((split, epoch), [_SPLIT_CODES[split], 1 << 30, epoch], self.num_units(split))

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


# ---------------------------------------------------------------------------------------------- helpers
def collate(samples: list[Sample], pad_id: int, task_id: int) -> Batch:
    """Pad a list of samples into numpy arrays (the longest sample sets the length).

    Masked-LM positions become flat indices ``b * seq_len + t`` into the ``[B * T]`` rows, as the
    model's MLM head gathers them.
    """
    if not samples:
        raise ValueError("collate: no samples")
    batch_size = len(samples)
    seq_len = max(len(s["input_ids"]) for s in samples)
    input_ids = np.full((batch_size, seq_len), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((batch_size, seq_len), dtype=np.int64)
    attention_mask = np.zeros((batch_size, seq_len), dtype=np.int64)
    for b, s in enumerate(samples):
        n = len(s["input_ids"])
        input_ids[b, :n] = s["input_ids"]
        token_type_ids[b, :n] = s["token_type_ids"]
        attention_mask[b, :n] = 1
    batch: Batch = {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "task_type_ids": np.full((batch_size, seq_len), task_id, dtype=np.int64),
    }
    first = samples[0]
    if "label" in first:
        batch["labels"] = np.array([s["label"] for s in samples], dtype=np.int64)
    if "token_labels" in first:
        labels = np.full((batch_size, seq_len), IGNORE_INDEX, dtype=np.int64)
        for b, s in enumerate(samples):
            labels[b, : len(s["token_labels"])] = s["token_labels"]
        batch["token_labels"] = labels
    if "mlm_positions" in first:
        batch["masked_positions"] = np.concatenate(
            [np.asarray(s["mlm_positions"], dtype=np.int64) + b * seq_len for b, s in enumerate(samples)]
        )
        batch["masked_labels"] = np.concatenate(
            [np.asarray(s["mlm_labels"], dtype=np.int64) for s in samples]
        )
        if batch["masked_positions"].size == 0:
            # Nothing was maskable: one ignored position keeps the head's gather non-empty.
            batch["masked_positions"] = np.zeros(1, dtype=np.int64)
            batch["masked_labels"] = np.full(1, IGNORE_INDEX, dtype=np.int64)
    return batch


def with_specials(tokens: np.ndarray, vocab: VocabInfo) -> np.ndarray:
    """``[CLS] tokens [SEP]`` as int64."""
    out = np.empty(len(tokens) + 2, dtype=np.int64)
    out[0] = vocab.cls_id
    out[1:-1] = tokens
    out[-1] = vocab.sep_id
    return out


def pair_input(first: np.ndarray, second: np.ndarray, vocab: VocabInfo, max_seq_len: int) -> Sample:
    """``[CLS] a [SEP] b [SEP]``, types 0 then 1, the longer side trimmed first to fit ``max_seq_len``."""
    len_a, len_b = len(first), len(second)
    budget = max_seq_len - 3
    while len_a + len_b > budget:
        if len_a >= len_b:
            len_a -= 1
        else:
            len_b -= 1
    ids = np.concatenate(
        [[vocab.cls_id], first[:len_a], [vocab.sep_id], second[:len_b], [vocab.sep_id]]
    ).astype(np.int64)
    types = np.zeros(len(ids), dtype=np.int64)
    types[len_a + 2 :] = 1
    return {"input_ids": ids, "token_type_ids": types}


def field_labels(values: np.ndarray) -> np.ndarray:
    """uint8 0/1/IGNORE field values as int64 labels with IGNORE_INDEX."""
    labels = values.astype(np.int64)
    labels[values == IGNORE] = IGNORE_INDEX
    return labels


class DocumentChunks:
    """Documents cut into chunks of consecutive sentences that fit a token budget.

    A chunk is ``(first sentence, end sentence)`` of one document; sentences are added while the
    chunk stays within ``budget`` tokens, and a sentence longer than the budget is a chunk of its own
    (truncated when read). Chunks with fewer than ``min_tokens`` tokens are dropped.
    """

    def __init__(self, shards: TaskShards, documents: np.ndarray, budget: int, min_tokens: int = 1):
        lengths = np.asarray(shards.ids.sequence_lengths, dtype=np.int64)
        doc_index = np.asarray(shards.ids.document_index, dtype=np.int64)
        firsts: list[int] = []
        ends: list[int] = []
        sizes: list[int] = []
        for doc in documents:
            start, stop = int(doc_index[doc]), int(doc_index[doc + 1])
            chunk_start, tokens = start, 0
            for seq in range(start, stop):
                n = int(lengths[seq])
                if tokens and tokens + n > budget:
                    firsts.append(chunk_start)
                    ends.append(seq)
                    sizes.append(tokens)
                    chunk_start, tokens = seq, 0
                tokens += n
            if stop > chunk_start:
                firsts.append(chunk_start)
                ends.append(stop)
                sizes.append(tokens)
        firsts_a = np.asarray(firsts, dtype=np.int64)
        ends_a = np.asarray(ends, dtype=np.int64)
        sizes_a = np.minimum(np.asarray(sizes, dtype=np.int64), budget)
        keep = sizes_a >= min_tokens
        self.first, self.end, self.tokens = firsts_a[keep], ends_a[keep], sizes_a[keep]
        self.budget = budget

    def __len__(self) -> int:
        return len(self.first)

    def read(
        self, shards: TaskShards, chunk: int, fields: tuple[str, ...] = ()
    ) -> tuple[np.ndarray, dict, np.ndarray]:
        """``(ids, {field: values}, sentence start offsets)`` of a chunk, cut to the budget."""
        first, end = int(self.first[chunk]), int(self.end[chunk])
        lengths = np.asarray(shards.ids.sequence_lengths[first:end], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        total = min(int(lengths.sum()), self.budget)
        ids = read_span(shards.ids, first, total).astype(np.int64)
        values = {name: read_span(shards.fields[name], first, total) for name in fields}
        return ids, values, starts[starts < total]


_BIN_MAPS: dict[str, np.memmap] = {}


def read_span(dataset, first: int, count: int) -> np.ndarray:
    """``count`` elements from the start of sequence ``first`` on, across the following sequences.

    The sequences of a document are stored back to back in the ``.bin``, so a chunk of consecutive
    sentences is one slice (one read instead of one per sentence).
    """
    data = _BIN_MAPS.get(dataset.prefix)
    if data is None:
        path = dataset.prefix + ".bin"
        data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
        _BIN_MAPS[dataset.prefix] = data
    return np.frombuffer(
        data, dtype=dataset.dtype.newbyteorder("<"), count=count, offset=int(dataset.sequence_pointers[first])
    )


def documents_split(shards: TaskShards, context: TaskContext) -> dict[str, np.ndarray]:
    """Held-out documents; the key does not depend on the task, so tasks built from the same corpus
    (same document count) hold out the same documents and never train on each other's held-out text."""
    train, heldout = split_units(
        shards.num_documents, context.heldout, stable_key("documents"), f"{shards.root}/{shards.name}"
    )
    return {"train": train, "heldout": heldout}


def balanced_class(seed: int, name: str, index: int, classes: list[int]) -> tuple[int, int]:
    """``(class, draw)`` of sample ``index`` when the classes take turns.

    Every block of ``len(classes)`` consecutive indices holds each class once, in a seeded order, so
    any window of samples is balanced to within one per class; ``draw`` (the block number) counts
    the earlier samples of that class.
    """
    block, slot = divmod(index, len(classes))
    order = np.random.default_rng([seed, stable_key(name), 7, block]).permutation(len(classes))
    return classes[int(order[slot])], block


def factorial_sum(m: int) -> int:
    return sum(math.factorial(n) for n in range(1, m + 1))


# ---------------------------------------------------------------------------------------------- registry
TASK_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASK_REGISTRY[cls.name] = cls
    return cls


def task_class(name: str, where: str = "tasks") -> type[Task]:
    if name not in TASK_REGISTRY:
        raise ConfigError(f"unknown task '{where}.{name}' (known: {', '.join(TASK_REGISTRY)})")
    return TASK_REGISTRY[name]
