"""Static inference: export a checkpoint to a Paddle Inference model, and a Predictor that serves it.

An export with prefix ``out/inference`` is a set of files in ``out/``:

* ``inference.json`` (PIR program; ``inference.pdmodel`` on Paddle versions before PIR) and
  ``inference.pdiparams``: ``paddle.jit.save`` of the model with named inputs ``input_ids``,
  ``token_type_ids`` (and ``task_type_ids`` when the model has task embeddings), int64, shape
  ``[batch, seq_len]`` with both dimensions dynamic;
* ``vocab.txt``, ``tokenizer_config.json``, ``special_tokens_map.json``: the tokenizer;
* ``inference.predictor.json``: what the predictor needs (head type, labels in id order, input and
  output names, max_seq_len, lower-casing, the vocab's sha256). It is written last and removed first
  when an export is replaced, so a folder without it is an incomplete export;
* ``inference.onnx`` when asked for and paddle2onnx is installed.

The predictor needs paddle, that folder and ``ernie.tokenizer`` (pure Python); no training checkpoint.
Its output lines (one JSON object per input example) are:

* sequence classification: ``{"label": str, "probs": [float, ...]}`` (probs in label-id order);
* regression (``num_labels == 1``): ``{"score": float}``;
* token classification: ``{"entities": [{"type", "start", "end", "text"}, ...]}`` with character
  offsets into ``text_a`` (``text == text_a[start:end]``);
* question answering: ``{"answer": {"text", "start", "end", "score"}}``, character offsets into
  ``context``; ``score`` is start logit + end logit of the best span over all document windows;
* bare encoder: ``{"embedding": [float, ...]}`` (the pooled [CLS] vector).

An input ``id`` (JSONL) is copied to its output line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence, TextIO

import numpy as np

from .cli import UsageError
from .config import ErnieConfig
from .tokenizer import SPECIAL_TOKENS_MAP_NAME, TOKENIZER_CONFIG_NAME, VOCAB_NAME, ErnieTokenizer

logger = logging.getLogger("ernie")

META_SUFFIX = ".predictor.json"
META_FORMAT = "ernie-inference"
META_VERSION = 1
DEFAULT_PREFIX_NAME = "inference"

# Head kinds and what the exported program returns, in order.
ENCODER = "encoder"
SEQUENCE_CLASSIFICATION = "sequence_classification"
REGRESSION = "regression"
TOKEN_CLASSIFICATION = "token_classification"
QUESTION_ANSWERING = "question_answering"
HEAD_OUTPUTS = {
    ENCODER: ["sequence_output", "pooled_output"],
    SEQUENCE_CLASSIFICATION: ["logits"],
    REGRESSION: ["logits"],
    TOKEN_CLASSIFICATION: ["logits"],
    QUESTION_ANSWERING: ["start_logits", "end_logits"],
}
# Architectures (config.json ``architectures``) -> the class exported. A pre-training checkpoint
# exports its encoder.
ARCHITECTURES = {
    "ErnieModel": "ErnieModel",
    "ErnieForPretraining": "ErnieModel",
    "ErnieForSequenceClassification": "ErnieForSequenceClassification",
    "ErnieForTokenClassification": "ErnieForTokenClassification",
    "ErnieForQuestionAnswering": "ErnieForQuestionAnswering",
}


class InferenceError(UsageError):
    """Bad export or prediction input; the message names the file (and line or key)."""


# ============================================================================================ export
@dataclass
class ExportResult:
    prefix: str
    head: str
    files: list[str]
    meta: dict[str, Any]


def resolve_prefix(path: str) -> str:
    """``DIR/`` or an existing directory means ``DIR/inference``; anything else is the prefix itself."""
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return os.path.join(path, DEFAULT_PREFIX_NAME)
    return path


def head_of(config: ErnieConfig, source: str) -> tuple[str, str]:
    """(class name to build, head kind) from the config's ``architectures`` (bare encoder when none)."""
    architectures = config.extra.get("architectures") or ["ErnieModel"]
    if isinstance(architectures, str):
        architectures = [architectures]
    name = architectures[0]
    if name not in ARCHITECTURES:
        raise InferenceError(
            f"{source}: key 'architectures' names {name!r}; export supports {', '.join(sorted(ARCHITECTURES))}"
        )
    cls_name = ARCHITECTURES[name]
    kind = {
        "ErnieModel": ENCODER,
        "ErnieForSequenceClassification": SEQUENCE_CLASSIFICATION,
        "ErnieForTokenClassification": TOKEN_CLASSIFICATION,
        "ErnieForQuestionAnswering": QUESTION_ANSWERING,
    }[cls_name]
    if kind == SEQUENCE_CLASSIFICATION and config.num_labels == 1:
        kind = REGRESSION
    return cls_name, kind


def label_list(config: ErnieConfig, source: str, labels: Optional[Sequence[str]] = None) -> list[str]:
    """Labels in id order from ``id2label`` (or ``labels`` given by the caller), checked against num_labels."""
    if labels is not None:
        out = [str(label) for label in labels]
        if len(out) != config.num_labels:
            raise InferenceError(
                f"--labels: {len(out)} labels given, the model has num_labels={config.num_labels}"
            )
        return out
    if not config.id2label:
        raise InferenceError(
            f"{source}: no label map (key 'id2label') for a classification head; "
            "add it to config.json or pass --labels L0,L1,..."
        )
    expected = {str(i) for i in range(config.num_labels)}
    if set(config.id2label) != expected:
        raise InferenceError(
            f"{source}: key 'id2label' must have the ids 0..{config.num_labels - 1} (num_labels), "
            f"got {sorted(config.id2label, key=str)}"
        )
    return [str(config.id2label[str(i)]) for i in range(config.num_labels)]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_names(config: ErnieConfig) -> list[str]:
    names = ["input_ids"]
    if config.type_vocab_size > 0:
        names.append("token_type_ids")
    if config.use_task_id:
        names.append("task_type_ids")
    return names


def _export_layer(model, input_names: list[str]):
    """A layer whose forward takes exactly the exported inputs (to_static needs them named in the signature)."""
    import paddle

    class Exported(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

    class WithTypes(Exported):
        def forward(self, input_ids, token_type_ids):
            return self.inner(input_ids, token_type_ids=token_type_ids)

    class WithTypesAndTasks(Exported):
        def forward(self, input_ids, token_type_ids, task_type_ids):
            return self.inner(input_ids, token_type_ids=token_type_ids, task_type_ids=task_type_ids)

    class IdsOnly(Exported):
        def forward(self, input_ids):
            return self.inner(input_ids)

    class WithTasks(Exported):
        def forward(self, input_ids, task_type_ids):
            return self.inner(input_ids, task_type_ids=task_type_ids)

    classes = {
        ("input_ids", "token_type_ids"): WithTypes,
        ("input_ids", "token_type_ids", "task_type_ids"): WithTypesAndTasks,
        ("input_ids",): IdsOnly,
        ("input_ids", "task_type_ids"): WithTasks,
    }
    return classes[tuple(input_names)](model)


def export_model(
    model_dir: str,
    output: str,
    max_seq_len: Optional[int] = None,
    onnx: bool = False,
    labels: Optional[Sequence[str]] = None,
    opset_version: int = 13,
) -> ExportResult:
    """Export the checkpoint in ``model_dir`` to the static model ``output`` (a prefix), with tokenizer and meta.

    Nothing is left behind on failure: files are written into a temporary folder beside the output
    and moved into place at the end, the meta file last.
    """
    if not os.path.isdir(model_dir):
        raise InferenceError(f"{model_dir}: no such model directory")
    if onnx:
        _require_paddle2onnx()
    config = ErnieConfig.from_pretrained(model_dir)
    config_file = next(
        (
            path
            for name in ("config.json", "model_config.json", "ernie_config.json")
            if os.path.isfile(path := os.path.join(model_dir, name))
        ),
        model_dir,
    )
    cls_name, kind = head_of(config, config_file)
    labels_in_order = (
        label_list(config, config_file, labels)
        if kind in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION)
        else None
    )

    tokenizer = ErnieTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id != config.pad_token_id:
        raise InferenceError(
            f"{model_dir}: the vocabulary's [PAD] id ({tokenizer.pad_token_id}) differs from the config's "
            f"pad_token_id ({config.pad_token_id}); padding would not be masked"
        )
    largest_id = max(tokenizer.vocab.values())
    if largest_id >= config.vocab_size:
        raise InferenceError(
            f"{model_dir}: vocab.txt has ids up to {largest_id}, the model's vocab_size is {config.vocab_size}"
        )
    if max_seq_len is None:
        max_seq_len = min(512, config.max_position_embeddings)
    _check_max_seq_len(max_seq_len, config.max_position_embeddings, "--max_seq_len")

    import paddle
    from paddle.static import InputSpec

    from . import modeling

    model = getattr(modeling, cls_name).from_pretrained(model_dir, verbose=False)
    report = model.load_report
    if report.new_head_keys:
        raise InferenceError(
            f"{model_dir}: the checkpoint has no weights for {', '.join(report.new_head_keys)}; "
            f"it is not a trained {cls_name}"
        )
    model.eval()

    prefix = resolve_prefix(output)
    out_dir = os.path.dirname(os.path.abspath(prefix))
    base = os.path.basename(prefix)
    if not base:
        raise InferenceError(f"{output}: the output prefix needs a file name part")
    os.makedirs(out_dir, exist_ok=True)
    input_names = _input_names(config)
    tmp_dir = tempfile.mkdtemp(prefix=f".{base}.export-", dir=out_dir)
    try:
        tmp_prefix = os.path.join(tmp_dir, base)
        spec = [InputSpec([None, None], "int64", name=name) for name in input_names]
        static = paddle.jit.to_static(_export_layer(model, input_names), input_spec=spec, full_graph=True)
        paddle.jit.save(static, tmp_prefix)
        program_file = next(
            (base + ext for ext in (".json", ".pdmodel") if os.path.isfile(tmp_prefix + ext)), None
        )
        params_file = base + ".pdiparams"
        if program_file is None or not os.path.isfile(os.path.join(tmp_dir, params_file)):
            raise InferenceError(
                f"{prefix}: paddle.jit.save wrote no program or parameters ({os.listdir(tmp_dir)})"
            )
        onnx_file = None
        if onnx:
            onnx_file = base + ".onnx"
            _export_onnx(
                os.path.join(tmp_dir, program_file),
                os.path.join(tmp_dir, params_file),
                os.path.join(tmp_dir, onnx_file),
                opset_version,
            )
        tokenizer.save_pretrained(tmp_dir)

        meta = {
            "format": META_FORMAT,
            "version": META_VERSION,
            "head": kind,
            "architecture": cls_name,
            "program_file": program_file,
            "params_file": params_file,
            "onnx_file": onnx_file,
            "inputs": input_names,
            "outputs": HEAD_OUTPUTS[kind],
            "labels": labels_in_order,
            "max_seq_len": max_seq_len,
            "max_position_embeddings": config.max_position_embeddings,
            "task_id": config.task_id if config.use_task_id else None,
            "do_lower_case": tokenizer.do_lower_case,
            "pad_token_id": tokenizer.pad_token_id,
            "vocab_sha256": _sha256(os.path.join(tmp_dir, VOCAB_NAME)),
            "hidden_size": config.hidden_size,
            "paddle_version": paddle.__version__,
        }
        files = [program_file, params_file, VOCAB_NAME, TOKENIZER_CONFIG_NAME, SPECIAL_TOKENS_MAP_NAME]
        if onnx_file:
            files.append(onnx_file)
        meta_name = base + META_SUFFIX
        with open(os.path.join(tmp_dir, meta_name), "w", encoding="utf-8") as f:
            f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")

        # Commit: the meta goes first (an interrupted commit then reads as incomplete) and comes back last.
        meta_path = os.path.join(out_dir, meta_name)
        if os.path.exists(meta_path):
            os.remove(meta_path)
        stale = [base + ext for ext in (".json", ".pdmodel", ".onnx") if base + ext not in files]
        for name in stale:
            if os.path.isfile(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
        for name in files:
            os.replace(os.path.join(tmp_dir, name), os.path.join(out_dir, name))
        os.replace(os.path.join(tmp_dir, meta_name), meta_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info("exported %s (%s) from %s to %s.*", cls_name, kind, model_dir, prefix)
    return ExportResult(prefix=prefix, head=kind, files=[*files, meta_name], meta=meta)


def _check_max_seq_len(value: int, max_positions: int, name: str) -> None:
    if not isinstance(value, int) or value < 3:
        raise InferenceError(f"{name}: must be an integer >= 3, got {value!r}")
    if value > max_positions:
        raise InferenceError(f"{name}: {value} exceeds the model's max_position_embeddings ({max_positions})")


def _require_paddle2onnx() -> None:
    try:
        import paddle2onnx  # noqa: F401
    except ImportError:
        raise InferenceError(
            "--onnx needs the optional package paddle2onnx (pip install paddle2onnx); nothing was exported"
        ) from None


def _export_onnx(program_file: str, params_file: str, save_file: str, opset_version: int) -> None:
    import paddle2onnx

    try:
        # onnxoptimizer, not polygraphy (paddle2onnx's default), which pip-installs packages on its own.
        paddle2onnx.export(
            program_file,
            params_file,
            save_file=save_file,
            opset_version=opset_version,
            enable_onnx_checker=True,
            optimize_tool="onnxoptimizer",
        )
    except Exception as exc:  # paddle2onnx logs the cause and then fails on its own unbound result
        raise InferenceError(f"{save_file}: ONNX conversion failed ({type(exc).__name__}: {exc})") from None
    if not os.path.isfile(save_file):
        raise InferenceError(f"{save_file}: ONNX conversion wrote no file")


# ============================================================================================ reading input
@dataclass
class Example:
    line: int
    text_a: str = ""
    text_b: Optional[str] = None
    question: Optional[str] = None
    context: Optional[str] = None
    id: Any = None


@dataclass
class ReadStats:
    lines: int = 0
    blank: int = 0


_TSV_COLUMNS = {
    "text_a": "text_a",
    "text": "text_a",
    "sentence": "text_a",
    "sentence1": "text_a",
    "text_b": "text_b",
    "sentence2": "text_b",
    "question": "question",
    "context": "context",
}


def _read_lines(path: str) -> list[str]:
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        if os.path.isdir(path):
            raise InferenceError(f"{path}: is a directory, expected an input file")
        with open(path, "rb") as f:
            data = f.read()
        name = path
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise InferenceError(f"{name}: line {lineno}: not UTF-8 text ({exc.reason})") from None
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    return lines


def detect_format(path: str, lines: Sequence[str]) -> str:
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return "jsonl"
    if lower.endswith(".tsv"):
        return "tsv"
    first = next((line for line in lines if line.strip()), "")
    return "jsonl" if first.lstrip().startswith("{") else "text"


def read_examples(path: str, qa: bool, fmt: str = "auto") -> tuple[list[Example], ReadStats]:
    """Examples from JSONL, TSV (with a header row) or plain text (one text per line); ``-`` is stdin.

    Blank lines are skipped and counted; anything else malformed is an error naming the file and line.
    """
    name = "<stdin>" if path == "-" else path
    lines = _read_lines(path)
    if fmt == "auto":
        fmt = detect_format(path, lines)
    if fmt not in ("jsonl", "tsv", "text"):
        raise InferenceError(f"--format: expected auto, jsonl, tsv or text, got {fmt!r}")
    stats = ReadStats(lines=len(lines))
    examples: list[Example] = []
    if fmt == "text":
        if qa:
            raise InferenceError(
                f"{name}: plain text input is for single-text tasks; give JSONL with 'question' and 'context'"
            )
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                stats.blank += 1
                continue
            examples.append(Example(line=lineno, text_a=line))
    elif fmt == "jsonl":
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                stats.blank += 1
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InferenceError(
                    f"{name}: line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(obj, dict):
                raise InferenceError(
                    f"{name}: line {lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            examples.append(_example_from_fields(obj, qa, name, lineno))
    else:
        header_index = next((k for k, line in enumerate(lines) if line.strip()), None)
        if header_index is None:
            raise InferenceError(f"{name}: no input lines")
        header = lines[header_index].split("\t")
        columns = {}
        for k, column in enumerate(header):
            key = _TSV_COLUMNS.get(column.strip())
            if key is not None and key not in columns:
                columns[key] = k
        needed = ("question", "context") if qa else ("text_a",)
        missing = [key for key in needed if key not in columns]
        if missing:
            raise InferenceError(
                f"{name}: line {header_index + 1}: the TSV header needs a column {' and '.join(missing)} "
                f"(found: {', '.join(header)})"
            )
        stats.blank += header_index
        for lineno, line in enumerate(lines[header_index + 1 :], header_index + 2):
            if not line.strip():
                stats.blank += 1
                continue
            cells = line.split("\t")
            if len(cells) <= max(columns.values()):
                raise InferenceError(
                    f"{name}: line {lineno}: {len(cells)} columns, the header has {len(header)}"
                )
            examples.append(
                _example_from_fields({key: cells[k] for key, k in columns.items()}, qa, name, lineno)
            )
    if not examples:
        raise InferenceError(f"{name}: no input lines")
    return examples, stats


def _example_from_fields(obj: dict, qa: bool, name: str, lineno: int) -> Example:
    def text(key: str, required: bool) -> Optional[str]:
        value = obj.get(key)
        if value is None:
            if required:
                raise InferenceError(f"{name}: line {lineno}: missing key '{key}'")
            return None
        if not isinstance(value, str):
            raise InferenceError(
                f"{name}: line {lineno}: key '{key}' must be a string, got {type(value).__name__}"
            )
        return value

    if qa:
        question, context = text("question", True), text("context", True)
        if not context.strip():
            raise InferenceError(f"{name}: line {lineno}: key 'context' is empty")
        return Example(line=lineno, question=question, context=context, id=obj.get("id"))
    return Example(line=lineno, text_a=text("text_a", True), text_b=text("text_b", False), id=obj.get("id"))


# ============================================================================================ decoding
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _parse_tag(tag: str) -> tuple[str, Optional[str]]:
    """``B-PER`` -> ("B", "PER"); ``O`` -> ("O", None); a bare ``PER`` is an inside tag (IO scheme)."""
    if tag == "O" or not tag:
        return "O", None
    head, sep, rest = tag.partition("-")
    if sep and head.upper() in ("B", "I", "E", "S", "M", "L", "U") and rest:
        return head.upper(), rest
    return "I", tag


def decode_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity spans ``(type, first, last)`` (inclusive word indices) from BIO / IOB / BIOES tags.

    An inside tag whose type differs from the open entity (or with none open) starts a new entity,
    as seqeval does by default.
    """
    spans: list[tuple[str, int, int]] = []
    current: Optional[list] = None  # [type, first, last]

    def close() -> None:
        nonlocal current
        if current is not None:
            spans.append((current[0], current[1], current[2]))
        current = None

    for k, tag in enumerate(tags):
        prefix, kind = _parse_tag(tag)
        if prefix == "O":
            close()
        elif prefix in ("B", "S", "U"):
            close()
            current = [kind, k, k]
            if prefix != "B":
                close()
        else:  # I, M, E, L
            if current is not None and current[0] == kind:
                current[2] = k
            else:
                close()
                current = [kind, k, k]
            if prefix in ("E", "L"):
                close()
    close()
    return spans


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, max_answer_len: int
) -> tuple[int, int, float]:
    """``(start, end, start_logit + end_logit)`` maximising the sum with ``start <= end < start + max_answer_len``."""
    n = len(start_logits)
    scores = start_logits.astype(np.float64)[:, None] + end_logits.astype(np.float64)[None, :]
    rows, cols = np.indices((n, n))
    scores[(cols < rows) | (cols >= rows + max_answer_len)] = -np.inf
    flat = int(np.argmax(scores))  # first maximum: the earliest start, then the earliest end
    s, e = divmod(flat, n)
    return s, e, float(scores[s, e])


# ============================================================================================ predictor
@dataclass
class Feature:
    example: int  # index into the examples of the chunk
    input_ids: list[int]
    token_type_ids: list[int]
    # token classification: word-start flags and char offsets of the text_a tokens (feature positions 1..n)
    offsets: list = field(default_factory=list)
    word_start: list = field(default_factory=list)
    # question answering: where the context window sits in the feature, and its first context token
    context_start: int = 0
    context_tokens: int = 0
    window_offset: int = 0


@dataclass
class PredictStats:
    examples: int = 0
    truncated: int = 0  # inputs cut to max_seq_len (QA: questions cut to max_query_len)
    windows: int = 0  # QA: features run (one per document window)
    split_contexts: int = 0  # QA: contexts longer than one window
    truncated_lines: list = field(default_factory=list)  # input line numbers of the first truncations

    def count_truncated(self, line: int, keep: int = 10) -> None:
        self.truncated += 1
        if len(self.truncated_lines) < keep:
            self.truncated_lines.append(line)

    def summary(self, head: str) -> str:
        parts = [f"{self.examples} examples"]
        if head == QUESTION_ANSWERING:
            parts.append(f"{self.windows} windows ({self.split_contexts} contexts split into several)")
            truncated = f"{self.truncated} questions truncated"
        else:
            truncated = f"{self.truncated} truncated to max_seq_len"
        if self.truncated:
            more = ", ..." if self.truncated > len(self.truncated_lines) else ""
            truncated += f" (lines {', '.join(str(n) for n in self.truncated_lines)}{more})"
        parts.append(truncated)
        return ", ".join(parts)


def load_meta(prefix: str) -> dict[str, Any]:
    path = prefix + META_SUFFIX
    if not os.path.isfile(path):
        exists = [prefix + ext for ext in (".json", ".pdmodel", ".pdiparams") if os.path.isfile(prefix + ext)]
        hint = (
            "an incomplete export or not one made by tools/export.py"
            if exists
            else "no export with this prefix"
        )
        raise InferenceError(
            f"{path}: not found ({hint}; run tools/export.py --model_dir DIR --output {prefix})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except json.JSONDecodeError as exc:
        raise InferenceError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise InferenceError(f"{path}: not an ERNIE export description (key 'format' is not {META_FORMAT!r})")
    if meta.get("version") != META_VERSION:
        raise InferenceError(
            f"{path}: key 'version' is {meta.get('version')!r}; this toolkit reads version {META_VERSION}"
        )
    for key in (
        "head",
        "program_file",
        "params_file",
        "inputs",
        "outputs",
        "max_seq_len",
        "max_position_embeddings",
    ):
        if key not in meta:
            raise InferenceError(f"{path}: missing key '{key}'")
    if meta["head"] not in HEAD_OUTPUTS:
        raise InferenceError(
            f"{path}: key 'head' is {meta['head']!r}, expected one of {', '.join(HEAD_OUTPUTS)}"
        )
    if meta["head"] in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION):
        labels = meta.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise InferenceError(f"{path}: no label map (key 'labels') for a {meta['head']} model")
    return meta


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Predictor:
    """A Paddle Inference predictor over an export, with tokenisation and per-head decoding.

    ``run(arrays)`` runs the program on ready-made int64 arrays; ``predict(examples)`` goes from
    ``Example`` objects to output dicts; ``stats`` counts truncations across calls.
    """

    def __init__(
        self,
        prefix: str,
        device: str = "cpu",
        threads: Optional[int] = None,
        batch_size: int = 32,
        max_seq_len: Optional[int] = None,
        use_onednn: bool = True,
        doc_stride: int = 128,
        max_query_len: int = 64,
        max_answer_len: int = 30,
    ):
        self.prefix = resolve_prefix(prefix)
        self.meta = meta = load_meta(self.prefix)
        self.head: str = meta["head"]
        directory = os.path.dirname(os.path.abspath(self.prefix))
        meta_path = self.prefix + META_SUFFIX
        program = os.path.join(directory, meta["program_file"])
        params = os.path.join(directory, meta["params_file"])
        for path in (program, params):
            if not os.path.isfile(path):
                raise InferenceError(f"{path}: missing (named by {meta_path})")

        vocab = os.path.join(directory, VOCAB_NAME)
        if not os.path.isfile(vocab):
            raise InferenceError(
                f"{directory}: no {VOCAB_NAME} (the tokenizer files belong beside the model)"
            )
        if meta.get("vocab_sha256") and _sha256(vocab) != meta["vocab_sha256"]:
            raise InferenceError(
                f"{vocab}: differs from the vocabulary this model was exported with ({meta_path})"
            )
        self.tokenizer = ErnieTokenizer.from_pretrained(directory)
        if "do_lower_case" in meta and self.tokenizer.do_lower_case != meta["do_lower_case"]:
            raise InferenceError(
                f"{os.path.join(directory, TOKENIZER_CONFIG_NAME)}: do_lower_case differs from {meta_path}"
            )
        self.labels: Optional[list[str]] = meta.get("labels")

        self.max_seq_len = int(max_seq_len if max_seq_len is not None else meta["max_seq_len"])
        _check_max_seq_len(self.max_seq_len, int(meta["max_position_embeddings"]), "--max_seq_len")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InferenceError(f"--batch_size: must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.doc_stride = doc_stride
        # The question never takes more than half of a window, so every window holds context.
        self.max_query_len = min(max_query_len, (self.max_seq_len - 3) // 2)
        self.max_answer_len = max_answer_len
        if self.head == QUESTION_ANSWERING:
            for key, value in (
                ("--doc_stride", doc_stride),
                ("--max_query_len", max_query_len),
                ("--max_answer_len", max_answer_len),
            ):
                if not isinstance(value, int) or value < 1:
                    raise InferenceError(f"{key}: must be a positive integer, got {value!r}")
        self.task_id = meta.get("task_id")
        self.stats = PredictStats()
        self._predictor = self._create(program, params, device, threads or default_threads(), use_onednn)
        self._input_names = list(self._predictor.get_input_names())
        if sorted(self._input_names) != sorted(meta["inputs"]):
            raise InferenceError(
                f"{program}: inputs {self._input_names} differ from {meta_path} ({meta['inputs']})"
            )
        self._output_names = list(self._predictor.get_output_names())
        if len(self._output_names) != len(meta["outputs"]):
            raise InferenceError(
                f"{program}: {len(self._output_names)} outputs, {meta_path} names {meta['outputs']}"
            )

    @staticmethod
    def _create(program: str, params: str, device: str, threads: int, use_onednn: bool):
        import paddle
        from paddle import inference

        config = inference.Config(program, params)
        if device == "gpu":
            if not paddle.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
                raise InferenceError(
                    "--device gpu: this Paddle build or machine has no CUDA GPU; use --device cpu"
                )
            config.enable_use_gpu(256, 0)
        elif device == "cpu":
            config.disable_gpu()
            if use_onednn:
                config.enable_onednn()
                # Each distinct input shape builds its own oneDNN primitives; bound the cache.
                config.set_onednn_cache_capacity(16)
            config.set_cpu_math_library_num_threads(threads)
        else:
            raise InferenceError(f"--device: expected cpu or gpu, got {device!r}")
        config.switch_ir_optim(True)
        config.disable_glog_info()
        return inference.create_predictor(config)

    # ------------------------------------------------------------------ raw program
    def run(self, input_ids: np.ndarray, token_type_ids: Optional[np.ndarray] = None) -> list[np.ndarray]:
        """The program's outputs (in ``meta['outputs']`` order) for int64 ``[batch, seq_len]`` arrays."""
        input_ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        arrays = {"input_ids": input_ids}
        if "token_type_ids" in self._input_names:
            arrays["token_type_ids"] = (
                np.zeros_like(input_ids)
                if token_type_ids is None
                else np.ascontiguousarray(token_type_ids, dtype=np.int64)
            )
        if "task_type_ids" in self._input_names:
            arrays["task_type_ids"] = np.full_like(input_ids, int(self.task_id or 0))
        for name in self._input_names:
            handle = self._predictor.get_input_handle(name)
            handle.reshape(list(arrays[name].shape))
            handle.copy_from_cpu(arrays[name])
        self._predictor.run()
        return [self._predictor.get_output_handle(name).copy_to_cpu() for name in self._output_names]

    # ------------------------------------------------------------------ features
    def featurize(self, examples: Sequence[Example]) -> list[Feature]:
        """Token ids per example (QA: per document window), truncated to max_seq_len and counted."""
        tok = self.tokenizer
        features: list[Feature] = []
        if self.head == QUESTION_ANSWERING:
            q_ids = tok.encode_texts([e.question or "" for e in examples])
            c_ids, c_offsets = tok.encode_texts([e.context or "" for e in examples], return_offsets=True)
            for k, (q, c) in enumerate(zip(q_ids, c_ids)):
                if len(q) > self.max_query_len:
                    q = q[: self.max_query_len]
                    self.stats.count_truncated(examples[k].line)
                windows = self._windows(len(c), self.max_seq_len - len(q) - 3)
                if len(windows) > 1:
                    self.stats.split_contexts += 1
                for start, end in windows:
                    ids = tok.build_inputs_with_special_tokens(q, c[start:end])
                    features.append(
                        Feature(
                            example=k,
                            input_ids=ids,
                            token_type_ids=tok.create_token_type_ids(q, c[start:end]),
                            offsets=c_offsets[k],
                            context_start=len(q) + 2,
                            context_tokens=end - start,
                            window_offset=start,
                        )
                    )
            self.stats.windows += len(features)
            return features

        want_offsets = self.head == TOKEN_CLASSIFICATION
        ids_a, offs_a = tok.encode_texts([e.text_a for e in examples], return_offsets=True)
        pairs = [e.text_b for e in examples]
        has_pairs = self.head != TOKEN_CLASSIFICATION and any(p is not None for p in pairs)
        ids_b = tok.encode_texts([p or "" for p in pairs]) if has_pairs else [None] * len(examples)
        for k, (a, b) in enumerate(zip(ids_a, ids_b)):
            if has_pairs and pairs[k] is None:
                b = None
            budget = self.max_seq_len - tok.num_special_tokens_to_add(b is not None)
            len_a, len_b = tok.truncate_pair(len(a), None if b is None else len(b), budget, "longest_first")
            if len_a < len(a) or (b is not None and len_b < len(b)):
                self.stats.count_truncated(examples[k].line)
            a = a[:len_a]
            b = None if b is None else b[:len_b]
            feature = Feature(
                example=k,
                input_ids=tok.build_inputs_with_special_tokens(a, b),
                token_type_ids=tok.create_token_type_ids(a, b),
            )
            if want_offsets:
                feature.offsets = offs_a[k][:len_a]
                pieces = tok.convert_ids_to_tokens(a)
                feature.word_start = [not piece.startswith("##") for piece in pieces]
            features.append(feature)
        return features

    def _windows(self, n_tokens: int, window: int) -> list[tuple[int, int]]:
        """Context windows ``[start, end)``: ``window`` tokens each, starts ``doc_stride`` apart, the last reaching the end."""
        if n_tokens <= window:
            return [(0, n_tokens)]
        step = min(self.doc_stride, window)
        out = []
        start = 0
        while True:
            end = min(start + window, n_tokens)
            out.append((start, end))
            if end == n_tokens:
                return out
            start += step

    def _run_features(self, features: Sequence[Feature]) -> list[list[np.ndarray]]:
        """Outputs per feature (padding removed), batches formed from features of similar length."""
        results: list[Optional[list[np.ndarray]]] = [None] * len(features)
        order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
        pad = self.tokenizer.pad_token_id
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            width = max(len(features[i].input_ids) for i in batch)
            ids = np.full((len(batch), width), pad, dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(features[i].input_ids)
                ids[row, :n] = features[i].input_ids
                types[row, :n] = features[i].token_type_ids
            outputs = self.run(ids, types)
            for row, i in enumerate(batch):
                n = len(features[i].input_ids)
                # Per-token outputs lose their padding; per-sequence outputs are kept whole.
                results[i] = [
                    out[row, :n] if self._per_token(j) else out[row] for j, out in enumerate(outputs)
                ]
        return results  # type: ignore[return-value]

    def _per_token(self, output_index: int) -> bool:
        name = self.meta["outputs"][output_index]
        return name in ("sequence_output", "start_logits", "end_logits") or (
            name == "logits" and self.head == TOKEN_CLASSIFICATION
        )

    # ------------------------------------------------------------------ examples -> outputs
    def predict(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """One output dict per example, in order."""
        features = self.featurize(examples)
        outputs = self._run_features(features)
        self.stats.examples += len(examples)
        if self.head == QUESTION_ANSWERING:
            return self._answers(examples, features, outputs)
        results = []
        for example, feature, out in zip(examples, features, outputs):
            if self.head == SEQUENCE_CLASSIFICATION:
                probs = softmax(out[0])
                result: dict[str, Any] = {
                    "label": self.labels[int(np.argmax(out[0]))],
                    "probs": [float(p) for p in probs],
                }
            elif self.head == REGRESSION:
                result = {"score": float(out[0][0])}
            elif self.head == TOKEN_CLASSIFICATION:
                result = {"entities": self._entities(example.text_a, feature, out[0])}
            else:
                result = {"embedding": [float(x) for x in out[1]]}
            results.append(self._with_id(example, result))
        return results

    @staticmethod
    def _with_id(example: Example, result: dict[str, Any]) -> dict[str, Any]:
        return {"id": example.id, **result} if example.id is not None else result

    def _entities(self, text: str, feature: Feature, logits: np.ndarray) -> list[dict[str, Any]]:
        """Word-level BIO decoding: a word takes the label of its first piece (sub-word pieces are not trained)."""
        n = len(feature.offsets)
        token_labels = np.argmax(logits[1 : n + 1], axis=-1)  # position 0 is [CLS]
        words: list[list[int]] = []  # piece indices of each word
        for k in range(n):
            if feature.word_start[k] or not words:
                words.append([k])
            else:
                words[-1].append(k)
        tags = [self.labels[int(token_labels[w[0]])] for w in words]
        entities = []
        for kind, first, last in decode_entities(tags):
            start = feature.offsets[words[first][0]][0]
            end = feature.offsets[words[last][-1]][1]
            entities.append({"type": kind, "start": int(start), "end": int(end), "text": text[start:end]})
        return entities

    def _answers(
        self, examples: Sequence[Example], features: Sequence[Feature], outputs
    ) -> list[dict[str, Any]]:
        best: list[Optional[tuple[float, int, int]]] = [None] * len(
            examples
        )  # (score, first token, last token)
        for feature, (start_logits, end_logits) in zip(features, outputs):
            if feature.context_tokens == 0:
                continue
            lo, hi = feature.context_start, feature.context_start + feature.context_tokens
            s, e, score = best_span(start_logits[lo:hi], end_logits[lo:hi], self.max_answer_len)
            current = best[feature.example]
            if current is None or score > current[0]:
                best[feature.example] = (score, feature.window_offset + s, feature.window_offset + e)
        results = []
        for k, example in enumerate(examples):
            if best[k] is None:  # the context has no tokens (e.g. only control characters)
                answer: dict[str, Any] = {"text": "", "start": 0, "end": 0, "score": None}
            else:
                score, first, last = best[k]
                offsets = next(f.offsets for f in features if f.example == k)
                start, end = int(offsets[first][0]), int(offsets[last][1])
                answer = {"text": example.context[start:end], "start": start, "end": end, "score": score}
            results.append(self._with_id(example, {"answer": answer}))
        return results

    def predict_stream(self, examples: Sequence[Example], chunk_size: int = 0) -> Iterator[dict[str, Any]]:
        """``predict`` over chunks of examples (features of a chunk are sorted by length before batching)."""
        chunk_size = chunk_size or self.batch_size * 32
        for begin in range(0, len(examples), chunk_size):
            yield from self.predict(examples[begin : begin + chunk_size])


# ============================================================================================ file -> file
def _write_lines(out: TextIO, results: Iterable[dict[str, Any]]) -> int:
    count = 0
    for result in results:
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        count += 1
    return count


def check_output_path(output_path: Optional[str]) -> None:
    """Refuse an output path that cannot become a file, before any work is done."""
    if output_path in (None, "-"):
        return
    if os.path.isdir(output_path):
        raise InferenceError(f"--output {output_path}: is a directory; name a file")
    parent = os.path.dirname(os.path.abspath(output_path))
    while not os.path.exists(parent):  # makedirs will create the missing part; what exists must be a dir
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InferenceError(f"--output {output_path}: {parent} is not a directory")


def predict_file(
    predictor: Predictor, input_path: str, output_path: Optional[str] = None, fmt: str = "auto"
) -> str:
    """Predict every example of ``input_path`` into ``output_path`` (stdout when None or ``-``); a summary line.

    The whole input is read and checked before anything is written; a file output appears only
    when complete.
    """
    check_output_path(output_path)
    examples, read_stats = read_examples(input_path, predictor.head == QUESTION_ANSWERING, fmt)
    results = predictor.predict_stream(examples)
    if output_path in (None, "-"):
        written = _write_lines(sys.stdout, results)
        sys.stdout.flush()
        where = "stdout"
    else:
        directory = os.path.dirname(os.path.abspath(output_path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(output_path)}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                written = _write_lines(out, results)
            os.replace(tmp, output_path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        where = output_path
    name = "<stdin>" if input_path == "-" else input_path
    summary = f"wrote {written} lines to {where} from {name}: {predictor.stats.summary(predictor.head)}"
    if read_stats.blank:
        summary += f", {read_stats.blank} blank lines skipped"
    if predictor.stats.truncated and predictor.head != QUESTION_ANSWERING:
        summary += f"; max_seq_len={predictor.max_seq_len}"
    return summary


__all__ = [
    "InferenceError",
    "ExportResult",
    "export_model",
    "Predictor",
    "Example",
    "read_examples",
    "predict_file",
    "check_output_path",
    "decode_entities",
    "best_span",
    "softmax",
    "resolve_prefix",
]
