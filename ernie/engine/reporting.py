"""What a run tells: ``log.jsonl`` (one schema for every objective), VisualDL scalars, the progress bar.

``log.jsonl`` holds one JSON object per line:

* ``{"event": "train", "step", "loss", "lr", "grad_norm", "samples", "samples_per_s", "tokens",
  "tokens_per_s", "elapsed_s", ...}`` every ``trainer.logging_steps`` steps and at the last step:
  ``loss`` and ``grad_norm`` are means over the finite steps since the previous record (each step's
  loss is the mean over its global batch; ``null`` when none was finite), ``lr`` is the rate of the
  record's own step; ``nonfinite`` counts steps whose loss or gradient norm was NaN or infinite
  (their updates were skipped), ``skipped`` every step without an update (those, and float16
  overflows that loss scaling skipped). The objective adds its keys (pre-training: ``stage``,
  ``task``, ``accuracy`` and per-task means under ``tasks``; fine-tuning: ``benchmark``, ``epoch``).
* ``{"event": "eval", "step", "eval": {...}, "best": bool}`` after each evaluation (``best`` when the
  objective scores its evaluations), plus the objective's keys.

On resume the file is cut back to the checkpoint's step, so it ends up as an uninterrupted run's.
Only the wall-clock keys (``TIMING_KEYS``) differ between two identical runs. A NaN is written as
``null``: every line is standard JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from typing import Any, Callable, Optional

from ..files import atomic_write_text, json_dumps, writing
from .objective import Evaluation, StepRecord

logger = logging.getLogger("ernie.engine")

LOG_FILE = "log.jsonl"
TIMING_KEYS = ("samples_per_s", "tokens_per_s", "elapsed_s")


def _numbers(tree: dict[str, Any], prefix: str) -> list[tuple[str, float]]:
    """Numeric leaves of a nested dict as ``(prefix/a/b, value)`` (VisualDL tags)."""
    out = []
    for key, value in tree.items():
        tag = f"{prefix}/{key}"
        if isinstance(value, dict):
            out.extend(_numbers(value, tag))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append((tag, float(value)))
    return out


def _finite_mean(values: list[float]) -> Optional[float]:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


class RunLog:
    """``log.jsonl`` and VisualDL on rank 0; the window of steps since the last record on every rank."""

    def __init__(
        self,
        output_dir: str,
        main: bool,
        logging_steps: int,
        resume_step: Optional[int] = None,
        window: Optional[list[dict[str, Any]]] = None,
        visualdl: bool = True,
    ):
        self.main = main
        self.logging_steps = logging_steps
        self.window: list[StepRecord] = [StepRecord(**record) for record in window or []]
        self.window_start = self.started = time.time()
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
        with writing(path):
            self.file = open(path, "a", encoding="utf-8")
        if visualdl:
            try:
                from visualdl import LogWriter

                self.vdl = LogWriter(logdir=os.path.join(output_dir, "visualdl"))
            except Exception:  # VisualDL is optional (and its import can fail on its own dependencies)
                self.vdl = None

    def window_state(self) -> list[dict[str, Any]]:
        """The open window, saved in checkpoints so a resumed run writes the same next record."""
        return [dataclasses.asdict(record) for record in self.window]

    def _write(self, record: dict[str, Any]) -> None:
        if self.file:
            with writing(self.file.name):
                self.file.write(json_dumps(record) + "\n")
                self.file.flush()

    def step(
        self,
        record: StepRecord,
        last: bool,
        fields: Callable[[list[StepRecord]], dict[str, Any]],
    ) -> Optional[dict[str, Any]]:
        """Add a step; at a logging step (or the last) write and return the window's record."""
        self.window.append(record)
        if record.step % self.logging_steps and not last:
            return None
        window, self.window = self.window, []
        elapsed = max(time.time() - self.window_start, 1e-9)
        self.window_start = time.time()
        samples = sum(r.samples for r in window)
        out: dict[str, Any] = {
            "event": "train",
            "step": record.step,
            **fields(window),
            "loss": _finite_mean([r.loss for r in window]),
            "lr": record.lr,
            "grad_norm": _finite_mean([r.grad_norm for r in window]),
            "samples": samples,
            "samples_per_s": round(samples / elapsed, 2),
        }
        if all("tokens" in r.stats for r in window):
            out["tokens"] = int(sum(r.stats["tokens"] for r in window))
            out["tokens_per_s"] = round(out["tokens"] / elapsed, 1)
        for key in ("nonfinite", "skipped"):
            count = sum(getattr(r, key) for r in window)
            if count:
                out[key] = count
        out["elapsed_s"] = round(time.time() - self.started, 2)
        self._write(out)
        if self.vdl:
            scalars = {k: v for k, v in out.items() if k not in ("event", "step", *TIMING_KEYS)}
            for tag, value in _numbers(scalars, "train"):
                self.vdl.add_scalar(tag, value, record.step)
        return out

    def evaluation(self, step: int, evaluation: Evaluation, best: Optional[bool]) -> dict[str, Any]:
        out: dict[str, Any] = {"event": "eval", "step": step, **evaluation.fields, "eval": evaluation.metrics}
        if best is not None:
            out["best"] = best
        self._write(out)
        if self.vdl:
            for tag, value in _numbers(evaluation.metrics, "eval"):
                self.vdl.add_scalar(tag, value, step)
        return out

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.vdl:
            self.vdl.close()


class Progress:
    """A tqdm bar on an interactive rank 0, else a line per logged step through ``logging``."""

    def __init__(self, total: int, initial: int, enabled: bool, main: bool):
        self.total = total
        self.main = main
        self.bar = None
        if enabled and main:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
        self.rate = ""

    def say(self, text: str) -> None:
        if not self.main:
            return
        if self.bar:
            self.bar.write(text)
        else:
            logger.info("%s", text)

    def update(self, record: StepRecord, logged: Optional[dict[str, Any]]) -> None:
        if logged and "tokens_per_s" in logged:
            self.rate = f" {logged['tokens_per_s']:.0f} tok/s"
        elif logged:
            self.rate = f" {logged['samples_per_s']:.1f} samples/s"
        text = f"{record.describe()}: loss {record.loss:.4f} lr {record.lr:.3g}{self.rate}".strip()
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix_str(text, refresh=False)
        elif logged:
            self.say(f"step {record.step}/{self.total} {text}")

    def close(self) -> None:
        if self.bar:
            self.bar.close()
