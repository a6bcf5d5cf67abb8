"""Continual multi-task pre-training as an objective on the engine: tasks, controller, model with heads.

``PretrainingObjective(config, settings)`` checks everything cheap first (model config, task ids,
vocabulary, every shard manifest), then builds the model with every task's head and the controller.
For each optimizer step the controller picks a task (``next_step``):

* the step's global batch is ``global_batch_size`` consecutive samples of the task; rank r reads
  micro-batch a as samples ``start + (a * world_size + r) * micro_batch_size ...``, so each sample
  is read once across ranks;
* the loss of a micro-batch is the cross entropy summed over its labelled items (tokens for the
  token tasks, masked tokens for the MLM, samples for the sentence tasks); the engine divides by the
  global batch's count, so the gradient is that of the global batch mean however it is split;
* the heads of the tasks that did not train at a step get no gradient, hence no Adam moment update
  and no weight decay (the engine clears gradients to None).

``evaluate`` scores every task on its fixed held-out samples next to the chance level of those
samples. The objective's state is the controller's (samples are pure functions of their index).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np

from data_tools.shards import open_task, sha256_file
from ernie.engine import Evaluation, Objective, Step, StepRecord, TrainerSettings, distributed
from ernie.errors import ConfigError
from ernie.tokenizer import ErnieTokenizer

from .base import Task, task_class
from .config import build_model_config, parse_stages, task_options, vocab_path
from .context import Batch, TaskContext, VocabInfo
from .controller import StepPlan, TaskController

logger = logging.getLogger("ernie.pretrain")


def to_tensors(batch: Batch) -> dict[str, Any]:
    import paddle

    return {key: paddle.to_tensor(value) for key, value in batch.items()}


def format_eval(metrics: dict[str, dict[str, Any]]) -> str:
    parts = []
    for task, values in metrics.items():
        metric = values.get("metric", "accuracy")
        chance = values.get(f"{metric}_chance", values["chance"])
        label = {"accuracy": "acc", "balanced_accuracy": "bal.acc"}.get(metric, metric)
        text = f"{task} {label} {values[metric]:.3f} (chance {chance:.3f})"
        if "perplexity" in values:
            text += f" ppl {values['perplexity']:.1f}"
        parts.append(text)
    return "eval: " + " | ".join(parts)


class PretrainingObjective(Objective):
    def __init__(self, config: dict[str, Any], settings: TrainerSettings, source: str = "config"):
        self.config = config
        self.source = source
        self.rank, self.world_size = distributed.rank(), settings.world_size
        self.micro_batch_size = settings.micro_batch_size
        self.accumulate_steps = settings.accumulate_steps
        self.samples_per_step = settings.global_batch_size
        self.eval_batch_size = settings.eval_batch_size

        # Cheap checks, in order: model config and task ids, vocabulary, then every shard manifest.
        self.model_config = build_model_config(config, source)
        self.stages = parse_stages(config, source)
        self.vocab_file = vocab_path(config, source)
        self.tokenizer = ErnieTokenizer(self.vocab_file, use_fast=False)  # ids only: no text to tokenize
        # The id limit (largest id + 1), not the count of distinct tokens: with a token on two lines
        # the ids reach past that count.
        if self.tokenizer.vocab_size > self.model_config.vocab_size:
            raise ConfigError(
                f"{source}: key 'model.vocab_size' ({self.model_config.vocab_size}) is smaller than the vocabulary "
                f"{self.vocab_file} ({self.tokenizer.vocab_size} ids)"
            )
        self.context = TaskContext(
            seed=config["seed"],
            max_seq_len=config["data"]["max_seq_len"],
            vocab=VocabInfo.from_tokenizer(self.tokenizer),
            type_vocab_size=self.model_config.type_vocab_size,
            heldout=config["data"]["heldout"],
        )
        vocab_sha = sha256_file(self.vocab_file)
        options = task_options(config, source)
        used = list(dict.fromkeys(task for stage in self.stages for task in stage.steps))
        self.tasks: dict[str, Task] = {}
        for name in used:
            shards = open_task(config["data"]["dir"], name, vocab_sha, id_limit=self.model_config.vocab_size)
            self.tasks[name] = task_class(name)(options[name]["task_id"], options[name], shards, self.context)
        # The shards' language (data_tools build --lang): what a finished run suggests fine-tuning on.
        self.language = next(iter(self.tasks.values())).shards.manifest.get("language")
        # Each stage's variant of a task (its stage options applied), built once.
        self._stage_tasks = {
            (k, name): self.tasks[name].with_options(stage.options.get(name))
            for k, stage in enumerate(self.stages)
            for name in stage.steps
        }
        self.controller = TaskController(self.stages, config["seed"], self.samples_per_step)
        self._stage_ends = frozenset(int(end) for end in self.controller.stage_starts[1:])
        max_steps = settings.max_steps
        self.total_steps = (
            self.controller.total_steps if max_steps < 0 else min(max_steps, self.controller.total_steps)
        )
        if self.total_steps <= 0:
            raise ConfigError(f"{source}: key 'trainer.max_steps' leaves no step to train")
        self.model = self._build_model()
        self._eval_batches: dict[str, list[Batch]] = {}
        self._last_plan: Optional[StepPlan] = None

    def _build_model(self):
        import paddle

        from ernie.modeling import ErnieForPretraining

        paddle.seed(self.config["seed"])
        heads = {}
        for task in self.tasks.values():
            head = task.build_head(self.model_config)
            if head is not None:
                heads[task.head_name] = head
        init_from = self.config.get("init_from")
        if not init_from:
            return ErnieForPretraining(self.model_config, heads)
        model = ErnieForPretraining.from_pretrained(
            init_from, config=self.model_config, init_kwargs={"task_heads": heads}, verbose=self.rank == 0
        )
        logger.info("%s", model.load_report.summary())
        return model

    # ------------------------------------------------------------------ training
    def task_for(self, plan: StepPlan) -> Task:
        return self._stage_tasks[(plan.stage_index, plan.task)]

    def rank_indices(self, plan: StepPlan, micro_step: int) -> range:
        """Sample indices of this rank's micro-batch ``micro_step`` within the plan's global batch."""
        start = plan.sample_start + (micro_step * self.world_size + self.rank) * self.micro_batch_size
        return range(start, start + self.micro_batch_size)

    def next_step(self) -> Step:
        plan = self.controller.next()
        self._last_plan = plan
        task = self.task_for(plan)
        batches = [task.batch(self.rank_indices(plan, a), "train") for a in range(self.accumulate_steps)]
        return Step(
            micro_batches=[(task, batch) for batch in batches],
            units=[task.label_count(batch) for batch in batches],
            samples=plan.samples,
            info={"stage": plan.stage_name, "task": plan.task},
        )

    def loss(self, model, item: tuple[Task, Batch]):
        import paddle

        task, batch = item
        tensors = to_tensors(batch)
        logits = task.forward(model, tensors)
        if logits.dtype != paddle.float32:
            logits = logits.astype("float32")  # the loss in fp32 under mixed precision
        summed, stats = task.loss_and_stats(logits, tensors)
        return summed, {"correct": stats["correct"], "tokens": float(batch["attention_mask"].sum())}

    def log_fields(self, window: list[StepRecord]) -> dict[str, Any]:
        """The last step's stage and task, accuracy (mean over the window) and per-task means."""
        accuracies = [r.stats["correct"] / max(r.units, 1) for r in window]
        tasks: dict[str, list[float]] = {}
        for record, accuracy in zip(window, accuracies):
            sums = tasks.setdefault(record.info["task"], [0.0, 0.0, 0])
            sums[0] += record.loss
            sums[1] += accuracy
            sums[2] += 1
        last = window[-1]
        return {
            "stage": last.info["stage"],
            "task": last.info["task"],
            "accuracy": sum(accuracies) / len(window),
            "tasks": {
                task: {"loss": loss / n, "accuracy": acc / n, "steps": n}
                for task, (loss, acc, n) in sorted(tasks.items())
            },
        }

    # ------------------------------------------------------------------ evaluation
    def eval_batches(self, name: str) -> list[Batch]:
        """The task's fixed held-out batches: samples 0..n-1 of its held-out split, n = eval_samples
        or the number of held-out units if smaller (no unit is scored twice)."""
        if name not in self._eval_batches:
            task = self.tasks[name]
            count = min(self.config["data"]["eval_samples"], task.num_units("heldout"))
            size = self.eval_batch_size
            self._eval_batches[name] = [
                task.batch(range(start, min(start + size, count)), "heldout")
                for start in range(0, count, size)
            ]
        return self._eval_batches[name]

    def evaluation_due(self, step: int) -> bool:
        """The last step of every stage: held-out metrics per stage (the forgetting table's rows)."""
        return bool(self.config["data"]["eval_samples"]) and step in self._stage_ends

    def evaluate(self, model) -> Optional[Evaluation]:
        if not self.config["data"]["eval_samples"]:
            return None
        metrics = self.evaluate_tasks(model)
        stage = self._last_plan.stage_name if self._last_plan else None
        return Evaluation(metrics=metrics, summary=format_eval(metrics), fields={"stage": stage})

    def evaluate_tasks(self, model, names: Optional[list[str]] = None) -> dict[str, dict[str, Any]]:
        """Held-out metrics per task: ``accuracy``, ``loss`` (mean cross entropy), ``chance`` (the
        accuracy of the best blind guess on the same samples), ``count``; for the MLM
        ``perplexity``; for the tasks with their own head ``balanced_accuracy`` (mean recall over
        the classes present), its chance ``balanced_accuracy_chance`` (1/K) and ``class_counts``.
        Ranks share the batches and sum their counts. Call in eval mode without gradients."""
        results: dict[str, dict[str, Any]] = {}
        for name in names or list(self.tasks):
            task = self.tasks[name]
            batches = self.eval_batches(name)
            per_class = task.head_name is not None  # not over the masked LM's vocabulary
            sums = [0.0, 0.0, 0.0]
            class_sums = np.zeros((2, task.num_classes if per_class else 0))
            for k, batch in enumerate(batches):
                if k % self.world_size != self.rank:
                    continue
                tensors = to_tensors(batch)
                logits = task.forward(model, tensors)
                _, stats = task.loss_and_stats(logits, tensors)
                sums[0] += stats["loss_sum"]
                sums[1] += stats["correct"]
                sums[2] += stats["count"]
                if per_class:
                    class_sums += np.stack(task.class_stats(logits, tensors))
            reduced = distributed.all_reduce_sum(sums + class_sums.reshape(-1).tolist())
            loss_sum, correct, count = reduced[:3]
            count = max(count, 1.0)
            metrics: dict[str, Any] = {
                "accuracy": correct / count,
                "loss": loss_sum / count,
                "chance": task.chance_level(batches),
                "count": int(count),
            }
            if task.head_name is None:
                metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
            if per_class:
                class_correct, class_count = np.asarray(reduced[3:]).reshape(2, -1)
                present = class_count > 0
                # Mean recall over the classes present; any blind guess scores 1/K on it.
                metrics["balanced_accuracy"] = (
                    float(np.mean(class_correct[present] / class_count[present])) if present.any() else 0.0
                )
                metrics["balanced_accuracy_chance"] = 1.0 / max(int(present.sum()), 1)
                metrics["class_counts"] = [int(c) for c in class_count]
                metrics["class_correct"] = [int(c) for c in class_correct]  # with the counts: the SE
            metrics["metric"] = task.metric_name
            results[name] = metrics
        return results

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])

    def save(self, directory: str) -> None:
        """The tokenizer files beside the weights (the model has written its own)."""
        self.tokenizer.save_pretrained(directory)

    def describe(self) -> str:
        parameters = int(sum(np.prod(p.shape) for p in self.model.parameters()))
        stages = "; ".join(f"{s.name} {dict(s.steps)}" for s in self.stages)
        return (
            f"{parameters} parameters; {self.total_steps} steps of {self.samples_per_step} samples "
            f"({self.micro_batch_size} x {self.accumulate_steps} accumulation x {self.world_size} ranks); "
            f"stages: {stages}"
        )
