"""Fine-tuning on GLUE, the Chinese ERNIE benchmarks and CLUE, as an objective on the engine.

``benchmarks`` (what each benchmark is), ``readers`` (its files), ``splits`` (which files a run reads),
``metrics``, ``data`` / ``ner`` / ``mrc`` (features), ``decoding`` (logits to labels and scores),
``adapters`` (per kind of benchmark: loss, outputs, evaluation), ``evaluation`` (dev/test outputs
across processes), ``objective`` (the engine's view), ``config`` (keys and recipes),
``settings_file`` (what a model was fine-tuned with, for serving), ``outputs`` (predictions,
submissions, results), ``run`` (the run), ``cli`` (the command line).
"""

from __future__ import annotations

from .benchmarks import BENCHMARKS, BenchmarkSpec, get_benchmark
from .config import FINETUNE_KEYS, finetune_defaults, load_finetune_config

__all__ = [
    "BENCHMARKS",
    "FINETUNE_KEYS",
    "BenchmarkSpec",
    "finetune_defaults",
    "get_benchmark",
    "load_finetune_config",
    "run_finetune",
]


def run_finetune(*args, **kwargs):
    """See ``ernie.finetune.run.run_finetune`` (imported on use: it needs paddle)."""
    from .run import run_finetune as run

    return run(*args, **kwargs)
