"""Recipe configs: per-size recipes fill unset keys, explicit values win, retired keys name their successor."""

from __future__ import annotations

import os

import pytest

from ernie.config import ErnieConfig
from ernie.errors import ConfigError
from ernie.finetune import load_finetune_config
from ernie.finetune.config import apply_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTE = os.path.join(ROOT, "configs", "finetune", "glue", "rte.yaml")
BASE = ErnieConfig(hidden_size=768, num_attention_heads=12)
LARGE = ErnieConfig(hidden_size=1024, num_attention_heads=16)


def test_recipe_by_model_size_and_explicit_values_win():
    config = load_finetune_config(RTE)
    base, size = apply_recipe(config, BASE)
    assert (
        size == "base"
        and base["optimizer"]["learning_rate"] == 2e-5
        and base["trainer"]["global_batch_size"] == 4
    )
    large, size = apply_recipe(config, LARGE)
    assert size == "large" and large["optimizer"]["learning_rate"] == 3e-5 and large["trainer"]["epochs"] == 5
    forced, size = apply_recipe(load_finetune_config(RTE, ["recipe=large"]), BASE)
    assert size == "large" and forced["trainer"]["global_batch_size"] == 16
    explicit, _ = apply_recipe(
        load_finetune_config(RTE, ["optimizer.learning_rate=1e-4", "trainer.epochs=1"]), LARGE
    )
    assert explicit["optimizer"]["learning_rate"] == 1e-4 and explicit["trainer"]["epochs"] == 1
    assert explicit["trainer"]["global_batch_size"] == 16  # still from the recipe
    with pytest.raises(ConfigError, match="no recipe 'huge'"):
        apply_recipe(load_finetune_config(RTE, ["recipe=huge"]), BASE)


# The official ERNIE 2.0 scripts, transcribed by hand: (lr, per-GPU batch, GPUs, epochs) for base and large,
# then max_seq_len, warmup proportion, weight decay (release/r2.0 script/en_glue/*/task.sh with the README's
# GPU counts; script/zh_task/ernie_{base,large}/run_*.sh, where finetune_launch.py --nproc_per_node 8 or 8
# visible GPUs make the global batch 8x the script's). XNLI batches 8192 tokens per GPU, ~88 examples.
OFFICIAL = {
    "glue/cola": ((3e-5, 64, 1, 3), (3e-5, 32, 1, 5), 128, 0.1, 0.0),
    "glue/sst2": ((2e-5, 32, 8, 4), (2e-5, 8, 8, 4), 128, 0.1, 0.0),
    "glue/mrpc": ((3e-5, 16, 2, 4), (3e-5, 8, 2, 4), 128, 0.1, 0.0),
    "glue/stsb": ((5e-5, 16, 8, 3), (5e-5, 16, 8, 3), 128, 0.1, 0.0),
    "glue/qqp": ((3e-5, 32, 8, 3), (5e-5, 32, 8, 3), 128, 0.1, 0.0),
    "glue/mnli": ((3e-5, 64, 8, 3), (3e-5, 32, 8, 3), 128, 0.1, 0.0),
    "glue/qnli": ((2e-5, 32, 8, 4), (2e-5, 32, 8, 4), 128, 0.1, 0.0),
    "glue/rte": ((2e-5, 4, 1, 4), (3e-5, 16, 1, 5), 128, 0.1, 0.0),
    "glue/wnli": ((2e-5, 8, 1, 4), (2e-5, 8, 1, 4), 512, 0.1, 0.0),
    "chinese/xnli": ((1e-4, 88, 8, 3), (4e-5, 88, 8, 3), 512, 0.0, 0.01),
    "chinese/chnsenticorp": ((5e-5, 24, 1, 10), (1e-5, 24, 1, 10), 256, 0.0, 0.01),
    "chinese/lcqmc": ((2e-5, 32, 1, 3), (5e-6, 32, 1, 3), 128, 0.0, 0.0),
    "chinese/bq": ((3e-5, 64, 1, 3), (1.5e-5, 64, 1, 3), 128, 0.0, 0.01),
    "chinese/nlpcc_dbqa": ((2e-5, 8, 8, 3), (1e-5, 8, 8, 3), 512, 0.0, 0.01),
    "chinese/msra_ner": ((5e-5, 16, 1, 6), (1e-5, 16, 1, 6), 256, 0.0, 0.01),
    "chinese/cmrc2018": ((3e-5, 16, 8, 2), (3e-5, 8, 8, 2), 512, 0.0, 0.01),
    "chinese/drcd": ((5e-5, 16, 8, 2), (3e-5, 8, 8, 2), 512, 0.0, 0.01),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_recipes_are_the_official_hyper_parameters(name):
    (base, large, max_seq_len, warmup, weight_decay) = OFFICIAL[name]
    config = load_finetune_config(os.path.join(ROOT, "configs", "finetune", f"{name}.yaml"))
    for model, (lr, per_gpu_batch, gpus, epochs) in ((BASE, base), (LARGE, large)):
        resolved, _ = apply_recipe(config, model)
        assert resolved["optimizer"]["learning_rate"] == pytest.approx(lr)
        assert resolved["trainer"]["global_batch_size"] == per_gpu_batch * gpus
        assert resolved["trainer"]["epochs"] == epochs
        assert resolved["data"]["max_seq_len"] == max_seq_len
        assert resolved["optimizer"]["warmup"] == warmup
        assert resolved["optimizer"]["weight_decay"] == weight_decay


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
    path.write_text("benchmark: rte\nrecipes:\n  base: {optimizer.lr: 1.0e-5}\n")
    with pytest.raises(ConfigError, match="unknown key 'recipes.base.optimizer.lr'"):
        apply_recipe(load_finetune_config(str(path)), BASE)


def test_retired_keys_name_their_successor(tmp_path):
    for override, successor in (
        ("trainer.batch_size=32", "use trainer.global_batch_size"),
        ("trainer.accumulate_steps=2", "use trainer.global_batch_size and trainer.micro_batch_size"),
        ("trainer.save_checkpoints=true", "use trainer.save_steps"),
        ("task=rte", "use benchmark"),
    ):
        key = override.split("=")[0]
        with pytest.raises(ConfigError, match=f"key '{key}' is retired; {successor}"):
            load_finetune_config(RTE, [override])
    old = tmp_path / "old.yaml"
    old.write_text("benchmark: rte\nrecipes:\n  base: {trainer.batch_size: 4}\n")
    with pytest.raises(
        ConfigError, match="'recipes.base.trainer.batch_size' is retired; use trainer.global_batch_size"
    ):
        apply_recipe(load_finetune_config(str(old)), BASE)


def test_a_misspelled_key_gets_the_closest_known_one():
    with pytest.raises(
        ConfigError,
        match="unknown key 'trainer.global_batch_szie' \\(did you mean 'trainer.global_batch_size'\\?\\)",
    ):
        load_finetune_config(RTE, ["trainer.global_batch_szie=8"])
