"""Recipe configs: per-size recipes fill unset keys, explicit values win, the batch arithmetic."""

from __future__ import annotations

import os

import pytest

from ernie.config import ConfigError, ErnieConfig
from ernie.finetune import load_finetune_config
from ernie.finetune.config import apply_recipe, resolve_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTE = os.path.join(ROOT, "configs", "finetune", "glue", "rte.yaml")
BASE = ErnieConfig(hidden_size=768, num_attention_heads=12)
LARGE = ErnieConfig(hidden_size=1024, num_attention_heads=16)


def test_recipe_by_model_size_and_explicit_values_win():
    config = load_finetune_config(RTE)
    base, size = apply_recipe(config, BASE)
    assert (
        size == "base" and base["optimizer"]["learning_rate"] == 2e-5 and base["trainer"]["batch_size"] == 4
    )
    large, size = apply_recipe(config, LARGE)
    assert size == "large" and large["optimizer"]["learning_rate"] == 3e-5 and large["trainer"]["epochs"] == 5
    forced, size = apply_recipe(load_finetune_config(RTE, ["recipe=large"]), BASE)
    assert size == "large" and forced["trainer"]["batch_size"] == 16
    explicit, _ = apply_recipe(
        load_finetune_config(RTE, ["optimizer.learning_rate=1e-4", "trainer.epochs=1"]), LARGE
    )
    assert explicit["optimizer"]["learning_rate"] == 1e-4 and explicit["trainer"]["epochs"] == 1
    assert explicit["trainer"]["batch_size"] == 16  # still from the recipe
    with pytest.raises(ConfigError, match="no recipe 'huge'"):
        apply_recipe(load_finetune_config(RTE, ["recipe=huge"]), BASE)


def test_model_overrides_accumulate_and_are_checked():
    config = load_finetune_config(
        RTE, ["model.hidden_dropout_prob=0", "model.attention_probs_dropout_prob=0"]
    )
    assert config["model"] == {"hidden_dropout_prob": 0, "attention_probs_dropout_prob": 0}
    with pytest.raises(ConfigError, match="unknown key 'model.dropuot'"):
        load_finetune_config(RTE, ["model.dropuot=0"])
    with pytest.raises(ConfigError, match="unknown key 'trainer.epoch'"):
        load_finetune_config(RTE, ["trainer.epoch=3"])


def test_recipe_keys_are_checked(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: rte\nrecipes:\n  base: {optimizer.lr: 1.0e-5}\n")
    with pytest.raises(ConfigError, match="unknown key 'recipes.base.optimizer.lr'"):
        apply_recipe(load_finetune_config(str(path)), BASE)


def test_batch_arithmetic():
    def trainer(batch=None, micro=None, accum=None):
        return {"batch_size": batch, "micro_batch_size": micro, "accumulate_steps": accum}

    assert resolve_batch(trainer(32), 1) == (32, 32, 1)
    assert resolve_batch(trainer(32), 2) == (32, 16, 1)
    assert resolve_batch(trainer(32, micro=8), 2) == (32, 8, 2)
    assert resolve_batch(trainer(32, accum=4), 2) == (32, 4, 4)
    assert resolve_batch(trainer(None, micro=4, accum=3), 2) == (24, 4, 3)
    with pytest.raises(ConfigError, match="not a multiple"):
        resolve_batch(trainer(30, micro=8), 1)
    with pytest.raises(ConfigError, match="leave one of them null"):
        resolve_batch(trainer(32, micro=4, accum=4), 1)
    with pytest.raises(ConfigError, match="batch_size' is not set"):
        resolve_batch(trainer(), 1)
