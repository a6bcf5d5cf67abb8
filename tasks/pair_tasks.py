"""Shared base of the sentence-pair tasks whose pairs and labels come ready-made in the shards.

With ``balance_classes`` the training samples take the classes in turn (every block of K
consecutive samples holds each class present in the training split once), each class walking its
own seeded permutation of its pairs, pass after pass. Mined discourse pairs are dominated by a few
markers ("but" alone is more than half of them in English novels), and a model trained on the raw
mix learns to answer the majority class; balanced, every class is trained as often, as in the
balanced discourse-marker sets this task follows (Sileo et al. 2019). Held-out samples always keep
the natural mix, each pair once; the task then reports balanced accuracy (mean recall over the
classes) as its headline metric, whose chance level is 1/K whatever the mix.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from data_tools.shards import ShardError

from .base import Task
from .context import Sample, split_units, stable_key
from .samples import balanced_class, pair_input


class PairTask(Task):
    """``[CLS] first [SEP] second [SEP]`` (types 0, 1), the pair's label from ``labels.npy``."""

    level: ClassVar[str] = "sentence"
    defaults: ClassVar[dict[str, Any]] = {"balance_classes": False}

    def _build_units(self) -> None:
        labels = np.asarray(self.shards.labels)
        where = f"{self.shards.root}/{self.name}/labels.npy"
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ShardError(f"{where}: labels outside [0, {self.num_classes})")
        train, heldout = split_units(
            self.shards.num_documents, self.context.heldout, stable_key(self.name), where
        )
        self.pairs = {"train": train, "heldout": heldout}
        train_labels = labels[train] if labels.size else np.zeros(0, dtype=np.int64)
        self.class_pairs = [train[train_labels == c] for c in range(self.num_classes)]
        self.train_classes = [c for c, pairs in enumerate(self.class_pairs) if len(pairs)]

    @property
    def metric_name(self) -> str:
        return "balanced_accuracy" if self.options["balance_classes"] else "accuracy"

    def num_units(self, split: str) -> int:
        return len(self.pairs[split])

    def build_head(self, config):
        from .heads import SentenceClassificationHead

        return SentenceClassificationHead(config, self.num_classes)

    def balanced_pair(self, index: int) -> int:
        """The training pair of sample ``index`` when the classes take turns."""
        if not self.train_classes:
            raise ShardError(f"{self.shards.root}: task {self.name} has no train data")
        label, draw = balanced_class(self.context.seed, self.name, index, self.train_classes)
        pairs = self.class_pairs[label]
        epoch, position = divmod(draw, len(pairs))
        # Room for every class's current and next pass besides the unit orders.
        cache_size = 4 + 2 * len(self.train_classes)
        order = self.seeded_order((f"class{label}", epoch), [11 + label, epoch], len(pairs), cache_size)
        return int(pairs[order[position]])

    def sample(self, index: int, split: str = "train") -> Sample:
        if split == "train" and self.options["balance_classes"]:
            pair = self.balanced_pair(index)
        else:
            pair = int(self.pairs[split][self.unit_for(index, split)])
        first, second, label = self.shards.pair(pair)
        sample = pair_input(first, second, self.vocab, self.max_seq_len)
        sample["label"] = label
        return sample
