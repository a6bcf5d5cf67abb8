"""tools/plot.py (``ernie.engine.plot``): the series drawn from hand-made logs with known values (stage
boundaries, per-task losses, evaluation metrics and chance levels, nulls left out), several runs overlaid,
valid PNG files, the one-line errors, and a real pre-training log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ernie.engine.plot import figures, main, plot, read_log, run_labels, series
from ernie.engine.reporting import LOG_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train(step, stage, task, loss, lr):
    return {"event": "train", "step": step, "stage": stage, "task": task, "loss": loss, "lr": lr,
            "grad_norm": 1.0, "tasks": {task: {"loss": loss, "accuracy": 0.5, "steps": 1}}}  # fmt: skip


def evaluation(step, stage, a_accuracy, b_accuracy):
    return {
        "event": "eval", "step": step, "stage": stage,
        "eval": {
            "a": {"accuracy": a_accuracy, "loss": 2.0, "chance": 0.25, "count": 40, "metric": "accuracy"},
            "b": {"accuracy": b_accuracy, "balanced_accuracy": 0.6, "balanced_accuracy_chance": 0.5,
                  "chance": 0.7, "count": 30, "class_counts": [21, 9], "metric": "balanced_accuracy"},
        },
    }  # fmt: skip


# Continual learning: task a in stage s1 (steps 1-3, the loss of step 2 non-finite), then b in s2.
CONTINUAL = [
    train(1, "s1", "a", 3.0, 0.1),
    train(2, "s1", "a", None, 0.09),
    train(3, "s1", "a", 2.5, 0.08),
    evaluation(3, "s1", 0.4, 0.7),
    train(4, "s2", "b", 1.0, 0.07),
    train(5, "s2", "b", 0.9, 0.06),
    train(6, "s2", "b", 0.8, None),
    evaluation(6, "s2", None, 0.8),
]
# Multi-task learning: one stage interleaving a and b, logged every other step (window means per task).
MULTITASK = [
    {**train(2, "all", "b", 2.0, 0.1), "tasks": {"a": {"loss": 2.8}, "b": {"loss": 1.2}}},
    {**train(4, "all", "a", 1.8, 0.05), "tasks": {"a": {"loss": 2.6}, "b": {"loss": 1.1}}},
    evaluation(4, "all", 0.45, 0.75),
]
FINETUNE = [
    {"event": "train", "step": 1, "benchmark": "sst2", "epoch": 0.5, "loss": 0.7, "lr": 0.0, "grad_norm": 0.3},
    {"event": "train", "step": 2, "benchmark": "sst2", "epoch": 1.0, "loss": 0.6, "lr": 1e-3, "grad_norm": 0.2},
    {"event": "eval", "step": 2, "benchmark": "sst2", "eval": {"dev": {"examples": 40, "acc": 0.55}}, "best": True},
]  # fmt: skip


def write_run(path, records, tail=""):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, LOG_FILE), "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records) + tail)
    return str(path)


def line(s):
    return (s.steps, s.values)


def test_per_task_training_loss_learning_rate_and_stage_boundaries():
    run = series(CONTINUAL)
    assert list(run.loss) == ["a", "b"]
    assert line(run.loss["a"]) == ([1, 3], [3.0, 2.5])  # step 2's null left out, not a 0
    assert line(run.loss["b"]) == ([4, 5, 6], [1.0, 0.9, 0.8])
    assert line(run.lr) == ([1, 2, 3, 4, 5], [0.1, 0.09, 0.08, 0.07, 0.06])
    # s2 starts between step 3 (the last of s1) and step 4 (the first of s2)
    assert run.stages == [(0.0, "s1"), (3.5, "s2")]


def test_stage_boundary_of_a_sparser_log_lies_between_the_records():
    records = [train(10, "s1", "a", 1.0, 0.1), train(20, "s1", "a", 1.0, 0.1), train(30, "s2", "b", 1.0, 0.1)]
    records += [train(40, "s2", "b", 1.0, 0.1), train(50, "s1", "a", 1.0, 0.1)]  # a stage name may return
    assert series(records).stages == [(0.0, "s1"), (25.0, "s2"), (45.0, "s1")]


def test_window_means_per_task_from_a_multi_task_log():
    run = series(MULTITASK)
    assert line(run.loss["a"]) == ([2, 4], [2.8, 2.6])
    assert line(run.loss["b"]) == ([2, 4], [1.2, 1.1])
    assert run.stages == [(0.0, "all")]


def test_evaluation_metrics_and_chance_levels_without_counts_or_labels():
    run = series(CONTINUAL)
    assert list(run.heldout) == [
        ("a", "accuracy"),
        ("a", "loss"),
        ("b", "accuracy"),
        ("b", "balanced_accuracy"),
    ]
    assert line(run.heldout[("a", "accuracy")]) == ([3], [0.4])  # the null at step 6 left out
    assert line(run.heldout[("b", "accuracy")]) == ([3, 6], [0.7, 0.8])
    assert line(run.heldout[("a", "loss")]) == ([3, 6], [2.0, 2.0])
    # "chance" is accuracy's (the best blind guess's accuracy, whatever the headline metric), and
    # "<metric>_chance" that metric's: b's balanced accuracy gets 0.5 only, never 0.7 in between.
    assert line(run.chance[("a", "accuracy")]) == ([3, 6], [0.25, 0.25])
    assert line(run.chance[("b", "accuracy")]) == ([3, 6], [0.7, 0.7])
    assert line(run.chance[("b", "balanced_accuracy")]) == ([3, 6], [0.5, 0.5])


def test_non_finite_numbers_are_left_out():
    nan, inf = float("nan"), float("inf")
    run = series([train(1, "s", "a", nan, inf), train(2, "s", "a", 1.0, 0.1), train(3, "s", "a", -inf, True)])
    assert line(run.loss["a"]) == ([2], [1.0])
    assert line(run.lr) == ([2], [0.1])


def test_a_fine_tuning_log_has_one_loss_its_splits_and_no_stages():
    run = series(FINETUNE)
    assert list(run.loss) == ["loss"] and line(run.loss["loss"]) == ([1, 2], [0.7, 0.6])
    assert list(run.heldout) == [("dev", "acc")] and line(run.heldout[("dev", "acc")]) == ([2], [0.55])
    assert run.chance == {} and run.stages == []


def test_runs_overlaid_one_colour_each_with_a_legend_by_run():
    drawn = figures({"continual": series(CONTINUAL), "multitask": series(MULTITASK)})
    assert list(drawn) == ["loss.png", "heldout.png", "lr.png"]
    for figure in drawn.values():
        assert [t.get_text() for t in figure.legends[0].get_texts()][:2] == ["continual", "multitask"]
    assert [t.get_text() for t in drawn["heldout.png"].legends[0].get_texts()][2:] == ["chance"]
    panels = {ax.get_title(): ax for ax in drawn["loss.png"].axes if ax.get_visible()}
    assert list(panels) == ["a", "b"]
    # Task a: each run's line, its points the series'; continual's s2 boundary dashed and named.
    lines = [ln for ln in panels["a"].get_lines() if ln.get_linestyle() == "-"]
    assert [ln.get_color() for ln in lines] == ["C0", "C1"]
    assert [ln.get_xydata().tolist() for ln in lines] == [[[1, 3.0], [3, 2.5]], [[2, 2.8], [4, 2.6]]]
    boundaries = [ln.get_xdata()[0] for ln in panels["a"].get_lines() if ln.get_linestyle() == "--"]
    assert boundaries == [3.5]
    assert {t.get_text().strip() for t in panels["a"].texts} == {"s1", "s2", "all"}
    heldout = [ax.get_title() for ax in drawn["heldout.png"].axes if ax.get_visible()]
    assert heldout == ["a: accuracy", "a: loss", "b: accuracy", "b: balanced_accuracy"]


def test_plot_writes_valid_pngs_into_a_new_folder(tmp_path):
    from matplotlib.image import imread

    runs = [
        write_run(tmp_path / "continual", CONTINUAL, tail='{"event": "train", "st'),
        write_run(tmp_path / "sst2", FINETUNE),
    ]
    output = tmp_path / "figures" / "new"
    paths = plot(runs, str(output))
    assert sorted(os.listdir(output)) == ["heldout.png", "loss.png", "lr.png"]  # no temporary file left
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
        height, width, _ = imread(path).shape
        assert width >= 600 and height >= 300
    assert len(read_log(runs[0])) == len(CONTINUAL)  # the line cut short is skipped


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["ernie-plot", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_the_command_labels_runs_by_folder_name(tmp_path, monkeypatch, capsys):
    a = write_run(tmp_path / "x" / "seed1", CONTINUAL)
    b = write_run(tmp_path / "y" / "seed1", MULTITASK)
    c = write_run(tmp_path / "other", FINETUNE)
    figures_dir = tmp_path / "fig"
    code, out, _ = run_main(monkeypatch, capsys, a, c, "--output", str(figures_dir))
    assert code == 0 and out.split() == [str(figures_dir / n) for n in ("loss.png", "heldout.png", "lr.png")]
    assert run_labels([a, c]) == ["seed1", "other"]
    assert run_labels([a, b]) == [a, b]  # the same folder name twice: the paths tell them apart


def test_a_run_dir_without_a_log_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    good = write_run(tmp_path / "good", CONTINUAL)
    missing = str(tmp_path / "not_a_run")
    code, _, err = run_main(monkeypatch, capsys, good, missing, "--output", str(tmp_path / "fig"))
    assert code == 2 and err.count("\n") == 1 and missing in err and LOG_FILE in err


def test_without_matplotlib_the_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.lines"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    run = write_run(tmp_path / "run", CONTINUAL)
    code, _, err = run_main(monkeypatch, capsys, run, "--output", str(tmp_path / "fig"))
    assert code == 2 and err.count("\n") == 1 and "pip install matplotlib" in err
    assert not os.path.exists(tmp_path / "fig")


def test_a_real_pre_training_log(tmp_path):
    """The tiny demo pre-training (a few seconds): its log has the fields the plots read."""
    output = tmp_path / "run"
    stages = (
        "stages=[{name: s1, tasks: {knowledge_masking: 4}},"
        " {name: s2, tasks: {knowledge_masking: 2, capitalization: 2}}]"
    )
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "pretrain.py"), "--quiet",
         "--config", os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml"), "--set", f"output_dir={output}",
         "--set", stages, "--set", "trainer.logging_steps=1", "--set", "trainer.eval_steps=4",
         "--set", "trainer.save_steps=100", "--set", "trainer.visualdl=false"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = read_log(str(output))
    run = series(records)
    assert run.stages == [(0.0, "s1"), (4.5, "s2")]
    trained = {r["step"]: r["task"] for r in records if r["event"] == "train"}
    for task in ("knowledge_masking", "capitalization"):
        assert run.loss[task].steps == [step for step, t in trained.items() if t == task]
    assert run.lr.steps == list(range(1, 9))
    assert {metric for _, metric in run.heldout} >= {"accuracy", "loss"}
    assert run.heldout[("capitalization", "accuracy")].steps == [4, 8]
    assert ("capitalization", "accuracy") in run.chance
    paths = plot([str(output)], str(tmp_path / "fig"))
    assert [os.path.basename(p) for p in paths] == ["loss.png", "heldout.png", "lr.png"]
