"""``PREFIX.predictor.json``: what the predictor needs to know about an export; written, read, checked.

Keys (format ``ernie-inference``, version 1):

* ``head``: ``encoder``, ``sequence_classification``, ``regression``, ``token_classification`` or
  ``question_answering``; ``architecture``: the model class exported;
* ``program_file``, ``params_file`` (and ``onnx_file`` or null): file names beside this one;
* ``inputs``, ``outputs``: the program's tensor names, in order;
* ``labels``: label strings in id order (classification heads), else null;
* ``max_seq_len``, ``max_position_embeddings``, ``task_id``, ``do_lower_case``, ``pad_token_id``,
  ``vocab_sha256``, ``hidden_size``, ``paddle_version``;
* the decoding defaults: ``doc_stride``, ``max_query_len``, ``max_answer_len``, ``n_best`` (question
  answering, in tokens) and ``ner_units`` (token classification: ``characters`` or ``words``), copied
  from the model's ``finetune_settings.json`` or, without one, the fine-tuning defaults;
  ``benchmark`` (or null) and ``finetune_settings`` (whether that file was there).

Exports made before the decoding defaults were recorded lack those keys; the predictor then uses
the same defaults an export without ``finetune_settings.json`` records.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from typing import Any, Optional

from ..finetune.benchmarks import CLASSIFICATION, MRC, NER, REGRESSION
from ..finetune.config import finetune_defaults
from ..finetune.settings_file import NER_UNITS, FinetuneSettings
from .errors import ServingError

META_SUFFIX = ".predictor.json"
META_FORMAT = "ernie-inference"
META_VERSION = 1
DEFAULT_PREFIX_NAME = "inference"

# Head kinds and what the exported program returns, in order.
ENCODER = "encoder"
SEQUENCE_CLASSIFICATION = "sequence_classification"
REGRESSION_HEAD = "regression"
TOKEN_CLASSIFICATION = "token_classification"
QUESTION_ANSWERING = "question_answering"
HEAD_OUTPUTS = {
    ENCODER: ["sequence_output", "pooled_output"],
    SEQUENCE_CLASSIFICATION: ["logits"],
    REGRESSION_HEAD: ["logits"],
    TOKEN_CLASSIFICATION: ["logits"],
    QUESTION_ANSWERING: ["start_logits", "end_logits"],
}
# Fine-tuning's kind of benchmark -> the head it trains.
HEAD_OF_KIND = {
    CLASSIFICATION: SEQUENCE_CLASSIFICATION,
    REGRESSION: REGRESSION_HEAD,
    NER: TOKEN_CLASSIFICATION,
    MRC: QUESTION_ANSWERING,
}
QA_KEYS = ("doc_stride", "max_query_len", "max_answer_len", "n_best")
DECODING_KEYS = (*QA_KEYS, "ner_units")
DEFAULT_NER_UNITS = "characters"  # MSRA-NER labels every non-whitespace character
_REQUIRED = (
    "head",
    "program_file",
    "params_file",
    "inputs",
    "outputs",
    "max_seq_len",
    "max_position_embeddings",
)


def resolve_prefix(path: str) -> str:
    """``DIR/`` or an existing directory means ``DIR/inference``; anything else is the prefix itself."""
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return os.path.join(path, DEFAULT_PREFIX_NAME)
    return path


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decoding_defaults(settings: Optional[FinetuneSettings], head: str) -> dict[str, Any]:
    """The decoding keys of the metadata: the fine-tuning run's settings, else fine-tuning's defaults."""
    source = asdict(settings) if settings is not None else finetune_defaults()["data"]
    values = {key: source[key] for key in QA_KEYS}
    # Units belong to token classification only; without a recorded choice they are characters.
    ner_units = settings.ner_units if settings is not None else None
    values["ner_units"] = (ner_units or DEFAULT_NER_UNITS) if head == TOKEN_CLASSIFICATION else None
    return values


def describe_fallback_defaults() -> str:
    """The decoding defaults of a model without ``finetune_settings.json``, for --help texts."""
    values = decoding_defaults(None, TOKEN_CLASSIFICATION)
    return ", ".join(f"{key} {values[key]}" for key in DECODING_KEYS)


def check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ServingError(f"{name}: must be a positive integer, got {value!r}")


def check_max_seq_len(value: Any, max_positions: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 3:
        raise ServingError(f"{name}: must be an integer >= 3, got {value!r}")
    if value > max_positions:
        raise ServingError(f"{name}: {value} exceeds the model's max_position_embeddings ({max_positions})")


def write_metadata(path: str, meta: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def read_metadata(prefix: str) -> dict[str, Any]:
    """The checked metadata of the export ``prefix``, with the decoding keys always present."""
    path = prefix + META_SUFFIX
    if not os.path.isfile(path):
        exists = [prefix + ext for ext in (".json", ".pdmodel", ".pdiparams") if os.path.isfile(prefix + ext)]
        hint = (
            "an incomplete export or not one made by tools/export.py"
            if exists
            else "no export with this prefix"
        )
        raise ServingError(
            f"{path}: not found ({hint}; run tools/export.py --model_dir DIR --output {prefix})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except json.JSONDecodeError as exc:
        raise ServingError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise ServingError(f"{path}: not an ERNIE export description (key 'format' is not {META_FORMAT!r})")
    if meta.get("version") != META_VERSION:
        raise ServingError(
            f"{path}: key 'version' is {meta.get('version')!r}; this toolkit reads version {META_VERSION}"
        )
    for key in _REQUIRED:
        if key not in meta:
            raise ServingError(f"{path}: missing key '{key}'")
    head = meta["head"]
    if head not in HEAD_OUTPUTS:
        raise ServingError(f"{path}: key 'head' is {head!r}, expected one of {', '.join(HEAD_OUTPUTS)}")
    if head in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION):
        labels = meta.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ServingError(f"{path}: no label map (key 'labels') for a {head} model")
    if head == TOKEN_CLASSIFICATION and "O" not in meta["labels"]:
        raise ServingError(f"{path}: key 'labels' has no 'O' tag (what a unit outside every entity gets)")
    for key, value in decoding_defaults(None, head).items():
        meta.setdefault(key, value)
    for key in QA_KEYS:
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 1:
            raise ServingError(f"{path}: key '{key}' must be a positive integer, got {meta[key]!r}")
    if head == TOKEN_CLASSIFICATION and meta["ner_units"] not in NER_UNITS:
        raise ServingError(
            f"{path}: key 'ner_units' must be one of {', '.join(NER_UNITS)}, got {meta['ner_units']!r}"
        )
    return meta


__all__ = [
    "DECODING_KEYS",
    "DEFAULT_PREFIX_NAME",
    "ENCODER",
    "HEAD_OF_KIND",
    "HEAD_OUTPUTS",
    "META_FORMAT",
    "META_SUFFIX",
    "META_VERSION",
    "QA_KEYS",
    "QUESTION_ANSWERING",
    "REGRESSION_HEAD",
    "SEQUENCE_CLASSIFICATION",
    "TOKEN_CLASSIFICATION",
    "check_max_seq_len",
    "check_positive",
    "decoding_defaults",
    "describe_fallback_defaults",
    "read_metadata",
    "resolve_prefix",
    "sha256_of",
    "write_metadata",
]
