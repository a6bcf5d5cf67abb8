"""The training loop: the only one in the project, under pre-training and fine-tuning alike.

``train(objective, settings)`` runs ``objective.total_steps`` optimizer steps. Each step:

1. ``objective.next_step()`` gives this rank's micro-batches and their loss units; one small
   all-reduce sums the units of the global batch;
2. every micro-batch: forward under autocast, loss summed over its units divided by the global count,
   backward (loss-scaled for float16), gradients accumulating;
3. one all-reduce of the gradients (summed: the division above already made them the global mean),
   unscale, global norm (logged), then ``Precision.update``: clipping inside AdamW, the update
   (skipped when the loss or the norm is not finite), the LR schedule;
4. log window, evaluation every ``trainer.eval_steps`` (best model to ``settings.best_dir``),
   checkpoint every ``trainer.save_steps``, and both at the last step.

``resume``: None (a new run), ``"auto"`` (the newest checkpoint under ``output_dir``, if any) or a
checkpoint folder. The weights, optimizer moments, schedule, loss scale, the objective's state, the
log window and every rank's RNG come back, so the run goes on with the same per-step losses and ends
with the same weights as one never interrupted.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from ..errors import CheckpointError, ConfigError, TrainingError
from ..files import atomic_write_text, writing
from . import distributed
from .checkpoints import (
    create_optimizer_state,
    load_optimizer_state,
    load_trainer_state,
    locate_resume,
    older_checkpoint,
    optimizer_state,
    read_meta,
    restore_rng,
    save_checkpoint,
    save_model_dir,
)
from .objective import Evaluation, Objective, StepRecord
from .precision import Precision, set_recompute, usable_amp_dtype
from .reporting import Progress, RunLog
from .settings import TrainerSettings

logger = logging.getLogger("ernie.engine")


@dataclass
class TrainResult:
    steps: int  # optimizer steps done
    checkpoint: Optional[str]  # the newest checkpoint (written here or resumed from)
    best_score: Optional[float]
    best_step: Optional[int]
    best_evaluation: Optional[Evaluation]  # when the best evaluation ran in this process
    last_evaluation: Optional[Evaluation]


def global_norm(grads: list) -> float:
    """L2 norm over all gradients, as ``ClipGradByGlobalNorm`` measures it (logged to catch divergence)."""
    import paddle

    if not grads:
        return 0.0
    return float(paddle.sqrt(paddle.add_n([paddle.sum(paddle.square(g.astype("float32"))) for g in grads])))


def _better(score: float, best: Optional[float]) -> bool:
    """A NaN score is never the best (and every comparison with NaN is false anyway)."""
    return math.isfinite(score) and (best is None or score > best)


def _nonfinite_error(record: StepRecord, streak: int) -> TrainingError:
    return TrainingError(
        f"step {record.step} ({record.describe()}): loss {record.loss} and gradient norm {record.grad_norm}; {streak} consecutive "
        "steps were not finite (trainer.max_nonfinite_steps), so the run stops. Their updates were skipped and no "
        "checkpoint holds them: lower optimizer.learning_rate or look at the data of these steps"
    )


def _load_weights(model: Any, checkpoint: str) -> None:
    """The checkpoint's weights into ``model``; every key and shape must match."""
    import paddle

    from ..checkpoint import WEIGHTS_NAME

    path = os.path.join(checkpoint, WEIGHTS_NAME)
    try:
        state = paddle.load(path, return_numpy=True)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if list(own[k].shape) != list(state[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: does not fit this run's model (missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"other shapes {wrong[:5]})"
        )
    model.set_state_dict(state)


class Engine:
    """One run's pieces around an objective: the model, optimizer, schedule and precision.

    ``train`` drives it; benchmarks and tests may call ``train_step`` / ``evaluate`` themselves.
    """

    def __init__(self, objective: Objective, settings: TrainerSettings, checkpoint: Optional[str]):
        from ..optimization import build_optimizer

        self.objective = objective
        self.settings = settings
        model = objective.model
        if checkpoint:
            _load_weights(model, checkpoint)
        distributed.broadcast_parameters(model)
        set_recompute(model, settings.recompute)
        model.train()
        opt = settings.optimizer
        optimizer, self.scheduler = build_optimizer(
            model,
            learning_rate=opt.learning_rate,
            total_steps=objective.total_steps,
            warmup=opt.warmup,
            weight_decay=opt.weight_decay,
            max_grad_norm=opt.max_grad_norm or None,
            beta1=opt.beta1,
            beta2=opt.beta2,
            epsilon=opt.epsilon,
        )
        self.precision = Precision(usable_amp_dtype(settings.amp), settings.amp_level)
        self.model, self.optimizer = self.precision.decorate(model, optimizer)
        create_optimizer_state(self.model, self.optimizer)

    # ------------------------------------------------------------------ one optimizer step
    def train_step(self, step_number: int) -> StepRecord:
        objective, model, precision = self.objective, self.model, self.precision
        step = objective.next_step()
        (global_units,) = distributed.all_reduce_sum([float(sum(step.units))])
        denominator = max(global_units, 1.0)
        model.train()
        loss_sum = 0.0
        stats: dict[str, float] = {}
        for batch in step.micro_batches:
            with precision.autocast():
                summed, batch_stats = objective.loss(model, batch)
            precision.backward(summed / denominator)
            loss_sum += float(summed)
            for key, value in batch_stats.items():
                stats[key] = stats.get(key, 0.0) + float(value)
        params = [p for p in model.parameters() if p.grad is not None]
        distributed.all_reduce_gradients(params)
        keys = sorted(stats)
        reduced = distributed.all_reduce_sum([loss_sum, *(stats[k] for k in keys)])
        loss = reduced[0] / denominator
        precision.unscale(self.optimizer)
        grad_norm = global_norm([p.grad for p in params])
        lr = float(self.optimizer.get_lr())
        # Both are the same on every rank (reduced), so every rank skips the same steps.
        finite = math.isfinite(loss) and math.isfinite(grad_norm)
        applied = precision.update(self.optimizer, self.scheduler, finite)
        return StepRecord(
            step=step_number,
            info=dict(step.info),
            loss=loss,
            units=int(global_units),
            samples=step.samples,
            stats=dict(zip(keys, reduced[1:])),
            grad_norm=grad_norm,
            lr=lr,
            skipped=not applied,
            nonfinite=not math.isfinite(loss) or (not finite and not precision.scaler),
        )

    def evaluate(self) -> Optional[Evaluation]:
        import paddle

        self.model.eval()
        with paddle.no_grad():
            evaluation = self.objective.evaluate(self.model)
        self.model.train()
        return evaluation

    def keep_best(self, step: int) -> None:
        """The model as ``settings.best_dir`` (when the run keeps one), replacing the previous best."""
        if self.settings.best_dir:
            self.check_finite(step)
            if distributed.rank() == 0:
                save_model_dir(self.write_model, self.settings.best_dir)

    def check_finite(self, step: int) -> None:
        """Refuse to save weights that are not finite (a checkpoint or best/ must never hold NaN)."""
        import paddle

        for name, parameter in self.model.named_parameters():
            if not bool(paddle.isfinite(parameter).all()):
                raise TrainingError(
                    f"step {step}: parameter {name} is not finite (NaN or infinite); the model was not saved"
                )

    # ------------------------------------------------------------------ state
    def write_model(self, directory: str) -> None:
        """A model folder: weights and config (PaddleNLP layout) and the objective's files."""
        os.makedirs(directory, exist_ok=True)
        self.model.save_pretrained(directory)
        self.objective.save(directory)

    def state_dict(self, counters: dict[str, Any]) -> dict[str, Any]:
        return {
            "engine": counters,
            "optimizer": optimizer_state(self.model, self.optimizer),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.state_dict(),
            "objective": self.objective.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], source: str) -> dict[str, Any]:
        try:
            load_optimizer_state(self.model, self.optimizer, state["optimizer"], state["scheduler"])
            self.scheduler.set_state_dict(state["scheduler"])
            self.precision.load_state_dict(state.get("scaler") or {})
            self.objective.load_state_dict(state["objective"])
            return state["engine"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source}: damaged or foreign trainer state ({type(exc).__name__}: {exc})"
            ) from None


def _check_geometry(checkpoint: str, settings: TrainerSettings, source: str) -> None:
    """A resumed run must cut its data into the same global batches as the run it continues."""
    meta = read_meta(checkpoint)
    saved = meta.get("global_batch_size")
    if saved is not None and saved != settings.global_batch_size:
        raise ConfigError(
            f"{source}: key 'trainer.global_batch_size' ({settings.global_batch_size}) differs from the "
            f"checkpoint's ({saved}, {checkpoint}); resume with the same global batch"
        )


def train(
    objective: Objective,
    settings: TrainerSettings,
    resume: Optional[str] = None,
    source: str = "config",
    config: Optional[dict[str, Any]] = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``objective`` (see the module docstring); ``config`` is written to output_dir/config.yaml."""
    if settings.eval_steps is None or settings.save_steps is None:
        raise ValueError("train: settings.eval_steps and settings.save_steps must be resolved to integers")
    rank = distributed.rank()
    output_dir = settings.output_dir
    checkpoint = locate_resume(output_dir, resume, source)
    counters: dict[str, Any] = {
        "step": 0,
        "best_score": None,
        "best_step": None,
        "nonfinite_streak": 0,
        "log_window": [],
    }
    try:  # every file of the checkpoint read before the first step; a damaged one names an older checkpoint
        if checkpoint:
            _check_geometry(checkpoint, settings, source)
        engine = Engine(objective, settings, checkpoint)
        if checkpoint:
            counters = engine.load_state_dict(load_trainer_state(checkpoint), checkpoint)
            restore_rng(checkpoint, rank)
            logger.info("resumed from %s at step %d", checkpoint, counters["step"])
    except CheckpointError as exc:
        older = older_checkpoint(checkpoint) if checkpoint else None
        if older is None:
            raise
        raise CheckpointError(f"{exc}; resume from an older checkpoint with --resume {older}") from None
    step = counters["step"]
    best_score, best_step = counters["best_score"], counters["best_step"]
    streak = counters["nonfinite_streak"]
    total = objective.total_steps
    if rank == 0:
        with writing(output_dir):
            os.makedirs(output_dir, exist_ok=True)
        if config is not None:
            atomic_write_text(
                os.path.join(output_dir, "config.yaml"), yaml.safe_dump(config, sort_keys=False)
            )
    log = RunLog(
        output_dir,
        main=rank == 0,
        logging_steps=settings.logging_steps,
        resume_step=step if checkpoint else None,
        window=counters["log_window"],
        visualdl=settings.visualdl,
    )
    bar = Progress(total, step, enabled=progress, main=rank == 0)
    described = objective.describe()
    if described:
        bar.say(described)
    best_evaluation = last_evaluation = None
    last_checkpoint = checkpoint
    try:
        while step < total:
            step += 1
            record = engine.train_step(step)
            done = step >= total
            logged = log.step(record, last=done, fields=objective.log_fields)
            bar.update(record, logged)
            streak = streak + 1 if record.nonfinite else 0
            if streak >= settings.max_nonfinite_steps:
                raise _nonfinite_error(record, streak)
            if (
                (settings.eval_steps and step % settings.eval_steps == 0)
                or done
                or objective.evaluation_due(step)
            ):
                evaluation = engine.evaluate()
                if evaluation is not None:
                    last_evaluation = evaluation
                    improved = None
                    if evaluation.score is not None:
                        improved = _better(evaluation.score, best_score)
                        if improved:
                            best_score, best_step, best_evaluation = evaluation.score, step, evaluation
                            engine.keep_best(step)
                    log.evaluation(step, evaluation, improved)
                    if evaluation.summary:
                        bar.say(f"step {step}: {evaluation.summary}" + (" (best)" if improved else ""))
            if done and best_step is None:  # nothing scored: the last model is kept
                best_step = step
                engine.keep_best(step)
            if (settings.save_steps and step % settings.save_steps == 0) or done:
                engine.check_finite(step)
                counters = {
                    "step": step,
                    "best_score": best_score,
                    "best_step": best_step,
                    "nonfinite_streak": streak,
                    "log_window": log.window_state(),
                }
                meta = {
                    "total_steps": total,
                    "world_size": settings.world_size,
                    "global_batch_size": settings.global_batch_size,
                    "last_step": record.info,
                }
                last_checkpoint = save_checkpoint(
                    output_dir,
                    step,
                    engine.write_model,
                    engine.state_dict(counters),
                    meta,
                    settings.keep_checkpoints,
                )
    finally:
        bar.close()
        log.close()
    distributed.barrier()
    return TrainResult(
        steps=step,
        checkpoint=last_checkpoint,
        best_score=best_score,
        best_step=best_step,
        best_evaluation=best_evaluation,
        last_evaluation=last_evaluation,
    )
