"""Checkpoint I/O: the PaddleNLP directory layout, strict key matching, and the official ERNIE names.

A checkpoint directory holds ``config.json`` and ``model_state.pdparams`` (a ``paddle.save``'d dict
of PaddleNLP-named tensors), plus the tokenizer files. Loading matches keys exactly:

* the ``ernie.`` prefix is added or stripped between a bare encoder and a head model;
* PaddleNLP's aliases of the tied MLM decoder (``cls.predictions.decoder.weight/.bias``) are folded;
* encoder keys that are missing or unexpected, and any shape mismatch, raise ``CheckpointError``
  listing them (``strict=False`` loads what matches and reports the rest);
* head keys the checkpoint lacks (a new classifier) or has in excess (a pre-training head when
  fine-tuning) are reported, not errors.

Official PaddlePaddle/ERNIE checkpoints (static ``params/`` directories, dygraph ``saved_weights.pdparams``)
and HF transformers folders (``model.safetensors`` or ``pytorch_model.bin`` with transformers' names) load
too: their names are converted on the way in (``ernie.official_format``, ``ernie.hf_format``). A
``model.safetensors`` with our names (PaddleNLP's safe serialization) is read as it is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import CheckpointError, shorten
from .hf_format import HF_SAFETENSORS_NAME, HF_TORCH_NAME, hf_to_ours, is_hf_naming
from .official_format import (
    TASK_EMBEDDING_KEY,
    convert_official_state_dict,
    official_naming_style,
    read_official_params_dir,
)
from .weight_files import read_safetensors, read_safetensors_header, read_torch_bin

logger = logging.getLogger("ernie")

WEIGHTS_NAME = "model_state.pdparams"
OFFICIAL_DYGRAPH_WEIGHTS_NAME = "saved_weights.pdparams"
ENCODER_ROOTS = ("embeddings", "encoder", "pooler")
BASE_PREFIX = "ernie."
HF_STYLE = "HF transformers"

# PaddleNLP saves the tied MLM decoder twice more under these names.
_TIED_ALIASES = {
    "cls.predictions.decoder.weight": None,
    "cls.predictions.decoder.bias": "cls.predictions.decoder_bias",
}


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
            parts.append(f"new (initialised): {shorten(self.new_head_keys)}")
        if self.dropped_keys:
            parts.append(f"not used: {shorten(self.dropped_keys)}")
        if self.errors:
            parts.append(f"skipped: {shorten(self.errors)}")
        return "; ".join(parts)


def is_encoder_key(key: str) -> bool:
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
    for name in (HF_SAFETENSORS_NAME, HF_TORCH_NAME):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    for name in (WEIGHTS_NAME, HF_SAFETENSORS_NAME, HF_TORCH_NAME):
        if os.path.isfile(os.path.join(path, name + ".index.json")):
            raise CheckpointError(f"{path}: sharded checkpoints ({name}.index.json) are not supported")
    raise CheckpointError(
        f"{path}: no {WEIGHTS_NAME}, {OFFICIAL_DYGRAPH_WEIGHTS_NAME}, official params/ directory, "
        f"{HF_SAFETENSORS_NAME} or {HF_TORCH_NAME}"
    )


def is_hf_checkpoint(path: str) -> bool:
    """Whether the weights ``from_pretrained(path)`` reads are HF transformers': ``pytorch_model.bin``, or
    ``model.safetensors`` with transformers' names (PaddleNLP also writes model.safetensors, in our names)."""
    try:
        weights = resolve_weights_file(path)
    except CheckpointError:
        return False
    if weights.endswith(HF_TORCH_NAME):
        return True
    return weights.endswith(".safetensors") and is_hf_naming(read_safetensors_header(weights))


def read_raw_weights(path: str) -> tuple[dict[str, np.ndarray], str]:
    """The tensors of a checkpoint as numpy arrays under the names they were saved with: ``(state, file)``."""
    import paddle

    weights = resolve_weights_file(path)
    if os.path.isdir(weights):
        raw = read_official_params_dir(weights)
    elif weights.endswith(".safetensors"):
        raw = read_safetensors(weights)
    elif weights.endswith(HF_TORCH_NAME):
        raw = read_torch_bin(weights)
    else:
        try:
            raw = paddle.load(weights, return_numpy=True)
        except Exception as exc:  # paddle raises many types for a truncated or foreign file
            raise CheckpointError(
                f"{weights}: cannot read the weights ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{weights}: expected a dict of tensors, got {type(raw).__name__}")
    return {k: np.asarray(v) for k, v in raw.items() if not isinstance(v, (dict, str, int, float))}, weights


def to_our_names(raw: dict[str, np.ndarray], weights: str) -> tuple[dict, Optional[str], list[str]]:
    """``raw`` in our (PaddleNLP) names: ``(state, converted_from, skipped)``; ``converted_from`` is None
    when the names already are ours."""
    style = official_naming_style(raw)
    convert = convert_official_state_dict
    if style is None and is_hf_naming(raw):
        style, convert = HF_STYLE, hf_to_ours
    if style is None:
        return raw, None, []
    try:
        converted, skipped = convert(raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{weights}: {exc}") from None
    return converted, style, skipped


def read_state_dict(path: str) -> tuple[dict[str, np.ndarray], str, Optional[str]]:
    """Read weights as numpy arrays, in our (PaddleNLP) names: ``(state, file, converted_from)``."""
    raw, weights = read_raw_weights(path)
    state, style, _skipped = to_our_names(raw, weights)
    return state, weights, style


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
        state = {(BASE_PREFIX + k if is_encoder_key(k) else k): v for k, v in state.items()}
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
        return is_encoder_key(key)

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
    state, source, converted_from = read_state_dict(path)
    return load_state_into(model, state, source, converted_from, strict=strict, verbose=verbose)


def load_state_into(
    model,
    state: dict[str, np.ndarray],
    source: str,
    converted_from: Optional[str] = None,
    strict: bool = True,
    verbose: bool = True,
) -> LoadReport:
    """Load ``state`` (our names, read from ``source``) into ``model`` by the rules of ``load_weights_into``."""
    import paddle

    state = dict(state)
    # As tools/convert_checkpoint.py does: the released configs have no use_task_id, so the official
    # fine-tuning ran without the task embedding that the released weights carry (transformers, too,
    # builds no task embedding unless use_task_id).
    task_keys = [k for k in (TASK_EMBEDDING_KEY, BASE_PREFIX + TASK_EMBEDDING_KEY) if k in state]
    task_embedding_dropped = bool(converted_from) and not model.config.use_task_id and bool(task_keys)
    if task_embedding_dropped:
        for key in task_keys:
            state.pop(key)
    usable, report = adapt_state_dict(model, state, source=source)
    if task_embedding_dropped:
        report.dropped_keys.append("task_embedding (use_task_id is off in the config)")
    report.converted_from = converted_from
    if strict and report.errors:
        raise CheckpointError(
            f"{source}: checkpoint does not match the model ({len(report.errors)} problems): {shorten(report.errors)}"
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
