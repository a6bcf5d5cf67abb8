"""IR relevance (3 classes): how a title relates to a search query.

Pairs ``query [SEP] title`` with labels from the query logs given to the builder (``--ir``): as the
paper describes the Chinese search data, 0 a title the user clicked (strong relevance), 1 a title
shown but not clicked (weak), 2 an unrelated title (random). The input is
``[CLS] query [SEP] title [SEP]`` (types 0 and 1).
"""

from __future__ import annotations

from typing import ClassVar

from .base import register_task
from .pair_tasks import PairTask


@register_task
class IRRelevance(PairTask):
    name: ClassVar[str] = "ir_relevance"

    @property
    def num_classes(self) -> int:
        return 3
