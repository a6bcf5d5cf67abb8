"""ErnieConfig: the model hyper-parameters, read from any ERNIE config file and written in full.

Three on-disk forms are read:

* official ``ernie_config.json`` (PaddlePaddle/ERNIE releases): ``sent_type_vocab_size`` instead of
  ``type_vocab_size``, no ``intermediate_size`` (the FFN is 4 x hidden), no ``use_task_id`` (the task
  embedding is off), LayerNorm epsilon 1e-5 (fluid's default);
* PaddleNLP ``config.json``: PaddleNLP key names; keys equal to PaddleNLP's defaults may be missing,
  so missing keys take PaddleNLP 2.8's defaults;
* PaddleNLP legacy ``model_config.json``: ``{"init_args": [{...}], "init_class": "ErnieModel"}``.

We always write every key, so a file we write means the same thing to every PaddleNLP version.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import ConfigError

CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "model_config.json"
OFFICIAL_CONFIG_NAME = "ernie_config.json"

ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_approximate", "tanh", "silu")


@dataclass
class ErnieConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    # Sentence (segment) types; the ERNIE 2.0 releases use 4 (segments A, B, C, ...).
    type_vocab_size: int = 16
    # Task embedding (ERNIE 2.0): one row per pre-training task, off unless use_task_id.
    task_type_vocab_size: int = 3
    use_task_id: bool = False
    task_id: int = 0
    initializer_range: float = 0.02
    pad_token_id: int = 0
    pool_act: str = "tanh"
    layer_norm_eps: float = 1e-12
    # Heads. The masked-LM output matrix is the word embeddings (BERT's and the official default,
    # weight_sharing) unless false: then it is a matrix of its own, and the softmax's push on every
    # row no longer moves the input embeddings of tokens a small corpus never shows (bench/README).
    tie_word_embeddings: bool = True
    num_labels: int = 2
    classifier_dropout: Optional[float] = None
    id2label: Optional[dict] = None
    # Free-form extra keys (architectures, label lists of a fine-tuned model, ...) kept on round trips.
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str = "config") -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"{source}: key '{key}' {why}")

        for key in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "num_labels",
        ):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise bad(key, f"must be a positive integer, got {value!r}")
        for key in ("type_vocab_size", "task_type_vocab_size"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(key, f"must be a non-negative integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise bad(
                "num_attention_heads",
                f"({self.num_attention_heads}) must divide hidden_size ({self.hidden_size})",
            )
        if self.hidden_act not in ACTIVATIONS:
            raise bad("hidden_act", f"must be one of {', '.join(ACTIVATIONS)}, got {self.hidden_act!r}")
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise bad(key, f"must be in [0, 1), got {value!r}")
        if self.classifier_dropout is not None and not 0.0 <= self.classifier_dropout < 1.0:
            raise bad("classifier_dropout", f"must be in [0, 1), got {self.classifier_dropout!r}")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise bad(
                "pad_token_id",
                f"({self.pad_token_id!r}) must be inside the vocabulary [0, {self.vocab_size})",
            )
        if self.use_task_id:
            if self.task_type_vocab_size <= 0:
                raise bad("task_type_vocab_size", "must be positive when use_task_id is true")
            if not 0 <= self.task_id < self.task_type_vocab_size:
                raise bad(
                    "task_id",
                    f"({self.task_id}) must be below task_type_vocab_size ({self.task_type_vocab_size})",
                )
        if not isinstance(self.layer_norm_eps, (int, float)) or self.layer_norm_eps <= 0:
            raise bad("layer_norm_eps", f"must be positive, got {self.layer_norm_eps!r}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise bad("tie_word_embeddings", f"must be true or false, got {self.tie_word_embeddings!r}")
        if self.pool_act != "tanh":
            raise bad("pool_act", f"only 'tanh' is supported, got {self.pool_act!r}")

    # ------------------------------------------------------------------ dict / JSON
    @classmethod
    def override_keys(cls) -> frozenset[str]:
        """Keys a ``model.<key>`` override of a training config may set (a typo must not pass silently)."""
        return frozenset(f.name for f in dataclasses.fields(cls)) - {"extra"}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        out = {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "extra"
        }
        out.update(copy.deepcopy(self.extra))
        out["model_type"] = "ernie"
        # PaddleNLP spells the classifier dropout 'classifier_dropout' and reads num_labels from here too.
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    def save(self, path: str) -> None:
        """Write the config to ``path`` (a file or a directory, then ``config.json``), atomically."""
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())
        os.replace(tmp, path)

    def replace(self, **overrides: Any) -> ErnieConfig:
        """A copy with some keys changed (PaddleNLP or official names accepted), validated."""
        data = self.to_dict()
        data.update(overrides)
        return ErnieConfig.from_dict(data, source="overrides")

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], source: str = "config", official: Optional[bool] = None
    ) -> ErnieConfig:
        """Build a config from any of the three dict forms; ``official`` forces the official defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        if "init_args" in data:  # PaddleNLP legacy model_config.json
            init_args = data.pop("init_args")
            init_class = data.pop("init_class", None)
            merged: dict[str, Any] = {}
            for item in init_args if isinstance(init_args, list) else [init_args]:
                if isinstance(item, dict):
                    # Head models nest the encoder's config: {"init_args": [{"init_args": [...]}], ...}.
                    if "init_args" in item:
                        item = cls.from_dict(item, source=source).to_dict()
                    merged.update({k: v for k, v in item.items() if k != "init_class"})
            merged.update({k: v for k, v in data.items() if k not in merged})
            if init_class:
                merged.setdefault("architectures", [init_class])
            data = merged
        if official is None:
            official = _looks_official(data)

        kwargs: dict[str, Any] = {}
        if official:
            # The official code reads sent_type_vocab_size if truthy, else type_vocab_size.
            kwargs["type_vocab_size"] = data.pop("sent_type_vocab_size", None) or data.pop(
                "type_vocab_size", 2
            )
            data.pop("type_vocab_size", None)
            hidden = data.get("hidden_size", cls.hidden_size)
            kwargs["intermediate_size"] = data.pop("intermediate_size", None) or 4 * hidden
            kwargs["use_task_id"] = bool(data.pop("use_task_id", False))
            kwargs["layer_norm_eps"] = data.pop("layer_norm_eps", 1e-5)
            kwargs["task_type_vocab_size"] = data.pop(
                "task_type_vocab_size", 0 if not kwargs["use_task_id"] else 3
            )
            if "emb_size" in data and data["emb_size"] != hidden:
                raise ConfigError(
                    f"{source}: key 'emb_size' differs from hidden_size; factorised embeddings are not supported"
                )
            data.pop("emb_size", None)
        else:
            data.pop("sent_type_vocab_size", None)

        # PaddleNLP aliases: num_classes and dropout (the classifier's).
        if "num_classes" in data:
            data.setdefault("num_labels", data.pop("num_classes"))
        if "dropout" in data:
            data.setdefault("classifier_dropout", data.pop("dropout"))
        if "label2id" in data and "id2label" not in data and isinstance(data["label2id"], dict):
            data["id2label"] = {str(v): k for k, v in data["label2id"].items()}
        data.pop("label2id", None)
        if isinstance(data.get("id2label"), dict):
            data["id2label"] = {str(k): v for k, v in data["id2label"].items()}
            data.setdefault("num_labels", len(data["id2label"]))
        data.pop("model_type", None)

        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = data.pop("extra", {}) or {}
        for key, value in data.items():
            if key in names:
                kwargs.setdefault(key, value)
            else:
                extra[key] = value
        for key in ("use_task_id",):
            if key in kwargs:
                kwargs[key] = bool(kwargs[key])
        try:
            config = cls.__new__(cls)
            for f in dataclasses.fields(cls):
                if f.name == "extra":
                    continue
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                setattr(config, f.name, kwargs.get(f.name, default))
            config.extra = extra
            for key in (
                "hidden_dropout_prob",
                "attention_probs_dropout_prob",
                "initializer_range",
                "layer_norm_eps",
            ):
                if isinstance(getattr(config, key), int) and not isinstance(getattr(config, key), bool):
                    setattr(config, key, float(getattr(config, key)))
            config.validate(source)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        return config

    @classmethod
    def from_json_file(cls, path: str) -> ErnieConfig:
        data = _read_json(path)
        official = True if os.path.basename(path) == OFFICIAL_CONFIG_NAME else None
        return cls.from_dict(data, source=path, official=official)

    @classmethod
    def from_pretrained(cls, path: str, **overrides: Any) -> ErnieConfig:
        """Read ``config.json``, ``model_config.json`` or ``ernie_config.json`` from a directory (or a file).

        The ``config.json`` of an HF transformers folder (told by its weights, ``is_hf_checkpoint``) is
        read with transformers' defaults and key meanings (``ernie.hf_format``)."""
        from .checkpoint import is_hf_checkpoint
        from .hf_format import config_from_hf

        if os.path.isfile(os.path.join(path, CONFIG_NAME)) and is_hf_checkpoint(path):
            path = os.path.join(path, CONFIG_NAME)
            config = cls.from_dict(config_from_hf(_read_json(path), path), source=path, official=False)
            return config.replace(**overrides) if overrides else config
        if os.path.isdir(path):
            for name in (CONFIG_NAME, LEGACY_CONFIG_NAME, OFFICIAL_CONFIG_NAME):
                candidate = os.path.join(path, name)
                if os.path.isfile(candidate):
                    path = candidate
                    break
            else:
                raise ConfigError(
                    f"{path}: no {CONFIG_NAME}, {LEGACY_CONFIG_NAME} or {OFFICIAL_CONFIG_NAME} in this directory"
                )
        config = cls.from_json_file(path)
        return config.replace(**overrides) if overrides else config

    save_pretrained = save


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


def _looks_official(data: dict[str, Any]) -> bool:
    """The official release files carry neither PaddleNLP's markers nor an FFN size."""
    if "sent_type_vocab_size" in data:
        return True
    paddlenlp_markers = ("model_type", "architectures", "intermediate_size", "layer_norm_eps", "pad_token_id")
    return not any(key in data for key in paddlenlp_markers)
