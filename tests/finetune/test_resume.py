"""Fine-tuning on the engine: a run killed with SIGKILL after its first checkpoint and rerun with
``--resume auto`` ends exactly as an uninterrupted one; recompute and AMP keys work here too."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.fixtures.finetune.tiny import sst2_slice
from tests.fixtures.runs import assert_same_weights, checkpoint_weights, log_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "finetune.py")


@pytest.fixture(scope="module")
def sst2(tmp_path_factory, shared_data):
    return sst2_slice(str(tmp_path_factory.mktemp("sst2")), shared_data, train_rows=96, dev_rows=40)


def command(data, model, output, *extra):
    return [
        sys.executable, TOOL, "--config", os.path.join(ROOT, "configs", "finetune", "glue", "sst2.yaml"),
        "--model_dir", model, "--data_dir", data, "--output", output, "--do_train", "--do_eval", "--quiet",
        "--set", "trainer.max_steps=20", "--set", "trainer.global_batch_size=8", "--set", "trainer.micro_batch_size=4",
        "--set", "trainer.eval_steps=3", "--set", "trainer.logging_steps=1", "--set", "trainer.keep_checkpoints=2",
        "--set", "optimizer.learning_rate=1.0e-3", "--set", "trainer.visualdl=false", *extra,
    ]  # fmt: skip


def run(args):
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def reference(sst2, tmp_path_factory):
    data, model = sst2
    output = str(tmp_path_factory.mktemp("reference") / "run")
    run(command(data, model, output))
    return output


@pytest.mark.slow
def test_sigkill_after_the_first_checkpoint_then_resume_gives_the_uninterrupted_run(
    sst2, reference, tmp_path
):
    data, model = sst2
    output = str(tmp_path / "run")
    proc = subprocess.Popen(
        command(data, model, output), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # Anywhere after the first checkpoint (step 3, written after log line 4: 3 steps and an evaluation).
    kill_after = random.randint(5, 15)
    log = os.path.join(output, "log.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.isfile(log) and sum(1 for _ in open(log, encoding="utf-8")) >= kill_after:
            break
        time.sleep(0.002)
    assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(r["step"] for r in log_records(output))
    assert killed_at < 20 and os.path.isfile(os.path.join(output, "checkpoints", "latest"))
    run(command(data, model, output, "--resume", "auto"))
    assert log_records(output) == log_records(reference), (
        f"killed after step {killed_at} (log line {kill_after})"
    )
    for folder in (os.path.join("checkpoints", "step_20"), "best"):
        assert_same_weights(
            checkpoint_weights(os.path.join(output, folder)),
            checkpoint_weights(os.path.join(reference, folder)),
        )
    got, expected = (json.loads(open(os.path.join(p, "results.json")).read()) for p in (output, reference))
    assert got["dev"] == expected["dev"] and got["best_step"] == expected["best_step"]
    with (
        open(os.path.join(output, "predictions", "dev.jsonl")) as a,
        open(os.path.join(reference, "predictions", "dev.jsonl")) as b,
    ):
        assert a.read() == b.read()


@pytest.mark.slow
def test_a_finished_run_is_not_overwritten_and_resumes_as_done(sst2, reference):
    data, model = sst2
    proc = subprocess.run(
        command(data, model, reference), capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert (
        proc.returncode == 2 and "--resume auto" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    )
    before = log_records(reference)
    run(command(data, model, reference, "--resume", "auto"))  # nothing left to train: evaluates best/ again
    assert log_records(reference) == before


@pytest.mark.slow
def test_recompute_and_amp_keys_work_in_finetuning(sst2, tmp_path):
    data, model = sst2
    no_dropout = ["--set", "model.hidden_dropout_prob=0", "--set", "model.attention_probs_dropout_prob=0",
                  "--set", "trainer.max_steps=4"]  # fmt: skip
    run(command(data, model, str(tmp_path / "plain"), *no_dropout))
    # On a CPU, mixed precision is reported and off; recompute must give the same weights.
    proc = run(
        command(data, model, str(tmp_path / "recompute"), *no_dropout, "--set", "trainer.recompute=true",
                "--set", "trainer.amp=bfloat16", "--set", "trainer.amp_level=O2")
    )  # fmt: skip
    import paddle

    if not paddle.is_compiled_with_cuda():
        assert "trainer.amp=bfloat16 ignored: no GPU" in proc.stderr
    expected, got = (checkpoint_weights(str(tmp_path / n / "best")) for n in ("plain", "recompute"))
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-6, err_msg=key)
