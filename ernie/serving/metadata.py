"""``PREFIX.predictor.json``: what the predictor needs to know about an export; written, read, checked.

Keys (format ``ernie-inference``, version 1):

* ``head``: ``encoder``, ``sequence_classification``, ``regression``, ``token_classification`` or
  ``question_answering``; ``architecture``: the model class exported;
* ``program_file``, ``params_file`` (the Paddle program, always there), ``onnx_file`` (the fp32 ONNX
  model) and ``int8_onnx_file`` (its int8 quantization), each a file name beside this one or null;
* ``precision`` (``fp32``, ``bf16`` or ``int8``: what the predictor runs) and ``backend`` (``paddle`` or
  ``onnxruntime``: the runtime it runs on unless told otherwise); ``calibration``: the agreement of
  this precision with fp32 on a file of examples (``ernie.serving.calibration``) or null;
* ``inputs``, ``outputs``: the program's tensor names, in order;
* ``labels``: label strings in id order (classification heads), else null; ``labels_source``: where
  they came from (``--labels``, ``config.json id2label``, ``finetune_settings.json``, or ``classifier
  weights``: ``0..n-1`` for a sequence classifier without a label map) or null;
* ``max_seq_len``, ``max_position_embeddings``, ``task_id``, ``do_lower_case``, ``pad_token_id``,
  ``vocab_sha256``, ``hidden_size``, ``paddle_version``;
* the decoding defaults: ``doc_stride``, ``max_query_len``, ``max_answer_len``, ``n_best`` (question
  answering, in tokens) and ``ner_units`` (token classification: ``characters`` or ``words``), copied
  from the model's ``finetune_settings.json`` or, without one, the fine-tuning defaults;
  ``benchmark`` (or null) and ``finetune_settings`` (whether that file was there).

Exports made before the decoding defaults were recorded lack those keys; the predictor then uses
the same defaults an export without ``finetune_settings.json`` records. Exports made before precisions
and backends lack those keys too: they are fp32 exports for Paddle Inference (with ``onnx_file`` when
they have one).
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
# Precisions and the runtimes that serve them. Paddle Inference runs the program in fp32 or, with oneDNN
# on a CPU with avx512_bf16, bf16; its int8 path does nothing to PIR programs (Paddle 3.3), so int8 is
# ONNX Runtime's dynamic quantization of the paddle2onnx model.
FP32, BF16, INT8 = "fp32", "bf16", "int8"
PRECISIONS = (FP32, BF16, INT8)
PADDLE, ONNXRUNTIME = "paddle", "onnxruntime"
BACKENDS = (PADDLE, ONNXRUNTIME)
BACKEND_PRECISIONS = {PADDLE: (FP32, BF16), ONNXRUNTIME: (FP32, INT8)}
# The backend an export records when --backend is not given (bf16 has only Paddle, int8 only ONNX Runtime).
# fp32 stays on Paddle Inference: it needs no optional package, and no backend wins on every CPU
# (bench/inference.py, README: ONNX Runtime 1.00-1.11x Paddle's throughput on this AMD EPYC without
# AVX-512, while issue 20 measured Paddle 1.15x ahead on base on an AVX-512 machine).
DEFAULT_BACKEND = {FP32: PADDLE, BF16: PADDLE, INT8: ONNXRUNTIME}
ONNX_SUFFIX = ".onnx"
INT8_ONNX_SUFFIX = ".int8.onnx"
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


def model_files(meta: dict[str, Any], backend: str, precision: str, source: str) -> list[str]:
    """The file names ``backend`` runs at ``precision`` from (Paddle: program and parameters; ONNX Runtime:
    one model), or a one-line error naming ``source`` when that runtime does not serve that precision or
    the export lacks its file."""
    if backend not in BACKENDS:
        raise ServingError(f"--backend: expected {' or '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ServingError(f"precision: expected {', '.join(PRECISIONS)}, got {precision!r}")
    if precision not in BACKEND_PRECISIONS[backend]:
        runs = [name for name in BACKENDS if precision in BACKEND_PRECISIONS[name]]
        raise ServingError(
            f"{source}: precision {precision} runs on {' or '.join(runs)}, not {backend} "
            f"({backend} runs {' and '.join(BACKEND_PRECISIONS[backend])})"
        )
    if backend == PADDLE:
        return [meta["program_file"], meta["params_file"]]
    key = "int8_onnx_file" if precision == INT8 else "onnx_file"
    if not meta.get(key):
        flag = f"--precision {precision} --backend onnxruntime" if precision == FP32 else "--precision int8"
        raise ServingError(
            f"{source}: the export has no {key} for onnxruntime; export again with {flag} "
            f"(or predict with --backend {PADDLE})"
        )
    return [meta[key]]


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
    # Exports from before precisions and backends: fp32 for Paddle Inference.
    for key, value in (
        ("precision", FP32),
        ("backend", PADDLE),
        ("int8_onnx_file", None),
        ("calibration", None),
    ):
        meta.setdefault(key, value)
    meta.setdefault("onnx_file", None)
    if meta["precision"] not in PRECISIONS:
        raise ServingError(
            f"{path}: key 'precision' must be one of {', '.join(PRECISIONS)}, got {meta['precision']!r}"
        )
    if meta["backend"] not in BACKENDS:
        raise ServingError(
            f"{path}: key 'backend' must be one of {', '.join(BACKENDS)}, got {meta['backend']!r}"
        )
    for key in QA_KEYS:
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 1:
            raise ServingError(f"{path}: key '{key}' must be a positive integer, got {meta[key]!r}")
    if head == TOKEN_CLASSIFICATION and meta["ner_units"] not in NER_UNITS:
        raise ServingError(
            f"{path}: key 'ner_units' must be one of {', '.join(NER_UNITS)}, got {meta['ner_units']!r}"
        )
    return meta


__all__ = [
    "BACKENDS",
    "BACKEND_PRECISIONS",
    "BF16",
    "DECODING_KEYS",
    "DEFAULT_BACKEND",
    "DEFAULT_PREFIX_NAME",
    "ENCODER",
    "FP32",
    "HEAD_OF_KIND",
    "HEAD_OUTPUTS",
    "INT8",
    "INT8_ONNX_SUFFIX",
    "META_FORMAT",
    "META_SUFFIX",
    "META_VERSION",
    "ONNXRUNTIME",
    "ONNX_SUFFIX",
    "PADDLE",
    "PRECISIONS",
    "QA_KEYS",
    "QUESTION_ANSWERING",
    "REGRESSION_HEAD",
    "SEQUENCE_CLASSIFICATION",
    "TOKEN_CLASSIFICATION",
    "check_max_seq_len",
    "check_positive",
    "decoding_defaults",
    "describe_fallback_defaults",
    "model_files",
    "read_metadata",
    "resolve_prefix",
    "sha256_of",
    "write_metadata",
]
