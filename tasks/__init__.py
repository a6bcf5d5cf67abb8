"""ERNIE 2.0 pre-training tasks (one module each) and the stage-scheduled task controller.

Importing the package registers the seven tasks; ``task_class(name)`` finds one. Nothing here
imports paddle until a head is built or a model runs (sample construction is numpy only).
"""

from . import (  # noqa: F401  (each module registers its task)
    capitalization,
    discourse_relation,
    ir_relevance,
    knowledge_masking,
    sentence_distance,
    sentence_reordering,
    token_document,
)
from .base import TASK_REGISTRY, Task, task_class
from .context import IGNORE_INDEX, TaskContext, VocabInfo
from .controller import Stage, StepPlan, TaskController
from .samples import collate

__all__ = [
    "IGNORE_INDEX",
    "TASK_REGISTRY",
    "Stage",
    "StepPlan",
    "Task",
    "TaskContext",
    "TaskController",
    "VocabInfo",
    "collate",
    "task_class",
]
