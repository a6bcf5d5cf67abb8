"""The forgetting table from hand-made logs with values worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from ernie.engine.plot import read_log
from ernie.errors import UsageError
from tasks.forgetting import evaluation_rows, forgetting, markdown, standard_error, summarize


def eval_record(step: int, stage: str, km: float, sr: float, count: int = 400) -> dict:
    return {
        "event": "eval",
        "step": step,
        "stage": stage,
        "eval": {
            "knowledge_masking": {
                "accuracy": km,
                "loss": 5.0,
                "chance": 0.05,
                "count": count,
                "metric": "accuracy",
            },
            "sentence_reordering": {"accuracy": sr, "chance": 0.5, "count": 100, "metric": "accuracy"},
        },
    }


def write_log(path, records) -> str:
    path.mkdir()
    with open(path / "log.jsonl", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.write('{"event": "eval", "step": 9')  # a line cut short by a kill: skipped
    return str(path)


def continual_run(tmp_path, name: str, km: list[float], sr: list[float]) -> str:
    records = [{"event": "train", "step": 10, "stage": "knowledge_masking", "loss": 3.0}]
    records += [eval_record(100, "knowledge_masking", km[0], sr[0])]
    records += [{"event": "train", "step": 110, "stage": "sentence_reordering", "loss": 2.0}]
    records += [eval_record(200, "sentence_reordering", km[1], sr[1])]
    return write_log(tmp_path / name, records)


def test_rows_and_forgetting_of_one_run(tmp_path):
    run = continual_run(tmp_path, "seed1", km=[0.30, 0.20], sr=[0.50, 0.70])
    rows = evaluation_rows(read_log(run))
    assert [(r.step, r.stage) for r in rows] == [(100, "knowledge_masking"), (200, "sentence_reordering")]
    assert rows[0].metrics == {"knowledge_masking": 0.30, "sentence_reordering": 0.50}
    # Masking reached 0.30 and ended at 0.20: 0.10 forgotten; reordering ended at its best.
    lost = forgetting(rows)
    assert lost["knowledge_masking"] == pytest.approx(0.10)
    assert lost["sentence_reordering"] == 0.0
    # sqrt(0.3 * 0.7 / 400) = 0.022913
    assert rows[0].standard_errors["knowledge_masking"] == pytest.approx(math.sqrt(0.21 / 400))


def test_mean_and_sample_std_over_seeds(tmp_path):
    runs = [
        evaluation_rows(read_log(continual_run(tmp_path, f"seed{k}", km=km, sr=[0.5, 0.6])))
        for k, km in enumerate(([0.30, 0.20], [0.40, 0.20], [0.35, 0.29]))
    ]
    rows, lost = summarize(runs)
    # End of the first stage: 0.30, 0.40, 0.35 -> mean 0.35, sample std 0.05.
    first = rows[0][1]["knowledge_masking"]
    assert first.mean == pytest.approx(0.35) and first.std == pytest.approx(0.05)
    # Forgetting per seed: 0.10, 0.20, 0.06 -> mean 0.12, std sqrt(((-.02)^2 + .08^2 + (-.06)^2) / 2).
    assert lost["knowledge_masking"].mean == pytest.approx(0.12)
    assert lost["knowledge_masking"].std == pytest.approx(math.sqrt((0.0004 + 0.0064 + 0.0036) / 2))
    table = markdown(rows, lost, "continual")
    assert "| step 100 (knowledge_masking) | 35.0 ± 5.0 | 50.0 ± 0.0 |" in table
    assert "| forgetting (best - final) | 12.0 ± 7.2 | 0.0 ± 0.0 |" in table


def test_a_nan_metric_is_never_a_number_in_the_table(tmp_path):
    records = [eval_record(100, "s1", 0.3, 0.5), eval_record(200, "s2", None, 0.6)]  # NaN logged as null
    rows = evaluation_rows(read_log(write_log(tmp_path / "run", records)))
    assert rows[1].metrics["knowledge_masking"] is None
    assert forgetting(rows)["knowledge_masking"] is None
    _, lost = summarize([rows])
    assert lost["knowledge_masking"].format() == "n/a"


def test_balanced_accuracy_standard_error():
    # Two classes: recall 0.5 of 100 and 0.8 of 25: sqrt(0.25/100 + 0.16/25) / 2 = 0.04717.
    values = {
        "metric": "balanced_accuracy",
        "balanced_accuracy": 0.65,
        "class_counts": [100, 25, 0],
        "class_correct": [50, 20, 0],
    }
    assert standard_error(values) == pytest.approx(math.sqrt(0.0025 + 0.0064) / 2)


def test_runs_that_evaluated_at_other_steps_are_refused(tmp_path):
    a = evaluation_rows(read_log(write_log(tmp_path / "a", [eval_record(100, "s1", 0.3, 0.5)])))
    b = evaluation_rows(read_log(write_log(tmp_path / "b", [eval_record(120, "s1", 0.3, 0.5)])))
    with pytest.raises(UsageError, match="different steps"):
        summarize([a, b])
    with pytest.raises(UsageError, match="no evaluation"):
        evaluation_rows([{"event": "train", "step": 1}])
