"""What an application gives the engine: batches, a loss with its unit count, an evaluation, its state.

The engine (``ernie.engine.train``) owns everything else: the optimizer and its schedule, micro-batch
accumulation, the data-parallel all-reduce, mixed precision, recompute, clipping, checkpoints and
exact resume, the log. Pre-training (``tasks.objective``) and fine-tuning
(``ernie.finetune.objective``) are the two objectives in this project.

Contract, per optimizer step: ``next_step()`` returns this rank's micro-batches of the global batch
and the loss units (labelled tokens, masked tokens, examples, ...) of each; the engine sums the units
over all ranks, and for every micro-batch calls ``loss(model, batch)``, which returns the loss
*summed* over the batch's units. Dividing by the global unit count makes the update the mean over
the global batch however it is split into ranks and micro-batches. ``next_step`` must be a pure
function of the objective's state (``state_dict``), so that a resumed run sees the same batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Step:
    """One optimizer step as this rank sees it."""

    micro_batches: list[Any]  # this rank's, in order; opaque to the engine
    units: list[int]  # loss units of each micro-batch
    samples: int  # samples in the global batch (all ranks)
    info: dict[str, Any] = field(default_factory=dict)  # logged with the step (e.g. stage and task)


@dataclass
class StepRecord:
    """What one optimizer step did, summed over ranks (the engine's log window holds these)."""

    step: int  # optimizer steps done, this one included
    info: dict[str, Any]
    loss: float  # mean over the global batch's units
    units: int
    samples: int
    stats: dict[str, float]  # the objective's summable stats, summed over micro-batches and ranks
    grad_norm: float  # global L2 norm of the gradient, before clipping
    lr: float  # learning rate this step used
    skipped: bool = False  # no update: float16 loss scaling found an overflow, or the step was not finite
    nonfinite: bool = False  # the loss or the gradient norm was NaN or infinite (the update was skipped)

    def describe(self) -> str:
        """What the step trained, for messages: e.g. "stage s2, task capitalization"."""
        return ", ".join(f"{key} {value}" for key, value in self.info.items())


@dataclass
class Evaluation:
    """The result of ``Objective.evaluate``."""

    metrics: dict[str, Any]  # JSON-able; logged under "eval"
    score: Optional[float] = None  # higher is better; picks the best model (None: no selection)
    summary: str = ""  # one line for the console
    fields: dict[str, Any] = field(default_factory=dict)  # more keys of the eval record
    outputs: Any = None  # kept for the application (e.g. predictions), never logged


class Objective(ABC):
    """Base class of the objectives. Subclasses set ``model`` and ``total_steps`` and implement
    ``next_step``, ``loss``, the state and ``save``; ``evaluate``, ``log_fields`` and ``describe``
    have defaults (nothing to evaluate, no extra log keys)."""

    model: Any  # a paddle.nn.Layer, weights initialised; the engine trains it in place
    total_steps: int  # optimizer steps of the whole run (``trainer.max_steps`` applied)

    @abstractmethod
    def next_step(self) -> Step: ...

    @abstractmethod
    def loss(self, model: Any, batch: Any) -> tuple[Any, dict[str, float]]:
        """``(loss summed over the batch's units, summable stats)``. ``stats["tokens"]`` (non-padding
        tokens) gives the log its tokens/s; other stats are the objective's own (e.g. correct)."""

    def evaluate(self, model: Any) -> Optional[Evaluation]:
        """Called on every rank, in eval mode and without gradients; None: nothing to evaluate."""
        return None

    def evaluation_due(self, step: int) -> bool:
        """Whether to evaluate after ``step`` besides every ``trainer.eval_steps`` and the last step
        (pre-training: the end of every stage, where the forgetting table reads its rows)."""
        return False

    def log_fields(self, window: list[StepRecord]) -> dict[str, Any]:
        """Extra keys of the train record that closes ``window`` (e.g. per-task means)."""
        return {}

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Where the data stands (cursors, controller); restored by ``load_state_dict`` on resume."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    @abstractmethod
    def save(self, directory: str) -> None:
        """Files that belong beside the weights in a checkpoint or ``best/`` (tokenizer, settings)."""

    def describe(self) -> str:
        """One line about the run for the console."""
        return ""
