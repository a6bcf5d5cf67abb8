"""Pre-training on the engine: every task learns, micro-batching is exact, unused heads stay still,
evaluation and resume work."""

from __future__ import annotations

import itertools
import math
import os
import shutil

import numpy as np
import pytest
import yaml

paddle = pytest.importorskip("paddle")

from ernie.engine import resolve_settings  # noqa: E402
from ernie.engine.loop import Engine, train  # noqa: E402
from ernie.optimization import build_optimizer  # noqa: E402
from tasks.config import load_pretrain_config  # noqa: E402
from tasks.objective import PretrainingObjective, to_tensors  # noqa: E402
from tests.fixtures.pretrain.toy_shards import build_toy_shards, tiny_model_config  # noqa: E402

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
        "output_dir": os.path.join(os.path.dirname(shard_dir), f"out{next(_COUNTER)}"),
        "model_config": model,
        "vocab": vocab_file,
        "model": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
        "data": {"dir": shard_dir, "max_seq_len": 32, "heldout": 0.1, "eval_samples": 16},
        "optimizer": {"learning_rate": 0.005, "warmup": 0},
        "trainer": {"global_batch_size": 4, "eval_batch_size": 8},
        "tasks": {name: {"task_id": k} for k, name in enumerate(tasks)},
        "stages": stages,
    }
    path = os.path.join(os.path.dirname(shard_dir), f"run{next(_COUNTER)}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return load_pretrain_config(path, overrides)


_COUNTER = itertools.count()


def objective_of(config):
    return PretrainingObjective(config, resolve_settings(config, world_size=1))


def engine_of(config):
    return Engine(objective_of(config), resolve_settings(config, world_size=1), checkpoint=None)


def fixed_loss(objective, name, batch):
    task = objective.tasks[name]
    objective.model.eval()
    with paddle.no_grad():
        tensors = to_tensors(batch)
        summed, stats = task.loss_and_stats(task.forward(objective.model, tensors), tensors)
    return stats["loss_sum"] / stats["count"]


@pytest.mark.parametrize("name", ALL)
def test_a_few_steps_reduce_the_task_loss_on_a_fixed_batch(toy, name):
    objective = objective_of(make_config(toy, tasks=[name]))
    task = objective.tasks[name]
    batch = task.batch(range(8))
    before = fixed_loss(objective, name, batch)
    optimizer, _ = build_optimizer(objective.model, learning_rate=0.005, total_steps=20)
    objective.model.train()
    for _ in range(20):
        summed, _ = objective.loss(objective.model, (task, batch))
        (summed / task.label_count(batch)).backward()
        optimizer.step()
        optimizer.clear_grad(set_to_zero=False)
    after = fixed_loss(objective, name, batch)
    assert math.isfinite(before) and after < 0.8 * before, (name, before, after)


def test_training_through_the_controller_and_evaluation(toy):
    engine = engine_of(make_config(toy))
    objective = engine.objective
    start = engine.evaluate().metrics
    records = [engine.train_step(step) for step in range(1, objective.total_steps + 1)]
    end = engine.evaluate().metrics
    assert [r.info["task"] for r in records] == objective.controller.task_sequence()
    assert all(math.isfinite(r.loss) and r.units > 0 and r.samples == 4 for r in records)
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
    assert engine.evaluate().metrics["ir_relevance"] == end["ir_relevance"]


def test_unused_heads_get_no_update(toy):
    stages = [{"name": "s", "tasks": {"ir_relevance": 3}}, {"name": "t", "tasks": {"capitalization": 1}}]
    engine = engine_of(make_config(toy, stages=stages, tasks=["ir_relevance", "capitalization"]))
    head = engine.model.task_heads["capitalization"].classifier.weight
    before = head.numpy().copy()
    for step in range(1, 4):
        assert engine.train_step(step).info["task"] == "ir_relevance"
    np.testing.assert_array_equal(head.numpy(), before)  # no gradient, no Adam step, no weight decay
    assert engine.train_step(4).info["task"] == "capitalization"
    assert not np.array_equal(head.numpy(), before)


def test_micro_batches_and_accumulation_give_the_global_batch_gradient(toy):
    weights = []
    for micro in (8, 4, 2):
        engine = engine_of(
            make_config(toy, ["trainer.global_batch_size=8", f"trainer.micro_batch_size={micro}"])
        )
        assert engine.settings.accumulate_steps == 8 // micro
        for step in range(1, 6):
            assert engine.train_step(step).samples == 8
        weights.append({k: v.numpy() for k, v in engine.model.state_dict().items()})
    for other in weights[1:]:
        for key, value in weights[0].items():
            np.testing.assert_allclose(other[key], value, atol=2e-5, err_msg=key)


def test_resume_from_a_checkpoint_gives_the_uninterrupted_run(toy, tmp_path):
    # Checkpoint at step 4, before the second stage's heads have ever had a gradient; dropout on, so the
    # RNG state must come back too.
    stages = [
        {"name": "s1", "tasks": {"knowledge_masking": 3, "sentence_reordering": 2}},
        {"name": "s2", "tasks": {"knowledge_masking": 2, "capitalization": 2, "ir_relevance": 1}},
    ]
    tasks = ["knowledge_masking", "sentence_reordering", "capitalization", "ir_relevance"]
    overrides = ["trainer.save_steps=4", "trainer.keep_checkpoints=0", "trainer.logging_steps=1",
                 "model.hidden_dropout_prob=0.1", "trainer.visualdl=false"]  # fmt: skip
    config = make_config(toy, overrides, stages=stages, tasks=tasks)
    settings = resolve_settings(config, world_size=1)
    reference = train(objective_of(config), settings, progress=False)
    assert reference.steps == 10
    out = config["output_dir"]
    resumed_dir = str(tmp_path / "resumed")
    os.makedirs(os.path.join(resumed_dir, "checkpoints"))
    shutil.copytree(
        os.path.join(out, "checkpoints", "step_4"), os.path.join(resumed_dir, "checkpoints", "step_4")
    )
    shutil.copy(os.path.join(out, "log.jsonl"), resumed_dir)  # holds steps past 4: they must be cut back
    resumed = {**config, "output_dir": resumed_dir}
    result = train(
        objective_of(resumed), settings.replace(output_dir=resumed_dir), resume="auto", progress=False
    )
    assert result.steps == 10

    def final(directory):
        return paddle.load(
            os.path.join(directory, "checkpoints", "step_10", "model_state.pdparams"), return_numpy=True
        )

    expected, got = final(out), final(resumed_dir)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)

    def losses(directory):
        with open(os.path.join(directory, "log.jsonl"), encoding="utf-8") as f:
            return [(r["step"], r["loss"]) for r in map(yaml.safe_load, f) if r["event"] == "train"]

    assert losses(resumed_dir) == losses(out) and len(losses(out)) == 10


def test_recompute_trains_the_same_weights(toy):
    tasks = ["knowledge_masking", "sentence_reordering"]
    runs = []
    for recompute in ("false", "true"):
        engine = engine_of(make_config(toy, [f"trainer.recompute={recompute}"], tasks=tasks))
        assert engine.model.ernie.encoder.enable_recompute is (recompute == "true")
        for step in range(1, 5):
            engine.train_step(step)
        runs.append({k: v.numpy() for k, v in engine.model.state_dict().items()})
    for key, value in runs[0].items():
        np.testing.assert_allclose(runs[1][key], value, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("strategy", ["as_written", "continual", "multitask"])
def test_every_stage_ends_with_an_evaluation_and_the_strategies_keep_each_tasks_steps(toy, strategy):
    stages = [
        {"name": "s1", "tasks": {"knowledge_masking": 3}},
        {"name": "s2", "tasks": {"knowledge_masking": 1, "sentence_reordering": 4}},
    ]
    tasks = ["knowledge_masking", "sentence_reordering"]
    overrides = [
        f"strategy={strategy}",
        "trainer.eval_steps=0",
        "trainer.logging_steps=1",
        "trainer.visualdl=false",
    ]
    config = make_config(toy, overrides, stages=stages, tasks=tasks)
    train(objective_of(config), resolve_settings(config, world_size=1), progress=False)
    records = [yaml.safe_load(line) for line in open(os.path.join(config["output_dir"], "log.jsonl"))]
    trained = {}
    for r in records:
        if r["event"] == "train":
            trained[r["task"]] = trained.get(r["task"], 0) + 1
    assert trained == {"knowledge_masking": 4, "sentence_reordering": 4}  # the same steps per task
    evaluations = [(r["step"], r["stage"]) for r in records if r["event"] == "eval"]
    # eval_steps=0: the end of every stage (the last one is the end of the run), nothing else.
    expected = {
        "as_written": [(3, "s1"), (8, "s2")],
        "continual": [(4, "knowledge_masking"), (8, "sentence_reordering")],
        "multitask": [(8, "multitask")],
    }[strategy]
    assert evaluations == expected
    # Every task is scored at every evaluation, those not trained yet included.
    for r in records:
        if r["event"] == "eval":
            assert set(r["eval"]) == set(tasks)
