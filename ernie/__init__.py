"""ERNIE 2.0 on PaddlePaddle: the model library.

``ernie.config`` and ``ernie.tokenizer`` import without paddle (data tools run on machines without a
deep-learning framework); the model classes load paddle on first use.
"""

from __future__ import annotations

import importlib
import warnings

# Paddle warns about ccache on import (only relevant when compiling custom ops); keep CLI output clean.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

__version__ = "0.1.0"

from .config import ConfigError, ErnieConfig  # noqa: E402
from .tokenizer import ErnieTokenizer, TokenizerError  # noqa: E402

_LAZY = {
    "ErnieModel": "modeling",
    "ErnieForSequenceClassification": "modeling",
    "ErnieForTokenClassification": "modeling",
    "ErnieForQuestionAnswering": "modeling",
    "ErnieForPretraining": "modeling",
    "CheckpointError": "checkpoint",
    "LoadReport": "checkpoint",
}

__all__ = ["ErnieConfig", "ConfigError", "ErnieTokenizer", "TokenizerError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'ernie' has no attribute {name!r}")
