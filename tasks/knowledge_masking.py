"""Knowledge masking (ERNIE 1.0's basic, phrase and entity masking), predicted by the masked-LM head.

A sample is a chunk of consecutive sentences of one document, ``[CLS] chunk [SEP]``. Its tokens are
grouped into masking units at one level, drawn per sample from the stage's ``levels`` mix:

* ``basic``: every token is a unit (sub-word pieces in English, characters in Chinese);
* ``word``: whole words (the shards' ``word`` boundaries);
* ``phrase`` / ``entity``: each phrase or entity of the shards is one unit, the tokens outside any
  of them fall back to word units.

Units are visited in a random order and taken whole while they fit in the target, ``mask_prob`` of
the sample's maskable tokens (stochastically rounded). The first unit that does not fit is taken
with probability ``remaining / unit length`` and the selection stops there, which makes the expected
masked share exactly ``mask_prob`` whatever the unit sizes (a plain "skip what does not fit" rule
undershoots when units are long, as entities are). A unit that contains a special token ([UNK]) is
never masked, nor are [CLS], [SEP] and padding. Each selected token independently becomes [MASK]
(80%), a random non-special token (10%) or stays (10%); predictions are made at the selected
positions only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ernie.errors import ConfigError

from .base import Task, register_task
from .context import Sample
from .samples import DocumentChunks, documents_split, with_specials

LEVELS = ("basic", "word", "phrase", "entity")


def unit_starts(
    level: str, fields: dict[str, np.ndarray], sentence_starts: np.ndarray, length: int
) -> np.ndarray:
    """Boolean array: ``True`` where a masking unit of ``level`` begins.

    Field values: 0 outside a unit of that level, 1 first token, 2 continuation. Units never cross
    a sentence boundary.
    """
    starts = np.zeros(length, dtype=bool)
    if length == 0:
        return starts
    if level == "basic":
        starts[:] = True
        return starts
    word = fields["word"][:length]
    word_start = word != 2  # 0 would be a token outside any word: a unit of its own
    if level == "word":
        starts = word_start.copy()
    else:
        field = fields[level][:length]
        inside = field != 0
        prev_inside = np.concatenate([[False], inside[:-1]])
        # Inside a phrase/entity: only its first token starts a unit. Outside: word starts, and the
        # first token after a phrase/entity (even mid-word, should the boundaries disagree).
        starts = np.where(inside, field == 1, word_start | prev_inside)
    starts[sentence_starts[sentence_starts < length]] = True
    starts[0] = True
    return starts


def select_units(
    unit_lengths: np.ndarray, eligible: np.ndarray, mask_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """Indices of the units to mask (see the module docstring for the rule)."""
    candidates = np.flatnonzero(eligible)
    total = int(unit_lengths[candidates].sum())
    if total == 0:
        return candidates[:0]
    target = int(np.floor(mask_prob * total + rng.random()))
    target = max(target, 1)
    order = rng.permutation(candidates)
    cumulative = np.cumsum(unit_lengths[order])
    fit = int(np.searchsorted(cumulative, target, side="right"))  # units order[:fit] fit entirely
    chosen = order[:fit]
    masked = int(cumulative[fit - 1]) if fit else 0
    if masked < target and fit < len(order):
        remaining = target - masked
        if rng.random() < remaining / unit_lengths[order[fit]]:
            chosen = order[: fit + 1]
    return chosen


@register_task
class KnowledgeMasking(Task):
    name: ClassVar[str] = "knowledge_masking"
    level: ClassVar[str] = "token"
    defaults: ClassVar[dict[str, Any]] = {
        # Probability weights of the masking levels; a stage may change them (ERNIE 1.0 went from
        # basic to phrase to entity masking).
        "levels": {"word": 0.4, "phrase": 0.3, "entity": 0.3},
        "mask_prob": 0.15,
        "mask_token_prob": 0.8,
        "random_token_prob": 0.1,
    }
    stage_options: ClassVar[frozenset[str]] = frozenset(
        {"levels", "mask_prob", "mask_token_prob", "random_token_prob"}
    )

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        super().validate_options(options, where)
        levels = options["levels"]
        if not isinstance(levels, dict) or not levels:
            raise ConfigError(f"key '{where}.levels' must map levels ({', '.join(LEVELS)}) to weights")
        for level, weight in levels.items():
            if level not in LEVELS:
                raise ConfigError(f"unknown key '{where}.levels.{level}' (levels: {', '.join(LEVELS)})")
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
                raise ConfigError(
                    f"key '{where}.levels.{level}' must be a non-negative number, got {weight!r}"
                )
        if sum(levels.values()) <= 0:
            raise ConfigError(f"key '{where}.levels' has no positive weight")
        for key in ("mask_prob", "mask_token_prob", "random_token_prob"):
            value = options[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ConfigError(f"key '{where}.{key}' must be in [0, 1], got {value!r}")
        if options["mask_prob"] <= 0:
            raise ConfigError(f"key '{where}.mask_prob' must be positive")
        if options["mask_token_prob"] + options["random_token_prob"] > 1:
            raise ConfigError(f"keys '{where}.mask_token_prob' + 'random_token_prob' exceed 1")

    def _build_units(self) -> None:
        documents = documents_split(self.shards, self.context)
        budget = self.max_seq_len - 2
        self.chunks = {split: DocumentChunks(self.shards, docs, budget) for split, docs in documents.items()}
        special = np.asarray(self.vocab.special_ids, dtype=np.int64)
        self._is_special = np.zeros(max(self.vocab.size, int(special.max()) + 1), dtype=bool)
        self._is_special[special] = True
        # Random replacements come from the ordinary tokens only.
        self._normal_ids = np.flatnonzero(~self._is_special[: self.vocab.size])

    def num_units(self, split: str) -> int:
        return len(self.chunks[split])

    @property
    def num_classes(self) -> int:
        return self.vocab.size

    @property
    def head_name(self):
        return None  # the model's masked-LM head

    def _level_weights(self) -> tuple[list[str], np.ndarray]:
        levels = [level for level in LEVELS if self.options["levels"].get(level, 0) > 0]
        weights = np.array([self.options["levels"][level] for level in levels], dtype=np.float64)
        return levels, weights / weights.sum()

    def sample(self, index: int, split: str = "train") -> Sample:
        rng = self.rng(index, split)
        chunks = self.chunks[split]
        tokens, fields, sentence_starts = chunks.read(
            self.shards, self.unit_for(index, split), ("word", "phrase", "entity")
        )
        levels, weights = self._level_weights()
        level = levels[int(rng.choice(len(levels), p=weights))] if len(levels) > 1 else levels[0]
        return self.mask(tokens, fields, sentence_starts, level, rng)

    def mask(
        self,
        tokens: np.ndarray,
        fields: dict[str, np.ndarray],
        sentence_starts: np.ndarray,
        level: str,
        rng: np.random.Generator,
    ) -> Sample:
        """Mask one chunk at ``level`` (public so that tests can drive it with hand-made fields)."""
        n = len(tokens)
        starts = unit_starts(level, fields, sentence_starts, n)
        unit_of = np.cumsum(starts) - 1
        n_units = int(unit_of[-1]) + 1 if n else 0
        special = self._is_special[np.minimum(tokens, len(self._is_special) - 1)]
        unit_lengths = np.bincount(unit_of, minlength=n_units)
        has_special = np.bincount(unit_of, weights=special, minlength=n_units) > 0
        chosen = select_units(unit_lengths, ~has_special, self.options["mask_prob"], rng)
        selected = np.zeros(n_units, dtype=bool)
        selected[chosen] = True
        positions = np.flatnonzero(selected[unit_of]) if n else np.zeros(0, dtype=np.int64)

        masked = tokens.copy()
        draw = rng.random(len(positions))
        to_mask = draw < self.options["mask_token_prob"]
        to_random = (~to_mask) & (draw < self.options["mask_token_prob"] + self.options["random_token_prob"])
        masked[positions[to_mask]] = self.vocab.mask_id
        masked[positions[to_random]] = self._normal_ids[
            rng.integers(0, len(self._normal_ids), int(to_random.sum()))
        ]
        input_ids = with_specials(masked, self.vocab)
        return {
            "input_ids": input_ids,
            "token_type_ids": np.zeros(len(input_ids), dtype=np.int64),
            "mlm_positions": positions.astype(np.int64) + 1,  # after [CLS]
            "mlm_labels": tokens[positions].astype(np.int64),
            "level": level,
        }
