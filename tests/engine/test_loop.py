"""The engine on a toy objective: the global-batch gradient, the log, best-model tracking, checkpoints
and exact resume, loss-scaling skips, and that parameters are updated in one place only."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from ernie.engine import resolve_settings  # noqa: E402
from ernie.engine.checkpoints import find_checkpoint  # noqa: E402
from ernie.engine.loop import Engine, train  # noqa: E402
from ernie.engine.precision import Precision, usable_amp_dtype  # noqa: E402
from ernie.engine.settings import ENGINE_KEYS  # noqa: E402
from ernie.errors import CheckpointError, ConfigError  # noqa: E402
from ernie.yaml_config import defaults_of  # noqa: E402
from tests.engine.toy_objective import IGNORE, ToyObjective, collate  # noqa: E402
from tests.fixtures.runs import log_records  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def settings_for(output_dir, **trainer):
    config = defaults_of(ENGINE_KEYS)
    config["output_dir"] = str(output_dir)
    config["trainer"].update({"global_batch_size": 8, "logging_steps": 1, "visualdl": False, **trainer})
    config["optimizer"].update({"learning_rate": 0.01, "warmup": 0.0})
    return resolve_settings(config, world_size=1)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def records(output_dir, event="train"):
    return log_records(str(output_dir), event)


def test_the_update_is_the_global_batch_mean_however_the_batch_is_split(tmp_path):
    # By hand: the mean cross entropy over every labelled token of the 8 examples, one backward pass.
    reference = ToyObjective(settings_for(tmp_path / "ref"), total_steps=1)
    batch = collate(reference.examples[:8])
    logits = reference.model(paddle.to_tensor(batch["input_ids"]))
    labelled = int((batch["labels"] != IGNORE).sum())
    summed = paddle.nn.functional.cross_entropy(
        logits.reshape([-1, 3]),
        paddle.to_tensor(batch["labels"]).reshape([-1]),
        ignore_index=IGNORE,
        reduction="sum",
    )
    loss = summed / labelled  # (Paddle's reduction="mean" divides by the ignored positions too)
    loss.backward()
    expected_norm = float(
        paddle.sqrt(
            sum(
                (p.grad.astype("float32") ** 2).sum()
                for p in reference.model.parameters()
                if p.grad is not None
            )
        )
    )
    runs = {}
    for micro in (8, 4, 2, 1):
        settings = settings_for(tmp_path / f"m{micro}", micro_batch_size=micro)
        engine = Engine(ToyObjective(settings, total_steps=3), settings, checkpoint=None)
        first = engine.train_step(1)
        assert first.loss == pytest.approx(float(loss), rel=1e-6)
        assert first.grad_norm == pytest.approx(expected_norm, rel=1e-5)
        assert first.units == labelled and first.samples == 8
        engine.train_step(2)
        engine.train_step(3)
        runs[micro] = weights(engine.model)
    for micro in (4, 2, 1):
        for key, value in runs[8].items():
            np.testing.assert_allclose(runs[micro][key], value, atol=1e-6, err_msg=f"micro {micro}: {key}")


def test_log_schema_windows_and_evaluations(tmp_path):
    settings = settings_for(tmp_path, logging_steps=3, eval_steps=4, save_steps=0)
    objective = ToyObjective(settings, total_steps=7)
    result = train(objective, settings, progress=False)
    train_records = records(tmp_path)
    assert [r["step"] for r in train_records] == [3, 6, 7]  # every 3 steps, and the last
    for record in train_records:
        assert set(record) == {
            "event", "step", "phase", "loss", "lr", "grad_norm", "samples", "tokens",
        }  # fmt: skip
        assert record["samples"] == 8 * (1 if record["step"] == 7 else 3) and record["phase"] == "toy"
    evals = records(tmp_path, "eval")
    assert [e["step"] for e in evals] == [4, 7] and evals[-1]["eval"] == result.last_evaluation.metrics
    assert all(isinstance(e["best"], bool) for e in evals)
    assert find_checkpoint(str(tmp_path)) == os.path.join(
        str(tmp_path), "checkpoints", "step_7"
    )  # at the end


def test_the_best_evaluation_keeps_its_model(tmp_path):
    settings = settings_for(tmp_path, eval_steps=2, save_steps=2, keep_checkpoints=0)
    settings = settings.replace(best_dir=str(tmp_path / "best"))
    objective = ToyObjective(settings, total_steps=8, scores=[0.5, 0.7, 0.6, 0.65])
    result = train(objective, settings, progress=False)
    assert result.best_step == 4 and result.best_score == 0.7
    assert result.best_evaluation.metrics["dev"]["score"] == 0.7
    assert [e["best"] for e in records(tmp_path, "eval")] == [True, True, False, False]
    best = paddle.load(str(tmp_path / "best" / "model_state.pdparams"), return_numpy=True)
    step4 = paddle.load(str(tmp_path / "checkpoints" / "step_4" / "model_state.pdparams"), return_numpy=True)
    step8 = paddle.load(str(tmp_path / "checkpoints" / "step_8" / "model_state.pdparams"), return_numpy=True)
    assert all(np.array_equal(best[k], step4[k]) for k in step4)
    assert not all(np.array_equal(best[k], step8[k]) for k in step8)
    assert os.path.isfile(tmp_path / "best" / "toy.txt")  # the objective's own files come along
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".best")]  # no temporary folder left


def test_nothing_scored_keeps_the_last_model_as_best(tmp_path):
    settings = settings_for(tmp_path, eval_steps=0, save_steps=0).replace(best_dir=str(tmp_path / "best"))
    objective = ToyObjective(settings, total_steps=3)
    objective.evaluate = lambda model: None
    result = train(objective, settings, progress=False)
    assert result.best_step == 3 and result.best_score is None
    best = paddle.load(str(tmp_path / "best" / "model_state.pdparams"), return_numpy=True)
    assert all(np.array_equal(best[k], v) for k, v in weights(objective.model).items())


def test_checkpoints_keep_the_newest_and_resume_from_each_gives_the_uninterrupted_run(tmp_path):
    # Dropout on: the RNG state must come back with the weights, optimizer and data position.
    reference_dir = tmp_path / "reference"
    settings = settings_for(reference_dir, save_steps=2, keep_checkpoints=0, eval_steps=3, micro_batch_size=4)
    train(ToyObjective(settings, total_steps=6, dropout=0.2), settings, progress=False)
    expected = paddle.load(
        str(reference_dir / "checkpoints" / "step_6" / "model_state.pdparams"), return_numpy=True
    )
    assert sorted(os.listdir(reference_dir / "checkpoints")) == ["latest", "step_2", "step_4", "step_6"]
    for step in (2, 4):
        run_dir = tmp_path / f"from_{step}"
        shutil.copytree(
            reference_dir / "checkpoints" / f"step_{step}", run_dir / "checkpoints" / f"step_{step}"
        )
        shutil.copy(
            reference_dir / "log.jsonl", run_dir / "log.jsonl"
        )  # longer than the checkpoint: cut back
        resumed = settings.replace(output_dir=str(run_dir), keep_checkpoints=2)
        result = train(
            ToyObjective(resumed, total_steps=6, dropout=0.2), resumed, resume="auto", progress=False
        )
        assert result.steps == 6
        got = paddle.load(str(run_dir / "checkpoints" / "step_6" / "model_state.pdparams"), return_numpy=True)
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"from step {step}: {key}")
        assert records(run_dir) == records(reference_dir) and records(run_dir, "eval") == records(
            reference_dir, "eval"
        )
        kept = sorted(os.listdir(run_dir / "checkpoints"))
        assert kept == ["latest", "step_4", "step_6"]  # keep_checkpoints: 2
        assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_6"


def test_resume_checks_the_run_and_the_files(tmp_path):
    settings = settings_for(tmp_path, save_steps=2)
    train(ToyObjective(settings, total_steps=2), settings, progress=False)
    with pytest.raises(ConfigError, match="holds checkpoints of an earlier run: pass --resume auto"):
        train(ToyObjective(settings, total_steps=2), settings, progress=False)
    other = settings.replace(global_batch_size=4, micro_batch_size=4)
    with pytest.raises(
        ConfigError, match=r"'trainer.global_batch_size' \(4\) differs from the checkpoint's \(8"
    ):
        train(ToyObjective(other, total_steps=4), other, resume="auto", progress=False)
    state = tmp_path / "checkpoints" / "step_2" / "trainer_state.pdparams"
    state.write_bytes(state.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="trainer_state.pdparams: cannot be read"):
        train(ToyObjective(settings, total_steps=4), settings, resume="auto", progress=False)
    with pytest.raises(ConfigError, match="not a complete checkpoint"):
        train(ToyObjective(settings, total_steps=4), settings, resume=str(tmp_path), progress=False)


class SkippingScaler:
    """Stands in for float16 loss scaling (Paddle runs none on the CPU): reports an overflow at chosen steps."""

    def __init__(self, skip_calls):
        self.skip_calls, self.calls = set(skip_calls), 0

    def scale(self, loss):
        return loss

    def unscale_(self, optimizer):
        pass

    def step(self, optimizer):
        self.calls += 1
        self._cache_found_inf = self.calls in self.skip_calls
        if not self._cache_found_inf:
            optimizer.step()

    def update(self):
        pass

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


def test_a_step_skipped_by_loss_scaling_leaves_the_weights_and_is_counted(tmp_path):
    settings = settings_for(tmp_path, logging_steps=3)
    engine = Engine(ToyObjective(settings, total_steps=3), settings, checkpoint=None)
    engine.precision = Precision(None, scaler=SkippingScaler(skip_calls={2}))
    first = engine.train_step(1)
    after_first = weights(engine.model)
    second = engine.train_step(2)
    assert not first.skipped and second.skipped
    assert all(np.array_equal(v, after_first[k]) for k, v in weights(engine.model).items())
    assert not engine.train_step(3).skipped
    assert not all(np.array_equal(v, after_first[k]) for k, v in weights(engine.model).items())


def test_mixed_precision_is_off_on_a_machine_without_gpu(caplog):
    if paddle.is_compiled_with_cuda():
        pytest.skip("CPU behaviour")
    with caplog.at_level("WARNING", logger="ernie.engine"):
        assert usable_amp_dtype("bfloat16") is None
    assert "trainer.amp=bfloat16 ignored: no GPU" in caplog.text
    assert usable_amp_dtype(None) is None


def test_parameters_are_updated_in_one_module_of_the_product():
    update = re.compile(r"\boptimizer\.step\(|\bscaler\.step\(|\.minimize\(")
    found = []
    for package in ("ernie", "tasks", "data_tools", "tools"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as f:
                        if update.search(f.read()):
                            found.append(os.path.relpath(path, ROOT))
    assert found == [os.path.join("ernie", "engine", "precision.py")]
