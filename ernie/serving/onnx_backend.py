"""ONNX Runtime under the predictor: the export's fp32 or int8 ONNX model on the CPU execution provider."""

from __future__ import annotations

import numpy as np

from .metadata import ONNXRUNTIME
from .optional import require


class OnnxRuntimeBackend:
    """An ONNX Runtime session over ``model_file`` (``precision`` names what the file holds)."""

    name = ONNXRUNTIME

    def __init__(self, model_file: str, precision: str, threads: int):
        ort = require("onnxruntime", "--backend onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one chain of operators: parallel inside them, as Paddle's threads
        options.log_severity_level = 3  # paddle2onnx leaves unused constants: one warning each at load
        # Idle threads sleep instead of spinning for the next run: spinning took the cores from whatever ran
        # next on this 2-core machine (bench/inference.py: Paddle's batch-1 latency right after an
        # ONNX Runtime call was 5x its latency after a Paddle call).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model_file, options, providers=["CPUExecutionProvider"])
        self.precision = precision
        self.input_names = [x.name for x in self._session.get_inputs()]
        self.output_names = [x.name for x in self._session.get_outputs()]

    def run(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(self.output_names, {name: arrays[name] for name in self.input_names})


__all__ = ["OnnxRuntimeBackend"]
