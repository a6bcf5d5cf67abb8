"""What every task shares: the run's context, the label that carries no loss, and deterministic randomness.

Everything a task draws at random comes from a generator seeded by ``(seed, task name, split, sample
index)``, so a sample is a pure function of its index: a resumed run, another rank or another worker
count builds the very same sample, and no global RNG is touched.

Data is split once into a training part and a held-out part (documents for document tasks, pairs
for pair tasks) by a permutation whose seed does not depend on the training seed, so every run on
the same shards evaluates on the same held-out documents.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from data_tools.shards import ShardError
from ernie.errors import ConfigError

IGNORE_INDEX = -100  # label value that carries no loss (padding, [CLS]/[SEP], unscored tokens)
SPLITS = ("train", "heldout")
SPLIT_CODES = {"train": 0, "heldout": 1}
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
    return np.random.Generator(np.random.Philox(counter=[0, 0, index, SPLIT_CODES[split]], key=key))


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
            size=tokenizer.vocab_size,  # largest id + 1 (a duplicated token leaves an id unnamed)
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
