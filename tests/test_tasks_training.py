"""A tiny model trains on every task: losses fall, micro-batching is exact, evaluation and state work."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
import yaml

paddle = pytest.importorskip("paddle")

from tasks.config import load_pretrain_config  # noqa: E402
from tasks.testing import build_toy_shards, tiny_model_config  # noqa: E402
from tasks.trainer import Pretrainer, to_tensors  # noqa: E402

ALL = [
    "knowledge_masking",
    "capitalization",
    "token_document",
    "sentence_reordering",
    "sentence_distance",
    "discourse_relation",
    "ir_relevance",
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    shard_dir, vocab_file = build_toy_shards(str(root), num_docs=30, num_pairs=80)
    model = tiny_model_config(str(root / "model.json"), vocab_size=150, hidden=32, layers=1)
    return shard_dir, vocab_file, model


def make_config(toy, overrides=(), stages=None, tasks=None):
    """A run over the toy shards: all tasks (or ``tasks``) in one stage of 6 steps each (or ``stages``)."""
    shard_dir, vocab_file, model = toy
    tasks = tasks or ALL
    stages = stages or [{"name": "all", "tasks": {name: 6 for name in tasks}}]
    config = {
        "model_config": model,
        "vocab": vocab_file,
        "model": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
        "data": {"dir": shard_dir, "max_seq_len": 32, "heldout": 0.1, "eval_samples": 16},
        "optimizer": {"learning_rate": 0.005, "warmup": 0},
        "trainer": {"micro_batch_size": 4, "eval_batch_size": 8},
        "tasks": {name: {"task_id": k} for k, name in enumerate(tasks)},
        "stages": stages,
    }
    path = os.path.join(os.path.dirname(shard_dir), f"run{next(_COUNTER)}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return load_pretrain_config(path, overrides)


_COUNTER = itertools.count()


def fixed_loss(trainer, name, batch):
    task = trainer.tasks[name]
    trainer.model.eval()
    with paddle.no_grad():
        tensors = to_tensors(batch)
        summed, stats = task.loss_and_stats(task.forward(trainer.model, tensors), tensors)
    return stats["loss_sum"] / stats["count"]


@pytest.mark.parametrize("name", ALL)
def test_a_few_steps_reduce_the_task_loss_on_a_fixed_batch(toy, name):
    trainer = Pretrainer(make_config(toy, tasks=[name]))
    task = trainer.tasks[name]
    batch = task.batch(range(8))
    before = fixed_loss(trainer, name, batch)
    trainer.model.train()
    for _ in range(20):
        tensors = to_tensors(batch)
        summed, _ = task.loss_and_stats(task.forward(trainer.model, tensors), tensors)
        (summed / task.label_count(batch)).backward()
        trainer.optimizer.step()
        trainer.optimizer.clear_grad(set_to_zero=False)
    after = fixed_loss(trainer, name, batch)
    assert math.isfinite(before) and after < 0.8 * before, (name, before, after)


def test_training_through_the_controller_and_evaluation(toy):
    trainer = Pretrainer(make_config(toy, ["trainer.eval_steps=0"]))
    start = trainer.evaluate()
    results = []
    trainer.run(on_step=results.append)
    end = trainer.evaluate()
    assert [r.task for r in results] == trainer.controller.task_sequence()
    assert all(math.isfinite(r.loss) and r.count > 0 and r.samples == 4 for r in results)
    for name in ALL:
        for metrics in (start, end):
            assert set(metrics[name]) >= {"accuracy", "loss", "chance", "count"}
            assert metrics[name]["count"] > 0 and 0 <= metrics[name]["accuracy"] <= 1
    assert end["knowledge_masking"]["loss"] < start["knowledge_masking"]["loss"]
    assert "perplexity" in end["knowledge_masking"]
    assert end["knowledge_masking"]["perplexity"] == pytest.approx(math.exp(end["knowledge_masking"]["loss"]))
    for name in ALL:
        if name != "knowledge_masking":  # balanced accuracy for every task with its own head
            counts = end[name]["class_counts"]
            assert sum(counts) == end[name]["count"]
            assert end[name]["balanced_accuracy_chance"] == pytest.approx(1 / sum(c > 0 for c in counts))
    assert end["discourse_relation"]["metric"] == "balanced_accuracy"
    assert end["ir_relevance"]["metric"] == "accuracy"
    # Held-out batches are fixed: two evaluations of the same weights agree.
    assert trainer.evaluate()["ir_relevance"] == end["ir_relevance"]


def test_unused_heads_get_no_update(toy):
    stages = [{"name": "s", "tasks": {"ir_relevance": 3}}, {"name": "t", "tasks": {"capitalization": 1}}]
    trainer = Pretrainer(make_config(toy, stages=stages, tasks=["ir_relevance", "capitalization"]))
    head = trainer.model.task_heads["capitalization"].classifier.weight
    before = head.numpy().copy()
    for _ in range(3):
        assert trainer.train_step().task == "ir_relevance"
    np.testing.assert_array_equal(head.numpy(), before)  # no gradient, no Adam step, no weight decay
    assert trainer.train_step().task == "capitalization"
    assert not np.array_equal(head.numpy(), before)


def test_micro_batches_and_accumulation_give_the_global_batch_gradient(toy):
    weights = []
    for micro, accumulate in ((8, 1), (4, 2), (2, 4)):
        trainer = Pretrainer(
            make_config(toy, [f"trainer.micro_batch_size={micro}", f"trainer.accumulate_steps={accumulate}"])
        )
        assert trainer.samples_per_step == 8
        for _ in range(5):
            trainer.train_step()
        weights.append({k: v.numpy() for k, v in trainer.model.state_dict().items()})
    for other in weights[1:]:
        for key, value in weights[0].items():
            np.testing.assert_allclose(other[key], value, atol=2e-5, err_msg=key)


def test_state_dict_resume_gives_the_uninterrupted_weights(toy, tmp_path):
    # Resumed at step 4, before the second stage's heads have ever had a gradient.
    stages = [
        {"name": "s1", "tasks": {"knowledge_masking": 3, "sentence_reordering": 2}},
        {"name": "s2", "tasks": {"knowledge_masking": 2, "capitalization": 2, "ir_relevance": 1}},
    ]
    config = make_config(
        toy,
        stages=stages,
        tasks=["knowledge_masking", "sentence_reordering", "capitalization", "ir_relevance"],
    )
    reference = Pretrainer(config)
    for _ in range(10):
        reference.train_step()

    first = Pretrainer(config)
    for _ in range(4):
        first.train_step()
    assert first.controller.peek().stage_index == 0
    first.save_pretrained(str(tmp_path / "ckpt"))
    state = first.state_dict()
    paddle.save(state, str(tmp_path / "state.pdparams"))

    resumed = Pretrainer({**config, "init_from": str(tmp_path / "ckpt")})
    resumed.load_state_dict(paddle.load(str(tmp_path / "state.pdparams")))
    assert resumed.global_step == 4
    while resumed.global_step < 10:
        resumed.train_step()
    got = resumed.model.state_dict()
    for key, value in reference.model.state_dict().items():
        np.testing.assert_allclose(got[key].numpy(), value.numpy(), atol=1e-6, err_msg=key)


def test_recompute_trains_the_same_weights(toy):
    tasks = ["knowledge_masking", "sentence_reordering"]
    runs = []
    for recompute in ("false", "true"):
        trainer = Pretrainer(make_config(toy, [f"trainer.recompute={recompute}"], tasks=tasks))
        assert trainer.model.ernie.encoder.enable_recompute is (recompute == "true")
        for _ in range(4):
            trainer.train_step()
        runs.append({k: v.numpy() for k, v in trainer.model.state_dict().items()})
    for key, value in runs[0].items():
        np.testing.assert_allclose(runs[1][key], value, atol=1e-6, err_msg=key)


def test_global_batch_size_derives_accumulation_or_names_the_key():
    from ernie.config import ConfigError
    from tasks.trainer import resolve_accumulation

    def trainer(micro, accumulate, wanted):
        return {"micro_batch_size": micro, "accumulate_steps": accumulate, "global_batch_size": wanted}

    assert resolve_accumulation(trainer(4, 3, None), world_size=2) == 3
    assert resolve_accumulation(trainer(4, 1, 32), world_size=2) == 4  # 32 = 4 x 4 x 2
    assert resolve_accumulation(trainer(4, 4, 32), world_size=2) == 4
    with pytest.raises(
        ConfigError, match=r"'trainer.global_batch_size' \(36\) is not a multiple of .* \(4 x 2\)"
    ):
        resolve_accumulation(trainer(4, 1, 36), world_size=2)
    with pytest.raises(ConfigError, match="'trainer.accumulate_steps' \\(2\\) disagrees"):
        resolve_accumulation(trainer(4, 2, 32), world_size=2)


def test_amp_is_a_gpu_option_and_is_off_on_cpu(toy, caplog):
    if paddle.is_compiled_with_cuda():
        pytest.skip("CPU behaviour")
    with caplog.at_level("WARNING", logger="ernie.pretrain"):
        trainer = Pretrainer(make_config(toy, ["trainer.amp=float16"], tasks=["knowledge_masking"]))
    assert trainer.amp_dtype is None and trainer.scaler is None
    assert "trainer.amp=float16 ignored: no GPU" in caplog.text
    with pytest.raises(Exception, match="'trainer.amp' must be null, float16 or bfloat16"):
        make_config(toy, ["trainer.amp=fp8"], tasks=["knowledge_masking"])
