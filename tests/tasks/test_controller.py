"""The task controller (exact steps per stage, resume at any step) and the pre-training config checks."""

from __future__ import annotations

import glob
import json
import os
from collections import Counter

import numpy as np
import pytest
import yaml

from data_tools.shards import ShardError, open_task, read_manifest, write_manifest
from ernie.engine import resolve_settings
from ernie.errors import ConfigError
from tasks import Stage, TaskContext, TaskController, VocabInfo, task_class
from tasks.config import build_model_config, load_pretrain_config, parse_stages
from tasks.objective import PretrainingObjective
from tests.fixtures.pretrain.toy_shards import build_toy_shards, tiny_model_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STAGES = [
    Stage("one", {"a": 5, "b": 3}),
    Stage("two", {"a": 2, "c": 4, "b": 1}),
    Stage("three", {"c": 6}),
]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_each_stage_gives_each_task_exactly_its_steps(seed):
    controller = TaskController(STAGES, seed=seed, samples_per_step=4)
    sequence = controller.task_sequence()
    assert len(sequence) == controller.total_steps == 21
    bounds = [0, 8, 15, 21]
    for stage, start, end in zip(STAGES, bounds, bounds[1:]):
        assert Counter(sequence[start:end]) == Counter(stage.steps)
    plans = list(controller)
    assert [p.task for p in plans] == sequence
    assert [p.stage_name for p in plans] == ["one"] * 8 + ["two"] * 7 + ["three"] * 6
    assert [p.step_in_stage for p in plans] == list(range(8)) + list(range(7)) + list(range(6))
    # Per-task sample cursors run across stages, one global batch per step.
    for task in "abc":
        starts = [p.sample_start for p in plans if p.task == task]
        assert starts == [4 * k for k in range(len(starts))]
    assert controller.done and controller.peek() is None


def test_schedule_is_seeded_and_interleaved():
    stages = [Stage("s", {"a": 50, "b": 50})]
    first = TaskController(stages, seed=3, samples_per_step=1).task_sequence()
    assert first == TaskController(stages, seed=3, samples_per_step=1).task_sequence()
    assert first != TaskController(stages, seed=4, samples_per_step=1).task_sequence()
    assert first != ["a"] * 50 + ["b"] * 50  # interleaved, not blocked
    switches = sum(x != y for x, y in zip(first, first[1:]))
    assert switches > 20


def test_restored_at_any_step_the_run_continues_identically():
    reference = [(p.task, p.stage_index, p.sample_start, p.task_step) for p in TaskController(STAGES, 5, 3)]
    for stop in range(len(reference) + 1):
        controller = TaskController(STAGES, 5, 3)
        head = [
            (p.task, p.stage_index, p.sample_start, p.task_step)
            for p in (controller.next() for _ in range(stop))
        ]
        state = json.loads(json.dumps(controller.state_dict()))  # what a checkpoint would store
        resumed = TaskController(STAGES, 5, 3)
        resumed.load_state_dict(state)
        tail = [(p.task, p.stage_index, p.sample_start, p.task_step) for p in resumed]
        assert head + tail == reference, stop


def test_a_state_from_other_stages_or_seed_is_refused():
    controller = TaskController(STAGES, 5, 3)
    controller.next()
    state = controller.state_dict()
    with pytest.raises(ConfigError, match="stages"):
        TaskController(STAGES, 6, 3).load_state_dict(state)
    changed = [Stage("one", {"a": 5, "b": 4}), *STAGES[1:]]
    with pytest.raises(ConfigError, match="stages"):
        TaskController(changed, 5, 3).load_state_dict(state)


def test_resumed_samples_are_the_uninterrupted_samples(tmp_path):
    shard_dir, vocab_file = build_toy_shards(str(tmp_path))
    vocab = VocabInfo(
        size=150, cls_id=2, sep_id=3, pad_id=0, mask_id=4, unk_id=1, special_ids=(0, 1, 2, 3, 4)
    )
    context = TaskContext(seed=9, max_seq_len=32, vocab=vocab, heldout=0.1)
    names = ["knowledge_masking", "sentence_reordering", "sentence_distance", "discourse_relation"]
    tasks = {n: task_class(n)(k, {}, open_task(shard_dir, n), context) for k, n in enumerate(names)}
    stages = [
        Stage("s1", {"knowledge_masking": 3, "sentence_reordering": 2}),
        Stage("s2", {n: 2 for n in names}),
    ]

    def batches(controller, steps=None):
        out = []
        for plan in controller:
            batch = tasks[plan.task].batch(range(plan.sample_start, plan.sample_start + plan.samples))
            out.append((plan.task, batch))
            if steps is not None and len(out) == steps:
                break
        return out

    reference = batches(TaskController(stages, 9, 4))
    for stop in (1, 4, 7):
        controller = TaskController(stages, 9, 4)
        head = batches(controller, stop)
        # Fresh tasks too: nothing cached in the task objects matters.
        tasks = {n: task_class(n)(k, {}, open_task(shard_dir, n), context) for k, n in enumerate(names)}
        resumed = TaskController(stages, 9, 4)
        resumed.load_state_dict(controller.state_dict())
        got = head + batches(resumed)
        assert [t for t, _ in got] == [t for t, _ in reference]
        for (_, a), (_, b) in zip(got, reference):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------- configs
def test_shipped_configs_parse_and_the_strategy_comparison_has_equal_budgets():
    totals = {}
    for path in sorted(glob.glob(os.path.join(REPO, "configs/pretrain/*.yaml"))):
        config = load_pretrain_config(path)
        stages = parse_stages(config)
        budget = Counter()
        for stage in stages:
            budget.update(stage.steps)
        totals[os.path.basename(path)] = budget
        # Every config uses the project-wide task ids.
        ids = {
            "knowledge_masking": 0,
            "capitalization": 1,
            "token_document": 2,
            "sentence_reordering": 3,
            "sentence_distance": 4,
            "discourse_relation": 5,
            "ir_relevance": 6,
        }
        for name, options in config["tasks"].items():
            assert options["task_id"] == ids[name], (path, name)
        model = build_model_config({**config, "model_config": os.path.join(REPO, config["model_config"])})
        assert model.use_task_id and model.type_vocab_size == 4
    # The comparison's small recipes: every task the same steps in all (the comparison's premise).
    for name in ("compare_small_en.yaml", "compare_small_zh.yaml"):
        assert len(set(totals[name].values())) == 1, (name, totals[name])
    # The comparison config and its demo: the demo is the same schedule scaled down 500x, stage by stage.
    full = parse_stages(load_pretrain_config(os.path.join(REPO, "configs/pretrain/compare_en.yaml")))
    demo = parse_stages(load_pretrain_config(os.path.join(REPO, "configs/pretrain/demo_compare_en.yaml")))
    assert [{t: n * 500 for t, n in s.steps.items()} for s in demo] == [dict(s.steps) for s in full]
    staircase = parse_stages(load_pretrain_config(os.path.join(REPO, "configs/pretrain/compare_en.yaml")))
    assert [dict(s.steps) for s in staircase] == [
        {"knowledge_masking": 20000},
        {"knowledge_masking": 10000, "capitalization": 30000},
        {"knowledge_masking": 10000, "capitalization": 10000, "token_document": 40000},
        {
            "knowledge_masking": 10000,
            "capitalization": 10000,
            "token_document": 10000,
            "sentence_reordering": 50000,
        },
    ]
    en = {
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "discourse_relation",
    }
    zh = {
        "knowledge_masking",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
        "ir_relevance",
    }
    assert set(totals["ernie2_en.yaml"]) == set(totals["demo_en.yaml"]) == en
    assert set(totals["ernie2_zh.yaml"]) == set(totals["demo_zh.yaml"]) == zh
    # The demos stay small (the 3-minute budget is checked by running one in test_pretrain.py).
    assert sum(totals["demo_en.yaml"].values()) <= 600 and sum(totals["demo_zh.yaml"].values()) <= 600


@pytest.fixture
def run_config(tmp_path):
    """A valid config over toy shards, written as YAML; returns (path, dict)."""
    shard_dir, vocab_file = build_toy_shards(str(tmp_path / "data"), num_docs=20, num_pairs=60)
    model = tiny_model_config(str(tmp_path / "model.json"), vocab_size=150)
    config = {
        "output_dir": str(tmp_path / "out"),
        "seed": 1,
        "model_config": model,
        "vocab": vocab_file,
        "data": {"dir": shard_dir, "max_seq_len": 32, "heldout": 0.1, "eval_samples": 8},
        "trainer": {"global_batch_size": 2, "eval_batch_size": 4},
        "tasks": {
            "knowledge_masking": {"task_id": 0},
            "capitalization": {"task_id": 1},
            "sentence_distance": {"task_id": 4},
        },
        "stages": [
            {"name": "s1", "tasks": {"knowledge_masking": 2}},
            {
                "name": "s2",
                "tasks": {
                    "knowledge_masking": {"steps": 1, "levels": {"entity": 1}},
                    "capitalization": 1,
                    "sentence_distance": 1,
                },
            },
        ],
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path), config


BAD_CONFIGS = [
    (["tasks.masking.task_id=3"], "unknown task 'tasks.masking'"),
    (["tasks.capitalization.colour=1"], "tasks.capitalization.colour"),
    (
        ["trainer.micro_batch=3"],
        "unknown key 'trainer.micro_batch' (did you mean 'trainer.micro_batch_size'?)",
    ),
    (["trainer.micro_batch_size=0"], "trainer.micro_batch_size"),
    (["trainer.micro_batch_size=4"], "'trainer.global_batch_size' (2) and 'trainer.micro_batch_size' (4)"),
    (["trainer.accumulate_steps=2"], "'trainer.accumulate_steps' is retired; use trainer.global_batch_size"),
    (["trainer.batch_size=2"], "'trainer.batch_size' is retired; use trainer.global_batch_size"),
    (["tasks.capitalization.task_id=0"], "task_id' (0) is also the id of capitalization"),
]


@pytest.mark.parametrize("overrides,key", BAD_CONFIGS)
def test_bad_overrides_name_the_key(run_config, overrides, key):
    path, _ = run_config
    with pytest.raises(ConfigError) as error:
        load_pretrain_config(path, overrides)
    message = str(error.value)
    assert key in message and "\n" not in message


def _edit(path, config, change):
    config = json.loads(json.dumps(config))
    change(config)
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


STAGE_EDITS = [
    (lambda c: c["stages"][1]["tasks"].clear(), "stages[1].tasks"),
    (lambda c: c["stages"].clear(), "stages"),
    (lambda c: c["stages"][0]["tasks"].update(knowledge_masking=-5), "stages[0].tasks.knowledge_masking"),
    (
        lambda c: c["stages"][1]["tasks"].update(capitalization={"steps": 0}),
        "stages[1].tasks.capitalization.steps",
    ),
    (lambda c: c["stages"][0]["tasks"].update(token_document=3), "stages[0].tasks.token_document"),
    (lambda c: c["stages"][0]["tasks"].update(sentence_ordering=3), "stages[0].tasks.sentence_ordering"),
    (lambda c: c["stages"][0].update(steps=3), "stages[0].steps"),
    (
        lambda c: c["stages"][1]["tasks"].update(sentence_distance={"steps": 2, "max_segments": 4}),
        "stages[1].tasks.sentence_distance.max_segments",
    ),
    (
        lambda c: c["stages"][1]["tasks"]["knowledge_masking"].update(levels={"sentence": 1}),
        "levels.sentence",
    ),
]


@pytest.mark.parametrize("change,key", STAGE_EDITS)
def test_bad_stages_name_the_key(run_config, tmp_path, change, key):
    path, config = run_config
    bad = _edit(str(tmp_path / "bad.yaml"), config, change)
    with pytest.raises(ConfigError) as error:
        load_pretrain_config(bad)
    assert key in str(error.value) and "\n" not in str(error.value)


def test_task_id_beyond_the_task_embedding_is_refused_before_training(run_config, monkeypatch):
    path, _ = run_config
    config = load_pretrain_config(path, ["tasks.sentence_distance.task_id=8"])  # the tiny model has 8 rows
    monkeypatch.setattr(PretrainingObjective, "_build_model", _must_not_build)
    with pytest.raises(ConfigError, match=r"tasks.sentence_distance.task_id.*task_type_vocab_size \(8\)"):
        objective_of(config)


def test_missing_shards_are_refused_before_training(run_config, monkeypatch):
    path, config = run_config
    os.remove(os.path.join(config["data"]["dir"], "sentence_distance", "ids.idx"))
    monkeypatch.setattr(PretrainingObjective, "_build_model", _must_not_build)
    with pytest.raises(ShardError, match="sentence_distance/ids.idx"):
        objective_of(load_pretrain_config(path))
    # A task the shards were never built for.
    manifest = read_manifest(config["data"]["dir"])
    del manifest["tasks"]["ir_relevance"], manifest["tasks"]["sentence_distance"]
    write_manifest(config["data"]["dir"], manifest)
    cfg = load_pretrain_config(path, ["tasks.ir_relevance.task_id=6"])
    cfg["stages"][0]["tasks"]["ir_relevance"] = 1
    with pytest.raises(ShardError, match="no shards for task 'ir_relevance'"):
        objective_of(cfg)


def test_shards_of_another_vocabulary_are_refused(run_config, tmp_path, monkeypatch):
    path, config = run_config
    other = tmp_path / "other_vocab.txt"
    other.write_text(open(config["vocab"]).read() + "extra\n")
    monkeypatch.setattr(PretrainingObjective, "_build_model", _must_not_build)
    with pytest.raises(ShardError, match="vocab.sha256"):
        objective_of(load_pretrain_config(path, [f"vocab={other}"]))


def objective_of(config):
    return PretrainingObjective(config, resolve_settings(config, world_size=1))


def _must_not_build(self):
    raise AssertionError("the model was built before the config was fully checked")
