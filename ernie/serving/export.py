"""Export a checkpoint to a static Paddle Inference model that ``ernie.serving.predictor`` serves.

An export with prefix ``out/inference`` is a set of files in ``out/``:

* ``inference.json`` (PIR program; ``inference.pdmodel`` on Paddle versions before PIR) and
  ``inference.pdiparams``: ``paddle.jit.save`` of the model with named inputs ``input_ids``,
  ``token_type_ids`` (and ``task_type_ids`` when the model has task embeddings), int64, shape
  ``[batch, seq_len]`` with both dimensions dynamic;
* ``vocab.txt``, ``tokenizer_config.json``, ``special_tokens_map.json``: the tokenizer;
* ``inference.predictor.json``: what the predictor needs (``ernie.serving.metadata``: head type,
  labels in id order and where they came from, input and output names, max_seq_len, lower-casing,
  the vocab's sha256, and the decoding defaults from the model's ``finetune_settings.json``). It is
  written last and removed first when an export is replaced, so a folder without it is an
  incomplete export;
* ``inference.onnx`` (the fp32 ONNX model, paddle2onnx) with ``--onnx`` or for ``--backend onnxruntime``
  at fp32, ``inference.int8.onnx`` (``onnx_export``: ONNX Runtime's dynamic int8) for ``--precision int8``.

The precision (fp32, bf16, int8) is chosen here and recorded with the backend that serves it by default
(``metadata.DEFAULT_BACKEND``); ``calibrate`` adds the accuracy guard (``calibration``). The predictor
needs paddle (or onnxruntime), that folder and ``ernie.tokenizer``; no training checkpoint.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..checkpoint import read_state_dict
from ..config import ErnieConfig
from ..files import remove_quietly, writing
from ..finetune.settings_file import FINETUNE_SETTINGS_FILE, FinetuneSettings
from ..tokenizer import SPECIAL_TOKENS_MAP_NAME, TOKENIZER_CONFIG_NAME, VOCAB_NAME, ErnieTokenizer
from . import onnx_export
from .calibration import calibrate as run_calibration
from .errors import ServingError
from .inputs import read_examples
from .metadata import (
    BACKEND_PRECISIONS,
    DEFAULT_BACKEND,
    ENCODER,
    FP32,
    HEAD_OF_KIND,
    HEAD_OUTPUTS,
    INT8,
    INT8_ONNX_SUFFIX,
    META_FORMAT,
    META_SUFFIX,
    META_VERSION,
    ONNX_SUFFIX,
    ONNXRUNTIME,
    PRECISIONS,
    QUESTION_ANSWERING,
    REGRESSION_HEAD,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    check_max_seq_len,
    decoding_defaults,
    resolve_prefix,
    sha256_of,
    write_metadata,
)
from .optional import require
from .scoring import read_gold

logger = logging.getLogger("ernie")

# Architectures (config.json ``architectures``) -> the class exported and its head. A pre-training
# checkpoint exports its encoder.
ARCHITECTURES = {
    "ErnieModel": ("ErnieModel", ENCODER),
    "ErnieForPretraining": ("ErnieModel", ENCODER),
    "ErnieForSequenceClassification": ("ErnieForSequenceClassification", SEQUENCE_CLASSIFICATION),
    "ErnieForTokenClassification": ("ErnieForTokenClassification", TOKEN_CLASSIFICATION),
    "ErnieForQuestionAnswering": ("ErnieForQuestionAnswering", QUESTION_ANSWERING),
}


@dataclass
class ExportResult:
    prefix: str
    head: str
    files: list[str]
    meta: dict[str, Any]


def head_of(config: ErnieConfig, source: str) -> tuple[str, str]:
    """(class name to build, head kind) from the config's ``architectures`` (bare encoder when none)."""
    architectures = config.extra.get("architectures") or ["ErnieModel"]
    if isinstance(architectures, str):
        architectures = [architectures]
    name = architectures[0]
    if name not in ARCHITECTURES:
        raise ServingError(
            f"{source}: key 'architectures' names {name!r}; export supports {', '.join(sorted(ARCHITECTURES))}"
        )
    cls_name, head = ARCHITECTURES[name]
    if head == SEQUENCE_CLASSIFICATION and config.num_labels == 1:
        head = REGRESSION_HEAD
    return cls_name, head


def label_list(
    config: ErnieConfig, source: str, labels: Optional[Sequence[str]] = None, labels_source: str = "--labels"
) -> list[str]:
    """Labels in id order: ``labels`` when given (from ``labels_source``), else the config's ``id2label``.

    Either way they must match the model's num_labels.
    """
    if labels is not None:
        out = [str(label) for label in labels]
        if len(out) != config.num_labels:
            raise ServingError(
                f"{labels_source}: {len(out)} labels given, the model has num_labels={config.num_labels}"
            )
        return out
    if not config.id2label:
        raise ServingError(
            f"{source}: no label map (key 'id2label') for a classification head; "
            "add it to config.json or pass --labels L0,L1,..."
        )
    expected = {str(i) for i in range(config.num_labels)}
    if set(config.id2label) != expected:
        raise ServingError(
            f"{source}: key 'id2label' must have the ids 0..{config.num_labels - 1} (num_labels), "
            f"got {sorted(config.id2label, key=str)}"
        )
    return [str(config.id2label[str(i)]) for i in range(config.num_labels)]


def classifier_outputs(model_dir: str) -> Optional[int]:
    """The number of outputs of the checkpoint's ``classifier`` (None when it has none)."""
    state, _, _ = read_state_dict(model_dir)
    weight = state.get("classifier.weight")
    # A Paddle Linear weight is [in, out].
    return int(weight.shape[1]) if weight is not None and weight.ndim == 2 else None


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


def _config_file(model_dir: str) -> str:
    for name in ("config.json", "model_config.json", "ernie_config.json"):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return path
    return model_dir


def check_precision(precision: str, backend: Optional[str]) -> str:
    """The backend an export at ``precision`` is served by (``backend``, else the default); refused when that
    runtime cannot run that precision."""
    if precision not in PRECISIONS:
        raise ServingError(f"--precision: expected {', '.join(PRECISIONS)}, got {precision!r}")
    backend = backend or DEFAULT_BACKEND[precision]
    if backend not in BACKEND_PRECISIONS:
        raise ServingError(f"--backend: expected {' or '.join(BACKEND_PRECISIONS)}, got {backend!r}")
    if precision not in BACKEND_PRECISIONS[backend]:
        runs = [name for name, served in BACKEND_PRECISIONS.items() if precision in served]
        raise ServingError(
            f"--precision {precision} --backend {backend}: {precision} runs on {' or '.join(runs)}; "
            f"{backend} runs {' and '.join(BACKEND_PRECISIONS[backend])}"
        )
    return backend


def export_model(
    model_dir: str,
    output: str,
    max_seq_len: Optional[int] = None,
    onnx: bool = False,
    labels: Optional[Sequence[str]] = None,
    opset_version: int = 13,
    precision: str = FP32,
    backend: Optional[str] = None,
    calibrate: Optional[str] = None,
) -> ExportResult:
    """Export the checkpoint in ``model_dir`` to the static model ``output`` (a prefix), with tokenizer and meta.

    ``precision`` (fp32, bf16, int8) is what the predictor runs, on ``backend`` (paddle or onnxruntime;
    default: ``metadata.DEFAULT_BACKEND``); ``onnx`` also writes the fp32 ONNX model. With ``calibrate`` (an
    example file as tools/predict.py reads it, gold answers optional) the export is run over it in fp32
    and as served, and the agreement is recorded (``calibration``) before the export is put in place.

    Defaults for the predictor (max_seq_len, the QA and NER decoding settings, labels when config.json
    has none) come from the model's ``finetune_settings.json`` when there is one. A sequence classifier
    without any label map gets the labels ``0..n-1``, n counted from its classifier's weights. Nothing is left
    behind on failure: files are written into a temporary folder beside the output and moved into
    place at the end, the meta file last.
    """
    if not os.path.isdir(model_dir):
        raise ServingError(f"{model_dir}: no such model directory")
    backend = check_precision(precision, backend)
    onnx_fp32 = onnx or (backend == ONNXRUNTIME and precision == FP32)
    # Optional packages first: a missing one is one line before any work.
    if onnx_fp32 or precision == INT8:
        onnx_export.require_converter("--onnx" if onnx else f"--precision {precision} --backend {backend}")
    if precision == INT8:
        onnx_export.require_quantizer("--precision int8")
    elif backend == ONNXRUNTIME:
        require("onnxruntime", "--backend onnxruntime")
    config = ErnieConfig.from_pretrained(model_dir)
    config_file = _config_file(model_dir)
    cls_name, head = head_of(config, config_file)
    settings = FinetuneSettings.read(model_dir)
    settings_file = os.path.join(model_dir, FINETUNE_SETTINGS_FILE)
    if settings is not None and HEAD_OF_KIND[settings.kind] != head and head != ENCODER:
        raise ServingError(
            f"{settings_file}: key 'kind' is {settings.kind!r}, but {config_file} describes a {head} model"
        )
    outputs = None
    if head == SEQUENCE_CLASSIFICATION and not config.id2label:
        # PaddleNLP leaves id2label and num_labels out of config.json when they are its defaults (two
        # labels), so the config's num_labels may be a default: the classifier's weights say how many.
        outputs = classifier_outputs(model_dir)
        if outputs is not None and outputs != config.num_labels:
            config = config.replace(num_labels=outputs)
            cls_name, head = head_of(config, config_file)
    labels_in_order = labels_source = None
    if head in (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION):
        if labels is not None:
            labels_in_order, labels_source = label_list(config, config_file, labels), "--labels"
        elif config.id2label:
            labels_in_order, labels_source = label_list(config, config_file), "config.json id2label"
        elif settings is not None and settings.labels:
            labels_in_order = label_list(
                config, config_file, settings.labels, f"{settings_file}: key 'labels'"
            )
            labels_source = FINETUNE_SETTINGS_FILE
        elif outputs is not None:
            labels_in_order, labels_source = [str(i) for i in range(outputs)], "classifier weights"
            logger.info(
                "labels 0..%d inferred from the classifier weights (no id2label in %s)",
                outputs - 1,
                config_file,
            )
        else:
            labels_in_order = label_list(config, config_file)  # refused: nothing names or counts them
        if head == TOKEN_CLASSIFICATION and "O" not in labels_in_order:
            raise ServingError(f"{config_file}: the labels {labels_in_order} have no 'O' tag")

    calibration_input = None
    if calibrate is not None:  # read and checked before the export's work, as tools/predict.py checks it
        examples, _ = read_examples(calibrate, head == QUESTION_ANSWERING)
        ner_units = decoding_defaults(settings, head)["ner_units"] or "characters"
        benchmark = settings.benchmark if settings is not None else None
        gold = read_gold(examples, head, labels_in_order, benchmark, ner_units, calibrate)
        calibration_input = (examples, gold)

    tokenizer = ErnieTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id != config.pad_token_id:
        raise ServingError(
            f"{model_dir}: the vocabulary's [PAD] id ({tokenizer.pad_token_id}) differs from the config's "
            f"pad_token_id ({config.pad_token_id}); padding would not be masked"
        )
    largest_id = max(tokenizer.vocab.values())
    if largest_id >= config.vocab_size:
        raise ServingError(
            f"{model_dir}: vocab.txt has ids up to {largest_id}, the model's vocab_size is {config.vocab_size}"
        )
    if max_seq_len is not None:
        check_max_seq_len(max_seq_len, config.max_position_embeddings, "--max_seq_len")
    elif settings is not None:
        max_seq_len = settings.max_seq_len
        check_max_seq_len(max_seq_len, config.max_position_embeddings, f"{settings_file}: key 'max_seq_len'")
    else:
        max_seq_len = min(512, config.max_position_embeddings)

    import paddle
    from paddle.static import InputSpec

    from .. import modeling

    model = getattr(modeling, cls_name).from_pretrained(model_dir, config=config, verbose=False)
    report = model.load_report
    if report.new_head_keys:
        raise ServingError(
            f"{model_dir}: the checkpoint has no weights for {', '.join(report.new_head_keys)}; "
            f"it is not a trained {cls_name}"
        )
    model.eval()

    prefix = resolve_prefix(output)
    out_dir = os.path.dirname(os.path.abspath(prefix))
    base = os.path.basename(prefix)
    if not base:
        raise ServingError(f"{output}: the output prefix needs a file name part")
    input_names = _input_names(config)
    with writing(prefix):  # a read-only or full disk: one line naming the export, no partial files
        os.makedirs(out_dir, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=f".{base}.export-", dir=out_dir)
    try:
        with writing(prefix):
            tmp_prefix = os.path.join(tmp_dir, base)
            spec = [InputSpec([None, None], "int64", name=name) for name in input_names]
            static = paddle.jit.to_static(_export_layer(model, input_names), input_spec=spec, full_graph=True)
            paddle.jit.save(static, tmp_prefix)
            program_file = next(
                (base + ext for ext in (".json", ".pdmodel") if os.path.isfile(tmp_prefix + ext)), None
            )
            params_file = base + ".pdiparams"
            if program_file is None or not os.path.isfile(os.path.join(tmp_dir, params_file)):
                raise ServingError(
                    f"{prefix}: paddle.jit.save wrote no program or parameters ({os.listdir(tmp_dir)})"
                )
            onnx_file = int8_onnx_file = None
            if onnx_fp32 or precision == INT8:
                onnx_export.convert(
                    os.path.join(tmp_dir, program_file),
                    os.path.join(tmp_dir, params_file),
                    tmp_prefix + ONNX_SUFFIX,
                    opset_version,
                )
                onnx_file = base + ONNX_SUFFIX if onnx_fp32 else None  # else a step to int8, left in tmp_dir
            if precision == INT8:
                int8_onnx_file = base + INT8_ONNX_SUFFIX
                onnx_export.quantize_int8(tmp_prefix + ONNX_SUFFIX, os.path.join(tmp_dir, int8_onnx_file))
            tokenizer.save_pretrained(tmp_dir)

            meta = {
                "format": META_FORMAT,
                "version": META_VERSION,
                "head": head,
                "architecture": cls_name,
                "program_file": program_file,
                "params_file": params_file,
                "onnx_file": onnx_file,
                "int8_onnx_file": int8_onnx_file,
                "precision": precision,
                "backend": backend,
                "calibration": None,
                "inputs": input_names,
                "outputs": HEAD_OUTPUTS[head],
                "labels": labels_in_order,
                "labels_source": labels_source,
                "max_seq_len": max_seq_len,
                "max_position_embeddings": config.max_position_embeddings,
                "task_id": config.task_id if config.use_task_id else None,
                "do_lower_case": tokenizer.do_lower_case,
                "pad_token_id": tokenizer.pad_token_id,
                "vocab_sha256": sha256_of(os.path.join(tmp_dir, VOCAB_NAME)),
                "hidden_size": config.hidden_size,
                "paddle_version": paddle.__version__,
                "benchmark": settings.benchmark if settings is not None else None,
                "finetune_settings": settings is not None,
                **decoding_defaults(settings, head),
            }
            files = [program_file, params_file, VOCAB_NAME, TOKENIZER_CONFIG_NAME, SPECIAL_TOKENS_MAP_NAME]
            files += [name for name in (onnx_file, int8_onnx_file) if name]
            meta_name = base + META_SUFFIX
            write_metadata(os.path.join(tmp_dir, meta_name), meta)
            if (
                calibration_input is not None
            ):  # on the export in tmp_dir: a failure leaves the old one in place
                meta["calibration"] = run_calibration(tmp_prefix, *calibration_input, source=calibrate)
                write_metadata(os.path.join(tmp_dir, meta_name), meta)

            # Commit: the meta goes first (an interrupted commit then reads as incomplete) and comes back last.
            meta_path = os.path.join(out_dir, meta_name)
            if os.path.exists(meta_path):
                os.remove(meta_path)
            stale = [
                base + ext
                for ext in (".json", ".pdmodel", ONNX_SUFFIX, INT8_ONNX_SUFFIX)
                if base + ext not in files
            ]
            for name in stale:
                if os.path.isfile(os.path.join(out_dir, name)):
                    os.remove(os.path.join(out_dir, name))
            for name in files:
                os.replace(os.path.join(tmp_dir, name), os.path.join(out_dir, name))
            os.replace(os.path.join(tmp_dir, meta_name), meta_path)
    finally:
        remove_quietly(tmp_dir)
    logger.info(
        "exported %s (%s, %s on %s) from %s to %s.*", cls_name, head, precision, backend, model_dir, prefix
    )
    return ExportResult(prefix=prefix, head=head, files=[*files, meta_name], meta=meta)


__all__ = [
    "ARCHITECTURES",
    "ExportResult",
    "check_precision",
    "classifier_outputs",
    "export_model",
    "head_of",
    "label_list",
]
