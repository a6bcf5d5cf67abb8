"""The ONNX models of an export: the Paddle program converted by paddle2onnx (fp32), and its int8 quantization.

int8 is ONNX Runtime's dynamic quantization (``quantize_dynamic``): MatMul weights stored as int8, each
activation quantized at run time from its own range, so no calibration data is needed. The
embeddings stay fp32: a lookup costs nothing to run, and quantizing them would only shrink the file,
at a larger change of the outputs (measured on base while choosing). Before quantizing, ONNX Runtime's basic graph optimizations
(constant folding, redundant nodes; plain ONNX operators, so the result is portable) turn paddle2onnx's
Constant nodes into initializers, which ``quantize_dynamic`` needs to see weights, and fold the
embedding's padding mask into the table (the unfolded model stores that table twice).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

from .errors import ServingError
from .optional import require


def require_converter(needed_for: str) -> None:
    """paddle2onnx importable, or the one-line error (before any work is done)."""
    require("paddle2onnx", needed_for)


def require_quantizer(needed_for: str) -> None:
    """onnxruntime and its quantization tools importable, or the one-line error."""
    require("onnxruntime", needed_for)
    require("onnxruntime.quantization", needed_for, package="onnxruntime")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Standard output sent to standard error: paddle2onnx prints its progress (from C++ and from Python),
    and stdout carries the export's JSON summary."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def convert(program_file: str, params_file: str, save_file: str, opset_version: int) -> None:
    """The Paddle program and parameters as an fp32 ONNX model in ``save_file``."""
    paddle2onnx = require("paddle2onnx", "ONNX export")
    try:
        with _stdout_to_stderr():
            # onnxoptimizer, not polygraphy (paddle2onnx's default), which pip-installs packages on its own.
            paddle2onnx.export(
                program_file,
                params_file,
                save_file=save_file,
                opset_version=opset_version,
                enable_onnx_checker=True,
                optimize_tool="onnxoptimizer",
            )
    except Exception as exc:  # paddle2onnx logs the cause and then fails on its own unbound result
        raise ServingError(f"{save_file}: ONNX conversion failed ({type(exc).__name__}: {exc})") from None
    if not os.path.isfile(save_file):
        raise ServingError(f"{save_file}: ONNX conversion wrote no file")


def quantize_int8(fp32_file: str, int8_file: str, reduce_range: bool = False) -> None:
    """``fp32_file`` with int8 MatMul weights in ``int8_file`` (``reduce_range``: 7-bit weights, which
    ONNX Runtime suggests for CPUs without VNNI: no faster here and no closer to fp32, see the README)."""
    ort = require("onnxruntime", "--precision int8")
    quantization = require("onnxruntime.quantization", "--precision int8", package="onnxruntime")
    folded = int8_file + ".folded.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a line per tensor, and advice, to the root logger
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = folded
        options.log_severity_level = 3  # paddle2onnx leaves unused constants: one warning each
        ort.InferenceSession(fp32_file, options, providers=["CPUExecutionProvider"])
        quantization.quantize_dynamic(
            folded,
            int8_file,
            weight_type=quantization.QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            reduce_range=reduce_range,
        )
    except Exception as exc:
        raise ServingError(f"{int8_file}: int8 quantization failed ({type(exc).__name__}: {exc})") from None
    finally:
        root.setLevel(level)
        if os.path.exists(folded):
            os.remove(folded)


__all__ = ["convert", "quantize_int8", "require_converter", "require_quantizer"]
