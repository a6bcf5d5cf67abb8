"""tools/pretrain.py: exact resume after SIGKILL, atomic checkpoints, fleetrun data parallelism, the demo,
PaddleNLP loading the checkpoints, and bad configs stopping with exit 2 before training."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from data_tools.build import build_shards, demo_corpus
from ernie.engine.checkpoints import find_checkpoint
from tests.conftest import paddlenlp_or_skip
from tests.fixtures.runs import assert_same_weights, checkpoint_weights, log_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "pretrain.py")
FAULTY = os.path.join(ROOT, "tests", "fixtures", "faulty_run.py")
CONFIG = os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml")
VOCAB = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")
# Three stages that switch tasks mid-run, so a resume lands inside a stage with heads not yet trained.
STAGES = (
    "stages=[{name: s1, tasks: {knowledge_masking: 6}},"
    " {name: s2, tasks: {knowledge_masking: 4, capitalization: 4, sentence_reordering: 4}},"
    " {name: s3, tasks: {token_document: 3, discourse_relation: 3}}]"
)
TOTAL = 24


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("demo") / "shards")
    inputs, _ = demo_corpus("en")
    build_shards(inputs, VOCAB, path, "en")
    return path


def settings(output, shards, *extra):
    return [
        "--config", CONFIG, "--quiet",
        "--set", f"output_dir={output}", "--set", f"data.dir={shards}", "--set", STAGES,
        "--set", "trainer.save_steps=4", "--set", "trainer.logging_steps=1", "--set", "trainer.eval_steps=8",
        "--set", "data.eval_samples=16", "--set", "trainer.visualdl=false",
        *extra,
    ]  # fmt: skip


def run(args, faulty=False, env=None, timeout=600):
    command = [FAULTY, "pretrain"] if faulty else [TOOL]
    return subprocess.run(
        [sys.executable, *command, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )


def weights(checkpoint):
    return checkpoint_weights(checkpoint)


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("reference") / "run")
    proc = run(settings(output, shards))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return output


@pytest.mark.slow
def test_reference_run_layout_and_log(reference):
    root = os.path.join(reference, "checkpoints")
    assert sorted(os.listdir(root)) == ["latest", "step_16", "step_20", "step_24"]  # keep_checkpoints: 3
    assert open(os.path.join(root, "latest")).read().strip() == "step_24"
    assert find_checkpoint(reference) == os.path.join(root, "step_24")
    records = log_records(reference)
    train = [r for r in records if r["event"] == "train"]
    assert [r["step"] for r in train] == list(range(1, TOTAL + 1))
    steps_per_task = {}
    for record in train:
        (name,) = record["tasks"]  # logging every step: the window holds the step's own task
        assert name == record["task"] and record["tasks"][name]["loss"] == pytest.approx(record["loss"])
        steps_per_task[name] = steps_per_task.get(name, 0) + 1
    assert steps_per_task == {
        "knowledge_masking": 10,
        "capitalization": 4,
        "sentence_reordering": 4,
        "token_document": 3,
        "discourse_relation": 3,
    }
    assert [r["stage"] for r in train] == ["s1"] * 6 + ["s2"] * 12 + ["s3"] * 6
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [6, 8, 16, 18, 24]  # every 8 steps and at each stage's end
    assert set(evals[-1]["eval"]) == set(steps_per_task)


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_gives_the_uninterrupted_run(shards, reference, tmp_path):
    output = str(tmp_path / "run")
    kill_at = random.randint(5, TOTAL - 3)
    proc = subprocess.Popen(
        [sys.executable, TOOL, *settings(output, shards)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    log = os.path.join(output, "log.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.isfile(log):
            with open(log, encoding="utf-8") as f:
                lines = f.read().splitlines()
            if len(lines) >= kill_at:
                break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before step {kill_at}: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = run(settings(output, shards, "--resume", "auto"))
    assert resumed.returncode == 0, (kill_at, resumed.stderr[-3000:])
    assert log_records(output) == log_records(reference), f"killed after log line {kill_at}"
    assert_same_weights(
        weights(os.path.join(output, "checkpoints", "step_24")),
        weights(os.path.join(reference, "checkpoints", "step_24")),
    )


@pytest.mark.slow
def test_kill_while_writing_a_checkpoint_leaves_the_previous_one_usable(shards, reference, tmp_path):
    output = str(tmp_path / "run")
    killed = run(settings(output, shards), faulty=True, env={"ERNIE_FAULT": "kill_in_save:8"})
    assert killed.returncode == -signal.SIGKILL
    root = os.path.join(output, "checkpoints")
    assert os.path.isfile(os.path.join(root, ".step_8.tmp", "model_state.pdparams"))  # half written
    assert find_checkpoint(output) == os.path.join(root, "step_4")
    resumed = run(settings(output, shards, "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not [name for name in os.listdir(root) if name.endswith(".tmp")]
    assert log_records(output) == log_records(reference)
    assert_same_weights(
        weights(os.path.join(root, "step_24")), weights(os.path.join(reference, "checkpoints", "step_24"))
    )


@pytest.mark.slow
def test_two_fleet_processes_match_one_process_on_the_same_global_batch(shards, tmp_path):
    # Adam turns float-summation differences in near-zero gradients into lr-sized steps: a small
    # learning rate keeps that rounding noise below the 1e-6 bar while the weights still move.
    common = ["--set", "model.hidden_dropout_prob=0", "--set", "model.attention_probs_dropout_prob=0",
              "--set", "trainer.max_steps=6", "--set", "trainer.save_steps=6",
              "--set", "optimizer.learning_rate=1e-4"]  # fmt: skip
    one = run(
        settings(str(tmp_path / "one"), shards, *common, "--set", "trainer.micro_batch_size=8")
    )  # 8 = global
    assert one.returncode == 0, one.stderr[-3000:]
    launch = ["-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(tmp_path / "logs")]
    two = subprocess.run(
        [sys.executable, *launch, TOOL,
         *settings(str(tmp_path / "two"), shards, *common, "--set", "trainer.micro_batch_size=4")],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    logs = "".join(open(tmp_path / "logs" / f).read() for f in os.listdir(tmp_path / "logs"))
    assert two.returncode == 0, logs[-3000:]
    expected = weights(str(tmp_path / "one" / "checkpoints" / "step_6"))
    got = weights(str(tmp_path / "two" / "checkpoints" / "step_6"))
    assert_same_weights(got, expected, atol=1e-6)
    for key in ("loss", "grad_norm"):
        # Clipping and Adam hide a wrongly scaled gradient from the weights; the logged norm does not.
        one_values, two_values = (
            [r[key] for r in log_records(str(tmp_path / n)) if r["event"] == "train"] for n in ("one", "two")
        )
        assert len(one_values) == 6 and all(v > 0 for v in one_values)
        np.testing.assert_allclose(two_values, one_values, rtol=1e-5, err_msg=key)
    config = json.loads((tmp_path / "two" / "checkpoints" / "step_6" / "trainer_state.json").read_text())
    assert config["world_size"] == 2 and config["global_batch_size"] == 8


@pytest.mark.slow
def test_a_crashing_worker_makes_fleetrun_exit_nonzero(shards, tmp_path):
    launch = ["-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(tmp_path / "logs")]
    proc = subprocess.run(
        [sys.executable, *launch, FAULTY, "pretrain", *settings(str(tmp_path / "run"), shards)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env=dict(os.environ, ERNIE_FAULT="crash:1:3"),
    )  # fmt: skip
    assert proc.returncode != 0
    logs = "".join(open(tmp_path / "logs" / f).read() for f in os.listdir(tmp_path / "logs"))
    assert "injected crash on rank 1 at step 3" in logs


@pytest.mark.slow
def test_checkpoint_loads_in_paddlenlp_and_in_a_finetuning_head(reference):
    paddlenlp_or_skip()
    import paddle
    from paddlenlp.transformers import ErnieModel as PaddleNLPErnieModel

    from ernie import ErnieForSequenceClassification, ErnieModel

    checkpoint = os.path.join(reference, "checkpoints", "step_24")
    ours = ErnieModel.from_pretrained(checkpoint)
    theirs = PaddleNLPErnieModel.from_pretrained(checkpoint)
    ours.eval(), theirs.eval()
    ids = paddle.to_tensor(np.random.RandomState(0).randint(5, 1401, size=(2, 12)))
    for a, b in zip(ours(ids), theirs(ids)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    head = ErnieForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    report = head.load_report
    assert not report.missing_encoder_keys and report.new_head_keys
    assert any(key.startswith("task_heads.") for key in report.dropped_keys)


@pytest.mark.slow
def test_demo_runs_every_stage_and_task_and_says_how_to_finetune(tmp_path):
    output = str(tmp_path / "demo")
    proc = run(["--config", CONFIG, "--set", f"output_dir={output}", "--set", f"data.dir={output}/shards"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    checkpoint = find_checkpoint(output)
    assert checkpoint == os.path.join(output, "checkpoints", "step_560")
    assert f"--model_dir {checkpoint}" in proc.stderr and "tools/finetune.py" in proc.stderr
    train = [r for r in log_records(output) if r["event"] == "train"]
    assert {r["stage"] for r in train} == {"stage1", "stage2", "stage3", "stage4"}
    trained = set().union(*(r["tasks"] for r in train))
    assert trained == {
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "discourse_relation",
    }


BAD_CONFIGS = [
    (["--set", "trainer.max_step=3"], "unknown key 'trainer.max_step'"),
    (["--set", "data.dir=/nonexistent/shards", "--set", "data.build.lang=null"], "'data.dir'"),
    (
        ["--set", "trainer.global_batch_size=10", "--set", "trainer.micro_batch_size=4"],
        "'trainer.global_batch_size' (10)",
    ),
    (["--set", "trainer.accumulate_steps=2"], "'trainer.accumulate_steps' is retired"),
    (["--set", "tasks.capitalization.task_id=99"], "'tasks.capitalization.task_id'"),
    (["--set", "stages=[{name: s1, tasks: {}}]"], "stages"),
    (["--set", "model.hiden_size=3"], "'model.hiden_size' is not a model config key"),
]


@pytest.mark.parametrize("extra, message", BAD_CONFIGS)
def test_bad_config_stops_before_training_with_one_line_and_exit_2(shards, tmp_path, extra, message):
    output = tmp_path / "run"
    proc = run(settings(str(output), shards, *extra))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not output.exists()


def test_shards_of_another_vocabulary_and_leftover_checkpoints_exit_2(shards, tmp_path):
    other_vocab = tmp_path / "vocab.txt"
    other_vocab.write_text(open(VOCAB, encoding="utf-8").read() + "extra\n")
    proc = run(
        settings(
            str(tmp_path / "a"), shards, "--set", f"vocab={other_vocab}", "--set", "model.vocab_size=1402"
        )
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert "vocab" in proc.stderr

    output = tmp_path / "b"
    first = run(settings(str(output), shards, "--set", "trainer.max_steps=4"))
    assert first.returncode == 0, first.stderr[-2000:]
    again = run(settings(str(output), shards, "--set", "trainer.max_steps=4"))
    assert again.returncode == 2 and "--resume auto" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_diverging_run_stops_with_one_line_and_saves_nothing_non_finite(shards, tmp_path):
    output = tmp_path / "run"
    proc = run(
        settings(
            str(output), shards, "--set", "optimizer.learning_rate=1.0e+6", "--set", "trainer.save_steps=2"
        )
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "consecutive steps were not finite" in lines[0]
    assert re.search(r"^error: step \d+ \(stage s\d, task \w+\): loss nan", lines[0]), lines[0]

    def refuse(constant):
        raise AssertionError(f"bare {constant} in log.jsonl")

    records = [
        json.loads(line, parse_constant=refuse) for line in open(output / "log.jsonl", encoding="utf-8")
    ]
    assert any(r.get("nonfinite") for r in records) and all(r["event"] in ("train", "eval") for r in records)
    for name in os.listdir(output / "checkpoints"):
        if name.startswith("step_"):
            state = weights(str(output / "checkpoints" / name))
            assert all(np.isfinite(v).all() for v in state.values()), name


def test_the_demo_says_what_its_model_is_for_and_other_runs_how_to_fine_tune():
    from tasks.cli import next_steps
    from tasks.config import load_pretrain_config

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = {"steps": 560, "checkpoint": "output/x/checkpoints/step_560"}
    demo = next_steps(load_pretrain_config(os.path.join(root, "configs/pretrain/demo_zh.yaml")), result)
    assert "checks the machinery" in demo and "configs/pretrain/small_zh.yaml" in demo
    assert (
        "--config configs/finetune/chinese/chnsenticorp.yaml --model_dir output/x/checkpoints/step_560"
        in demo
    )
    small = next_steps(load_pretrain_config(os.path.join(root, "configs/pretrain/small_en.yaml")), result)
    assert "machinery" not in small and "Fine-tune it:" in small and "glue/sst2.yaml" in small


def test_a_chinese_run_suggests_a_chinese_benchmark(tmp_path):
    # Not a demo: the language comes from the shards (it used to be English for every non-demo run).
    from tasks.cli import next_steps
    from tasks.config import load_pretrain_config
    from tasks.run import run_pretraining

    shards = str(tmp_path / "shards")
    inputs, _ = demo_corpus("zh")
    build_shards(
        inputs,
        os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_zh.txt"),
        shards,
        "zh",
        "knowledge_masking",
    )
    overrides = [
        f"output_dir={tmp_path / 'run'}", f"data.dir={shards}", "data.build.lang=null", "trainer.visualdl=false",
        "stages=[{name: s, tasks: {knowledge_masking: 2}}]",
    ]  # fmt: skip
    config = load_pretrain_config(os.path.join(ROOT, "configs/pretrain/demo_zh.yaml"), overrides)
    result = run_pretraining(config, progress=False)
    assert result["language"] == "zh"
    text = next_steps(config, result)
    assert "Fine-tune it:" in text and "chinese/chnsenticorp.yaml" in text and "sst2" not in text
