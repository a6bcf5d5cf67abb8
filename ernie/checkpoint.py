"""Checkpoint I/O: the PaddleNLP directory layout, strict key matching, and the official ERNIE names.

A checkpoint directory holds ``config.json`` and ``model_state.pdparams`` (a ``paddle.save``'d dict
of PaddleNLP-named tensors), plus the tokenizer files. Loading matches keys exactly:

* the ``ernie.`` prefix is added or stripped between a bare encoder and a head model;
* PaddleNLP's aliases of the tied MLM decoder (``cls.predictions.decoder.weight/.bias``) are folded;
* encoder keys that are missing or unexpected, and any shape mismatch, raise ``CheckpointError``
  listing them (``strict=False`` loads what matches and reports the rest);
* head keys the checkpoint lacks (a new classifier) or has in excess (a pre-training head when
  fine-tuning) are reported, not errors.

The official PaddlePaddle/ERNIE names, static (``word_embedding``,
``encoder_layer_0_multi_head_att_query_fc.w_0``, ...) and dygraph (``word_emb.weight``,
``encoder_stack.block.0.attn.q.weight``, ...), convert with ``convert_official_state_dict``; static
``params/`` directories (one file per parameter, Paddle's dense-tensor format) read with
``read_official_params_dir``. Linear weights are ``[in, out]`` in all of them: no transposes.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

logger = logging.getLogger("ernie")

WEIGHTS_NAME = "model_state.pdparams"
OFFICIAL_DYGRAPH_WEIGHTS_NAME = "saved_weights.pdparams"
ENCODER_ROOTS = ("embeddings", "encoder", "pooler")
TASK_EMBEDDING_KEY = "embeddings.task_type_embeddings.weight"
BASE_PREFIX = "ernie."

# PaddleNLP saves the tied MLM decoder twice more under these names.
_TIED_ALIASES = {
    "cls.predictions.decoder.weight": None,
    "cls.predictions.decoder.bias": "cls.predictions.decoder_bias",
}


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded as asked; the message names the file and the offending keys."""


@dataclass
class LoadReport:
    source: str
    loaded: list = field(default_factory=list)
    new_head_keys: list = field(default_factory=list)  # in the model, not the checkpoint: left initialised
    dropped_keys: list = field(default_factory=list)  # in the checkpoint, not the model: ignored heads
    missing_encoder_keys: list = field(default_factory=list)
    unexpected_encoder_keys: list = field(default_factory=list)
    mismatched_shapes: list = field(default_factory=list)  # (key, checkpoint shape, model shape)
    converted_from: Optional[str] = None

    @property
    def errors(self) -> list[str]:
        out = [f"missing {k}" for k in self.missing_encoder_keys]
        out += [f"unexpected {k}" for k in self.unexpected_encoder_keys]
        out += [f"shape {k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in self.mismatched_shapes]
        return out

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors from {self.source}"]
        if self.converted_from:
            parts.append(f"converted from {self.converted_from} names")
        if self.new_head_keys:
            parts.append(f"new (initialised): {_short(self.new_head_keys)}")
        if self.dropped_keys:
            parts.append(f"not used: {_short(self.dropped_keys)}")
        if self.errors:
            parts.append(f"skipped: {_short(self.errors)}")
        return "; ".join(parts)


def _short(items: list, limit: int = 8) -> str:
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _is_encoder_key(key: str) -> bool:
    return key.split(".", 1)[0] in ENCODER_ROOTS


# ---------------------------------------------------------------------------------------------- files
def resolve_weights_file(path: str) -> str:
    """The weights file inside a checkpoint directory (or ``path`` itself when it is a file)."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint file or directory")
    for name in (WEIGHTS_NAME, OFFICIAL_DYGRAPH_WEIGHTS_NAME):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    for candidate in (os.path.join(path, "params"), path):
        if os.path.isfile(os.path.join(candidate, "word_embedding")):
            return candidate  # official static params directory
    if os.path.isfile(os.path.join(path, WEIGHTS_NAME + ".index.json")):
        raise CheckpointError(
            f"{path}: sharded checkpoints (model_state.pdparams.index.json) are not supported"
        )
    raise CheckpointError(
        f"{path}: no {WEIGHTS_NAME}, {OFFICIAL_DYGRAPH_WEIGHTS_NAME} or official params/ directory"
    )


def read_state_dict(path: str) -> tuple[dict[str, np.ndarray], str, Optional[str]]:
    """Read weights as numpy arrays, in our (PaddleNLP) names: ``(state, file, converted_from)``."""
    import paddle

    weights = resolve_weights_file(path)
    if os.path.isdir(weights):
        raw = read_official_params_dir(weights)
    else:
        try:
            raw = paddle.load(weights, return_numpy=True)
        except Exception as exc:  # paddle raises many types for a truncated or foreign file
            raise CheckpointError(
                f"{weights}: cannot read the weights ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{weights}: expected a dict of tensors, got {type(raw).__name__}")
    raw = {k: np.asarray(v) for k, v in raw.items() if not isinstance(v, (dict, str, int, float))}
    style = official_naming_style(raw)
    if style is None:
        return raw, weights, None
    converted, _skipped = convert_official_state_dict(raw)
    return converted, weights, style


def save_weights(model, directory: str) -> str:
    """``paddle.save`` the model's state dict to ``directory/model_state.pdparams`` atomically."""
    import paddle

    path = os.path.join(directory, WEIGHTS_NAME)
    tmp = path + ".tmp"
    paddle.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- loading
def adapt_state_dict(
    model, state: dict[str, np.ndarray], source: str = "checkpoint"
) -> tuple[dict, LoadReport]:
    """Rename ``state`` to the model's keys and sort every key into loaded / new / dropped / error."""
    model_state = model.state_dict()
    head_model = hasattr(model, "ernie")
    report = LoadReport(source=source)

    state = dict(state)
    for alias, target in _TIED_ALIASES.items():
        if alias in state:
            value = state.pop(alias)
            if target is not None and target not in state:
                state[target] = value

    has_prefix = any(k.startswith(BASE_PREFIX) for k in state)
    if head_model and not has_prefix:
        state = {(BASE_PREFIX + k if _is_encoder_key(k) else k): v for k, v in state.items()}
    elif not head_model and has_prefix:
        stripped = {}
        for k, v in state.items():
            if k.startswith(BASE_PREFIX):
                stripped[k[len(BASE_PREFIX) :]] = v
            else:
                report.dropped_keys.append(k)
        state = stripped

    def is_encoder(key: str) -> bool:
        if head_model:
            return key.startswith(BASE_PREFIX)
        return _is_encoder_key(key)

    usable = {}
    for key, value in state.items():
        if key not in model_state:
            (report.unexpected_encoder_keys if is_encoder(key) else report.dropped_keys).append(key)
            continue
        expected = tuple(model_state[key].shape)
        if tuple(value.shape) != expected:
            report.mismatched_shapes.append((key, tuple(value.shape), expected))
            continue
        usable[key] = value
        report.loaded.append(key)
    for key in model_state:
        if key not in state:
            (report.missing_encoder_keys if is_encoder(key) else report.new_head_keys).append(key)
    return usable, report


def load_weights_into(model, path: str, strict: bool = True, verbose: bool = True) -> LoadReport:
    """Load the checkpoint at ``path`` into ``model`` (see the module docstring for the rules)."""
    import paddle

    state, source, converted_from = read_state_dict(path)
    # As tools/convert_checkpoint.py does: the released configs have no use_task_id, so the official
    # fine-tuning ran without the task embedding that the released weights carry.
    task_embedding_dropped = (
        bool(converted_from)
        and not model.config.use_task_id
        and state.pop(TASK_EMBEDDING_KEY, None) is not None
    )
    usable, report = adapt_state_dict(model, state, source=source)
    if task_embedding_dropped:
        report.dropped_keys.append("task_embedding (use_task_id is off in the config)")
    report.converted_from = converted_from
    if strict and report.errors:
        raise CheckpointError(
            f"{source}: checkpoint does not match the model ({len(report.errors)} problems): {_short(report.errors)}"
            " (load with strict=False to skip them)"
        )
    model_state = model.state_dict()
    with paddle.no_grad():
        for key, value in usable.items():
            target = model_state[key]
            target.set_value(value.astype(_numpy_dtype(target.dtype)))
    if verbose:
        logger.info(report.summary())
    return report


def _numpy_dtype(dtype) -> str:
    name = str(dtype).replace("paddle.", "")
    return {"bfloat16": "float32"}.get(name, name)


# ---------------------------------------------------------------------------------------------- official names
_STATIC_RULES = [
    (r"word_embedding", "embeddings.word_embeddings.weight"),
    (r"pos_embedding", "embeddings.position_embeddings.weight"),
    (r"sent_embedding", "embeddings.token_type_embeddings.weight"),
    (r"task_embedding", "embeddings.task_type_embeddings.weight"),
    (r"pre_encoder_layer_norm_scale", "embeddings.layer_norm.weight"),
    (r"pre_encoder_layer_norm_bias", "embeddings.layer_norm.bias"),
    (r"encoder_layer_(\d+)_multi_head_att_query_fc\.w_0", r"encoder.layers.\1.self_attn.q_proj.weight"),
    (r"encoder_layer_(\d+)_multi_head_att_query_fc\.b_0", r"encoder.layers.\1.self_attn.q_proj.bias"),
    (r"encoder_layer_(\d+)_multi_head_att_key_fc\.w_0", r"encoder.layers.\1.self_attn.k_proj.weight"),
    (r"encoder_layer_(\d+)_multi_head_att_key_fc\.b_0", r"encoder.layers.\1.self_attn.k_proj.bias"),
    (r"encoder_layer_(\d+)_multi_head_att_value_fc\.w_0", r"encoder.layers.\1.self_attn.v_proj.weight"),
    (r"encoder_layer_(\d+)_multi_head_att_value_fc\.b_0", r"encoder.layers.\1.self_attn.v_proj.bias"),
    (r"encoder_layer_(\d+)_multi_head_att_output_fc\.w_0", r"encoder.layers.\1.self_attn.out_proj.weight"),
    (r"encoder_layer_(\d+)_multi_head_att_output_fc\.b_0", r"encoder.layers.\1.self_attn.out_proj.bias"),
    (r"encoder_layer_(\d+)_post_att_layer_norm_scale", r"encoder.layers.\1.norm1.weight"),
    (r"encoder_layer_(\d+)_post_att_layer_norm_bias", r"encoder.layers.\1.norm1.bias"),
    (r"encoder_layer_(\d+)_ffn_fc_0\.w_0", r"encoder.layers.\1.linear1.weight"),
    (r"encoder_layer_(\d+)_ffn_fc_0\.b_0", r"encoder.layers.\1.linear1.bias"),
    (r"encoder_layer_(\d+)_ffn_fc_1\.w_0", r"encoder.layers.\1.linear2.weight"),
    (r"encoder_layer_(\d+)_ffn_fc_1\.b_0", r"encoder.layers.\1.linear2.bias"),
    (r"encoder_layer_(\d+)_post_ffn_layer_norm_scale", r"encoder.layers.\1.norm2.weight"),
    (r"encoder_layer_(\d+)_post_ffn_layer_norm_bias", r"encoder.layers.\1.norm2.bias"),
    (r"pooled_fc\.w_0", "pooler.dense.weight"),
    (r"pooled_fc\.b_0", "pooler.dense.bias"),
    (r"mask_lm_trans_fc\.w_0", "cls.predictions.transform.weight"),
    (r"mask_lm_trans_fc\.b_0", "cls.predictions.transform.bias"),
    (r"mask_lm_trans_layer_norm_scale", "cls.predictions.layer_norm.weight"),
    (r"mask_lm_trans_layer_norm_bias", "cls.predictions.layer_norm.bias"),
    (r"mask_lm_out_fc\.b_0", "cls.predictions.decoder_bias"),
    # Fine-tuning heads: dygraph ParamAttr names and static finetune/*.py names.
    (r"cls\.w_0|(?:\w+)?_cls_out_w|cls_seq_label_out_w|cls_mrc\.w_0|cls_mrc_out_w", "classifier.weight"),
    (r"cls\.b_0|(?:\w+)?_cls_out_b|cls_seq_label_out_b|cls_mrc\.b_0|cls_mrc_out_b", "classifier.bias"),
]

_DYGRAPH_RULES = [
    (r"word_emb\.weight", "embeddings.word_embeddings.weight"),
    (r"pos_emb\.weight", "embeddings.position_embeddings.weight"),
    (r"sent_emb\.weight", "embeddings.token_type_embeddings.weight"),
    (r"task_emb\.weight", "embeddings.task_type_embeddings.weight"),
    (r"ln\.(weight|bias)", r"embeddings.layer_norm.\1"),
    (r"encoder_stack\.block\.(\d+)\.attn\.q\.(weight|bias)", r"encoder.layers.\1.self_attn.q_proj.\2"),
    (r"encoder_stack\.block\.(\d+)\.attn\.k\.(weight|bias)", r"encoder.layers.\1.self_attn.k_proj.\2"),
    (r"encoder_stack\.block\.(\d+)\.attn\.v\.(weight|bias)", r"encoder.layers.\1.self_attn.v_proj.\2"),
    (r"encoder_stack\.block\.(\d+)\.attn\.o\.(weight|bias)", r"encoder.layers.\1.self_attn.out_proj.\2"),
    (r"encoder_stack\.block\.(\d+)\.ln1\.(weight|bias)", r"encoder.layers.\1.norm1.\2"),
    (r"encoder_stack\.block\.(\d+)\.ffn\.i\.(weight|bias)", r"encoder.layers.\1.linear1.\2"),
    (r"encoder_stack\.block\.(\d+)\.ffn\.o\.(weight|bias)", r"encoder.layers.\1.linear2.\2"),
    (r"encoder_stack\.block\.(\d+)\.ln2\.(weight|bias)", r"encoder.layers.\1.norm2.\2"),
    (r"pooler\.(weight|bias)", r"pooler.dense.\1"),
    (r"mlm\.(weight|bias)", r"cls.predictions.transform.\1"),
    (r"mlm_ln\.(weight|bias)", r"cls.predictions.layer_norm.\1"),
    (r"mlm_bias|bias", "cls.predictions.decoder_bias"),  # `bias` before commit bd78ec6 renamed it
    (r"classifier\.(weight|bias)|cls_fc\.(weight|bias)", r"classifier.\1\2"),  # cls_fc before 54b70b9
]

# Optimizer state, LR counters and the NSP head: present in official files, no place in ours.
_OFFICIAL_SKIP = re.compile(
    r".*(_moment[12]_\d+|_beta[12]_pow_acc_\d+|\.master)$|^learning_rate_\d+$|^@LR_DECAY_COUNTER@$|"
    r"^scheduled_learning_rate$|^loss_scaling_\d+$|^num_(bad|good)_steps_\d+$|"
    r"^(next_sent_fc|nsp_fc)\.[wb]_0$|^pooler_heads\.\d+\.nsp\.(weight|bias)$|"
    # ERNIE 2.0's static per-task sentence heads (get_task_output): ours are built by tasks/.
    r"^\w+_fc\.[wb]_0$"
)


HEAD_ARCHITECTURES = {
    "sequence": "ErnieForSequenceClassification",
    "token": "ErnieForTokenClassification",
    "qa": "ErnieForQuestionAnswering",
}


def official_naming_style(state: dict) -> Optional[str]:
    """``'official static'`` / ``'official dygraph'`` when the keys use the official names, else None."""
    keys = set(state)
    if "word_embedding" in keys or any(k.startswith("encoder_layer_") for k in keys):
        return "official static"
    if "word_emb.weight" in keys or any(k.startswith("encoder_stack.block.") for k in keys):
        return "official dygraph"
    return None


def convert_official_state_dict(state: dict) -> tuple[dict, list[str]]:
    """Rename official static or dygraph keys to ours. Returns ``(converted, skipped_keys)``.

    Unknown keys raise ``CheckpointError``: a silent partial conversion is how the official warm
    start left heads at random (notes on ``init_pretraining_params``).
    """
    style = official_naming_style(state)
    if style is None:
        raise CheckpointError(
            "the keys are not official ERNIE names (word_embedding / word_emb.weight not found)"
        )
    rules = [
        (re.compile(p + r"\Z"), r)
        for p, r in (_STATIC_RULES if style == "official static" else _DYGRAPH_RULES)
    ]
    converted: dict = {}
    skipped: list[str] = []
    unknown: list[str] = []
    for key, value in state.items():
        for pattern, replacement in rules:
            if pattern.match(key):
                new_key = pattern.sub(replacement, key)
                if new_key in converted:
                    raise CheckpointError(f"two official keys map to {new_key} (one of them: {key})")
                converted[new_key] = value
                break
        else:
            (skipped if _OFFICIAL_SKIP.match(key) else unknown).append(key)
    if unknown:
        raise CheckpointError(f"unknown {style} parameter names: {_short(sorted(unknown))}")
    if "mask_lm_out_fc.w_0" in skipped:
        # weight_sharing=False: an MLM output matrix of its own, which our tied head cannot hold. The
        # encoder converts; the MLM head is left out whole rather than half-converted.
        dropped = sorted(k for k in converted if k.startswith("cls.predictions."))
        for key in dropped:
            del converted[key]
        skipped.append(
            f"the MLM head ({len(dropped)} tensors): untied mask_lm_out_fc.w_0 (weight_sharing=False)"
        )
    return converted, skipped


# ---------------------------------------------------------------------------------------------- fluid tensors
# Paddle's dense-tensor file (what fluid.io.save_persistables wrote, one file per variable):
#   uint32 version (0) | uint64 lod_level | per level: uint64 nbytes + size_t offsets
#   uint32 tensor version (0) | int32 desc_size | TensorDesc protobuf (1: data_type, 2: dims) | raw data
_FLUID_DTYPES = {
    0: "bool",
    1: "int16",
    2: "int32",
    3: "int64",
    4: "float16",
    5: "float32",
    6: "float64",
    20: "uint8",
    21: "int8",
}


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def read_fluid_tensor(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    try:
        pos = 4  # version
        (lod_level,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        for _ in range(lod_level):
            (nbytes,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + nbytes
        pos += 4  # tensor version
        (desc_size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        desc, pos = data[pos : pos + desc_size], pos + desc_size
        dtype_code, dims, p = None, [], 0
        while p < len(desc):
            tag, p = _read_varint(desc, p)
            field_no, wire = tag >> 3, tag & 7
            if wire == 0:
                value, p = _read_varint(desc, p)
                if field_no == 1:
                    dtype_code = value
                elif field_no == 2:
                    dims.append(value - (1 << 64) if value >= 1 << 63 else value)
            elif wire == 2:  # packed dims
                length, p = _read_varint(desc, p)
                end = p + length
                while p < end:
                    value, p = _read_varint(desc, p)
                    dims.append(value)
            else:
                raise ValueError(f"unexpected protobuf wire type {wire}")
        dtype = np.dtype(_FLUID_DTYPES[dtype_code])
        count = int(np.prod(dims)) if dims else 1
        array = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
    except (struct.error, KeyError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a Paddle dense-tensor file ({exc})") from None
    return array.reshape(dims).copy()


def read_official_params_dir(directory: str) -> dict[str, np.ndarray]:
    """All parameter files of an official static ``params/`` directory, by variable name."""
    state = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not name.startswith("."):
            state[name] = read_fluid_tensor(path)
    return state


# ---------------------------------------------------------------------------------------------- converter
def convert_official_checkpoint(
    source: str,
    output: str,
    config_path: Optional[str] = None,
    vocab_file: Optional[str] = None,
    use_task_id: str = "auto",
    do_lower_case: bool = True,
    head: str = "auto",
) -> dict:
    """Write an official ERNIE checkpoint (static ``params/`` dir or dygraph ``saved_weights.pdparams``)
    as a checkpoint directory in our (PaddleNLP) layout. Returns a summary dict.

    ``use_task_id``: ``auto`` follows the config (the released configs have no ``use_task_id``, so the
    official fine-tuning ran without the task embedding, and it is dropped), ``yes`` keeps the task
    embedding and turns it on, ``no`` drops it.

    ``head``: which model the ``classifier`` weights belong to. ``auto`` reads it from the static names
    (``cls_mrc*`` question answering, ``cls_seq_label_out*`` tagging, else sequence classification); the
    dygraph demos call every head ``classifier``, so a dygraph QA or tagging checkpoint needs
    ``qa`` or ``token``.
    """
    import shutil
    import tempfile

    import paddle

    from .config import ErnieConfig
    from .tokenizer import ErnieTokenizer

    weights = resolve_weights_file(source)
    if os.path.isdir(weights):
        raw = read_official_params_dir(weights)
    else:
        try:
            raw = paddle.load(weights, return_numpy=True)
        except Exception as exc:
            raise CheckpointError(
                f"{weights}: cannot read the weights ({type(exc).__name__}: {exc})"
            ) from None
    style = official_naming_style(raw)
    if style is None:
        raise CheckpointError(
            f"{weights}: no official ERNIE parameter names (word_embedding / word_emb.weight)"
        )
    try:
        state, skipped = convert_official_state_dict(raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{weights}: {exc}") from None

    if config_path is None:
        search = [source if os.path.isdir(source) else os.path.dirname(source)]
        search.append(os.path.dirname(os.path.abspath(search[0])))
        for folder in search:
            candidate = os.path.join(folder, "ernie_config.json")
            if os.path.isfile(candidate):
                config_path = candidate
                break
        else:
            raise CheckpointError(f"{source}: no ernie_config.json beside the weights; pass --config")
    config = ErnieConfig.from_json_file(config_path)

    has_task = TASK_EMBEDDING_KEY in state
    if head != "auto" and head not in HEAD_ARCHITECTURES:
        raise CheckpointError(f"head must be auto, {', '.join(HEAD_ARCHITECTURES)}; got {head!r}")
    if use_task_id not in ("auto", "yes", "no"):
        raise CheckpointError(f"use_task_id must be auto, yes or no, got {use_task_id!r}")
    keep_task = has_task and (use_task_id == "yes" or (use_task_id == "auto" and config.use_task_id))
    if use_task_id == "yes" and not has_task:
        raise CheckpointError(f"{weights}: use_task_id=yes but the checkpoint has no task_embedding")
    if keep_task:
        rows = state[TASK_EMBEDDING_KEY].shape[0]
        config = config.replace(use_task_id=True, task_type_vocab_size=rows)
    elif has_task:
        state.pop(TASK_EMBEDDING_KEY)
        skipped.append("task_embedding (use_task_id is off)")
        config = config.replace(use_task_id=False)

    head_keys = [k for k in state if not _is_encoder_key(k)]
    saved = {(BASE_PREFIX + k if head_keys and _is_encoder_key(k) else k): v for k, v in state.items()}
    architecture = "ErnieModel"
    if any(k.startswith("cls.predictions.") for k in head_keys):
        architecture = "ErnieForPretraining"
    elif "classifier.weight" in state:
        classes = state["classifier.weight"].shape[1]
        if head == "auto":
            head = (
                "qa"
                if any(k.startswith("cls_mrc") for k in raw)
                else "token"
                if any(k.startswith("cls_seq_label_out") for k in raw)
                else "sequence"
            )
        if head == "qa" and classes != 2:
            raise CheckpointError(
                f"{weights}: a question-answering head has 2 outputs, classifier has {classes}"
            )
        if head != "qa":
            config = config.replace(num_labels=classes)
        architecture = HEAD_ARCHITECTURES[head]
    elif head != "auto":
        raise CheckpointError(f"{weights}: head={head} but the checkpoint has no classifier weights")

    # Shapes must agree with the config before anything is written.
    expected = {
        "embeddings.word_embeddings.weight": [config.vocab_size, config.hidden_size],
        "embeddings.position_embeddings.weight": [config.max_position_embeddings, config.hidden_size],
        "embeddings.token_type_embeddings.weight": [config.type_vocab_size, config.hidden_size],
        "encoder.layers.0.linear1.weight": [config.hidden_size, config.intermediate_size],
    }
    for key, shape in expected.items():
        if key in state and list(state[key].shape) != shape:
            raise CheckpointError(
                f"{config_path}: config gives {key} the shape {shape}, the weights have {list(state[key].shape)}"
            )
    layers = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")}
    if layers != set(range(config.num_hidden_layers)):
        raise CheckpointError(
            f"{config_path}: key 'num_hidden_layers' is {config.num_hidden_layers}, the weights have {len(layers)} layers"
        )

    parent = os.path.dirname(os.path.abspath(output)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        config.replace(architectures=[architecture]).save(os.path.join(tmp, "config.json"))
        paddle.save({k: paddle.to_tensor(v) for k, v in saved.items()}, os.path.join(tmp, WEIGHTS_NAME))
        if vocab_file:
            tokenizer = ErnieTokenizer(
                vocab_file, do_lower_case=do_lower_case, model_max_length=config.max_position_embeddings
            )
            tokenizer.save_pretrained(tmp)
        if os.path.exists(output):
            raise CheckpointError(f"{output}: exists; choose a new output directory")
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "source": weights,
        "style": style,
        "output": output,
        "architecture": architecture,
        "tensors": len(saved),
        "skipped": skipped,
        "use_task_id": config.use_task_id,
    }
