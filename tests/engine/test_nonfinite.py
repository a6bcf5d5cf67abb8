"""A diverging run: non-finite steps are skipped and counted, a run of them stops with one line naming the
step, and nothing non-finite is saved, chosen as best or written as bare NaN into the log."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from ernie.engine.loop import Engine, train  # noqa: E402
from ernie.errors import TrainingError  # noqa: E402
from tests.engine.test_loop import settings_for, weights  # noqa: E402
from tests.engine.toy_objective import ToyObjective  # noqa: E402


class PoisonedObjective(ToyObjective):
    """The loss of the steps in ``poisoned`` (1-based) is NaN: a diverging model or a bad batch."""

    def __init__(self, *args, poisoned=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.poisoned = set(poisoned)

    def loss(self, model, examples):
        summed, stats = super().loss(model, examples)
        if self.step in self.poisoned:  # next_step has already counted this step
            summed = summed * float("nan")
        return summed, stats


def strict_json_lines(path):
    """Every line parses as JSON without the NaN / Infinity extensions."""

    def refuse(constant):
        raise ValueError(f"{path}: bare {constant} in the log")

    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_constant=refuse) for line in f]


def all_finite(directory):
    state = paddle.load(os.path.join(directory, "model_state.pdparams"), return_numpy=True)
    return all(np.isfinite(value).all() for value in state.values())


def test_a_non_finite_step_is_skipped_counted_and_logged_as_null(tmp_path):
    settings = settings_for(tmp_path, logging_steps=1, save_steps=0)
    engine = Engine(PoisonedObjective(settings, total_steps=4, poisoned={2}), settings, checkpoint=None)
    assert not engine.train_step(1).nonfinite
    after_first = weights(engine.model)
    second = engine.train_step(2)
    assert second.nonfinite and second.skipped and math.isnan(second.loss)
    assert all(np.array_equal(v, after_first[k]) for k, v in weights(engine.model).items())  # no update
    third = engine.train_step(3)
    assert not third.nonfinite and all(np.isfinite(v).all() for v in weights(engine.model).values())

    result = train(PoisonedObjective(settings, total_steps=4, poisoned={2}), settings, progress=False)
    assert result.steps == 4
    records = [r for r in strict_json_lines(tmp_path / "log.jsonl") if r["event"] == "train"]
    assert records[1]["step"] == 2 and records[1]["loss"] is None and records[1]["nonfinite"] == 1
    assert "nonfinite" not in records[0] and all(isinstance(r["loss"], float) for r in records[::2])


def test_consecutive_non_finite_steps_stop_the_run_naming_the_step(tmp_path):
    settings = settings_for(
        tmp_path, logging_steps=1, save_steps=1, keep_checkpoints=0, max_nonfinite_steps=3
    )
    objective = PoisonedObjective(settings, total_steps=10, poisoned={3, 4, 5, 6, 7})
    with pytest.raises(TrainingError) as error:
        train(objective, settings, progress=False)
    message = str(error.value)
    assert "\n" not in message and "step 5" in message and "3 consecutive" in message
    assert "trainer.max_nonfinite_steps" in message and "phase toy" in message
    saved = sorted(os.listdir(tmp_path / "checkpoints"))
    assert "step_5" not in saved and all(
        all_finite(tmp_path / "checkpoints" / n) for n in saved if n != "latest"
    )
    strict_json_lines(tmp_path / "log.jsonl")


def test_a_non_finite_score_is_never_the_best(tmp_path):
    settings = settings_for(tmp_path, eval_steps=1, save_steps=0).replace(best_dir=str(tmp_path / "best"))
    objective = ToyObjective(settings, total_steps=3, scores=[float("nan"), 0.5, float("nan")])
    result = train(objective, settings, progress=False)
    assert result.best_step == 2 and result.best_score == 0.5
    evals = [r for r in strict_json_lines(tmp_path / "log.jsonl") if r["event"] == "eval"]
    assert [e["best"] for e in evals] == [False, True, False]
    assert evals[0]["eval"]["dev"]["score"] is None


def test_weights_that_are_not_finite_are_never_saved(tmp_path):
    settings = settings_for(tmp_path, save_steps=1).replace(best_dir=str(tmp_path / "best"))
    engine = Engine(ToyObjective(settings, total_steps=2), settings, checkpoint=None)
    engine.train_step(1)
    parameter = engine.model.classifier.weight
    parameter.set_value(paddle.full(parameter.shape, float("inf")))
    with pytest.raises(TrainingError, match=r"classifier.weight .*not finite.*not saved"):
        engine.check_finite(2)
