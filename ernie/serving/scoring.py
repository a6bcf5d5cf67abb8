"""Scores of labelled input: the gold answers an input file carries, checked, and fine-tuning's metrics.

An example's gold (``Example.gold``, read by ``inputs``) is a label string (sequence classification),
a number (regression), the tags of its units as a list or as one string separated by \\x02 or spaces
(token classification; units as the predictor cuts ``text_a``), or answer texts, plain or as SQuAD's
``{"text": ...}`` objects (question answering). None, an empty string or an empty list mean the example
has no gold answer: it is predicted and counted, not scored. A gold answer the model cannot have
given (a label or tag not among its labels, tags that do not count its units) is an error naming the
file and line.

The metrics are fine-tuning's own functions (``ernie.finetune.metrics``) with fine-tuning's choice of
metric set: the benchmark's when the export records one (``finetune_settings.json``), and then its
label spellings and "no gold label" values too; otherwise accuracy (and the F1 of the label with id 1
when there are two labels) for classification, Pearson and Spearman for regression, entity F1 for
token classification, EM and F1 for question answering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..errors import shorten
from ..finetune.benchmarks import BENCHMARKS, CLASSIFICATION, BenchmarkSpec
from ..finetune.metrics import classification_metrics, entity_prf, mrc_scores
from .errors import ServingError
from .inputs import GOLD_KEY, QA_GOLD_KEY, Example
from .metadata import QUESTION_ANSWERING, REGRESSION_HEAD, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .predictor import text_units

NER_METRICS = "ner"
MRC_METRICS = "mrc"


@dataclass
class Gold:
    """The checked gold answers of an input file, one per example (None: that example has none)."""

    metrics: str  # a BenchmarkSpec.metrics value: acc, acc_f1, mcc, corr, ner or mrc
    values: list  # label id, score, tag list or answer texts
    labels: Optional[list] = None  # the model's labels, in id order
    unit_spans: list = field(default_factory=list)  # token classification: the units' character spans

    @property
    def labelled(self) -> int:
        return sum(value is not None for value in self.values)

    @property
    def unlabelled(self) -> int:
        return len(self.values) - self.labelled


def _missing(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()  # an empty TSV cell
    return value is None or value == []


def _metric_set(head: str, labels: Optional[Sequence[str]], spec: Optional[BenchmarkSpec]) -> str:
    if head == TOKEN_CLASSIFICATION:
        return NER_METRICS
    if head == QUESTION_ANSWERING:
        return MRC_METRICS
    if head == REGRESSION_HEAD:
        return "corr"
    if spec is not None and spec.kind == CLASSIFICATION:
        # MRR needs the question ids that fine-tuning reads from the qid column; inputs here have none.
        return "acc_f1" if spec.metrics == "mrr_f1" else spec.metrics
    return "acc_f1" if len(labels) == 2 else "acc"


def _label_id(raw: Any, labels: Sequence[str], spec: Optional[BenchmarkSpec], where: str) -> Optional[int]:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ServingError(f"{where}: key '{GOLD_KEY}' must be a label string, got {type(raw).__name__}")
    value = str(raw).strip()  # as fine-tuning's readers take it (a JSON 1 is the label "1")
    if spec is not None:
        if value in spec.no_gold_labels:
            return None  # annotators did not agree (MNLI's "-"): fine-tuning skips the row too
        value = spec.label_aliases.get(value, value)
    if value not in labels:
        raise ServingError(f"{where}: label {value!r} is not one of the model's labels ({shorten(labels)})")
    return list(labels).index(value)


def _score(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ServingError(f"{where}: key '{GOLD_KEY}' must be a number, got {type(raw).__name__}")
    try:
        value = float(raw)
    except ValueError:
        raise ServingError(f"{where}: score {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ServingError(f"{where}: score {value} is not a finite number")
    return value


def _tags(raw: Any, labels: Sequence[str], units: int, unit_name: str, where: str) -> list[str]:
    if isinstance(raw, str):
        tags = raw.split("\x02") if "\x02" in raw else raw.split()  # as fine-tuning's NER reader splits
    elif isinstance(raw, list) and all(isinstance(tag, str) for tag in raw):
        tags = raw
    else:
        raise ServingError(f"{where}: key '{GOLD_KEY}' must be a list of tags or a string of tags")
    tags = [tag.strip() for tag in tags]
    if len(tags) != units:
        raise ServingError(f"{where}: {len(tags)} tags for {units} units ({unit_name})")
    unknown = next((tag for tag in tags if tag not in labels), None)
    if unknown is not None:
        raise ServingError(f"{where}: tag {unknown!r} is not one of the model's labels ({shorten(labels)})")
    return tags


def _answers(raw: Any, where: str) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    texts = (
        [item.get("text") if isinstance(item, dict) else item for item in items]
        if isinstance(items, list)
        else []
    )
    if not texts or not all(isinstance(text, str) for text in texts):
        raise ServingError(
            f"{where}: key '{QA_GOLD_KEY}' must be a list of answer texts (or of SQuAD answers)"
        )
    return texts


def read_gold(
    examples: Sequence[Example],
    head: str,
    labels: Optional[Sequence[str]],
    benchmark: Optional[str] = None,
    ner_units: str = "characters",
    name: str = "<input>",
) -> Optional[Gold]:
    """The checked gold answers of ``examples`` (read from ``name``); None when none carries one.

    A bare encoder has nothing to score: its gold answers are ignored.
    """
    if head not in (SEQUENCE_CLASSIFICATION, REGRESSION_HEAD, TOKEN_CLASSIFICATION, QUESTION_ANSWERING):
        return None
    if all(_missing(example.gold) for example in examples):
        return None
    spec = BENCHMARKS.get(benchmark) if benchmark else None
    gold = Gold(metrics=_metric_set(head, labels, spec), values=[], labels=list(labels) if labels else None)
    for example in examples:
        where = f"{name}: line {example.line}"
        spans = None
        if _missing(example.gold):
            value = None
        elif head == SEQUENCE_CLASSIFICATION:
            value = _label_id(example.gold, labels, spec, where)
        elif head == REGRESSION_HEAD:
            value = _score(example.gold, where)
        elif head == TOKEN_CLASSIFICATION:
            spans = text_units(example.text_a, ner_units)
            value = _tags(example.gold, labels, len(spans), ner_units, where)
        else:
            value = _answers(example.gold, where)
        gold.values.append(value)
        gold.unit_spans.append(spans)
    return gold


def _unit_tags(entities: Sequence[dict], spans: Sequence[tuple[int, int]]) -> list[str]:
    """BIO tags of the units from the predictor's entities (character offsets): the same entities again."""
    unit_of_start = {start: k for k, (start, _) in enumerate(spans)}
    unit_of_end = {end: k for k, (_, end) in enumerate(spans)}
    tags = ["O"] * len(spans)
    for entity in entities:
        first, last = unit_of_start[entity["start"]], unit_of_end[entity["end"]]
        tags[first : last + 1] = [f"B-{entity['type']}"] + [f"I-{entity['type']}"] * (last - first)
    return tags


def score(gold: Gold, results: Sequence[dict]) -> dict:
    """Fine-tuning's metrics of the predictor's ``results`` (one per example) over the labelled examples."""
    scored = [k for k, value in enumerate(gold.values) if value is not None]
    values = [gold.values[k] for k in scored]
    if gold.metrics == NER_METRICS:
        predicted = [_unit_tags(results[k]["entities"], gold.unit_spans[k]) for k in scored]
        return entity_prf(values, predicted)
    if gold.metrics == MRC_METRICS:
        answers = {str(k): value for k, value in zip(scored, values)}
        return mrc_scores(answers, {str(k): results[k]["answer"]["text"] for k in scored})
    if gold.metrics == "corr":
        return classification_metrics("corr", [results[k]["score"] for k in scored], values)
    predicted = [gold.labels.index(results[k]["label"]) for k in scored]
    return classification_metrics(gold.metrics, predicted, values)


def describe(gold: Gold, metrics: dict) -> str:
    """The scores as fine-tuning's results table prints them (x100), with the count behind accuracy."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            text = f"{key} {100 * value:.2f}"
            if key == "acc":
                text += f" ({round(value * gold.labelled)}/{gold.labelled})"
            parts.append(text)
    text = f"{', '.join(parts)} over {gold.labelled} labelled examples"
    if gold.unlabelled:
        text += f", {gold.unlabelled} without a label"
    return text


__all__ = ["Gold", "describe", "read_gold", "score"]
