"""ERNIE 2.0 on PaddlePaddle: the model library.

``ernie.config`` and ``ernie.tokenizer`` import without paddle (data tools run on machines without a
deep-learning framework); the model classes load paddle on first use.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings


def _prefer_fast_mkl_path_on_amd() -> None:
    """Paddle's bundled MKL takes a slow generic path on AMD CPUs unless told otherwise.

    Measured here (AMD EPYC): a 1024x768x3072 matmul ran at ~19-25 GFLOP/s by default and ~70-114
    GFLOP/s with MKL_DEBUG_CPU_TYPE=5. It must be set before paddle loads MKL, so it is done at
    import of ``ernie``; setting MKL_DEBUG_CPU_TYPE yourself (to anything) leaves it alone.
    """
    if "MKL_DEBUG_CPU_TYPE" in os.environ or "paddle" in sys.modules:
        return
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            is_amd = "AuthenticAMD" in f.read(4096)
    except OSError:
        return
    if is_amd:
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"


_prefer_fast_mkl_path_on_amd()

# Paddle warns about ccache on import (only relevant when compiling custom ops); keep CLI output clean.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

__version__ = "0.1.0"

from .config import ErnieConfig  # noqa: E402
from .errors import CheckpointError, ConfigError, ErnieError, TokenizerError, UsageError  # noqa: E402
from .tokenizer import ErnieTokenizer  # noqa: E402

_LAZY = {
    "ErnieModel": "modeling",
    "ErnieForSequenceClassification": "modeling",
    "ErnieForTokenClassification": "modeling",
    "ErnieForQuestionAnswering": "modeling",
    "ErnieForPretraining": "modeling",
    "LoadReport": "checkpoint",
}

__all__ = [
    "ErnieConfig",
    "ErnieError",
    "ConfigError",
    "CheckpointError",
    "ErnieTokenizer",
    "TokenizerError",
    "UsageError",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'ernie' has no attribute {name!r}")
