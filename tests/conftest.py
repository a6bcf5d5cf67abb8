"""Shared fixtures: the real-data folder (ERNIE_TEST_DATA) and quiet, deterministic paddle."""

from __future__ import annotations

import os
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*ccache.*")
warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")


@pytest.fixture(scope="session")
def shared_data() -> str:
    """The real data folder; tests that need it skip only when ERNIE_TEST_DATA is unset."""
    path = os.environ.get("ERNIE_TEST_DATA")
    if not path:
        pytest.skip("ERNIE_TEST_DATA is not set (real-data test)")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"ERNIE_TEST_DATA={path} is not a directory")
    return path


def paddlenlp_or_skip():
    """PaddleNLP is the reference of the parity tests (requirements-dev.txt; CI checks it imports)."""
    return pytest.importorskip("paddlenlp", reason="PaddleNLP (requirements-dev.txt) is the parity reference")
