"""Fine-tuning on GLUE, the Chinese ERNIE benchmarks and CLUE: readers, metrics, features, the loop.

``tasks`` (what each benchmark is), ``readers`` (its files), ``metrics``, ``data`` / ``ner`` / ``mrc``
(features), ``heads`` (per kind of task), ``config`` (recipes), ``trainer`` (the run).
"""

from __future__ import annotations

from .config import DEFAULTS, load_finetune_config
from .tasks import TASKS, TaskSpec, get_task

__all__ = ["DEFAULTS", "TASKS", "TaskSpec", "get_task", "load_finetune_config", "run_finetune"]


def run_finetune(*args, **kwargs):
    """See ``ernie.finetune.trainer.run_finetune`` (imported lazily: it needs paddle)."""
    from .trainer import run_finetune as run

    return run(*args, **kwargs)
