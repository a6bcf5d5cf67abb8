"""A pre-training run (``tools/pretrain.py``, ``ernie-pretrain``): shards, the objective, the engine.

Everything under ``output_dir`` (checkpoints, ``log.jsonl``, ``config.yaml``, VisualDL) is the
engine's: see ``ernie.engine.checkpoints`` and ``ernie.engine.reporting``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

from ernie.engine import distributed, resolve_settings, train
from ernie.errors import ConfigError

from .config import parse_stages, vocab_path

logger = logging.getLogger("ernie.pretrain")


def prepare_shards(config: dict[str, Any], source: str = "config", progress: bool = False) -> None:
    """Build ``data.dir`` from ``data.build`` when it is missing (rank 0 builds, the others wait)."""
    data = config["data"]
    if os.path.isdir(data["dir"]):
        return
    build = data["build"]
    inputs = _as_list(build.get("input"))
    ir = _as_list(build.get("ir"))
    if not build.get("lang") or not (inputs or ir):
        raise ConfigError(
            f"{source}: key 'data.dir' names {data['dir']}, which does not exist "
            "(build it with `python -m data_tools build`, or set data.build.lang and data.build.input)"
        )
    if distributed.rank() == 0:
        from data_tools.build import build_shards, summary

        tasks = sorted({task for stage in parse_stages(config, source) for task in stage.steps})
        logger.info("building the shards of %s in %s", ", ".join(tasks), data["dir"])
        manifest = build_shards(
            inputs,
            vocab_path(config, source),
            data["dir"],
            build["lang"],
            tasks,
            workers=int(build.get("workers") or 1),
            ir=ir,
            progress=progress,
        )
        logger.info("%s", summary(manifest))
    distributed.barrier()


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def run_pretraining(
    config: dict[str, Any], source: str = "config", resume: Optional[str] = None, progress: bool = True
) -> dict[str, Any]:
    """Train to the end of the stages (or ``trainer.max_steps``); returns the last checkpoint and metrics.

    ``resume``: None (start; refused if ``output_dir`` already holds checkpoints), ``"auto"`` (continue
    from the newest checkpoint if there is one) or a checkpoint directory.
    """
    from .objective import PretrainingObjective

    distributed.init_distributed(config["seed"])
    settings = resolve_settings(config, distributed.world_size(), source)
    prepare_shards(config, source, progress=progress and distributed.rank() == 0)
    objective = PretrainingObjective(config, settings, source)
    result = train(objective, settings, resume=resume, source=source, config=config, progress=progress)
    metrics = result.last_evaluation.metrics if result.last_evaluation else {}
    return {
        "checkpoint": result.checkpoint,
        "steps": result.steps,
        "eval": metrics,
        "language": objective.language,
    }
