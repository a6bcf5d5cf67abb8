"""Shared base of the per-token binary tasks (capitalization, token-document relation).

A sample is a chunk of consecutive sentences of one document, ``[CLS] chunk [SEP]``, unmasked; the
label of each token comes from the shard field aligned with the ids (``cap``: the source word starts
with an upper-case letter, the ids being those of the lower-cased text; ``tdr``: the token's word
also occurs in another sentence of the same document). Tokens the builder marked ``IGNORE``
(punctuation, digits, stop words) and [CLS]/[SEP]/padding carry no loss and are not scored.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Task
from .context import IGNORE_INDEX, Sample
from .samples import DocumentChunks, documents_split, field_labels, with_specials


class TokenFieldTask(Task):
    level: ClassVar[str] = "token"
    field: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def _build_units(self) -> None:
        documents = documents_split(self.shards, self.context)
        budget = self.max_seq_len - 2
        self.chunks = {split: DocumentChunks(self.shards, docs, budget) for split, docs in documents.items()}

    def num_units(self, split: str) -> int:
        return len(self.chunks[split])

    @property
    def num_classes(self) -> int:
        return 2

    def build_head(self, config):
        from .heads import TokenClassificationHead

        return TokenClassificationHead(config, self.num_classes)

    def sample(self, index: int, split: str = "train") -> Sample:
        tokens, fields, _ = self.chunks[split].read(self.shards, self.unit_for(index, split), (self.field,))
        input_ids = with_specials(tokens, self.vocab)
        labels = np.full(len(input_ids), IGNORE_INDEX, dtype=np.int64)
        labels[1:-1] = field_labels(fields[self.field])
        return {
            "input_ids": input_ids,
            "token_type_ids": np.zeros(len(input_ids), dtype=np.int64),
            "token_labels": labels,
        }
