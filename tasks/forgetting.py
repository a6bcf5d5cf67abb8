"""The forgetting table: each task's held-out metric at the end of every stage, read from run logs.

Pre-training evaluates every task at the end of every stage (``PretrainingObjective.evaluation_due``);
each such ``eval`` record of ``log.jsonl`` carries the stage it closes. ``evaluation_rows`` turns one run's
log into rows (one per evaluation, in step order) of each task's headline metric (``metric`` in the record:
accuracy, or balanced accuracy for the tasks trained class-balanced). ``forgetting`` is, per task, the
best value at any stage end minus the final one: how much of what a task once reached the later
stages lost (0 when the final value is the best). ``summarize`` gives mean and sample standard
deviation over runs (seeds) of the same strategy, row by row; ``standard_error`` the binomial standard
error of a task's metric on its held-out units, to say whether the held-out set is big enough.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Optional

from ernie.errors import UsageError


@dataclass
class StageRow:
    """One evaluation: its step, the stage it fell in, each task's headline metric (None: not finite)
    and that metric's standard error."""

    stage: str
    step: int
    metrics: dict[str, Optional[float]]
    standard_errors: dict[str, float]
    counts: dict[str, int]  # held-out units each metric was computed on


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def standard_error(values: dict[str, Any]) -> float:
    """Binomial standard error of a task's headline metric in one eval record: sqrt(p (1 - p) / n) for
    accuracy over ``count`` units; for balanced accuracy (the mean of K per-class recalls r_k over n_k
    units) sqrt(sum r_k (1 - r_k) / n_k) / K. NaN when the record lacks what it needs."""
    if values.get("metric") == "balanced_accuracy":
        counts, correct = values.get("class_counts"), values.get("class_correct")
        if not isinstance(counts, list) or not isinstance(correct, list) or len(counts) != len(correct):
            return math.nan
        present = [(c, n) for c, n in zip(correct, counts) if n > 0]
        if not present:
            return math.nan
        variance = sum((c / n) * (1 - c / n) / n for c, n in present)
        return math.sqrt(variance) / len(present)
    p, n = _finite(values.get("accuracy")), values.get("count")
    if p is None or not isinstance(n, int) or n <= 0:
        return math.nan
    return math.sqrt(p * (1 - p) / n)


def evaluation_rows(records: list[dict[str, Any]], where: str = "log") -> list[StageRow]:
    """One row per evaluation of the run (the end of every stage, every ``trainer.eval_steps``, the
    last step), in step order; a step evaluated twice (a resumed run) keeps its last record."""
    by_step: dict[int, dict[str, Any]] = {}
    for record in records:
        step = record.get("step")
        if record.get("event") == "eval" and isinstance(record.get("eval"), dict) and isinstance(step, int):
            by_step[step] = record
    if not by_step:
        raise UsageError(f"{where}: no evaluation in the log (pre-training with data.eval_samples > 0)")
    rows = []
    for step in sorted(by_step):
        record = by_step[step]
        metrics, errors, counts = {}, {}, {}
        for task, values in record["eval"].items():
            if isinstance(values, dict) and isinstance(values.get("metric"), str):
                metrics[task] = _finite(values.get(values["metric"]))
                errors[task] = standard_error(values)
                counts[task] = values.get("count")
        rows.append(StageRow(str(record.get("stage")), step, metrics, errors, counts))
    return rows


def forgetting(rows: list[StageRow]) -> dict[str, Optional[float]]:
    """Per task: best value at any stage end minus the final value (None if a value is not finite)."""
    out: dict[str, Optional[float]] = {}
    for task, final in rows[-1].metrics.items():
        values = [row.metrics.get(task) for row in rows]
        out[task] = None if final is None or None in values else max(values) - final
    return out


@dataclass
class Spread:
    """Mean and sample standard deviation over runs (std 0 for one run; None: some run not finite)."""

    mean: Optional[float]
    std: Optional[float]
    runs: int

    @classmethod
    def of(cls, values: list[Optional[float]]) -> Spread:
        if not values or any(v is None for v in values):
            return cls(None, None, len(values))
        return cls(
            statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)
        )

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        if self.mean is None:
            return "n/a"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}"


def summarize(
    runs: list[list[StageRow]],
) -> tuple[list[tuple[StageRow, dict[str, Spread]]], dict[str, Spread]]:
    """Rows (the first run's row, task -> Spread) and forgetting (task -> Spread) over runs of one
    strategy (seeds); the runs must have evaluated at the same steps."""
    steps = [[row.step for row in rows] for rows in runs]
    if any(s != steps[0] for s in steps):
        raise UsageError(f"runs evaluated at different steps cannot be summarised together: {steps}")
    tasks = list(runs[0][-1].metrics)
    rows = [
        (row, {task: Spread.of([rows[k].metrics.get(task) for rows in runs]) for task in tasks})
        for k, row in enumerate(runs[0])
    ]
    lost = [forgetting(rows) for rows in runs]
    return rows, {task: Spread.of([f[task] for f in lost]) for task in tasks}


def markdown(rows: list[tuple[StageRow, dict[str, Spread]]], lost: dict[str, Spread], title: str) -> str:
    """A markdown table in points (metric x 100), mean ± std: a row per evaluation (its step and stage)
    and the forgetting row, a column per task."""
    tasks = list(lost)
    lines = [f"| {title} | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for row, cells in rows:
        lines.append(
            f"| step {row.step} ({row.stage}) | " + " | ".join(cells[t].format() for t in tasks) + " |"
        )
    lines.append("| forgetting (best - final) | " + " | ".join(lost[t].format() for t in tasks) + " |")
    return "\n".join(lines)


__all__ = ["Spread", "StageRow", "forgetting", "markdown", "evaluation_rows", "standard_error", "summarize"]
