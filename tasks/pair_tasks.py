"""Shared base of the sentence-pair tasks whose pairs and labels come ready-made in the shards."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from data_tools.shards import ShardError

from .base import Sample, Task, pair_input, split_units, stable_key


class PairTask(Task):
    """``[CLS] first [SEP] second [SEP]`` (types 0, 1), the pair's label from ``labels.npy``."""

    level: ClassVar[str] = "sentence"
    defaults: ClassVar[dict[str, Any]] = {}

    def _build_units(self) -> None:
        labels = np.asarray(self.shards.labels)
        where = f"{self.shards.root}/{self.name}/labels.npy"
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ShardError(f"{where}: labels outside [0, {self.num_classes})")
        train, heldout = split_units(
            self.shards.num_documents, self.context.heldout, stable_key(self.name), where
        )
        self.pairs = {"train": train, "heldout": heldout}

    def num_units(self, split: str) -> int:
        return len(self.pairs[split])

    def build_head(self, config):
        from .heads import SentenceClassificationHead

        return SentenceClassificationHead(config, self.num_classes)

    def sample(self, index: int, split: str = "train") -> Sample:
        pair = int(self.pairs[split][self.unit_for(index, split)])
        first, second, label = self.shards.pair(pair)
        sample = pair_input(first, second, self.vocab, self.max_seq_len)
        sample["label"] = label
        return sample
