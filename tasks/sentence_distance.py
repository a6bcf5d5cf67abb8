"""Sentence distance (3 classes): 0 adjacent, 1 same document but not adjacent, 2 different documents.

A sample is ``[CLS] A [SEP] B [SEP]`` (types 0 and 1). Classes are exactly balanced: every block of
three consecutive sample indices holds one sample of each class, in a seeded order (a held-out part
too small for some class balances the classes it has). For class

* 0, B is the sentence right after A in its document;
* 1, B is a sentence of A's document at distance two or more (either side);
* 2, B is a sentence of another document of the same split.

Each class walks its own seeded permutation of the anchors that can take it (a sentence with a
successor for class 0; a sentence with a non-adjacent partner for class 1; every sentence for 2),
so one pass over the data sees each anchor once per class. Empty sentences are skipped.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from data_tools.shards import ShardError

from .base import Task, register_task
from .context import Sample
from .samples import balanced_class, documents_split, pair_input


@register_task
class SentenceDistance(Task):
    name: ClassVar[str] = "sentence_distance"
    level: ClassVar[str] = "sentence"
    defaults: ClassVar[dict[str, Any]] = {}

    def _build_units(self) -> None:
        lengths = np.asarray(self.shards.ids.sequence_lengths)
        doc_index = np.asarray(self.shards.ids.document_index, dtype=np.int64)
        self.documents = documents_split(self.shards, self.context)
        # Per split: the non-empty sentences of each document, and the anchors of each class.
        self.doc_sentences: dict[str, list[np.ndarray]] = {}
        self.anchors: dict[str, list[np.ndarray]] = {}
        self.classes: dict[str, list[int]] = {}
        for split, docs in self.documents.items():
            sentences = []
            for doc in docs:
                seqs = np.arange(doc_index[doc], doc_index[doc + 1])
                sentences.append(seqs[lengths[seqs] > 0])
            sentences = [s for s in sentences if len(s)]
            self.doc_sentences[split] = sentences
            adjacent, distant, every = [], [], []
            for d, seqs in enumerate(sentences):
                n = len(seqs)
                positions = np.arange(n)
                pairs = np.stack([np.full(n, d), positions], axis=1)
                every.append(pairs)
                adjacent.append(pairs[positions < n - 1])
                distant.append(pairs[(positions >= 2) | (positions <= n - 3)])
            self.anchors[split] = [
                np.concatenate(a) if a else np.zeros((0, 2), dtype=np.int64)
                for a in (adjacent, distant, every)
            ]
            # A class with no anchor in a split (tiny held-out parts) is left out of that split's
            # balance; the training split must have all three.
            self.classes[split] = [
                c for c in range(3) if len(self.anchors[split][c]) and (c < 2 or len(sentences) >= 2)
            ]
            if split == "train" and len(self.classes[split]) < 3:
                raise ShardError(
                    f"{self.shards.root}/{self.name}: the training documents cannot give every distance class "
                    f"(need at least 2 documents and one of 3 or more sentences)"
                )

    def num_units(self, split: str) -> int:
        return len(self.classes[split]) * max(
            (len(self.anchors[split][c]) for c in self.classes[split]), default=0
        )

    @property
    def num_classes(self) -> int:
        return 3

    def build_head(self, config):
        from .heads import SentenceClassificationHead

        return SentenceClassificationHead(config, self.num_classes)

    def label_of(self, index: int, split: str = "train") -> int:
        """Every block of ``len(classes)`` consecutive indices holds each class once, in a seeded order."""
        classes = self.classes[split]
        if not classes:
            raise ShardError(f"{self.shards.root}/{self.name}: no {split} data")
        return balanced_class(self.context.seed, self.name, index, classes)[0]

    def _anchor(self, label: int, index: int, split: str) -> tuple[int, int]:
        anchors = self.anchors[split][label]
        epoch, position = divmod(index // len(self.classes[split]), len(anchors))
        seed = [11 + label, 1 if split == "heldout" else 0, epoch]
        order = self.seeded_order((f"{split}/{label}", epoch), seed, len(anchors), cache_size=8)
        doc, pos = anchors[order[position]]
        return int(doc), int(pos)

    def pair_positions(self, index: int, split: str) -> tuple[int, tuple[int, int], tuple[int, int]]:
        """``(label, (doc, position) of A, (doc, position) of B)`` within the split's documents."""
        rng = self.rng(index, split)
        label = self.label_of(index, split)
        doc, pos = self._anchor(label, index, split)
        sentences = self.doc_sentences[split]
        n = len(sentences[doc])
        if label == 0:
            return label, (doc, pos), (doc, pos + 1)
        if label == 1:
            partners = np.concatenate([np.arange(0, pos - 1), np.arange(pos + 2, n)])
            return label, (doc, pos), (doc, int(rng.choice(partners)))
        other = int(rng.integers(0, len(sentences) - 1))
        other += other >= doc  # any document but A's
        return label, (doc, pos), (other, int(rng.integers(0, len(sentences[other]))))

    def sample(self, index: int, split: str = "train") -> Sample:
        label, (doc_a, pos_a), (doc_b, pos_b) = self.pair_positions(index, split)
        sentences = self.doc_sentences[split]
        first = self.shards.sentence(int(sentences[doc_a][pos_a]))[0]
        second = self.shards.sentence(int(sentences[doc_b][pos_b]))[0]
        sample = pair_input(first, second, self.vocab, self.max_seq_len)
        sample["label"] = label
        return sample
