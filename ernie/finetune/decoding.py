"""Sentence-level logits to predictions: one decoder for fine-tuning's evaluation and for serving.

Token classification and reading comprehension decode with ``ner.decode_units`` and
``mrc.best_answers``; this module holds the sentence-level counterpart, so that a served model
answers exactly what its fine-tuning evaluation predicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class ClassPrediction:
    label_id: int
    label: str
    probs: list  # softmax probabilities in label-id order


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def classify(logits: np.ndarray, labels: Sequence[str]) -> list[ClassPrediction]:
    """Per row of ``[n, num_labels]`` logits: the most probable label (first on ties) and all probabilities."""
    logits = np.asarray(logits)
    if logits.shape[0] == 0:
        return []
    probs = softmax(logits)
    ids = probs.argmax(axis=-1)
    return [
        ClassPrediction(int(i), str(labels[int(i)]), [float(p) for p in row]) for i, row in zip(ids, probs)
    ]


def regress(logits: np.ndarray) -> list[float]:
    """Per row of ``[n, 1]`` logits: the predicted score."""
    return [float(row[0]) for row in np.asarray(logits)]
