"""Outputs that cannot be written: a read-only or full disk, no permission, a file where a folder should
be. Every command stops with one line naming the output and exit 2, and leaves no temporary or partial
file behind; a rerun once the disk is fixed works.

The OS errors are injected by ``tests/fixtures/faulty_run.py`` (``ERNIE_FAULT=oserror:...``): tests run
as root, where permissions do not stop writes, and cannot mount a read-only or full filesystem.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from data_tools.build import build_shards, demo_corpus
from tests.fixtures.finetune.tiny import sst2_slice
from tests.serving.helpers import build_checkpoint, exported

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTY = os.path.join(ROOT, "tests", "fixtures", "faulty_run.py")
VOCAB_EN = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")
MESSAGES = {
    "EROFS": "Read-only file system",
    "EACCES": "Permission denied",
    "ENOSPC": "No space left on device",
}


def run(tool: str, *args: str, fault: str = "") -> subprocess.CompletedProcess:
    """``tool`` with ``fault`` injected (none when empty)."""
    env = dict(os.environ, ERNIE_FAULT=fault or "none")
    return subprocess.run(
        [sys.executable, FAULTY, tool, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


def leftovers(root) -> list[str]:
    """Temporary names anywhere under ``root``: what a failed write must not leave."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if ".tmp" in name or ".old" in name or ".export-" in name:
                found.append(os.path.join(folder, name))
    return found


def a_file(tmp_path) -> str:
    path = tmp_path / "a_file"
    path.write_text("not a folder\n")
    return str(path)


# ---------------------------------------------------------------------------------------------- shards
def build_args(output: str) -> list[str]:
    inputs, _ = demo_corpus("en")
    return ["build", "--lang", "en", "--input", *inputs, "--vocab", VOCAB_EN, "--output", output, "--quiet"]


@pytest.mark.parametrize("name", ["EROFS", "EACCES"])
def test_build_on_an_unwritable_folder(tmp_path, name):
    out = tmp_path / "disk" / "shards"
    (tmp_path / "disk").mkdir()
    line = error_line(run("data", *build_args(str(out)), fault=f"oserror:{name}:{tmp_path / 'disk'}"))
    assert str(out) in line and MESSAGES[name] in line
    assert os.listdir(tmp_path / "disk") == []


def test_build_on_a_full_disk_removes_its_temporary_folder(tmp_path):
    out = tmp_path / "disk" / "shards"
    (tmp_path / "disk").mkdir()
    line = error_line(run("data", *build_args(str(out)), fault=f"oserror:ENOSPC:{tmp_path / 'disk'}:20000"))
    assert str(out) in line and "No space left on device" in line
    assert os.listdir(tmp_path / "disk") == []
    assert run("data", *build_args(str(out))).returncode == 0  # the same command once there is space


def test_build_under_a_regular_file(tmp_path):
    out = os.path.join(a_file(tmp_path), "shards")
    line = error_line(run("data", *build_args(out)))
    assert out in line and "Not a directory" in line
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


# ---------------------------------------------------------------------------------------------- pre-training
@pytest.fixture(scope="module")
def demo_shards(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("demo") / "shards")
    build_shards(demo_corpus("en")[0], VOCAB_EN, path, "en", ["knowledge_masking"])
    return path


def pretrain_args(output, shards) -> list[str]:
    return [
        "--config", os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml"), "--quiet",
        "--set", f"output_dir={output}", "--set", f"data.dir={shards}",
        "--set", "stages=[{name: s1, tasks: {knowledge_masking: 4}}]",
        "--set", "trainer.save_steps=2", "--set", "trainer.eval_steps=4", "--set", "trainer.visualdl=false",
    ]  # fmt: skip


def test_pretraining_into_a_read_only_folder(tmp_path, demo_shards):
    output = tmp_path / "disk" / "run"
    (tmp_path / "disk").mkdir()
    line = error_line(
        run("pretrain", *pretrain_args(output, demo_shards), fault=f"oserror:EROFS:{tmp_path / 'disk'}")
    )
    assert str(output) in line and "Read-only file system" in line
    assert os.listdir(tmp_path / "disk") == []


def test_a_full_disk_during_a_checkpoint_leaves_no_partial_checkpoint(tmp_path, demo_shards):
    output = tmp_path / "run"
    checkpoints = output / "checkpoints"
    result = run(
        "pretrain", *pretrain_args(output, demo_shards), fault=f"oserror:ENOSPC:{checkpoints}:100000"
    )
    line = error_line(result)
    assert str(checkpoints / "step_2") in line and "No space left on device" in line
    assert leftovers(output) == [] and not [n for n in os.listdir(checkpoints) if n.startswith("step_")]
    # Nothing stale blocks the same run once there is space: it starts again and completes.
    assert run("pretrain", *pretrain_args(output, demo_shards), "--resume", "auto").returncode == 0
    assert sorted(os.listdir(checkpoints)) == ["latest", "step_2", "step_4"]


def test_pretraining_under_a_regular_file(tmp_path, demo_shards):
    output = os.path.join(a_file(tmp_path), "run")
    line = error_line(run("pretrain", *pretrain_args(output, demo_shards)))
    assert output in line and "Not a directory" in line


# ---------------------------------------------------------------------------------------------- fine-tuning
@pytest.fixture(scope="module")
def sst2(tmp_path_factory, shared_data):
    return sst2_slice(str(tmp_path_factory.mktemp("sst2")), shared_data, train_rows=24, dev_rows=16)


def finetune_args(sst2, output) -> list[str]:
    data, model = sst2
    return [
        "--config", os.path.join(ROOT, "configs", "finetune", "glue", "sst2.yaml"), "--quiet",
        "--model_dir", model, "--data_dir", data, "--output", str(output), "--do_train", "--do_eval",
        "--set", "trainer.max_steps=2", "--set", "trainer.global_batch_size=8", "--set", "trainer.eval_steps=2",
        "--set", "trainer.visualdl=false",
    ]  # fmt: skip


def test_finetuning_with_a_full_disk_for_best(tmp_path, sst2):
    output = tmp_path / "run"
    line = error_line(
        run("finetune", *finetune_args(sst2, output), fault=f"oserror:ENOSPC:{output / '.best'}:0")
    )
    assert str(output / "best") in line and "No space left on device" in line
    assert (
        leftovers(output) == [] and not (output / "best").exists() and not (output / "results.json").exists()
    )


@pytest.mark.parametrize("name", ["EROFS", "EACCES"])
def test_finetuning_into_an_unwritable_folder(tmp_path, sst2, name):
    (tmp_path / "disk").mkdir()
    output = tmp_path / "disk" / "run"
    line = error_line(
        run("finetune", *finetune_args(sst2, output), fault=f"oserror:{name}:{tmp_path / 'disk'}")
    )
    assert str(output) in line and MESSAGES[name] in line
    assert os.listdir(tmp_path / "disk") == []


def test_finetuning_under_a_regular_file(tmp_path, sst2):
    output = os.path.join(a_file(tmp_path), "run")
    line = error_line(run("finetune", *finetune_args(sst2, output)))
    assert output in line and "Not a directory" in line


# ---------------------------------------------------------------------------------------------- serving
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_checkpoint(str(tmp_path_factory.mktemp("ckpt")), "cls")[0]


@pytest.fixture(scope="module")
def export_prefix(tmp_path_factory):
    return exported(str(tmp_path_factory.mktemp("export")), "cls")[0]


@pytest.mark.parametrize("name", ["EROFS", "ENOSPC"])
def test_export_into_an_unwritable_folder(tmp_path, checkpoint, name):
    (tmp_path / "disk").mkdir()
    prefix = tmp_path / "disk" / "inference"
    fault = f"oserror:{name}:{tmp_path / 'disk'}" + (":1000" if name == "ENOSPC" else "")
    line = error_line(run("export", "--model_dir", checkpoint, "--output", str(prefix), fault=fault))
    assert str(prefix) in line and MESSAGES[name] in line
    assert os.listdir(tmp_path / "disk") == []


def test_export_under_a_regular_file(tmp_path, checkpoint):
    prefix = os.path.join(a_file(tmp_path), "inference")
    line = error_line(run("export", "--model_dir", checkpoint, "--output", prefix))
    assert prefix in line and "Not a directory" in line


@pytest.mark.parametrize("name", ["EROFS", "EACCES"])
def test_predictions_into_an_unwritable_folder(tmp_path, export_prefix, name):
    source = tmp_path / "in.txt"
    source.write_text("a good film\nnot good\n", encoding="utf-8")
    (tmp_path / "disk").mkdir()
    output = tmp_path / "disk" / "out.jsonl"
    args = ["--model", export_prefix, "--input", str(source), "--output", str(output)]
    line = error_line(run("predict", *args, fault=f"oserror:{name}:{tmp_path / 'disk'}"))
    assert str(output) in line and MESSAGES[name] in line
    assert os.listdir(tmp_path / "disk") == []


def test_predictions_under_a_regular_file(tmp_path, export_prefix):
    source = tmp_path / "in.txt"
    source.write_text("a good film\n", encoding="utf-8")
    output = os.path.join(a_file(tmp_path), "out.jsonl")
    line = error_line(run("predict", "--model", export_prefix, "--input", str(source), "--output", output))
    assert output in line and "not a directory" in line
