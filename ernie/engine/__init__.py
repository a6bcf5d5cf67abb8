"""The one training engine: an objective supplies batches, a loss and its unit count, an evaluation and
its state; ``train`` owns the rest (see ``loop``). ``settings`` holds the keys every run understands.

Modules: ``objective`` (the contract), ``settings`` (keys and batch geometry), ``loop`` (``train``),
``precision`` (AMP, recompute), ``checkpoints`` (folders and exact resume), ``reporting``
(log.jsonl, VisualDL, progress), ``distributed`` (fleet data parallelism).
"""

from __future__ import annotations

from .objective import Evaluation, Objective, Step, StepRecord
from .settings import ENGINE_KEYS, RETIRED_KEYS, TrainerSettings, engine_keys, resolve_settings

__all__ = [
    "ENGINE_KEYS",
    "RETIRED_KEYS",
    "Evaluation",
    "Objective",
    "Step",
    "StepRecord",
    "TrainerSettings",
    "engine_keys",
    "resolve_settings",
    "train",
]


def train(*args, **kwargs):
    """See ``ernie.engine.loop.train`` (imported on use: it needs paddle)."""
    from .loop import train as run

    return run(*args, **kwargs)
