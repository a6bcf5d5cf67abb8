"""Serving: export a checkpoint to a static Paddle Inference model (and ONNX models), and a predictor that serves it.

The predictor builds features and decodes with fine-tuning's own functions (``ernie.finetune``) and
the settings the model was fine-tuned with, so serving answers what fine-tuning's evaluation did.

``export`` (checkpoint -> export, its file layout), ``metadata`` (``PREFIX.predictor.json``; the
precisions and which backend runs which), ``onnx_export`` (paddle2onnx, int8 quantization),
``calibration`` (a reduced precision's agreement with fp32), ``inputs`` (example files), ``predictor``
(examples -> outputs, the output format), ``backend`` (the runtime interface) with ``paddle_backend``
(Paddle Inference) and ``onnx_backend`` (ONNX Runtime), ``optional`` (optional packages, or one line),
``predict_file`` (file -> file), ``scoring`` (fine-tuning's metrics over the gold answers an input
carries), ``batcher`` (micro-batching of concurrent requests on one worker
thread), ``http_app`` (the HTTP JSON endpoint, FastAPI), ``predictor_args`` (the predictor's
command-line flags), ``export_cli``, ``predict_cli`` and ``serve_cli`` (``ernie-export``,
``ernie-predict``, ``ernie-serve``), ``errors``. Importing this package does not import paddle, nor
the optional fastapi, uvicorn, paddle2onnx and onnxruntime (imported when used).
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
