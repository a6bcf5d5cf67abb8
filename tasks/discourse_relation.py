"""Discourse relation: the class of the discourse marker that linked two sentences.

The builder mines pairs where the second sentence opened with a marker from its documented list
(however, because, for example, ...; 但是, 因为, 例如, ...), removes the marker and stores the pair
with the marker's class; the class names are in the manifest (``TaskShards.classes``). The model
sees ``[CLS] first [SEP] second-without-marker [SEP]`` and predicts the class.

Training is class-balanced by default (``balance_classes``, see ``pair_tasks.py``): mined markers
are heavily skewed, and the headline metric is then balanced accuracy (chance 1/K).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import register_task
from .pair_tasks import PairTask


@register_task
class DiscourseRelation(PairTask):
    name: ClassVar[str] = "discourse_relation"
    defaults: ClassVar[dict[str, Any]] = {"balance_classes": True}

    @property
    def num_classes(self) -> int:
        if self.shards.classes:
            return len(self.shards.classes)
        labels = np.asarray(self.shards.labels)
        return int(labels.max()) + 1 if labels.size else 1

    def describe(self):
        info = super().describe()
        info["class_names"] = list(self.shards.classes or [])
        return info
