"""The pre-training config: defaults, validation, and the stages it describes.

Every check here is cheap (no model, no shards), so a bad config stops with a one-line
``ConfigError`` naming the key before anything heavy starts. The format is documented in
``tasks/README.md``; in short::

    tasks:                                  # every task the run may train, with its options
      knowledge_masking: {task_id: 0, levels: {word: 0.4, phrase: 0.3, entity: 0.3}}
      capitalization: {task_id: 1}
    stages:                                 # in order; a stage gives each of its tasks a number of steps
      - name: stage1
        tasks: {knowledge_masking: 20000}
      - name: stage2
        tasks:
          knowledge_masking: {steps: 10000, levels: {word: 0.2, phrase: 0.4, entity: 0.4}}
          capitalization: 30000
"""

from __future__ import annotations

import copy
import os
from typing import Any, Iterable, Optional

from ernie.cli import load_yaml, merge_config, parse_override, set_path
from ernie.config import ConfigError, ErnieConfig

from .base import task_class
from .controller import Stage

STAGE_KEYS = ("name", "tasks")


def pretrain_defaults() -> dict[str, Any]:
    """Every key a pre-training config may set, with its default (a fresh copy each call)."""
    return copy.deepcopy(
        {
            "output_dir": "output/pretrain",
            "seed": 1,
            "model_config": None,  # model JSON, or a directory holding one (its config only)
            "init_from": None,  # checkpoint directory whose weights the run starts from
            "vocab": None,  # vocabulary file; default: the init_from / model_config directory's vocab.txt
            "model": {},  # model.<key> overrides a model-config key
            "data": {
                "dir": None,  # shard directory (python -m data_tools build ... --output DIR)
                "max_seq_len": 128,
                "heldout": 0.05,  # held-out share (< 1) or count (>= 1) of documents / pairs per task
                "eval_samples": 256,  # held-out samples per task at each evaluation
                # How to build data.dir when it is missing (the demos): python -m data_tools build
                "build": {"lang": None, "input": [], "ir": None, "workers": 1},
            },
            "optimizer": {
                "learning_rate": 1e-4,
                "weight_decay": 0.01,
                "warmup": 0.1,  # < 1: share of the run's steps; >= 1: steps
                "max_grad_norm": 1.0,
                "beta1": 0.9,
                "beta2": 0.999,
                "epsilon": 1e-8,
            },
            "trainer": {
                "max_steps": -1,  # stop after this many optimizer steps even if the stages hold more
                "save_steps": 1000,
                "micro_batch_size": 8,  # per rank
                "accumulate_steps": 1,
                "logging_steps": 10,
                "eval_steps": 500,  # 0: evaluate only at the end
                "eval_batch_size": 32,
                # If set, must equal micro_batch_size x accumulate_steps x ranks; accumulate_steps
                # may then be left at 1 and is derived (the global batch stays fixed across cluster sizes).
                "global_batch_size": None,
                "keep_checkpoints": 3,  # the last K checkpoints are kept (0: all)
                "amp": None,  # float16 | bfloat16 (GPU); ignored with a warning on CPU
                "amp_level": "O1",  # O1: autocast white-listed ops; O2: fp16/bf16 weights with fp32 master copies
                "recompute": False,  # recompute each layer's activations in the backward pass (memory for compute)
                "visualdl": True,  # scalars under output_dir/visualdl when VisualDL is installed
            },
            "tasks": {},
            "stages": [],
        }
    )


FREE_SECTIONS = ("model", "tasks")


def load_pretrain_config(
    path: Optional[str], overrides: Iterable[str] = (), defaults: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """YAML + ``--set`` overrides over the defaults, validated (structure, tasks, stages).

    ``model`` and ``tasks`` are free sections (their keys are checked by ErnieConfig and by the
    tasks). A ``--set model.x=1`` or ``--set tasks.t.x=1`` changes that one key and keeps the rest of
    the section (``ernie.cli.merge_config`` would replace a free section wholesale).
    """
    source = path or "config"
    raw = load_yaml(path) if path else {}
    free = {key: raw.pop(key) for key in FREE_SECTIONS if key in raw}
    config = merge_config(defaults or pretrain_defaults(), raw, source, FREE_SECTIONS)
    for key, value in free.items():
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {type(value).__name__}")
        config[key] = copy.deepcopy(value) if value else {}
    for text in overrides:
        keys, value = parse_override(text)
        if keys[0] in FREE_SECTIONS:
            set_path(config, keys, value)
        else:
            partial: dict[str, Any] = {}
            set_path(partial, keys, value)
            config = merge_config(config, partial, f"--set {text}", FREE_SECTIONS)
    # "{output_dir}" in data.dir keeps a demo's shards with its run, wherever --set output_dir puts it.
    if isinstance(config["data"].get("dir"), str) and isinstance(config.get("output_dir"), str):
        config["data"]["dir"] = config["data"]["dir"].replace("{output_dir}", config["output_dir"])
    validate_pretrain_config(config, source)
    return config


# ---------------------------------------------------------------------------------------------- checks
def _bad(source: str, key: str, why: str) -> ConfigError:
    return ConfigError(f"{source}: key '{key}' {why}")


def _int(config: dict, section: str, key: str, source: str, minimum: int) -> int:
    value = config[section][key] if section else config[key]
    name = f"{section}.{key}" if section else key
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(source, name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _number(
    config: dict, section: str, key: str, source: str, low: float, high: Optional[float] = None
) -> float:
    value = config[section][key]
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _bad(source, f"{section}.{key}", f"must be a number {bounds}, got {value!r}")
    return float(value)


def validate_pretrain_config(config: dict[str, Any], source: str = "config") -> None:
    """Structure and values of everything but the model and the shards; raises ConfigError."""
    _int(config, "", "seed", source, 0)
    if not config.get("model_config") and not config.get("init_from"):
        raise _bad(source, "model_config", "is missing: give a model JSON (or init_from, a checkpoint)")
    data = config["data"]
    if not data.get("dir") or not isinstance(data["dir"], str):
        raise _bad(source, "data.dir", "is missing: the shard directory")
    _int(config, "data", "max_seq_len", source, 8)
    _number(config, "data", "heldout", source, 0.0)
    _int(config, "data", "eval_samples", source, 0)
    if data["heldout"] == 0 and data["eval_samples"] > 0:
        raise _bad(
            source, "data.eval_samples", "needs a held-out split: set data.heldout > 0 (or eval_samples: 0)"
        )
    trainer = config["trainer"]
    max_steps = trainer["max_steps"]
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < -1:
        raise _bad(
            source,
            "trainer.max_steps",
            f"must be -1 (all stages) or a non-negative integer, got {max_steps!r}",
        )
    for key in ("micro_batch_size", "accumulate_steps", "logging_steps", "eval_batch_size"):
        _int(config, "trainer", key, source, 1)
    for key in ("save_steps", "eval_steps", "keep_checkpoints"):
        _int(config, "trainer", key, source, 0)
    if trainer["global_batch_size"] is not None:
        _int(config, "trainer", "global_batch_size", source, 1)
    if trainer["amp"] not in (None, False, "float16", "bfloat16"):
        raise _bad(source, "trainer.amp", f"must be null, float16 or bfloat16, got {trainer['amp']!r}")
    if trainer["amp_level"] not in ("O1", "O2"):
        raise _bad(source, "trainer.amp_level", f"must be O1 or O2, got {trainer['amp_level']!r}")
    for key in ("recompute", "visualdl"):
        if not isinstance(trainer[key], bool):
            raise _bad(source, f"trainer.{key}", f"must be true or false, got {trainer[key]!r}")
    _number(config, "optimizer", "learning_rate", source, 0.0)
    _number(config, "optimizer", "weight_decay", source, 0.0)
    _number(config, "optimizer", "warmup", source, 0.0)
    _number(config, "optimizer", "max_grad_norm", source, 0.0)
    _number(config, "optimizer", "beta1", source, 0.0, 1.0)
    _number(config, "optimizer", "beta2", source, 0.0, 1.0)
    _number(config, "optimizer", "epsilon", source, 0.0)
    task_options(config, source)
    parse_stages(config, source)


def task_options(config: dict[str, Any], source: str = "config") -> dict[str, dict[str, Any]]:
    """``{task: options}`` of the ``tasks`` section, each checked against its task's options."""
    tasks = config.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise _bad(source, "tasks", "must map task names to their options (task_id, ...)")
    seen_ids: dict[int, str] = {}
    out: dict[str, dict[str, Any]] = {}
    for name, options in tasks.items():
        try:
            cls = task_class(name, where="tasks")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise _bad(source, f"tasks.{name}", f"must be a mapping of options, got {type(options).__name__}")
        task_id = options.get("task_id")
        if not isinstance(task_id, int) or isinstance(task_id, bool) or task_id < 0:
            raise _bad(source, f"tasks.{name}.task_id", f"must be a non-negative integer, got {task_id!r}")
        if task_id in seen_ids:
            raise _bad(source, f"tasks.{name}.task_id", f"({task_id}) is also the id of {seen_ids[task_id]}")
        seen_ids[task_id] = name
        try:
            checked = cls.check_options(options, f"tasks.{name}")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        out[name] = {"task_id": task_id, **checked}
    return out


def parse_stages(config: dict[str, Any], source: str = "config") -> list[Stage]:
    """The ``stages`` list as ``Stage`` objects, every key checked."""
    tasks = config.get("tasks") or {}
    stages = config.get("stages")
    if not isinstance(stages, list) or not stages:
        raise _bad(source, "stages", "must be a non-empty list of stages (each with 'tasks': {task: steps})")
    out: list[Stage] = []
    names: set[str] = set()
    for k, entry in enumerate(stages):
        where = f"stages[{k}]"
        if not isinstance(entry, dict):
            raise _bad(
                source, where, f"must be a mapping with 'tasks' (and 'name'), got {type(entry).__name__}"
            )
        for key in entry:
            if key not in STAGE_KEYS:
                raise ConfigError(
                    f"{source}: unknown key '{where}.{key}' (a stage has: {', '.join(STAGE_KEYS)})"
                )
        name = entry.get("name", f"stage{k + 1}")
        if not isinstance(name, str) or not name:
            raise _bad(source, f"{where}.name", f"must be a non-empty string, got {name!r}")
        if name in names:
            raise _bad(source, f"{where}.name", f"({name!r}) is used by an earlier stage")
        names.add(name)
        stage_tasks = entry.get("tasks")
        if not isinstance(stage_tasks, dict) or not stage_tasks:
            raise _bad(source, f"{where}.tasks", "is empty: a stage needs at least one task with its steps")
        steps: dict[str, int] = {}
        options: dict[str, dict[str, Any]] = {}
        for task, value in stage_tasks.items():
            key = f"{where}.tasks.{task}"
            if task not in tasks:
                try:
                    task_class(task, where=f"{where}.tasks")
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {exc}") from None
                raise _bad(
                    source, key, f"names a task that is not under 'tasks' (defined: {', '.join(tasks)})"
                )
            overrides: dict[str, Any] = {}
            if isinstance(value, dict):
                overrides = {k: v for k, v in value.items() if k != "steps"}
                if "steps" not in value:
                    raise _bad(source, f"{key}.steps", "is missing")
                value = value["steps"]
                key = f"{key}.steps"
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise _bad(source, key, f"must be a positive number of steps, got {value!r}")
            steps[task] = value
            if overrides:
                cls = task_class(task)
                for option in overrides:
                    if option not in cls.stage_options:
                        allowed = ", ".join(sorted(cls.stage_options)) or "none"
                        raise ConfigError(
                            f"{source}: key '{where}.tasks.{task}.{option}' cannot be set per stage "
                            f"(stage options of {task}: {allowed})"
                        )
                base = {k: v for k, v in (tasks[task] or {}).items() if k != "task_id"}
                try:
                    cls.check_options({**base, **overrides}, f"{where}.tasks.{task}")
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {exc}") from None
                options[task] = overrides
        out.append(Stage(name=name, steps=steps, options=options))
    return out


# ---------------------------------------------------------------------------------------------- model
def build_model_config(config: dict[str, Any], source: str = "config") -> ErnieConfig:
    """The model config (from ``model_config`` or ``init_from``) with ``model.*`` overrides, checked
    against the tasks (task ids within ``task_type_vocab_size``) and ``data.max_seq_len``."""
    path = config.get("model_config") or config.get("init_from")
    key = "model_config" if config.get("model_config") else "init_from"
    if not os.path.exists(path):
        raise _bad(source, key, f"names {path}, which does not exist")
    model_config = ErnieConfig.from_pretrained(path)
    if config.get("model"):
        for name in config["model"]:
            if name not in ErnieConfig.override_keys():
                raise _bad(source, f"model.{name}", "is not a model config key")
        try:
            model_config = model_config.replace(**config["model"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: section 'model': {exc}") from None
    options = task_options(config, source)
    parse_stages(config, source)
    for name in options:  # every defined task, used by a stage or not: a config is checked whole
        task_id = options[name]["task_id"]
        if task_id >= model_config.task_type_vocab_size:
            raise _bad(
                source,
                f"tasks.{name}.task_id",
                f"({task_id}) is beyond the model's task_type_vocab_size ({model_config.task_type_vocab_size})",
            )
    max_seq_len = config["data"]["max_seq_len"]
    if max_seq_len > model_config.max_position_embeddings:
        raise _bad(
            source,
            "data.max_seq_len",
            f"({max_seq_len}) exceeds max_position_embeddings ({model_config.max_position_embeddings})",
        )
    return model_config


def vocab_path(config: dict[str, Any], source: str = "config") -> str:
    """The vocabulary file: ``vocab``, else ``vocab.txt`` beside the checkpoint / model config."""
    if config.get("vocab"):
        path = config["vocab"]
        if not os.path.isfile(path):
            raise _bad(source, "vocab", f"names {path}, which is not a file")
        return path
    for key in ("init_from", "model_config"):
        base = config.get(key)
        if base:
            folder = base if os.path.isdir(base) else os.path.dirname(base)
            candidate = os.path.join(folder, "vocab.txt")
            if os.path.isfile(candidate):
                return candidate
    raise _bad(source, "vocab", "is missing: the vocabulary file the shards were built with")
