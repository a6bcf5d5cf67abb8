"""Serving: export a checkpoint to a static Paddle Inference model, and a predictor that serves it.

The predictor builds features and decodes with fine-tuning's own functions (``ernie.finetune``) and
the settings the model was fine-tuned with, so serving answers what fine-tuning's evaluation did.

``export`` (checkpoint -> export, its file layout), ``metadata`` (``PREFIX.predictor.json``),
``inputs`` (example files), ``predictor`` (examples -> outputs, the output format),
``predict_file`` (file -> file), ``export_cli`` and ``predict_cli`` (``ernie-export``,
``ernie-predict``), ``errors``. Importing this package does not import paddle.
"""

from __future__ import annotations

from .errors import ServingError
from .export import ExportResult, export_model
from .inputs import Example, read_examples
from .metadata import META_SUFFIX, read_metadata, resolve_prefix
from .predict_file import check_output_path, predict_file
from .predictor import Predictor

__all__ = [
    "META_SUFFIX",
    "Example",
    "ExportResult",
    "Predictor",
    "ServingError",
    "check_output_path",
    "export_model",
    "predict_file",
    "read_examples",
    "read_metadata",
    "resolve_prefix",
]
