"""fleetrun data parallelism: two processes train exactly what one process trains on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "finetune")
from tests.fixtures.finetune.tiny import make_tiny_model, vocab_from_texts  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "finetune.py")


def _texts():
    out = []
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        with open(os.path.join(FIXTURES, "glue", "MNLI", name), encoding="utf-8") as f:
            out.append(f.read())
    return out


def _weights(path):
    import paddle

    return paddle.load(os.path.join(path, "best", "model_state.pdparams"), return_numpy=True)


def _losses(path):
    with open(os.path.join(path, "log.jsonl"), encoding="utf-8") as f:
        return [r["loss"] for r in map(json.loads, f) if "loss" in r]


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    model = make_tiny_model(str(tmp_path / "model"), vocab_tokens=vocab_from_texts(_texts()))
    common = [
        TOOL, "--config", os.path.join(ROOT, "configs", "finetune", "glue", "mnli.yaml"),
        "--model_dir", model, "--data_dir", os.path.join(FIXTURES, "glue", "MNLI"), "--do_train",
        "--set", "trainer.max_steps=3", "--set", "trainer.global_batch_size=4", "--set", "trainer.eval_steps=3",
        "--set", "trainer.logging_steps=1", "--set", "optimizer.learning_rate=1.0e-3",
        "--set", "model.hidden_dropout_prob=0", "--set", "model.attention_probs_dropout_prob=0", "--quiet",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    runs = {
        "one": [sys.executable, *common, "--set", "trainer.micro_batch_size=4"],
        "accumulate": [sys.executable, *common, "--set", "trainer.micro_batch_size=2"],  # 2 x 2 accumulation
        "two": [
            sys.executable,
            "-m",
            "paddle.distributed.launch",
            "--nproc_per_node",
            "2",
            "--log_dir",
            str(tmp_path / "fleet_log"),
            *common,
            "--set",
            "trainer.micro_batch_size=2",
        ],  # fmt: skip
    }
    for name, command in runs.items():
        proc = subprocess.run(
            [*command, "--output", str(tmp_path / name)],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(tmp_path),
            timeout=600,
        )
        logs = ""
        if name == "two" and os.path.isdir(tmp_path / "fleet_log"):
            logs = "".join(
                open(os.path.join(tmp_path / "fleet_log", f)).read()
                for f in os.listdir(tmp_path / "fleet_log")
            )
        assert proc.returncode == 0, proc.stderr[-3000:] + logs[-3000:]

    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert (
        results["world_size"] == 2 and results["micro_batch_size"] == 2 and results["accumulate_steps"] == 1
    )
    reference = _weights(tmp_path / "one")
    initial = _weights_initial(model)
    moved = max(float(np.abs(reference[k] - initial[k]).max()) for k in initial)
    assert moved > 1e-4  # training changed the weights, so equality below means something
    for name in ("accumulate", "two"):
        other = _weights(tmp_path / name)
        assert set(other) == set(reference)
        diff = max(float(np.abs(other[k] - reference[k]).max()) for k in reference)
        assert diff <= 1e-6, (name, diff)
        assert np.allclose(_losses(tmp_path / name), _losses(tmp_path / "one"), rtol=1e-5, atol=1e-6)


def _weights_initial(model_dir):
    import paddle

    state = paddle.load(os.path.join(model_dir, "model_state.pdparams"), return_numpy=True)
    return {f"ernie.{k}": v for k, v in state.items()}
