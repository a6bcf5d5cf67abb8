"""The official PaddlePaddle/ERNIE checkpoint formats: parameter names and the static tensor files.

Names come static (``word_embedding``, ``encoder_layer_0_multi_head_att_query_fc.w_0``, ...) or dygraph
(``word_emb.weight``, ``encoder_stack.block.0.attn.q.weight``, ...); ``convert_official_state_dict``
maps either to our (PaddleNLP) names. Static ``params/`` directories hold one file per parameter in
Paddle's dense-tensor format (``read_official_params_dir``). Linear weights are ``[in, out]`` in all of
them: no transposes.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Optional

import numpy as np

from .errors import CheckpointError, shorten

TASK_EMBEDDING_KEY = "embeddings.task_type_embeddings.weight"


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
        raise CheckpointError(f"unknown {style} parameter names: {shorten(sorted(unknown))}")
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
