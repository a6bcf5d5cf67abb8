"""Features for sentence-level tasks, padding, and the order in which training examples are seen.

Training reads a stream of examples made of one seeded permutation per epoch, laid end to end and
cut into global batches of ``batch_size``: every batch is full, each epoch's examples are all seen,
and the batch at an epoch boundary mixes the end of one permutation with the start of the next.
Global batch ``s`` is split into ``accumulate_steps`` micro-steps of ``micro_batch_size x
world_size`` examples; rank ``r`` takes its consecutive ``micro_batch_size`` of each. The batches
do not depend on the number of processes, so one process and N processes see the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from .readers import TextExample


@dataclass
class TextFeature:
    example_index: int
    input_ids: list
    token_type_ids: list
    label: Optional[float] = None


def build_text_features(examples: Sequence[TextExample], tokenizer, max_seq_len: int) -> list[TextFeature]:
    """``[CLS] a [SEP] (b [SEP])`` truncated longest-first to ``max_seq_len`` (PaddleNLP's convention)."""
    singles = [k for k, e in enumerate(examples) if e.text_b is None]
    pairs = [k for k, e in enumerate(examples) if e.text_b is not None]
    features: list[Optional[TextFeature]] = [None] * len(examples)
    for group, with_pair in ((singles, False), (pairs, True)):
        if not group:
            continue
        texts = [examples[k].text_a for k in group]
        others = [examples[k].text_b for k in group] if with_pair else None
        encoded = tokenizer(texts, others, max_length=max_seq_len, truncation=True)
        for k, ids, types in zip(group, encoded["input_ids"], encoded["token_type_ids"]):
            features[k] = TextFeature(k, ids, types, examples[k].label)
    return features


def pad(rows: Sequence[Sequence[int]], value: int, length: Optional[int] = None) -> np.ndarray:
    length = length or max(len(r) for r in rows)
    out = np.full((len(rows), length), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def epoch_stream(n_examples: int, seed: int) -> Iterator[int]:
    """Example indices: one permutation per epoch (seeded by ``seed`` and the epoch), forever."""
    epoch = 0
    while True:
        yield from np.random.RandomState((seed * 1000003 + epoch) % (2**32)).permutation(n_examples).tolist()
        epoch += 1


def global_batches(n_examples: int, batch_size: int, steps: int, seed: int) -> Iterator[list[int]]:
    stream = epoch_stream(n_examples, seed)
    for _ in range(steps):
        yield [next(stream) for _ in range(batch_size)]


def rank_micro_batches(
    batch: list[int], micro_batch_size: int, accumulate_steps: int, rank: int, world: int
) -> list[list[int]]:
    """This rank's micro-batches of one global batch (``accumulate_steps`` lists of ``micro_batch_size``)."""
    step = micro_batch_size * world
    return [
        batch[k * step + rank * micro_batch_size : k * step + (rank + 1) * micro_batch_size]
        for k in range(accumulate_steps)
    ]
