"""Resuming from a damaged newest checkpoint: one line naming the damaged file and the older checkpoint
to resume from (exit 2); resuming from that one then ends exactly as the uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from data_tools.build import build_shards, demo_corpus
from tests.fixtures.runs import assert_same_weights, checkpoint_weights

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB_EN = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("demo") / "shards")
    build_shards(demo_corpus("en")[0], VOCAB_EN, path, "en", ["knowledge_masking"])
    return path


def pretrain(output, shards, *extra) -> subprocess.CompletedProcess:
    args = [
        "--config", os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml"), "--quiet",
        "--set", f"output_dir={output}", "--set", f"data.dir={shards}",
        "--set", "stages=[{name: s1, tasks: {knowledge_masking: 4}}]",
        "--set", "trainer.save_steps=2", "--set", "trainer.eval_steps=4", "--set", "trainer.visualdl=false",
        *extra,
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "pretrain.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def finished(shards, tmp_path_factory):
    output = tmp_path_factory.mktemp("reference") / "run"
    result = pretrain(output, shards)
    assert result.returncode == 0, result.stderr[-3000:]
    return output


@pytest.mark.parametrize(
    "name", ["trainer_state.json", "trainer_state.pdparams", "rng_state_rank0.pkl", "model_state.pdparams"]
)
def test_a_truncated_file_in_the_newest_checkpoint_is_named(finished, shards, tmp_path, name):
    import shutil

    output = tmp_path / "run"
    shutil.copytree(finished, output)
    damaged = output / "checkpoints" / "step_4" / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    result = pretrain(output, shards, "--resume", "auto")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    older = output / "checkpoints" / "step_2"
    assert line.startswith(f"error: {damaged}: ") and f"--resume {older}" in line
    # The older checkpoint it names continues to the same end as the uninterrupted run.
    result = pretrain(output, shards, "--resume", str(older))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(
        checkpoint_weights(str(output / "checkpoints" / "step_4")),
        checkpoint_weights(str(finished / "checkpoints" / "step_4")),
    )
