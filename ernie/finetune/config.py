"""Fine-tuning configs: the keys every recipe YAML may set, and how per-model-size recipes fill them.

A recipe YAML names its ``task`` and sets what the benchmark needs; values the official recipe
varies by model size (learning rate, batch size, epochs) are left ``null`` at the top level and
given under ``recipes: {base: {...}, large: {...}}`` as dotted keys. A ``null`` key takes the
recipe's value; a value set in the YAML or with ``--set`` always wins. ``recipe: auto`` picks
``large`` for a model with hidden size >= 1024, ``base`` otherwise.

The batch: ``trainer.batch_size`` is the global batch of one optimizer step (the official
per-GPU batch times the GPUs it was run on). ``micro_batch_size`` (per process and forward pass)
and ``accumulate_steps`` follow from it and the number of processes unless set; any two of the
three fix the third.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable, Optional

from ..cli import load_config, parse_override, set_path
from ..config import ConfigError, ErnieConfig

DEFAULTS: dict[str, Any] = {
    "task": None,
    "output_dir": None,
    "model_dir": None,
    "data_dir": None,
    "seed": 1,
    "strict": False,
    "recipe": "auto",  # base | large | auto
    "recipes": {},  # size -> {dotted.key: value}
    "data": {
        # File names relative to data_dir; a mapping names several splits (MNLI matched/mismatched),
        # a list gives alternatives (the first that exists is read). null: no such split.
        "train": None,
        "dev": None,
        "test": None,
        "label_map": "label_map.json",  # read if it exists in data_dir (ERNIE task data); null: the task's labels
        "columns": None,  # column roles of headerless TSV files, e.g. [text_a, text_b, label]
        "max_seq_len": 128,
        # Reading comprehension.
        "doc_stride": 128,
        "max_query_len": 64,
        "max_answer_len": 100,
        "n_best": 20,
    },
    "trainer": {
        "epochs": None,
        "max_steps": -1,  # > 0: train exactly this many optimizer steps (the schedule spans them)
        "batch_size": None,
        "micro_batch_size": None,
        "accumulate_steps": None,
        "eval_batch_size": 64,
        "logging_steps": 10,
        "save_steps": 0,  # evaluate and keep the best every N steps; <= 0: at the end of every epoch
        "save_checkpoints": False,  # also keep checkpoints/step_N (+ latest) at every evaluation
        "metric": None,  # the dev metric that picks the best checkpoint; null: the task's
    },
    "optimizer": {
        "learning_rate": None,
        "warmup": 0.0,  # < 1: proportion of the steps; >= 1: steps
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
    },
    "model": {},  # overrides of the model config (hidden_dropout_prob, classifier_dropout, ...)
}

MODEL_KEYS = ErnieConfig.override_keys() - {"num_labels", "id2label"}  # the task sets those


FREE_SECTIONS = ("model", "recipes")
# YAML 1.1 reads 1e-4 (no dot) as a string; in the numeric sections such a string is the number meant.
_EXPONENT_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _numbers(section: dict) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _numbers(value)
        elif isinstance(value, str) and _EXPONENT_FLOAT.match(value.strip()):
            section[key] = float(value)


def load_finetune_config(path: Optional[str], overrides: Iterable[str] = ()) -> dict[str, Any]:
    overrides = list(overrides)
    # --set into a free section is applied here: ernie.cli.merge_config replaces a free section
    # wholesale, so a second --set model.x=... would drop the first.
    free = [o for o in overrides if o.split("=", 1)[0].strip().split(".")[0] in FREE_SECTIONS]
    config = load_config(path, DEFAULTS, [o for o in overrides if o not in free], free_sections=FREE_SECTIONS)
    for text in free:
        keys, value = parse_override(text)
        if len(keys) < 2:
            raise ConfigError(
                f"--set {text}: '{keys[0]}' is a section; set one of its keys ({keys[0]}.<key>=value)"
            )
        set_path(config, keys, value)
    for section in ("optimizer", "trainer", "model", "recipes"):
        _numbers(config[section])
    for key in config["model"]:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{path or 'config'}: unknown key 'model.{key}' (not a model config key)")
    if config["task"] is None:
        raise ConfigError(f"{path or 'config'}: key 'task' is not set")
    return config


def _get(config: dict, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


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
    for dotted, value in entries.items():
        try:
            current = _get(DEFAULTS, dotted)
        except (KeyError, TypeError):
            raise ConfigError(f"{source}: unknown key 'recipes.{size}.{dotted}'") from None
        if isinstance(current, dict):
            raise ConfigError(f"{source}: key 'recipes.{size}.{dotted}' names a section, not a value")
        if _get(config, dotted) is None:
            _set(config, dotted, value)
    return config, size


def resolve_batch(trainer: dict, world_size: int) -> tuple[int, int, int]:
    """``(global batch, micro batch per process, accumulation steps)`` with micro x accum x world = global."""
    batch, micro, accum = trainer["batch_size"], trainer["micro_batch_size"], trainer["accumulate_steps"]
    for key, value in (("batch_size", batch), ("micro_batch_size", micro), ("accumulate_steps", accum)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"key 'trainer.{key}' must be a positive integer, got {value!r}")
    if micro is not None and accum is not None:
        derived = micro * accum * world_size
        if batch is not None and batch != derived:
            raise ConfigError(
                f"key 'trainer.batch_size' ({batch}) != micro_batch_size {micro} x accumulate_steps {accum} "
                f"x {world_size} processes ({derived}); leave one of them null"
            )
        return derived, micro, accum
    if batch is None:
        raise ConfigError("key 'trainer.batch_size' is not set (and no recipe gives it)")
    if micro is None and accum is None:
        accum = 1
    if micro is None:
        micro, rest = divmod(batch, accum * world_size)
        if rest or micro == 0:
            raise ConfigError(
                f"key 'trainer.batch_size' ({batch}) is not a multiple of accumulate_steps {accum} x {world_size} processes"
            )
    else:
        accum, rest = divmod(batch, micro * world_size)
        if rest or accum == 0:
            raise ConfigError(
                f"key 'trainer.batch_size' ({batch}) is not a multiple of micro_batch_size {micro} x {world_size} processes"
            )
    return batch, micro, accum


__all__ = ["DEFAULTS", "apply_recipe", "load_finetune_config", "resolve_batch"]
