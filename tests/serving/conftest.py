"""Fixtures of the serving tests: tiny random encoders with the official vocabularies."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.finetune.tiny import make_tiny_model


@pytest.fixture(scope="session")
def encoders(tmp_path_factory, shared_data) -> dict:
    """``{"en": dir, "zh": dir}``: bare tiny encoders (vocab_en.txt / vocab_zh.txt) to put heads on."""
    root = tmp_path_factory.mktemp("tiny-encoders")
    return {
        lang: make_tiny_model(str(root / lang), vocab_file=os.path.join(shared_data, "ernie_official", vocab))
        for lang, vocab in (("en", "vocab_en.txt"), ("zh", "vocab_zh.txt"))
    }
