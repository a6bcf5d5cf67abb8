"""The three pre-training strategies ERNIE 2.0 compares, as rearrangements of one run's stages.

Every strategy trains each task for the same total number of steps on the same data; only the order
differs (key ``strategy``):

``as_written``  the stages as the config gives them; in ERNIE 2.0's recipes, continual multi-task
                learning: each stage brings in a task and keeps training every earlier one.
``continual``   one stage per task, in the order the tasks first appear, each with all its steps
                (one task after another: the strategy the paper says forgets earlier tasks).
``multitask``   one stage with every task and all its steps, interleaved from the first step.
"""

from __future__ import annotations

from ernie.errors import ConfigError

from .controller import Stage

STRATEGIES = ("as_written", "continual", "multitask")


def task_totals(stages: list[Stage]) -> dict[str, int]:
    """Each task's steps over all stages, in the order the tasks first appear."""
    totals: dict[str, int] = {}
    for stage in stages:
        for task, steps in stage.steps.items():
            totals[task] = totals.get(task, 0) + steps
    return totals


def apply_strategy(stages: list[Stage], strategy: str, source: str = "config") -> list[Stage]:
    """``stages`` rearranged for ``strategy`` (same steps per task); ``as_written`` returns them as given."""
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"{source}: key 'strategy' must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
        )
    if strategy == "as_written":
        return stages
    for k, stage in enumerate(stages):
        # A stage option (e.g. masking levels) belongs to its stage; moved steps would carry it nowhere.
        for task in stage.options:
            raise ConfigError(
                f"{source}: key 'strategy' ({strategy}) rearranges the stages, but stages[{k}].tasks.{task} "
                "sets stage options; set them under 'tasks' instead"
            )
    totals = task_totals(stages)
    if strategy == "continual":
        return [Stage(name=task, steps={task: steps}) for task, steps in totals.items()]
    return [Stage(name="multitask", steps=totals)]


__all__ = ["STRATEGIES", "apply_strategy", "task_totals"]
