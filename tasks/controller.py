"""The task controller: which task trains at each optimizer step, stage after stage.

A run is an ordered list of stages; a stage gives each of its tasks a number of optimizer steps.
Inside a stage the steps are interleaved by a seeded shuffle of the multiset
``{task: steps}``, so each task gets exactly its steps and the order is a pure function of
``(seed, stage index, stage content)``. The controller also keeps, per task, the cursor of the next
training sample: samples are numbered per task across the whole run (a task that comes back in a
later stage continues where it stopped), and every step consumes one global batch.

Its state is a small dict of integers (no RNG state is needed, the schedule is recomputed), so a
run restored at any step continues with the same tasks and the same sample indices.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ernie.errors import ConfigError

from .context import stable_key

STATE_VERSION = 1
_SCHEDULE_KEY = stable_key("schedule")


@dataclass(frozen=True)
class Stage:
    """One stage: ``steps`` maps each task to its optimizer steps (in config order); ``options``
    maps a task to the options this stage changes (e.g. knowledge masking's ``levels``)."""

    name: str
    steps: dict[str, int]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())


@dataclass(frozen=True)
class StepPlan:
    """What one optimizer step trains."""

    global_step: int  # 0-based index of this step in the run
    stage_index: int
    stage_name: str
    step_in_stage: int
    task: str
    task_step: int  # how many steps this task had before this one (whole run)
    sample_start: int  # the task's first training sample index of this step's global batch
    samples: int  # global batch size: samples sample_start .. sample_start + samples - 1
    options: dict[str, Any]


def stage_schedule(seed: int, stage_index: int, stage: Stage) -> np.ndarray:
    """Task positions (into ``list(stage.steps)``) of every step of the stage, seeded shuffle."""
    counts = np.array(list(stage.steps.values()), dtype=np.int64)
    tasks = np.repeat(np.arange(len(counts), dtype=np.int16), counts)
    rng = np.random.default_rng([seed, _SCHEDULE_KEY, stage_index])
    return rng.permutation(tasks)


class TaskController:
    def __init__(self, stages: list[Stage], seed: int, samples_per_step: int):
        if not stages:
            raise ConfigError("key 'stages' is empty: give at least one stage")
        if samples_per_step <= 0:
            raise ValueError(f"samples_per_step must be positive, got {samples_per_step}")
        self.stages = list(stages)
        self.seed = int(seed)
        self.samples_per_step = int(samples_per_step)
        self.tasks = list(dict.fromkeys(task for stage in self.stages for task in stage.steps))
        self.stage_starts = np.cumsum([0] + [stage.total_steps for stage in self.stages])
        self._schedules: dict[int, np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        self.global_step = 0
        self.cursors = {task: 0 for task in self.tasks}
        self.task_steps = {task: 0 for task in self.tasks}

    # ------------------------------------------------------------------ schedule
    @property
    def total_steps(self) -> int:
        return int(self.stage_starts[-1])

    @property
    def done(self) -> bool:
        return self.global_step >= self.total_steps

    def schedule(self, stage_index: int) -> np.ndarray:
        if stage_index not in self._schedules:
            self._schedules = {stage_index: stage_schedule(self.seed, stage_index, self.stages[stage_index])}
        return self._schedules[stage_index]

    def locate(self, global_step: int) -> tuple[int, int]:
        """``(stage index, step in stage)`` of a global step."""
        if not 0 <= global_step < self.total_steps:
            raise IndexError(f"step {global_step} outside the run's {self.total_steps} steps")
        stage_index = int(np.searchsorted(self.stage_starts, global_step, side="right")) - 1
        return stage_index, global_step - int(self.stage_starts[stage_index])

    def task_at(self, global_step: int) -> str:
        stage_index, step = self.locate(global_step)
        stage = self.stages[stage_index]
        return list(stage.steps)[int(self.schedule(stage_index)[step])]

    def task_sequence(self) -> list[str]:
        """Every step's task, start to end (for tests and inspection)."""
        out: list[str] = []
        for index, stage in enumerate(self.stages):
            names = list(stage.steps)
            out.extend(names[int(k)] for k in self.schedule(index))
        return out

    # ------------------------------------------------------------------ stepping
    def peek(self) -> Optional[StepPlan]:
        if self.done:
            return None
        stage_index, step = self.locate(self.global_step)
        stage = self.stages[stage_index]
        task = list(stage.steps)[int(self.schedule(stage_index)[step])]
        return StepPlan(
            global_step=self.global_step,
            stage_index=stage_index,
            stage_name=stage.name,
            step_in_stage=step,
            task=task,
            task_step=self.task_steps[task],
            sample_start=self.cursors[task],
            samples=self.samples_per_step,
            options=dict(stage.options.get(task, {})),
        )

    def next(self) -> StepPlan:
        """The plan of the current step, and advance past it."""
        plan = self.peek()
        if plan is None:
            raise StopIteration("all stages are done")
        self.cursors[plan.task] += plan.samples
        self.task_steps[plan.task] += 1
        self.global_step += 1
        return plan

    def __iter__(self):
        while not self.done:
            yield self.next()

    # ------------------------------------------------------------------ state
    def fingerprint(self) -> str:
        """Identifies the schedule: the seed and the stages (names, tasks, steps, options)."""
        description = {
            "seed": self.seed,
            "stages": [[s.name, list(s.steps.items()), sorted(s.options.items())] for s in self.stages],
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint(),
            "global_step": self.global_step,
            "samples_per_step": self.samples_per_step,
            "cursors": dict(self.cursors),
            "task_steps": dict(self.task_steps),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"controller state version {state.get('version')!r}, expected {STATE_VERSION}")
        if state.get("fingerprint") != self.fingerprint():
            raise ConfigError(
                "key 'stages' (or 'seed') differs from the run being resumed: the task schedule would change"
            )
        if set(state["cursors"]) != set(self.tasks):
            raise ConfigError(
                f"key 'stages': tasks {sorted(state['cursors'])} in the saved state, {sorted(self.tasks)} now"
            )
        if not 0 <= int(state["global_step"]) <= self.total_steps:
            raise ValueError(f"saved step {state['global_step']} outside the run's {self.total_steps} steps")
        self.global_step = int(state["global_step"])
        self.cursors = {task: int(state["cursors"][task]) for task in self.tasks}
        self.task_steps = {task: int(state["task_steps"][task]) for task in self.tasks}
