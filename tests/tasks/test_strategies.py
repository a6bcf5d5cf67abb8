"""The strategy key: the same steps per task, rearranged (worked out by hand from the paper's staircase)."""

from __future__ import annotations

import os

import pytest

from ernie.errors import ConfigError
from tasks.config import load_pretrain_config, parse_stages
from tasks.controller import Stage
from tasks.strategies import apply_strategy, task_totals

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAIRCASE = [
    Stage("stage1", {"knowledge_masking": 20}),
    Stage("stage2", {"knowledge_masking": 10, "capitalization": 30}),
    Stage("stage3", {"knowledge_masking": 10, "capitalization": 10, "token_document": 40}),
]


def test_continual_is_one_stage_per_task_in_order_of_appearance():
    stages = apply_strategy(STAIRCASE, "continual")
    assert [(s.name, dict(s.steps)) for s in stages] == [
        ("knowledge_masking", {"knowledge_masking": 40}),
        ("capitalization", {"capitalization": 40}),
        ("token_document", {"token_document": 40}),
    ]


def test_multitask_is_one_stage_with_every_task():
    (stage,) = apply_strategy(STAIRCASE, "multitask")
    assert stage.name == "multitask"
    assert dict(stage.steps) == {"knowledge_masking": 40, "capitalization": 40, "token_document": 40}


def test_as_written_keeps_the_stages():
    assert apply_strategy(STAIRCASE, "as_written") is STAIRCASE
    assert task_totals(STAIRCASE) == {"knowledge_masking": 40, "capitalization": 40, "token_document": 40}


def test_the_comparison_config_and_its_baselines():
    path = os.path.join(REPO, "configs/pretrain/compare_en.yaml")
    expected = {
        "knowledge_masking": 50000,
        "capitalization": 50000,
        "token_document": 50000,
        "sentence_reordering": 50000,
    }
    for strategy, stages in (("as_written", 4), ("continual", 4), ("multitask", 1)):
        parsed = parse_stages(load_pretrain_config(path, [f"strategy={strategy}"]))
        assert len(parsed) == stages and task_totals(parsed) == expected


def test_unknown_strategy_and_stage_options_are_refused(tmp_path):
    path = os.path.join(REPO, "configs/pretrain/demo_en.yaml")  # stage 1 sets masking levels
    with pytest.raises(ConfigError, match="key 'strategy' must be one of as_written, continual, multitask"):
        load_pretrain_config(path, ["strategy=sequential"])
    with pytest.raises(ConfigError, match=r"stages\[0\].tasks.knowledge_masking sets stage options"):
        load_pretrain_config(path, ["strategy=continual"])
