"""Pictures of runs (``ernie-plot`` / ``tools/plot.py``): runs' ``log.jsonl`` drawn into PNG files.

``series`` reads one log's records into what is drawn; ``figures`` draws several runs overlaid, one colour
per run; ``plot`` does both for run dirs and writes the files. Pre-training and fine-tuning logs share the
schema (``reporting``), so one reader serves both. matplotlib is an optional dependency, imported on use.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from ..cli import run_cli
from ..errors import UsageError
from ..files import remove_quietly, writing
from .reporting import LOG_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Keys of an evaluation's results that count things rather than score them (pre-training's tasks, the
# fine-tuning metric sets of ernie.finetune.metrics): not drawn.
COUNT_KEYS = frozenset({"count", "examples", "questions", "gold_entities", "pred_entities"})
FINETUNE_LOSS = "loss"  # the one loss series of a log without per-task losses

DESCRIPTION = """\
Draw runs' log.jsonl (pre-training and fine-tuning) into PNG files under --output (the same command as
ernie-plot), several runs overlaid in one colour each, labelled by their folder names:
  loss.png     training loss against steps, one panel per pre-training task (fine-tuning: its one loss)
  heldout.png  every evaluation metric against steps, a row of panels per task (or split), with the
               blind-guess level dotted where the log gives it
  lr.png       the learning rate
Pre-training's stage boundaries are dashed lines in the run's colour, named at the top; a boundary lies
halfway between the last logged step of one stage and the first of the next (exact when
trainer.logging_steps=1). Steps whose value was not finite (null in the log) are left out, not drawn as 0.
Needs matplotlib (pip install matplotlib). Bad input: one line on stderr, exit status 2.
"""

EXAMPLES = """\
examples:
  python tools/plot.py output/demo_en --output figures/demo
  python tools/plot.py runs/continual runs/multitask runs/continual_multitask --output figures/strategies
  python tools/plot.py runs/sst2_pretrained runs/sst2_random --output figures/sst2
"""


@dataclass
class Series:
    """One line: the finite values of a quantity and their steps."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, step: int, value: Any) -> None:
        # null (a NaN or an infinity when the run wrote it) and a missing value leave a gap, never a 0.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.steps.append(step)
            self.values.append(float(value))


@dataclass
class RunSeries:
    """What is drawn of one run."""

    loss: dict[str, Series] = field(default_factory=dict)  # task (fine-tuning: "loss") -> training loss
    heldout: dict[tuple[str, str], Series] = field(default_factory=dict)  # (task or split, metric) -> value
    chance: dict[tuple[str, str], Series] = field(default_factory=dict)  # same keys: the blind-guess level
    lr: Series = field(default_factory=Series)
    stages: list[tuple[float, str]] = field(default_factory=list)  # (where each stage starts, its name)


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _add_evaluation(run: RunSeries, step: int, group: str, values: dict[str, Any]) -> None:
    """One task's (or split's) results: metrics, and pre-training's chance levels (``chance`` is the
    accuracy of the best blind guess whatever the headline metric, ``<metric>_chance`` that metric's)."""
    for key, value in values.items():
        if key == "chance":
            run.chance.setdefault((group, "accuracy"), Series()).add(step, value)
        elif key.endswith("_chance"):
            run.chance.setdefault((group, key[: -len("_chance")]), Series()).add(step, value)
        elif key not in COUNT_KEYS and _number_or_null(value):
            run.heldout.setdefault((group, key), Series()).add(step, value)


def series(records: list[dict[str, Any]]) -> RunSeries:
    """The series of one log's records (in file order)."""
    run = RunSeries()
    previous_step = 0  # of the last train record
    for record in records:
        step = record.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        if record.get("event") == "train":
            tasks = record.get("tasks")
            if isinstance(tasks, dict):  # pre-training: each task's mean loss over the record's window
                for task, values in tasks.items():
                    loss = values.get("loss") if isinstance(values, dict) else None
                    run.loss.setdefault(task, Series()).add(step, loss)
            else:
                run.loss.setdefault(FINETUNE_LOSS, Series()).add(step, record.get("loss"))
            run.lr.add(step, record.get("lr"))
            stage = record.get("stage")
            if stage is not None and (not run.stages or run.stages[-1][1] != str(stage)):
                # The log only says the change happened after previous_step and by this step.
                start = (previous_step + step) / 2 if run.stages else 0.0
                run.stages.append((start, str(stage)))
            previous_step = step
        elif record.get("event") == "eval" and isinstance(record.get("eval"), dict):
            for group, values in record["eval"].items():
                if isinstance(values, dict):
                    _add_evaluation(run, step, str(group), values)
                elif _number_or_null(values):  # a flat evaluation: one metric without a task or split
                    run.heldout.setdefault(("eval", str(group)), Series()).add(step, values)
    return run


def read_log(run_dir: str) -> list[dict[str, Any]]:
    """The records of ``run_dir``'s log.jsonl; a line cut short (a run being written or killed) is skipped."""
    path = os.path.join(run_dir, LOG_FILE)
    if not os.path.isfile(path):
        raise UsageError(f"{run_dir}: no {LOG_FILE} here (expected a run's output_dir)")
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:  # a bad byte spoils its line only
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def run_labels(run_dirs: list[str]) -> list[str]:
    """Folder names, or the paths as given when two runs share a folder name."""
    names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
    return names if len(set(names)) == len(names) else list(run_dirs)


# ------------------------------------------------------------------------------------------------ drawing
def _figure_class() -> type:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plotting needs matplotlib, an optional package: pip install matplotlib") from None
    return Figure


class Panel(NamedTuple):
    """One set of axes: every run's line of one quantity."""

    title: str
    ylabel: str
    line: Callable[[RunSeries], Optional[Series]]
    chance: Callable[[RunSeries], Optional[Series]] = lambda run: None


def _draw_panel(ax: Any, panel: Panel, runs: dict[str, RunSeries], colours: dict[str, str]) -> bool:
    """Each run's line in its colour, its chance level dotted and its stage boundaries dashed; whether a
    chance level was drawn."""
    from matplotlib.transforms import offset_copy

    any_chance = False
    named = set()  # a stage boundary shared by runs (seeds of one schedule) is named once
    for index, (label, run) in enumerate(runs.items()):
        colour = colours[label]
        data = panel.line(run)
        if data is None or not data.steps:
            continue  # nor its stages: a panel shows the boundaries of the runs it draws
        sparse = len(data.steps) < 30  # few points (evaluations): markers show where they are
        ax.plot(data.steps, data.values, color=colour, marker="o" if sparse else None, ms=3)
        level = panel.chance(run)
        if level is not None and level.steps:
            ax.plot(level.steps, level.values, color=colour, linestyle=":", linewidth=1)
            any_chance = True
        # Each run's names a few points right of the previous run's, so names at one step stay apart.
        names = offset_copy(ax.get_xaxis_transform(), fig=ax.figure, x=9 * index, units="points")
        for start, stage in run.stages:
            if start > 0:
                ax.axvline(start, color=colour, linestyle="--", linewidth=0.8, alpha=0.7)
            if (start, stage) not in named:
                named.add((start, stage))
                ax.text(start, 0.98, f" {stage}", transform=names, rotation=90, va="top", ha="left", fontsize=8,
                        color=colour, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.5})  # fmt: skip
    if panel.title:
        ax.set_title(panel.title, fontsize=10)
    ax.set_ylabel(panel.ylabel)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    return any_chance


def _draw(title: str, rows: list[list[Panel]], runs: dict[str, RunSeries]) -> Figure:
    """A grid of panels (a row per list), every run drawn in each, one legend for the figure.

    ``matplotlib.figure.Figure`` renders with Agg and touches no pyplot state: no display, no backend
    to choose, nothing kept alive between figures."""
    from matplotlib.lines import Line2D

    columns = max(len(row) for row in rows)
    size = (max(4.2 * columns, 6.4), 3.0 * len(rows) + 0.6)
    figure = _figure_class()(figsize=size, layout="constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False)
    colours = {label: f"C{i % 10}" for i, label in enumerate(runs)}
    any_chance = False
    for r, row in enumerate(rows):
        for c, ax in enumerate(grid[r]):
            if c >= len(row):
                ax.set_visible(False)
                continue
            any_chance |= _draw_panel(ax, row[c], runs, colours)
            if r == len(rows) - 1 or c >= len(rows[r + 1]):  # nothing below it
                ax.set_xlabel("step")
    handles = [Line2D([], [], color=colours[label], label=label) for label in runs]
    if any_chance:
        handles.append(Line2D([], [], color="grey", linestyle=":", label="chance"))
    figure.suptitle(title)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
    return figure


def _keys(runs: dict[str, RunSeries], attribute: str) -> list:
    """The union of the runs' keys of ``attribute``, in first-seen order."""
    return list(dict.fromkeys(key for run in runs.values() for key in getattr(run, attribute)))


def _loss_panel(task: str) -> Panel:
    return Panel(task, "loss", lambda run: run.loss.get(task))


def _heldout_panel(group: str, metric: str) -> Panel:
    key = (group, metric)
    return Panel(
        f"{group}: {metric}", metric, lambda run: run.heldout.get(key), lambda run: run.chance.get(key)
    )


def figures(runs: dict[str, RunSeries]) -> dict[str, Figure]:
    """``loss.png`` and ``heldout.png`` (when a run has them) and ``lr.png`` of ``runs`` (label -> series)."""
    out = {}
    losses = [_loss_panel(task) for task in _keys(runs, "loss")]
    if losses:
        out["loss.png"] = _draw("training loss", [losses[i : i + 3] for i in range(0, len(losses), 3)], runs)
    rows: dict[str, list[Panel]] = {}  # a row per task or split
    for group, metric in _keys(runs, "heldout"):
        rows.setdefault(group, []).append(_heldout_panel(group, metric))
    if rows:
        out["heldout.png"] = _draw("held-out evaluation", list(rows.values()), runs)
    out["lr.png"] = _draw("learning rate", [[Panel("", "lr", lambda run: run.lr)]], runs)
    return out


def save_png(figure: Figure, path: str) -> None:
    """Write ``figure`` to ``path`` through a temporary file and a rename (never half a PNG)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with writing(path):
        try:
            figure.savefig(tmp, format="png", dpi=100)
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise


def plot(run_dirs: list[str], output: str) -> list[str]:
    """Draw ``run_dirs`` overlaid into PNG files under ``output`` (created); returns their paths."""
    _figure_class()  # say that matplotlib is missing before reading any log
    runs = {label: series(read_log(d)) for label, d in zip(run_labels(run_dirs), run_dirs)}
    with writing(output):
        os.makedirs(output, exist_ok=True)
    paths = []
    for name, figure in figures(runs).items():
        paths.append(os.path.join(output, name))
        save_png(figure, paths[-1])
    return paths


# ------------------------------------------------------------------------------------------------ command
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run's output_dir (holds log.jsonl)")
    parser.add_argument("--output", required=True, metavar="FIG_DIR", help="where the PNG files go (created)")
    return parser


def _main() -> int:
    args = build_parser().parse_args()
    for path in plot(args.run_dirs, args.output):
        print(path)
    return 0


def main() -> None:
    run_cli(_main)
