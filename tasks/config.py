"""The pre-training config: every key (documented in PRETRAIN_KEYS), validation, and the stages it describes.

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

import os
from typing import Any, Iterable, Optional

from ernie.config import ErnieConfig
from ernie.engine.distributed import world_size
from ernie.engine.settings import RETIRED_KEYS, engine_keys, resolve_settings
from ernie.errors import ConfigError
from ernie.yaml_config import Key, check_int, check_number, defaults_of, load_config

from .base import task_class
from .controller import Stage
from .strategies import apply_strategy

STAGE_KEYS = ("name", "tasks")

# Every key of a pre-training config, in one place (``tools/pretrain.py --help`` prints them). The
# engine's keys mean the same in fine-tuning; the defaults below are pre-training's.
PRETRAIN_KEYS: tuple[Key, ...] = (
    *engine_keys(
        **{
            "output_dir": "output/pretrain",
            "trainer.eval_steps": 500,
            "trainer.save_steps": 1000,
            "optimizer.warmup": 0.1,
        }
    ),
    Key("model_config", None, "model JSON, or a directory holding one (its config only)"),
    Key("init_from", None, "checkpoint whose weights the run starts from (continual pre-training)"),
    Key(
        "vocab",
        None,
        "the vocabulary the shards were built with; default: vocab.txt beside init_from / model_config",
    ),
    Key("model", {}, "model.<key> overrides a key of the model config, e.g. model.hidden_dropout_prob=0"),
    Key(
        "data.dir",
        None,
        "shard folder (python -m data_tools build ... --output DIR); '{output_dir}' is replaced",
    ),
    Key("data.max_seq_len", 128, "tokens per sample, [CLS]/[SEP] included"),
    Key("data.heldout", 0.05, "held-out share (< 1) or count (>= 1) of the documents / pairs of each task"),
    Key("data.eval_samples", 256, "held-out samples per task at each evaluation (0: no evaluation)"),
    Key(
        "data.build.lang",
        None,
        "en | zh: build data.dir from data.build.input when it is missing (the demos)",
    ),
    Key("data.build.input", [], "corpus files for data.build"),
    Key("data.build.ir", None, "query<TAB>title<TAB>label file for the IR relevance task"),
    Key("data.build.workers", 1, "processes for data.build"),
    Key("tasks", {}, "task name -> options: task_id (its row of the task embedding) and the task's options"),
    Key(
        "stages",
        [],
        "ordered stages, each {name, tasks: {task: steps}}; the controller interleaves a stage's tasks",
    ),
    Key(
        "strategy",
        "as_written",
        "as_written: the stages as given | continual: one stage per task | multitask: one stage; the "
        "same steps per task (ERNIE 2.0's strategy comparison, tasks/strategies.py)",
    ),
)
FREE_SECTIONS = ("model", "tasks")


def pretrain_defaults() -> dict[str, Any]:
    """Every key a pre-training config may set, with its default (a fresh copy each call)."""
    return defaults_of(PRETRAIN_KEYS)


def load_pretrain_config(
    path: Optional[str], overrides: Iterable[str] = (), defaults: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """YAML + ``--set`` overrides over the defaults, validated (structure, engine keys, tasks, stages)."""
    source = path or "config"
    config = load_config(path, defaults or pretrain_defaults(), overrides, FREE_SECTIONS, RETIRED_KEYS)
    for key in FREE_SECTIONS:
        if config.get(key) is None:
            config[key] = {}
        if not isinstance(config[key], dict):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {type(config[key]).__name__}")
    # "{output_dir}" in data.dir keeps a demo's shards with its run, wherever --set output_dir puts it.
    if isinstance(config["data"].get("dir"), str) and isinstance(config.get("output_dir"), str):
        config["data"]["dir"] = config["data"]["dir"].replace("{output_dir}", config["output_dir"])
    validate_pretrain_config(config, source)
    return config


# ---------------------------------------------------------------------------------------------- checks
def _bad(source: str, key: str, why: str) -> ConfigError:
    return ConfigError(f"{source}: key '{key}' {why}")


def validate_pretrain_config(config: dict[str, Any], source: str = "config") -> None:
    """Structure and values of everything but the model and the shards; raises ConfigError."""
    resolve_settings(config, world_size(), source)
    if not config.get("model_config") and not config.get("init_from"):
        raise _bad(source, "model_config", "is missing: give a model JSON (or init_from, a checkpoint)")
    data = config["data"]
    if not data.get("dir") or not isinstance(data["dir"], str):
        raise _bad(source, "data.dir", "is missing: the shard directory")
    check_int(config, "data.max_seq_len", source, 8)
    check_number(config, "data.heldout", source, 0.0)
    check_int(config, "data.eval_samples", source, 0)
    if data["heldout"] == 0 and data["eval_samples"] > 0:
        raise _bad(
            source, "data.eval_samples", "needs a held-out split: set data.heldout > 0 (or eval_samples: 0)"
        )
    for key in ("trainer.eval_steps", "trainer.save_steps"):
        check_int(config, key, source, 0)
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
    return apply_strategy(out, config.get("strategy", "as_written"), source)


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
