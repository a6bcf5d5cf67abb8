"""The optional packages of serving (paddle2onnx, onnxruntime): imported on demand, or one line saying what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ServingError


def require(module: str, needed_for: str, package: str = "") -> ModuleType:
    """``module`` imported, or a ServingError naming what needed it and the pip command (exit status 2)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # A missing dependency of the package itself (onnxruntime.quantization needs ml_dtypes) says so too.
        missing = exc.name or module
        package = package or module.split(".")[0]
        raise ServingError(
            f"{needed_for} needs the optional package {package} ({missing} is missing): pip install {package}"
            + ("" if missing.split(".")[0] == package else f" {missing.split('.')[0]}")
        ) from None


__all__ = ["require"]
