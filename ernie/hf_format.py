"""The HF transformers ERNIE layout: parameter names, ``config.json`` and tokenizer files, both ways.

transformers' ERNIE is BERT-shaped: ``ernie.encoder.layer.{i}.attention.self.query.weight`` where we
(PaddleNLP) say ``ernie.encoder.layers.{i}.self_attn.q_proj.weight``, ``LayerNorm`` where we say
``layer_norm``/``norm1``/``norm2``, and torch Linear weights are ``[out, in]`` where Paddle's are
``[in, out]``: every Linear weight is transposed on the way. The ``ernie.`` prefix of head models is the
same in both. Head names: ``classifier`` (sequence and token classification), ``qa_outputs`` (question
answering, our ``classifier``), ``cls.predictions.*`` (masked LM, decoder tied to the word embeddings),
``cls.seq_relationship`` (next-sentence prediction, which we have no head for).

transformers' token-classification, QA and masked-LM models have no pooler: read, the pooler is zeros
(those heads never use it); written for token classification and QA, it is left out as transformers
does. Our pre-training model is written as ``ErnieForMaskedLM`` with its pooler kept (as BERT's released
checkpoints do), so that a sequence classifier built from it in transformers starts from the pre-trained
pooler; transformers says the pooler is unused when loading the masked-LM model itself.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Optional

import numpy as np

from .errors import CheckpointError, ConfigError, TokenizerError, shorten

HF_SAFETENSORS_NAME = "model.safetensors"
HF_TORCH_NAME = "pytorch_model.bin"
HF_TOKENIZER_JSON = "tokenizer.json"
BASE_PREFIX = "ernie."

# (our module, transformers' module, is a Linear whose weight is transposed); {i} is a layer index.
_MODULES = [
    ("embeddings.word_embeddings", "embeddings.word_embeddings", False),
    ("embeddings.position_embeddings", "embeddings.position_embeddings", False),
    ("embeddings.token_type_embeddings", "embeddings.token_type_embeddings", False),
    ("embeddings.task_type_embeddings", "embeddings.task_type_embeddings", False),
    ("embeddings.layer_norm", "embeddings.LayerNorm", False),
    ("encoder.layers.{i}.self_attn.q_proj", "encoder.layer.{i}.attention.self.query", True),
    ("encoder.layers.{i}.self_attn.k_proj", "encoder.layer.{i}.attention.self.key", True),
    ("encoder.layers.{i}.self_attn.v_proj", "encoder.layer.{i}.attention.self.value", True),
    ("encoder.layers.{i}.self_attn.out_proj", "encoder.layer.{i}.attention.output.dense", True),
    ("encoder.layers.{i}.norm1", "encoder.layer.{i}.attention.output.LayerNorm", False),
    ("encoder.layers.{i}.linear1", "encoder.layer.{i}.intermediate.dense", True),
    ("encoder.layers.{i}.linear2", "encoder.layer.{i}.output.dense", True),
    ("encoder.layers.{i}.norm2", "encoder.layer.{i}.output.LayerNorm", False),
    ("pooler.dense", "pooler.dense", True),
    ("classifier", "classifier", True),
    ("cls.predictions.transform", "cls.predictions.transform.dense", True),
    ("cls.predictions.layer_norm", "cls.predictions.transform.LayerNorm", False),
]

QA_ARCHITECTURE = "ErnieForQuestionAnswering"
POOLER_KEYS = ("pooler.dense.weight", "pooler.dense.bias")
MLM_BIAS = "cls.predictions.decoder_bias"
TIED_DECODER = "cls.predictions.decoder.weight"  # transformers' name, tied or not
UNTIED_DECODER = "cls.predictions.decoder_weight"  # ours, only when tie_word_embeddings is false
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"

# Our model class -> transformers' (and back); transformers' pre-training model adds an NSP head we lack.
ARCHITECTURES_TO_HF = {
    "ErnieModel": "ErnieModel",
    "ErnieForSequenceClassification": "ErnieForSequenceClassification",
    "ErnieForTokenClassification": "ErnieForTokenClassification",
    "ErnieForQuestionAnswering": "ErnieForQuestionAnswering",
    "ErnieForPretraining": "ErnieForMaskedLM",
}
ARCHITECTURES_FROM_HF = {
    **{hf: ours for ours, hf in ARCHITECTURES_TO_HF.items()},
    "ErnieForPreTraining": "ErnieForPretraining",
}
# transformers models without a pooler (add_pooling_layer=False) whose pooler we leave out; its masked-LM
# model has none either, but we keep ours there (see the module docstring).
_NO_POOLER = ("ErnieForTokenClassification", "ErnieForQuestionAnswering")


def _compile(template: str) -> re.Pattern:
    return re.compile(re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)"))


_TO_OURS = [(_compile(hf), ours, linear) for ours, hf, linear in _MODULES]
_TO_HF = [(_compile(ours), hf, linear) for ours, hf, linear in _MODULES]
_HF_LAYER = re.compile(r"(?:^|\.)encoder\.layer\.\d+\.")


def is_hf_naming(keys) -> bool:
    """Whether state-dict keys are transformers' (``encoder.layer.N.``; ours say ``encoder.layers.N.``)."""
    return any(_HF_LAYER.search(key) for key in keys)


def _rename(key: str, table: list) -> Optional[tuple[str, bool]]:
    """``key`` in the other naming and whether its value is transposed; None if no module matches."""
    prefix = BASE_PREFIX if key.startswith(BASE_PREFIX) else ""
    module, _, param = key[len(prefix) :].rpartition(".")
    for pattern, template, linear in table:
        match = pattern.fullmatch(module)
        if match:
            target = template.format(**match.groupdict())
            return f"{prefix}{target}.{param}", linear and param == "weight"
    return None


# ---------------------------------------------------------------------------------------------- weights
def hf_to_ours(state: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """transformers' ERNIE state dict in our names and layout: ``(converted, notes)``.

    Unknown keys raise ``CheckpointError`` (a silent partial conversion leaves layers at random).
    """
    converted: dict[str, np.ndarray] = {}
    notes: list[str] = []
    unknown: list[str] = []
    tied = None
    for key, value in state.items():
        # Old torch checkpoints name LayerNorm parameters gamma/beta (transformers renames them too).
        key = re.sub(r"(LayerNorm)\.gamma$", r"\1.weight", re.sub(r"(LayerNorm)\.beta$", r"\1.bias", key))
        bare = key[len(BASE_PREFIX) :] if key.startswith(BASE_PREFIX) else key
        if bare in ("embeddings.position_ids", "embeddings.token_type_ids"):
            continue  # buffers that older transformers saved
        if key.startswith("cls.seq_relationship."):
            notes.append(f"{key} (next-sentence head: no place in our models)")
            continue
        if key == TIED_DECODER:
            tied = value
            continue
        if key in ("cls.predictions.bias", "cls.predictions.decoder.bias"):
            converted[MLM_BIAS] = value
            continue
        if key.startswith("qa_outputs."):
            key = "classifier." + key[len("qa_outputs.") :]
            converted[key] = value.T if key.endswith(".weight") else value
            continue
        renamed = _rename(key, _TO_OURS)
        if renamed is None:
            unknown.append(key)
            continue
        new_key, transpose = renamed
        if new_key in converted:
            raise CheckpointError(f"two transformers keys map to {new_key} (one of them: {key})")
        converted[new_key] = value.T if transpose else value
    if unknown:
        raise CheckpointError(f"unknown transformers ERNIE parameter names: {shorten(sorted(unknown))}")
    if tied is not None:
        words = next((v for k, v in converted.items() if k.endswith(WORD_EMBEDDINGS)), None)
        if words is None or not np.array_equal(tied, words):  # tie_word_embeddings false: its own matrix
            converted[UNTIED_DECODER] = tied
    prefix = BASE_PREFIX if any(k.startswith(BASE_PREFIX) for k in converted) else ""
    hidden = next((v.shape[1] for k, v in converted.items() if k.endswith(WORD_EMBEDDINGS)), None)
    if hidden is not None and prefix + POOLER_KEYS[0] not in converted:
        converted[prefix + POOLER_KEYS[0]] = np.zeros((hidden, hidden), np.float32)
        converted[prefix + POOLER_KEYS[1]] = np.zeros((hidden,), np.float32)
        notes.append("pooler (not in transformers' token/QA/masked-LM models): zeros")
    return converted, notes


def ours_to_hf(state: dict[str, np.ndarray], architecture: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Our state dict (keys as our ``architecture`` holds them) in transformers' names and layout."""
    converted: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for key, value in state.items():
        bare = key[len(BASE_PREFIX) :] if key.startswith(BASE_PREFIX) else key
        if bare in POOLER_KEYS and architecture in _NO_POOLER:
            notes.append(f"{key} (transformers' {architecture} has no pooler)")
            continue
        if key == MLM_BIAS:
            converted["cls.predictions.bias"] = value
            continue
        if key == UNTIED_DECODER:
            converted[TIED_DECODER] = value
            continue
        if architecture == QA_ARCHITECTURE and key.startswith("classifier."):
            converted["qa_outputs." + key[len("classifier.") :]] = (
                value.T if key.endswith(".weight") else value
            )
            continue
        renamed = _rename(key, _TO_HF)
        if renamed is None:
            raise CheckpointError(f"{key}: no transformers ERNIE name for this parameter")
        new_key, transpose = renamed
        converted[new_key] = value.T if transpose else value
    words = next((k for k in converted if k.endswith(WORD_EMBEDDINGS)), None)
    token_types = words and words.replace(WORD_EMBEDDINGS, "embeddings.token_type_embeddings.weight")
    if words and token_types not in converted:  # type_vocab_size 0: one zero row adds nothing
        converted[token_types] = np.zeros((1, converted[words].shape[1]), converted[words].dtype)
    return converted, notes


# ---------------------------------------------------------------------------------------------- config
# transformers' ErnieConfig defaults: what a key missing from (or null in) its config.json means.
HF_DEFAULTS: dict[str, Any] = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "task_type_vocab_size": 3,
    "use_task_id": False,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "classifier_dropout": None,
    "tie_word_embeddings": True,
}


def _placeholder_labels(id2label: dict) -> bool:
    """transformers writes ``LABEL_0 .. LABEL_n-1`` when a model has no label names."""
    return all(str(name) == f"LABEL_{index}" for index, name in id2label.items())


def config_from_hf(data: dict, source: str) -> dict[str, Any]:
    """A transformers ERNIE ``config.json`` as a dict of our config keys (for ``ErnieConfig.from_dict``).

    Only the keys that define the model are kept; transformers' runtime settings (``use_cache``,
    ``dtype``, ``transformers_version``, ...) are dropped.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("model_type", "ernie") != "ernie":
        raise ConfigError(f"{source}: key 'model_type' is {data['model_type']!r}, not 'ernie'")
    if data.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError(
            f"{source}: key 'position_embedding_type' is {data['position_embedding_type']!r}; "
            "only absolute position embeddings are supported"
        )
    for key in ("is_decoder", "add_cross_attention"):
        if data.get(key):
            raise ConfigError(f"{source}: key '{key}' is true; decoder ERNIE models are not supported")
    out = {key: default if data.get(key) is None else data[key] for key, default in HF_DEFAULTS.items()}
    out["task_id"] = data.get("task_id", 0)  # ours, written by to-HF conversion; transformers ignores it
    id2label = data.get("id2label")
    if isinstance(id2label, dict) and id2label:
        out["num_labels"] = len(id2label)
        if not _placeholder_labels(id2label):
            out["id2label"] = {str(k): v for k, v in id2label.items()}
    elif data.get("num_labels"):
        out["num_labels"] = data["num_labels"]
    architectures = [
        ARCHITECTURES_FROM_HF[a] for a in data.get("architectures") or [] if a in ARCHITECTURES_FROM_HF
    ]
    if architectures:
        out["architectures"] = architectures
    return out


def config_to_hf(config: dict, architecture: str) -> dict[str, Any]:
    """Our config (``ErnieConfig.to_dict()``) as a transformers ERNIE ``config.json`` for ``architecture``."""
    out = {key: config[key] for key in HF_DEFAULTS}
    # transformers always builds a sentence embedding; a model without one is written with one zero row.
    out["type_vocab_size"] = max(1, config["type_vocab_size"])
    out["task_id"] = config["task_id"]
    if out["hidden_act"] == "gelu_approximate":  # our alias; transformers knows the tanh gelu as gelu_new
        out["hidden_act"] = "gelu_new"
    id2label = config.get("id2label")
    if id2label:
        out["id2label"] = {str(k): v for k, v in id2label.items()}
        out["label2id"] = {v: int(k) for k, v in id2label.items()}
    else:
        out["num_labels"] = config["num_labels"]
    out.update(
        architectures=[ARCHITECTURES_TO_HF[architecture]],
        model_type="ernie",
        position_embedding_type="absolute",
    )
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------- tokenizer
def _read_json(path: str, error=TokenizerError) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


def vocab_from_tokenizer_json(path: str) -> list[str]:
    """The WordPiece vocabulary of a ``tokenizers`` ``tokenizer.json``, as ``vocab.txt`` lines by id."""
    data = _read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if (
        not isinstance(model, dict)
        or model.get("type") != "WordPiece"
        or not isinstance(model.get("vocab"), dict)
    ):
        raise TokenizerError(f"{path}: not a WordPiece tokenizer (an ERNIE/BERT tokenizer.json has one)")
    by_id = {int(index): token for token, index in model["vocab"].items()}
    for added in data.get("added_tokens") or []:
        by_id.setdefault(int(added["id"]), added["content"])
    if sorted(by_id) != list(range(len(by_id))):
        raise TokenizerError(f"{path}: the vocabulary ids are not 0..{len(by_id) - 1}")
    return [by_id[i] for i in range(len(by_id))]


def tokenizer_settings_from_hf(folder: str) -> dict[str, Any]:
    """``ErnieTokenizer`` keyword arguments from a transformers folder's tokenizer files."""
    settings: dict[str, Any] = {}
    config_file = os.path.join(folder, "tokenizer_config.json")
    stored = _read_json(config_file) if os.path.isfile(config_file) else {}
    for key in ("do_lower_case", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        value = stored.get(key)
        if isinstance(value, dict):  # AddedToken form
            value = value.get("content")
        if value is not None:
            settings[key] = value
    tokenizer_json = os.path.join(folder, HF_TOKENIZER_JSON)
    if "do_lower_case" not in settings and os.path.isfile(tokenizer_json):
        normalizer = _read_json(tokenizer_json).get("normalizer") or {}
        if "lowercase" in normalizer:
            settings["do_lower_case"] = bool(normalizer["lowercase"])
    # transformers stores ~1e30 for "no limit": callers cap it at the model's positions.
    if isinstance(stored.get("model_max_length"), int):
        settings["model_max_length"] = stored["model_max_length"]
    return settings


def tokenizer_config_to_hf(do_lower_case: bool, special_tokens: dict, model_max_length: int) -> dict:
    """A ``tokenizer_config.json`` that transformers' ``AutoTokenizer`` reads as a BERT WordPiece tokenizer."""
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": do_lower_case,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": model_max_length,
        **special_tokens,
    }
