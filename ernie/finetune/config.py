"""Fine-tuning configs: every key a recipe YAML may set, and how per-model-size recipes fill them.

A recipe YAML names its ``benchmark`` and sets what the benchmark needs; values the official recipe
varies by model size (learning rate, global batch, epochs) are left ``null`` at the top level and
given under ``recipes: {base: {...}, large: {...}}`` as dotted keys. A ``null`` key takes the
recipe's value; a value set in the YAML or with ``--set`` always wins. ``recipe: auto`` picks
``large`` for a model with hidden size >= 1024, ``base`` otherwise.

The batch keys are the engine's: ``trainer.global_batch_size`` is the global batch of one optimizer
step (the official per-GPU batch times the GPUs it was run on, so one CPU process and 8 GPUs train
the same thing); ``trainer.micro_batch_size`` (per process and forward pass) only changes how it is
computed.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable, Optional

from ..config import ErnieConfig
from ..engine.settings import RETIRED_KEYS, engine_keys
from ..errors import ConfigError
from ..yaml_config import Key, defaults_of, get_key, load_config

# Every key of a fine-tuning config, in one place (``tools/finetune.py --help`` prints them). The
# engine's keys mean the same as in pre-training; the defaults below are fine-tuning's.
FINETUNE_KEYS: tuple[Key, ...] = (
    Key(
        "benchmark",
        None,
        "the benchmark: sst2, mnli, ..., chnsenticorp, msra_ner, cmrc2018, ... (set by each recipe)",
    ),
    Key(
        "model_dir",
        None,
        "checkpoint to fine-tune: ours, PaddleNLP's or a converted official one (--model_dir)",
    ),
    Key("data_dir", None, "folder with the benchmark's files as distributed (--data_dir)"),
    Key("strict", False, "malformed rows are an error instead of being counted and skipped (--strict)"),
    Key(
        "recipe",
        "auto",
        "base | large | auto (large when hidden_size >= 1024): which entry of recipes fills null keys",
    ),
    Key(
        "recipes",
        {},
        "size -> {dotted.key: value}: the official per-size values (learning rate, batch, epochs)",
    ),
    *engine_keys(
        **{
            "trainer.eval_steps": None,
            "trainer.save_steps": None,
            "trainer.keep_checkpoints": 1,
            "trainer.eval_batch_size": 64,
            "optimizer.learning_rate": None,
        }
    ),
    Key(
        "trainer.epochs",
        None,
        "passes over the training set (the schedule spans them); trainer.max_steps > 0 wins",
    ),
    Key("trainer.metric", None, "the dev metric that picks best/; null: the benchmark's"),
    Key(
        "data.train",
        None,
        "training file (relative to data_dir); a list gives alternatives, the first that exists is read",
    ),
    Key(
        "data.dev",
        None,
        "dev file(s); a mapping names several splits (MNLI matched/mismatched); the first picks best/",
    ),
    Key("data.test", None, "test file(s), predicted into predictions/ and GLUE/CLUE submission files"),
    Key(
        "data.label_map",
        "label_map.json",
        "read from data_dir if it exists (ERNIE task data); null: the benchmark's labels",
    ),
    Key("data.columns", None, "column roles of a headerless TSV, e.g. [text_a, text_b, label]"),
    Key("data.max_seq_len", 128, "tokens per feature, [CLS]/[SEP] included"),
    Key("data.doc_stride", 128, "reading comprehension: tokens between the starts of a context's windows"),
    Key("data.max_query_len", 64, "reading comprehension: question tokens kept"),
    Key("data.max_answer_len", 100, "reading comprehension: longest answer span in tokens"),
    Key("data.n_best", 20, "reading comprehension: start/end candidates per window"),
    Key("model", {}, "model.<key> overrides a model-config key, e.g. model.hidden_dropout_prob=0"),
)
FREE_SECTIONS = ("model", "recipes")
FINETUNE_RETIRED_KEYS = {**RETIRED_KEYS, "task": "benchmark (the benchmark's name, e.g. benchmark: sst2)"}
MODEL_KEYS = ErnieConfig.override_keys() - {"num_labels", "id2label"}  # the benchmark sets those

# YAML 1.1 reads 1e-4 (no dot) as a string; in the numeric sections such a string is the number meant.
_EXPONENT_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def finetune_defaults() -> dict[str, Any]:
    """Every key a fine-tuning config may set, with its default (a fresh copy each call)."""
    return defaults_of(FINETUNE_KEYS)


def _numbers(section: dict) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _numbers(value)
        elif isinstance(value, str) and _EXPONENT_FLOAT.match(value.strip()):
            section[key] = float(value)


def load_finetune_config(path: Optional[str], overrides: Iterable[str] = ()) -> dict[str, Any]:
    source = path or "config"
    config = load_config(path, finetune_defaults(), overrides, FREE_SECTIONS, FINETUNE_RETIRED_KEYS)
    for section in ("optimizer", "trainer", "model", "recipes"):
        _numbers(config[section])
    for key in config["model"]:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{source}: unknown key 'model.{key}' (not a model config key)")
    if config["benchmark"] is None:
        raise ConfigError(f"{source}: key 'benchmark' is not set")
    return config


def _set(config: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = config
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def apply_recipe(
    config: dict, model_config: ErnieConfig, source: str = "config"
) -> tuple[dict, Optional[str]]:
    """Fill ``null`` keys from ``recipes[size]``; returns the new config and the size used."""
    config = copy.deepcopy(config)
    recipes = config.get("recipes") or {}
    size = config["recipe"]
    if size == "auto":
        size = "large" if model_config.hidden_size >= 1024 else "base"
    if not recipes:
        return config, None
    if size not in recipes:
        raise ConfigError(f"{source}: key 'recipe': no recipe {size!r} (have {', '.join(sorted(recipes))})")
    entries = recipes[size] or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: key 'recipes.{size}' must be a mapping of dotted keys")
    defaults = finetune_defaults()
    for dotted, value in entries.items():
        if dotted in FINETUNE_RETIRED_KEYS:
            raise ConfigError(
                f"{source}: key 'recipes.{size}.{dotted}' is retired; use {FINETUNE_RETIRED_KEYS[dotted]}"
            )
        try:
            current = get_key(defaults, dotted)
        except (KeyError, TypeError):
            raise ConfigError(f"{source}: unknown key 'recipes.{size}.{dotted}'") from None
        if isinstance(current, dict):
            raise ConfigError(f"{source}: key 'recipes.{size}.{dotted}' names a section, not a value")
        if get_key(config, dotted) is None:
            _set(config, dotted, value)
    return config, size


__all__ = ["FINETUNE_KEYS", "apply_recipe", "finetune_defaults", "load_finetune_config"]
