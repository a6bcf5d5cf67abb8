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
from typing import Optional, Sequence

import numpy as np

from .readers import TextExample


@dataclass
class TextFeature:
    example_index: int
    input_ids: list
    token_type_ids: list
    label: Optional[float] = None
    truncated: bool = False  # tokens were cut to fit max_seq_len (serving counts and reports these)


def build_text_features(examples: Sequence[TextExample], tokenizer, max_seq_len: int) -> list[TextFeature]:
    """``[CLS] a [SEP] (b [SEP])`` truncated longest-first to ``max_seq_len`` (PaddleNLP's convention).

    The same ids as ``tokenizer(a, b, max_length=max_seq_len, truncation=True)``, built from its parts
    so that whether an example was truncated is known.
    """
    ids_a = tokenizer.encode_texts([e.text_a for e in examples])
    paired = [k for k, e in enumerate(examples) if e.text_b is not None]
    ids_b = dict(zip(paired, tokenizer.encode_texts([examples[k].text_b for k in paired])))
    features = []
    for k, example in enumerate(examples):
        a, b = ids_a[k], ids_b.get(k)
        budget = max_seq_len - tokenizer.num_special_tokens_to_add(b is not None)
        len_a, len_b = tokenizer.truncate_pair(len(a), None if b is None else len(b), budget, "longest_first")
        truncated = len_a < len(a) or (b is not None and len_b < len(b))
        a = a[:len_a]
        b = None if b is None else b[:len_b]
        features.append(
            TextFeature(
                k,
                tokenizer.build_inputs_with_special_tokens(a, b),
                tokenizer.create_token_type_ids(a, b),
                example.label,
                truncated,
            )
        )
    return features


def pad(rows: Sequence[Sequence[int]], value: int, length: Optional[int] = None) -> np.ndarray:
    length = length or max(len(r) for r in rows)
    out = np.full((len(rows), length), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


class BatchOrder:
    """Which examples each global batch holds: a pure function of (examples, batch size, seed, step).

    The stream is one seeded permutation per epoch, laid end to end; global batch ``s`` is positions
    ``s * batch_size ...`` of it. A resumed run asks for batch ``s`` and gets what an uninterrupted
    run got, without replaying the earlier batches.
    """

    def __init__(self, n_examples: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n_examples, batch_size, seed
        self._epoch, self._order = -1, np.zeros(0, dtype=np.int64)

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            rng = np.random.RandomState((self.seed * 1000003 + epoch) % (2**32))
            self._epoch, self._order = epoch, rng.permutation(self.n)
        return self._order

    def batch(self, step: int) -> list[int]:
        """Example indices of global batch ``step`` (0-based)."""
        out = []
        for position in range(step * self.batch_size, (step + 1) * self.batch_size):
            epoch, offset = divmod(position, self.n)
            out.append(int(self.permutation(epoch)[offset]))
        return out


def rank_micro_batches(
    batch: list[int], micro_batch_size: int, accumulate_steps: int, rank: int, world: int
) -> list[list[int]]:
    """This rank's micro-batches of one global batch (``accumulate_steps`` lists of ``micro_batch_size``)."""
    step = micro_batch_size * world
    return [
        batch[k * step + rank * micro_batch_size : k * step + (rank + 1) * micro_batch_size]
        for k in range(accumulate_steps)
    ]
