"""Sentence reordering: a paragraph split into m segments, shuffled; classify the permutation.

As the paper (and the ERNIE maintainers in PaddlePaddle/ERNIE#262) describe it: a paragraph is split
into 1 to ``max_segments`` segments, the segments are shuffled, and the model classifies the
permutation among ``1! + 2! + ... + max_segments!`` classes (9, 33, 153 for 3, 4, 5).

Our construction (the paper gives no more detail):

* the paragraph is a chunk of consecutive sentences of one document that fits ``max_seq_len`` with
  [CLS] and one [SEP] per segment;
* ``m`` is drawn per sample: ``uniform`` over 1..max_segments (the paper's wording), or ``balanced``
  with P(m) proportional to m!, which makes every class equally likely;
* ``cuts: sentence`` (default): cuts fall on sentence boundaries when the chunk has at least m
  sentences, otherwise between tokens; ``cuts: token``: anywhere between two tokens (the paper says
  "a paragraph is split into segments", which allows either);
* the input is ``[CLS] s_p0 [SEP] s_p1 [SEP] ...`` where the segment shown at position k has sentence
  (token type) id ``min(k, type_vocab_size - 1)``: the type tells the position, never the original
  order;
* the label encodes ``p`` (``p[k]`` = original index of the segment shown k-th): classes of smaller
  m come first, then the lexicographic rank of ``p`` among the m! permutations. For m <= 3:
  ``(0)``->0, ``(0 1)``->1, ``(1 0)``->2, ``(0 1 2)``->3, ``(0 2 1)``->4, ``(1 0 2)``->5,
  ``(1 2 0)``->6, ``(2 0 1)``->7, ``(2 1 0)``->8.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import numpy as np

from ernie.errors import ConfigError

from .base import Task, register_task
from .context import Batch, Sample
from .samples import DocumentChunks, documents_split, factorial_sum


def permutation_index(perm: Sequence[int]) -> int:
    """Class of a permutation of ``range(m)``: ``sum_{n<m} n!`` + its lexicographic rank."""
    m = len(perm)
    if sorted(perm) != list(range(m)) or m == 0:
        raise ValueError(f"not a permutation of 0..{m - 1}: {list(perm)}")
    rank = 0
    remaining = list(range(m))
    for k, value in enumerate(perm):
        position = remaining.index(value)
        rank += position * math.factorial(m - 1 - k)
        remaining.pop(position)
    return factorial_sum(m - 1) + rank


def permutation_from_index(label: int) -> list[int]:
    """Inverse of ``permutation_index``."""
    if label < 0:
        raise ValueError(f"negative class {label}")
    m = 1
    while label >= factorial_sum(m):
        m += 1
    rank = label - factorial_sum(m - 1)
    remaining = list(range(m))
    perm = []
    for k in range(m):
        position, rank = divmod(rank, math.factorial(m - 1 - k))
        perm.append(remaining.pop(position))
    return perm


def segments_of_class(label: int) -> int:
    m = 1
    while label >= factorial_sum(m):
        m += 1
    return m


@register_task
class SentenceReordering(Task):
    name: ClassVar[str] = "sentence_reordering"
    level: ClassVar[str] = "sentence"
    defaults: ClassVar[dict[str, Any]] = {"max_segments": 3, "segment_counts": "uniform", "cuts": "sentence"}
    stage_options: ClassVar[frozenset[str]] = frozenset({"segment_counts", "cuts"})

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        super().validate_options(options, where)
        m = options["max_segments"]
        if not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= 6:
            raise ConfigError(f"key '{where}.max_segments' must be an integer in [1, 6], got {m!r}")
        if options["cuts"] not in ("sentence", "token"):
            raise ConfigError(f"key '{where}.cuts' must be 'sentence' or 'token', got {options['cuts']!r}")
        if options["segment_counts"] not in ("uniform", "balanced"):
            raise ConfigError(
                f"key '{where}.segment_counts' must be 'uniform' or 'balanced', got {options['segment_counts']!r}"
            )

    def _build_units(self) -> None:
        m = self.options["max_segments"]
        budget = self.max_seq_len - 1 - m
        if budget < m:
            raise ConfigError(f"key 'data.max_seq_len' ({self.max_seq_len}) is too short for {m} segments")
        documents = documents_split(self.shards, self.context)
        self.chunks = {
            split: DocumentChunks(self.shards, docs, budget, min_tokens=m)
            for split, docs in documents.items()
        }

    def num_units(self, split: str) -> int:
        return len(self.chunks[split])

    @property
    def num_classes(self) -> int:
        return factorial_sum(self.options["max_segments"])

    def build_head(self, config):
        from .heads import SentenceClassificationHead

        return SentenceClassificationHead(config, self.num_classes)

    def segment_count_probs(self) -> np.ndarray:
        m = self.options["max_segments"]
        if self.options["segment_counts"] == "balanced":
            weights = np.array([math.factorial(n) for n in range(1, m + 1)], dtype=np.float64)
        else:
            weights = np.ones(m, dtype=np.float64)
        return weights / weights.sum()

    def sample(self, index: int, split: str = "train") -> Sample:
        rng = self.rng(index, split)
        tokens, _, sentence_starts = self.chunks[split].read(self.shards, self.unit_for(index, split))
        m = int(rng.choice(self.options["max_segments"], p=self.segment_count_probs())) + 1
        return self.shuffle(tokens, sentence_starts, m, rng)

    def shuffle(
        self, tokens: np.ndarray, sentence_starts: np.ndarray, m: int, rng: np.random.Generator
    ) -> Sample:
        """Cut ``tokens`` into ``m`` segments, shuffle them, and build the input and the label."""
        n = len(tokens)
        inner_starts = sentence_starts[(sentence_starts > 0) & (sentence_starts < n)]
        by_sentence = self.options["cuts"] == "sentence" and len(inner_starts) >= m - 1
        candidates = inner_starts if by_sentence else np.arange(1, n)
        cuts = (
            np.sort(rng.choice(candidates, size=m - 1, replace=False))
            if m > 1
            else np.zeros(0, dtype=np.int64)
        )
        segments = np.split(tokens, cuts)
        perm = rng.permutation(m)
        ids = [self.vocab.cls_id]
        types = [0]
        top_type = max(self.context.type_vocab_size - 1, 0)
        for k, original in enumerate(perm):
            segment = segments[int(original)]
            ids.extend(int(t) for t in segment)
            ids.append(self.vocab.sep_id)
            types.extend([min(k, top_type)] * (len(segment) + 1))
        return {
            "input_ids": np.asarray(ids, dtype=np.int64),
            "token_type_ids": np.asarray(types, dtype=np.int64),
            "label": permutation_index([int(p) for p in perm]),
        }

    def chance_level(self, batches: list[Batch]) -> float:
        """Accuracy of a guess that sees the number of segments (the [SEP]s) but not the text: 1/m!."""
        labels = np.concatenate([batch["labels"] for batch in batches])
        if labels.size == 0:
            return 0.0
        return float(np.mean([1.0 / math.factorial(segments_of_class(int(label))) for label in labels]))
