"""Token classification over labelled units (Chinese characters, or words): alignment and decoding.

Each unit is tokenised on its own. Its label goes on its first word piece; further pieces get -100
(no loss) and the unit's prediction is read from its first piece. A sentence longer than the model
takes is cut at unit boundaries into several windows, so no labelled unit is lost to truncation.
A unit that produces no token at all (a character the tokenizer drops) cannot be predicted: it is
counted and predicted ``O``; the metric still scores it against its gold label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .readers import NerExample

IGNORE = -100
# The official MSRA-NER runs (max_seq_len 256) keep the first 254 word pieces of a sentence, [CLS] and [SEP]
# taking the other two, and score only those.
OFFICIAL_NER_PIECES = 254


@dataclass
class NerFeature:
    example_index: int
    input_ids: list
    token_type_ids: list
    labels: list  # per position: label id, or -100
    unit_positions: list  # (unit index in the example, position of its first piece)


def build_ner_features(
    examples: Sequence[NerExample], tokenizer, max_seq_len: int
) -> tuple[list[NerFeature], int]:
    """Windows of at most ``max_seq_len`` tokens; returns the features and the number of units without tokens."""
    flat = [unit for example in examples for unit in example.units]
    pieces = tokenizer.encode_texts(flat)
    room = max_seq_len - 2
    features: list[NerFeature] = []
    empty_units = 0
    cursor = 0
    for k, example in enumerate(examples):
        unit_pieces = pieces[cursor : cursor + len(example.units)]
        cursor += len(example.units)
        windows: list[list[tuple[int, list]]] = [[]]
        used = 0
        for u, ids in enumerate(unit_pieces):
            if not ids:
                empty_units += 1
                continue
            ids = list(ids[:room])  # a unit longer than a whole window keeps its first pieces
            if used + len(ids) > room and windows[-1]:
                windows.append([])
                used = 0
            windows[-1].append((u, ids))
            used += len(ids)
        for window in windows:
            input_ids = [tokenizer.cls_token_id]
            labels = [IGNORE]
            positions = []
            for u, ids in window:
                positions.append((u, len(input_ids)))
                input_ids.extend(ids)
                gold = example.labels[u] if example.labels is not None else IGNORE
                labels.extend([gold] + [IGNORE] * (len(ids) - 1))
            input_ids.append(tokenizer.sep_token_id)
            labels.append(IGNORE)
            features.append(NerFeature(k, input_ids, [0] * len(input_ids), labels, positions))
    return features, empty_units


def decode_units(
    examples: Sequence[NerExample],
    features: Sequence[NerFeature],
    logits: Sequence[np.ndarray],
    outside_id: int,
) -> list[list[int]]:
    """Predicted label id per unit of every example (``outside_id`` where a unit has no token)."""
    predictions = [[outside_id] * len(e.units) for e in examples]
    for feature, row in zip(features, logits):
        row = np.asarray(row)
        for unit, position in feature.unit_positions:
            predictions[feature.example_index][unit] = int(row[position].argmax())
    return predictions


def official_scored_units(
    examples: Sequence[NerExample], features: Sequence[NerFeature], pieces: int = OFFICIAL_NER_PIECES
) -> list[list[int]]:
    """Per example, the indices of the units the official ERNIE script scores.

    Its reader drops a unit without a token (and its label), cuts the sentence after ``pieces`` word
    pieces, and scores gold and predicted tags of what is left: an entity beyond the cut is neither
    gold nor predicted, one across it is cut short in both. A unit counts while its first piece is kept.
    """
    kept: list[list[int]] = [[] for _ in examples]
    used = [0] * len(examples)
    for feature in features:  # an example's windows come in order
        k = feature.example_index
        ends = [position for _, position in feature.unit_positions[1:]] + [len(feature.input_ids) - 1]
        for (unit, position), end in zip(feature.unit_positions, ends):
            if used[k] < pieces:
                kept[k].append(unit)
            used[k] += end - position
    return kept


def entities_with_text(units: Sequence[str], tags: Sequence[str], joiner: str = "") -> list[dict]:
    """Entities as ``{type, start, end, text}`` with unit offsets (characters for Chinese)."""
    from .metrics import bio_entities

    return [
        {"type": kind, "start": start, "end": end, "text": joiner.join(units[start:end])}
        for kind, start, end in bio_entities(tags)
    ]
