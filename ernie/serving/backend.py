"""The runtime under the predictor: ``run(arrays) -> outputs``, one implementation per runtime.

``paddle_backend`` (Paddle Inference, fp32 or bf16) and ``onnx_backend`` (ONNX Runtime, fp32 or int8)
run the exported model on named int64 ``[batch, seq_len]`` arrays and return its outputs in the
program's order; features and decoding stay in ``predictor``, shared by both.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from .errors import ServingError
from .metadata import META_SUFFIX, ONNXRUNTIME, PADDLE, model_files


class Backend(Protocol):
    name: str  # paddle or onnxruntime
    precision: str  # what runs: fp32, bf16 or int8 (bf16 falls back to fp32 on a CPU without it)
    input_names: list[str]
    output_names: list[str]

    def run(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The model's outputs, in order, for named int64 arrays (one per input name)."""
        ...


def open_backend(
    prefix: str,
    meta: dict,
    backend: str,
    precision: str,
    device: str,
    threads: int,
    use_onednn: bool,
    onednn_cache: int,
) -> Backend:
    """The ``backend`` runtime over the export ``prefix`` at ``precision``, its files checked first."""
    directory = os.path.dirname(os.path.abspath(prefix))
    meta_path = prefix + META_SUFFIX
    paths = [os.path.join(directory, name) for name in model_files(meta, backend, precision, meta_path)]
    for path in paths:
        if not os.path.isfile(path):
            raise ServingError(f"{path}: missing (named by {meta_path})")
    if backend == PADDLE:
        from .paddle_backend import PaddleBackend

        return PaddleBackend(*paths, precision, device, threads, use_onednn, onednn_cache)
    assert backend == ONNXRUNTIME
    if device != "cpu":
        raise ServingError(
            f"--device {device}: the onnxruntime backend runs on the CPU here; use --backend paddle"
        )
    from .onnx_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(paths[0], precision, threads)


__all__ = ["Backend", "open_backend"]
