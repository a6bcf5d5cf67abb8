"""A pre-training run around ``Pretrainer``: shards, resume, checkpoints and logs (``tools/pretrain.py``).

Layout under ``output_dir``::

    config.yaml                 the resolved config of the run
    log.jsonl                   one JSON object per logged step ("event": "train") and per evaluation ("eval")
    visualdl/                   the same scalars, when VisualDL is installed
    checkpoints/step_N/         config.json, model_state.pdparams, vocab.txt, tokenizer files (PaddleNLP
                                layout: ``from_pretrained`` and tools/finetune.py load it), and
                                trainer_state.pdparams   controller, optimizer, LR schedule, log window
                                rng_state_rank{r}.pkl    each rank's RNG states (dropout)
                                trainer_state.json       written last: the checkpoint is complete
    checkpoints/latest          name of the newest complete checkpoint

A checkpoint is written as ``checkpoints/.step_N.tmp`` and renamed when complete, then ``latest`` is
replaced (also by a rename): a run killed while saving leaves the previous checkpoint and pointer
intact. ``resume="auto"`` continues from ``latest`` (or the newest complete checkpoint): weights,
optimizer moments, schedule, controller (which task, stage, samples), RNG states and the log window
are restored and ``log.jsonl`` is cut back to that step, so the resumed run writes the same weights
and the same loss log as an uninterrupted one. Samples are a pure function of (seed, task, index),
so the controller's counters are the data cursors.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
import shutil
import time
from typing import Any, Optional

import numpy as np
import yaml

from ernie import distributed
from ernie.cli import atomic_write_text
from ernie.config import ConfigError

from .config import parse_stages, vocab_path
from .trainer import Pretrainer, StepResult

logger = logging.getLogger("ernie.pretrain")

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pdparams"
META_FILE = "trainer_state.json"
LOG_FILE = "log.jsonl"
_STEP_DIR = re.compile(r"step_(\d+)")


# ---------------------------------------------------------------------------------------------- shards
def prepare_shards(config: dict[str, Any], source: str = "config", progress: bool = False) -> None:
    """Build ``data.dir`` from ``data.build`` when it is missing (rank 0 builds, the others wait)."""
    data = config["data"]
    if os.path.isdir(data["dir"]):
        return
    build = data["build"]
    inputs = _as_list(build.get("input"))
    ir = _as_list(build.get("ir"))
    if not build.get("lang") or not (inputs or ir):
        raise ConfigError(
            f"{source}: key 'data.dir' names {data['dir']}, which does not exist "
            "(build it with `python -m data_tools build`, or set data.build.lang and data.build.input)"
        )
    if distributed.rank() == 0:
        from data_tools.build import build_shards, summary

        tasks = sorted({task for stage in parse_stages(config, source) for task in stage.steps})
        logger.info("building the shards of %s in %s", ", ".join(tasks), data["dir"])
        manifest = build_shards(
            inputs,
            vocab_path(config, source),
            data["dir"],
            build["lang"],
            tasks,
            workers=int(build.get("workers") or 1),
            ir=ir,
            progress=progress,
        )
        logger.info("%s", summary(manifest))
    distributed.barrier()


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


# ---------------------------------------------------------------------------------------------- checkpoints
def _is_complete(path: str) -> bool:
    return os.path.isfile(os.path.join(path, META_FILE))


def find_checkpoint(output_dir: str) -> Optional[str]:
    """The checkpoint ``latest`` names, else the newest complete ``step_N``; None when there is none."""
    root = os.path.join(output_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return None
    pointer = os.path.join(root, LATEST)
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as f:
            path = os.path.join(root, f.read().strip())
        if _is_complete(path):
            return path
    steps = sorted(
        (int(match.group(1)), name)
        for name in os.listdir(root)
        if (match := _STEP_DIR.fullmatch(name)) and _is_complete(os.path.join(root, name))
    )
    return os.path.join(root, steps[-1][1]) if steps else None


def _rng_state() -> dict[str, Any]:
    import paddle

    return {"paddle": paddle.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _restore_rng(checkpoint: str, rank: int) -> None:
    import paddle

    path = os.path.join(checkpoint, f"rng_state_rank{rank}.pkl")
    if not os.path.isfile(path):  # resumed on more ranks than saved: dropout continues from a new stream
        logger.warning(
            "%s: no RNG state for rank %d; dropout will differ from an uninterrupted run", checkpoint, rank
        )
        return
    with open(path, "rb") as f:
        state = pickle.load(f)
    paddle.set_rng_state(state["paddle"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(trainer: Pretrainer, output_dir: str, extra_state: dict[str, Any], keep: int) -> str:
    """Write ``checkpoints/step_N`` (see the module docstring); every rank calls it."""
    import paddle

    rank = trainer.rank
    root = os.path.join(output_dir, CHECKPOINTS)
    name = f"step_{trainer.global_step}"
    tmp, final = os.path.join(root, f".{name}.tmp"), os.path.join(root, name)
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    distributed.barrier()
    with open(os.path.join(tmp, f"rng_state_rank{rank}.pkl"), "wb") as f:
        pickle.dump(_rng_state(), f)
    if rank == 0:
        trainer.save_pretrained(tmp)
        paddle.save({"trainer": trainer.state_dict(), **extra_state}, os.path.join(tmp, STATE_FILE))
    distributed.barrier()
    if rank == 0:
        plan = trainer.controller.peek()
        meta = {
            "step": trainer.global_step,
            "total_steps": trainer.total_steps,
            "next_stage": plan.stage_name if plan else None,
            "world_size": trainer.world_size,
            "samples_per_step": trainer.samples_per_step,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_text(os.path.join(tmp, META_FILE), json.dumps(meta, indent=2) + "\n")
        if os.path.isdir(final):  # the same step again (a run resumed from an older checkpoint)
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(os.path.join(root, LATEST), name + "\n")
        _prune(root, keep, name)
    distributed.barrier()
    return final


def _prune(root: str, keep: int, current: str) -> None:
    """Keep the newest ``keep`` checkpoints (0: all); remove leftovers of interrupted saves."""
    for name in os.listdir(root):
        if name.startswith(".step_") and name.endswith(".tmp"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    if keep <= 0:
        return
    steps = sorted(int(m.group(1)) for name in os.listdir(root) if (m := _STEP_DIR.fullmatch(name)))
    for step in steps[:-keep]:
        if f"step_{step}" != current:
            shutil.rmtree(os.path.join(root, f"step_{step}"), ignore_errors=True)


# ---------------------------------------------------------------------------------------------- logs
class RunLog:
    """``log.jsonl`` and VisualDL on rank 0; per-task means over each logging window on every rank."""

    TIMING_KEYS = ("tokens_per_s", "elapsed_s")  # the only values that differ between identical runs

    def __init__(
        self,
        output_dir: str,
        main: bool,
        logging_steps: int,
        resume_step: Optional[int] = None,
        window: Optional[dict] = None,
        visualdl: bool = True,
    ):
        self.main = main
        self.logging_steps = logging_steps
        self.window: dict[str, Any] = {**self.new_window(), **(window or {})}
        self.window_start = time.time()
        self.started = time.time()
        self.file = self.vdl = None
        if not main:
            return
        path = os.path.join(output_dir, LOG_FILE)
        kept = []
        if resume_step is not None and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by the kill
                        continue
                    if record.get("step", 0) <= resume_step:
                        kept.append(line if line.endswith("\n") else line + "\n")
        atomic_write_text(path, "".join(kept))
        self.file = open(path, "a", encoding="utf-8")
        if visualdl:
            try:
                from visualdl import LogWriter

                self.vdl = LogWriter(logdir=os.path.join(output_dir, "visualdl"))
            except Exception:  # VisualDL is optional (and its import can fail on its own dependencies)
                self.vdl = None

    @staticmethod
    def new_window() -> dict[str, Any]:
        return {"tasks": {}, "tokens": 0, "grad_norm": 0.0}

    def _write(self, record: dict[str, Any]) -> None:
        if self.file:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def step(self, result: StepResult, last: bool = False) -> Optional[dict[str, Any]]:
        """Accumulate a step; at a logging step (or the last) return and write its record."""
        sums = self.window["tasks"].setdefault(result.task, [0.0, 0.0, 0])
        sums[0] += result.loss
        sums[1] += result.accuracy
        sums[2] += 1
        self.window["tokens"] += result.tokens
        self.window["grad_norm"] += result.grad_norm
        if result.step % self.logging_steps and not last:
            return None
        elapsed = max(time.time() - self.window_start, 1e-9)
        record = {
            "event": "train",
            "step": result.step,
            "stage": result.stage,
            "task": result.task,
            "loss": result.loss,
            "accuracy": result.accuracy,
            "lr": result.learning_rate,
            # mean over the window's steps (each counted once under its task)
            "grad_norm": self.window["grad_norm"] / sum(n for _, _, n in self.window["tasks"].values()),
            "tasks": {
                task: {"loss": loss / n, "accuracy": acc / n, "steps": n}
                for task, (loss, acc, n) in sorted(self.window["tasks"].items())
            },
            "tokens": self.window["tokens"],
            "tokens_per_s": round(self.window["tokens"] / elapsed, 1),
            "elapsed_s": round(time.time() - self.started, 2),
        }
        self._write(record)
        if self.vdl:
            self.vdl.add_scalar("train/lr", result.learning_rate, result.step)
            self.vdl.add_scalar("train/grad_norm", record["grad_norm"], result.step)
            for task, values in record["tasks"].items():
                self.vdl.add_scalar(f"train/{task}/loss", values["loss"], result.step)
                self.vdl.add_scalar(f"train/{task}/accuracy", values["accuracy"], result.step)
        self.window = self.new_window()
        self.window_start = time.time()
        return record

    def evaluation(self, step: int, stage: str, metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
        record = {"event": "eval", "step": step, "stage": stage, "eval": metrics}
        self._write(record)
        if self.vdl:
            for task, values in metrics.items():
                for key in ("accuracy", "balanced_accuracy", "loss", "perplexity"):
                    if key in values:
                        self.vdl.add_scalar(f"eval/{task}/{key}", values[key], step)
        return record

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.vdl:
            self.vdl.close()


def format_eval(step: int, metrics: dict[str, dict[str, float]]) -> str:
    parts = []
    for task, values in metrics.items():
        metric = values.get("metric", "accuracy")
        chance = values.get(f"{metric}_chance", values["chance"])
        label = {"accuracy": "acc", "balanced_accuracy": "bal.acc"}.get(metric, metric)
        text = f"{task} {label} {values[metric]:.3f} (chance {chance:.3f})"
        if "perplexity" in values:
            text += f" ppl {values['perplexity']:.1f}"
        parts.append(text)
    return f"eval at step {step}: " + " | ".join(parts)


# ---------------------------------------------------------------------------------------------- the run
def run_pretraining(
    config: dict[str, Any], source: str = "config", resume: Optional[str] = None, progress: bool = True
) -> dict[str, Any]:
    """Train to the end of the stages (or ``trainer.max_steps``); returns the last checkpoint and metrics.

    ``resume``: None (start; refused if ``output_dir`` already holds checkpoints), ``"auto"`` (continue
    from the newest checkpoint if there is one) or a checkpoint directory.
    """
    import paddle

    rank, _ = distributed.init_distributed(config["seed"])
    output_dir = config["output_dir"]
    trainer_cfg = config["trainer"]
    checkpoint = None
    if resume == "auto":
        checkpoint = find_checkpoint(output_dir)
    elif resume:
        if not _is_complete(resume):
            raise ConfigError(f"--resume {resume}: not a complete checkpoint (no {META_FILE})")
        checkpoint = resume
    elif find_checkpoint(output_dir):
        raise ConfigError(
            f"{source}: key 'output_dir' ({output_dir}) holds checkpoints of an earlier run: "
            "pass --resume auto to continue it, or choose another output_dir"
        )

    prepare_shards(config, source, progress=progress and rank == 0)
    trainer = Pretrainer(dict(config, init_from=checkpoint) if checkpoint else config, source)
    state: dict[str, Any] = {}
    if checkpoint:
        state = paddle.load(os.path.join(checkpoint, STATE_FILE))
        trainer.load_state_dict(state["trainer"])
        _restore_rng(checkpoint, rank)
        logger.info("resumed from %s at step %d", checkpoint, trainer.global_step)
    if rank == 0:
        os.makedirs(output_dir, exist_ok=True)
        atomic_write_text(os.path.join(output_dir, "config.yaml"), yaml.safe_dump(config, sort_keys=False))
        described = trainer.describe()
        logger.info(
            "%d parameters; %d steps of %d samples (%d x %d accumulation x %d ranks); stages: %s",
            described["parameters"],
            trainer.total_steps,
            trainer.samples_per_step,
            trainer.micro_batch_size,
            trainer.accumulate_steps,
            trainer.world_size,
            "; ".join(f"{s['name']} {s['steps']}" for s in described["stages"]),
        )
    log = RunLog(
        output_dir,
        main=rank == 0,
        logging_steps=trainer_cfg["logging_steps"],
        resume_step=trainer.global_step if checkpoint else None,
        window=state.get("log_window"),
        visualdl=trainer_cfg["visualdl"],
    )
    bar = _progress_bar(trainer, enabled=progress and rank == 0)
    say = bar.write if bar else logger.info
    save_steps, eval_steps = trainer_cfg["save_steps"], trainer_cfg["eval_steps"]
    metrics: dict[str, dict[str, float]] = {}
    last_saved = checkpoint
    tokens_per_s = 0.0
    try:
        while not trainer.done:
            result = trainer.train_step()
            record = log.step(result, last=trainer.done)
            if record:  # the rate is measured over a logging window; the bar shows the last one
                tokens_per_s = record["tokens_per_s"]
            if bar:
                bar.update(1)
                bar.set_postfix_str(
                    f"{result.stage} {result.task} loss {result.loss:.3f} lr {result.learning_rate:.2e}"
                    + (f" {tokens_per_s:.0f} tok/s" if tokens_per_s else ""),
                    refresh=False,
                )
            elif record and rank == 0:
                say(
                    f"step {result.step}/{trainer.total_steps} {result.stage} {result.task} loss {result.loss:.4f} "
                    f"lr {result.learning_rate:.3g} {record['tokens_per_s']:.0f} tok/s"
                )
            if (eval_steps and result.step % eval_steps == 0) or trainer.done:
                metrics = trainer.evaluate()
                log.evaluation(result.step, result.stage, metrics)
                if rank == 0:
                    say(format_eval(result.step, metrics))
            if (save_steps and result.step % save_steps == 0) or trainer.done:
                last_saved = save_checkpoint(
                    trainer, output_dir, {"log_window": log.window}, trainer_cfg["keep_checkpoints"]
                )
    finally:
        if bar:
            bar.close()
        log.close()
    return {"checkpoint": last_saved, "steps": trainer.global_step, "eval": metrics}


def _progress_bar(trainer: Pretrainer, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=trainer.total_steps, initial=trainer.global_step, unit="step", dynamic_ncols=True)
