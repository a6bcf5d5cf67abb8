"""``finetune_settings.json``: what a fine-tuned model was trained with, so that serving decodes alike.

Fine-tuning writes it into ``best/`` and every checkpoint folder; ``tools/export.py`` copies it into
the export metadata, where the predictor takes its defaults from. The keys:

* ``benchmark``: the benchmark name (e.g. ``"cmrc2018"``);
* ``kind``: ``"classification"``, ``"regression"``, ``"ner"`` or ``"mrc"``;
* ``labels``: label strings in id order, or null (regression, reading comprehension);
* ``max_seq_len``, ``doc_stride``, ``max_query_len``, ``max_answer_len``, ``n_best``: the data settings
  (the last four used by reading comprehension, in tokens);
* ``ner_units``: what one NER label covers, ``"characters"`` or ``"words"``; null for other kinds.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from ..errors import UsageError
from ..files import atomic_write_text
from .benchmarks import CLASSIFICATION, MRC, NER, REGRESSION, BenchmarkSpec

FINETUNE_SETTINGS_FILE = "finetune_settings.json"
KINDS = (CLASSIFICATION, REGRESSION, NER, MRC)
NER_UNITS = ("characters", "words")
_POSITIVE_INTS = ("max_seq_len", "doc_stride", "max_query_len", "max_answer_len", "n_best")


@dataclass
class FinetuneSettings:
    benchmark: str
    kind: str
    labels: Optional[list]
    max_seq_len: int
    doc_stride: int
    max_query_len: int
    max_answer_len: int
    n_best: int
    ner_units: Optional[str] = None

    def __post_init__(self) -> None:
        _check(asdict(self), "FinetuneSettings")

    @classmethod
    def for_benchmark(
        cls, spec: BenchmarkSpec, labels: Optional[list], data: dict, ner_units: Optional[str] = None
    ) -> FinetuneSettings:
        """The settings of a run of ``spec`` with the ``data`` section of its config."""
        return cls(
            benchmark=spec.name,
            kind=spec.kind,
            labels=list(labels) if labels else None,
            max_seq_len=data["max_seq_len"],
            doc_stride=data["doc_stride"],
            max_query_len=data["max_query_len"],
            max_answer_len=data["max_answer_len"],
            n_best=data["n_best"],
            ner_units=(ner_units or "characters") if spec.kind == NER else None,
        )

    def write(self, directory: str) -> str:
        """Write ``directory/finetune_settings.json`` atomically; returns its path."""
        path = os.path.join(directory, FINETUNE_SETTINGS_FILE)
        atomic_write_text(path, json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def read(cls, directory: str) -> Optional[FinetuneSettings]:
        """The settings in ``directory``, or None when it has no settings file (e.g. a PaddleNLP checkpoint)."""
        path = os.path.join(directory, FINETUNE_SETTINGS_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: not UTF-8 (byte {exc.start})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise UsageError(f"{path}: missing key '{missing[0]}'")
        values = {name: data[name] for name in names}  # keys added by later versions are ignored
        _check(values, path)
        return cls(**values)


def _check(values: dict[str, Any], source: str) -> None:
    """Raise ``UsageError`` naming ``source`` and the key for the first invalid value."""

    def bad(key: str, expected: str) -> UsageError:
        return UsageError(f"{source}: key '{key}' must be {expected}, got {values[key]!r}")

    if not isinstance(values["benchmark"], str) or not values["benchmark"]:
        raise bad("benchmark", "a benchmark name")
    if values["kind"] not in KINDS:
        raise bad("kind", " or ".join(repr(k) for k in KINDS))
    labels = values["labels"]
    if labels is not None and (
        not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels)
    ):
        raise bad("labels", "a list of label strings or null")
    for key in _POSITIVE_INTS:
        value = values[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad(key, "a positive integer")
    if values["ner_units"] is not None and values["ner_units"] not in NER_UNITS:
        raise bad("ner_units", " or ".join(repr(u) for u in NER_UNITS) + " or null")


__all__ = ["FINETUNE_SETTINGS_FILE", "NER_UNITS", "FinetuneSettings"]
