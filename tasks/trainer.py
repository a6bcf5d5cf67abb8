"""The pre-training step library: model + task heads + optimizer + controller, one optimizer step at a time.

``Pretrainer(config)`` checks everything cheap first (config keys, model config, task ids, shard
manifests and their vocabulary), then builds the model with every task's head, the optimizer and the
controller. ``train_step()`` runs one optimizer step of the task the controller picks:

* the step's global batch is ``micro_batch_size x accumulate_steps x world_size`` consecutive
  samples of the task; rank r reads micro-batch a as samples
  ``start + (a * world_size + r) * micro_batch_size ...``, so each sample is read once across ranks;
* the loss is a sum over the labelled items (tokens for the token tasks, masked tokens for the MLM,
  samples for the sentence tasks) divided by their count over the whole global batch (one small
  all-reduce of the count before the backward passes), so the gradient is that of the global batch
  mean whatever the split into ranks and micro-batches;
* gradients are all-reduced once (``ernie.distributed.all_reduce_gradients``) before the optimizer
  step, and cleared to ``None`` afterwards: the heads of tasks that did not train at a step get no
  gradient, hence no Adam moment update and no weight decay.

``evaluate()`` scores every task on its fixed held-out samples (accuracy; MLM accuracy and
perplexity) next to the chance level of those samples. Launching, checkpoint files, logs and the CLI
belong to ``tools/pretrain.py``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from data_tools.shards import open_task, sha256_file
from ernie import distributed
from ernie.config import ConfigError
from ernie.tokenizer import ErnieTokenizer

from .base import Batch, Task, TaskContext, VocabInfo, task_class
from .config import build_model_config, parse_stages, task_options, validate_pretrain_config, vocab_path
from .controller import StepPlan, TaskController

logger = logging.getLogger("ernie.pretrain")


@dataclass
class StepResult:
    step: int  # optimizer steps done, this one included
    stage: str
    stage_index: int
    task: str
    loss: float  # mean over the global batch's labelled items
    accuracy: float
    learning_rate: float
    samples: int  # global batch
    tokens: int  # non-padding tokens of the global batch
    count: int  # labelled items of the global batch
    grad_norm: float = 0.0  # global L2 norm of the summed gradient, before clipping

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def global_norm(grads: list) -> float:
    """L2 norm over all gradients, as ``ClipGradByGlobalNorm`` measures it (logged to catch divergence)."""
    import paddle

    if not grads:
        return 0.0
    return float(paddle.sqrt(paddle.add_n([paddle.sum(paddle.square(g.astype("float32"))) for g in grads])))


def _longest_prefix(key: str, names) -> str:
    """The longest name such that ``key`` is that name or that name + "_..." (moment keys)."""
    best = ""
    for name in names:
        if len(name) > len(best) and (key == name or key.startswith(name + "_")):
            best = name
    if not best:
        raise KeyError(f"optimizer state key {key!r} matches no parameter")
    return best


def resolve_accumulation(trainer: dict[str, Any], world_size: int, source: str = "config") -> int:
    """``accumulate_steps``, derived from ``global_batch_size`` when that is set."""
    micro, accumulate, wanted = (
        trainer["micro_batch_size"],
        trainer["accumulate_steps"],
        trainer["global_batch_size"],
    )
    if wanted is None:
        return accumulate
    per_pass = micro * world_size
    if wanted % per_pass:
        raise ConfigError(
            f"{source}: key 'trainer.global_batch_size' ({wanted}) is not a multiple of "
            f"micro_batch_size x ranks ({micro} x {world_size})"
        )
    if accumulate not in (1, wanted // per_pass):
        raise ConfigError(
            f"{source}: key 'trainer.accumulate_steps' ({accumulate}) disagrees with global_batch_size {wanted} "
            f"= {micro} x {wanted // per_pass} x {world_size} ranks"
        )
    return wanted // per_pass


def _amp_dtype(requested: Optional[str]) -> Optional[str]:
    """The AMP dtype to use: mixed precision is a GPU option, so it is off (with a warning) on CPU."""
    if not requested:
        return None
    import paddle

    if not paddle.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
        logger.warning("trainer.amp=%s ignored: no GPU (mixed precision is a GPU option)", requested)
        return None
    return requested


def to_tensors(batch: Batch) -> dict[str, Any]:
    import paddle

    return {key: paddle.to_tensor(value) for key, value in batch.items()}


class Pretrainer:
    def __init__(self, config: dict[str, Any], source: str = "config"):
        validate_pretrain_config(config, source)
        self.config = config
        self.source = source
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        trainer = config["trainer"]
        self.micro_batch_size = trainer["micro_batch_size"]
        self.accumulate_steps = resolve_accumulation(trainer, self.world_size, source)
        self.samples_per_step = self.micro_batch_size * self.accumulate_steps * self.world_size
        self.amp_dtype = _amp_dtype(trainer["amp"])

        # Cheap checks, in order: model config and task ids, vocabulary, then every shard manifest.
        self.model_config = build_model_config(config, source)
        self.stages = parse_stages(config, source)
        self.vocab_file = vocab_path(config, source)
        self.tokenizer = ErnieTokenizer(self.vocab_file, use_fast=False)  # ids only: no text to tokenize
        if len(self.tokenizer.vocab) > self.model_config.vocab_size:
            raise ConfigError(
                f"{source}: key 'model.vocab_size' ({self.model_config.vocab_size}) is smaller than the vocabulary "
                f"{self.vocab_file} ({len(self.tokenizer.vocab)} tokens)"
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
            shards = open_task(config["data"]["dir"], name, vocab_sha)
            self.tasks[name] = task_class(name)(options[name]["task_id"], options[name], shards, self.context)
        # Each stage's variant of a task (its stage options applied), built once.
        self._stage_tasks = {
            (k, name): self.tasks[name].with_options(stage.options.get(name))
            for k, stage in enumerate(self.stages)
            for name in stage.steps
        }
        self.controller = TaskController(self.stages, config["seed"], self.samples_per_step)
        max_steps = trainer["max_steps"]
        self.total_steps = (
            self.controller.total_steps if max_steps < 0 else min(max_steps, self.controller.total_steps)
        )
        if self.total_steps <= 0:
            raise ConfigError(f"{source}: key 'trainer.max_steps' leaves no step to train")

        self._build_model_and_optimizer()
        self._eval_batches: dict[str, list[Batch]] = {}

    # ------------------------------------------------------------------ construction
    def _build_model_and_optimizer(self) -> None:
        import paddle

        from ernie.modeling import ErnieForPretraining
        from ernie.optimization import build_optimizer

        paddle.seed(self.config["seed"])
        heads = {}
        for task in self.tasks.values():
            head = task.build_head(self.model_config)
            if head is not None:
                heads[task.head_name] = head
        init_from = self.config.get("init_from")
        if init_from:
            self.model = ErnieForPretraining.from_pretrained(
                init_from, config=self.model_config, init_kwargs={"task_heads": heads}, verbose=self.rank == 0
            )
            logger.info("%s", self.model.load_report.summary())
        else:
            self.model = ErnieForPretraining(self.model_config, heads)
        distributed.broadcast_parameters(self.model)
        self.model.ernie.encoder.enable_recompute = self.config["trainer"]["recompute"]
        self.model.train()
        opt = self.config["optimizer"]
        self.optimizer, self.scheduler = build_optimizer(
            self.model,
            learning_rate=opt["learning_rate"],
            total_steps=self.total_steps,
            warmup=opt["warmup"],
            weight_decay=opt["weight_decay"],
            max_grad_norm=opt["max_grad_norm"] or None,
            beta1=opt["beta1"],
            beta2=opt["beta2"],
            epsilon=opt["epsilon"],
        )
        self.scaler = None
        if self.amp_dtype:
            import paddle

            if self.config["trainer"]["amp_level"] == "O2":
                self.model, self.optimizer = paddle.amp.decorate(
                    self.model, self.optimizer, level="O2", dtype=self.amp_dtype
                )
            if self.amp_dtype == "float16":  # bf16 has fp32's range: no loss scaling needed
                self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15)
        self._create_optimizer_state()

    def _autocast(self):
        import contextlib

        import paddle

        if not self.amp_dtype:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level=self.config["trainer"]["amp_level"], dtype=self.amp_dtype)

    def _create_optimizer_state(self) -> None:
        """Create every parameter's Adam moments now rather than at its first gradient.

        Paddle creates them lazily, so a head that has not trained yet has none, and a state saved
        then cannot be loaded once it has (``set_state_dict`` requires every moment it knows of).
        Created now they hold the same initial values Paddle would give them later.
        """
        from paddle.base import framework

        params = [p for p in self.model.parameters() if not p.stop_gradient]
        self.optimizer._create_accumulators(framework.default_main_program().global_block(), params)

    # ------------------------------------------------------------------ training
    @property
    def global_step(self) -> int:
        return self.controller.global_step

    @property
    def done(self) -> bool:
        return self.controller.global_step >= self.total_steps

    def task_for(self, plan: StepPlan) -> Task:
        return self._stage_tasks[(plan.stage_index, plan.task)]

    def rank_indices(self, plan: StepPlan, micro_step: int) -> range:
        """Sample indices of this rank's micro-batch ``micro_step`` within the plan's global batch."""
        start = plan.sample_start + (micro_step * self.world_size + self.rank) * self.micro_batch_size
        return range(start, start + self.micro_batch_size)

    def step_batches(self, plan: StepPlan) -> list[Batch]:
        task = self.task_for(plan)
        return [task.batch(self.rank_indices(plan, a), "train") for a in range(self.accumulate_steps)]

    def train_step(self) -> StepResult:
        """One optimizer step of the next planned task."""
        if self.done:
            raise StopIteration("training is done")
        plan = self.controller.next()
        task = self.task_for(plan)
        batches = self.step_batches(plan)
        local_count = sum(task.label_count(b) for b in batches)
        (global_count,) = distributed.all_reduce_sum([float(local_count)])
        denominator = max(global_count, 1.0)

        self.model.train()
        loss_sum = correct = tokens = 0.0
        for batch in batches:
            tensors = to_tensors(batch)
            with self._autocast():
                logits = task.forward(self.model, tensors)
            if self.amp_dtype:
                logits = logits.astype("float32")  # the loss in fp32
            summed, stats = task.loss_and_stats(logits, tensors)
            loss = summed / denominator
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            loss_sum += stats["loss_sum"]
            correct += stats["correct"]
            tokens += float(batch["attention_mask"].sum())
        params = [p for p in self.model.parameters() if p.grad is not None]
        distributed.all_reduce_gradients(params)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)  # the norm and the clipping see true gradients
        grad_norm = global_norm([p.grad for p in params])
        learning_rate = float(self.optimizer.get_lr())
        if self.scaler:  # skips the update when a gradient overflowed
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.clear_grad(set_to_zero=False)

        loss_sum, correct, tokens = distributed.all_reduce_sum([loss_sum, correct, tokens])
        return StepResult(
            step=self.controller.global_step,
            stage=plan.stage_name,
            stage_index=plan.stage_index,
            task=plan.task,
            loss=loss_sum / denominator,
            accuracy=correct / denominator,
            learning_rate=learning_rate,
            samples=plan.samples,
            tokens=int(tokens),
            count=int(global_count),
            grad_norm=grad_norm,
        )

    def run(
        self,
        on_step: Optional[Callable[[StepResult], None]] = None,
        on_eval: Optional[Callable[[int, dict[str, dict[str, float]]], None]] = None,
    ) -> dict[str, dict[str, float]]:
        """Train to the end (``trainer.max_steps`` or the last stage), evaluating every
        ``trainer.eval_steps`` and at the end; returns the last evaluation."""
        eval_steps = self.config["trainer"]["eval_steps"]
        metrics: dict[str, dict[str, float]] = {}
        while not self.done:
            result = self.train_step()
            if on_step:
                on_step(result)
            if (eval_steps and result.step % eval_steps == 0) or self.done:
                metrics = self.evaluate()
                if on_eval:
                    on_eval(result.step, metrics)
        return metrics

    # ------------------------------------------------------------------ evaluation
    def eval_batches(self, name: str) -> list[Batch]:
        """The task's fixed held-out batches: samples 0..n-1 of its held-out split, n = eval_samples
        or the number of held-out units if smaller (no unit is scored twice)."""
        if name not in self._eval_batches:
            task = self.tasks[name]
            count = min(self.config["data"]["eval_samples"], task.num_units("heldout"))
            size = self.config["trainer"]["eval_batch_size"]
            self._eval_batches[name] = [
                task.batch(range(start, min(start + size, count)), "heldout")
                for start in range(0, count, size)
            ]
        return self._eval_batches[name]

    def evaluate(self, names: Optional[list[str]] = None) -> dict[str, dict[str, float]]:
        """Held-out metrics per task: ``accuracy``, ``loss`` (mean cross entropy), ``chance`` (the
        accuracy of the best blind guess on the same samples), ``count``; for the MLM
        ``perplexity``; for the tasks with their own head ``balanced_accuracy`` (mean recall over
        the classes present), its chance ``balanced_accuracy_chance`` (1/K) and ``class_counts``.
        Ranks share the batches and sum their counts."""
        import paddle

        results: dict[str, dict[str, float]] = {}
        was_training = self.model.training
        self.model.eval()
        with paddle.no_grad():
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
                    logits = task.forward(self.model, tensors)
                    _, stats = task.loss_and_stats(logits, tensors)
                    sums[0] += stats["loss_sum"]
                    sums[1] += stats["correct"]
                    sums[2] += stats["count"]
                    if per_class:
                        class_sums += np.stack(task.class_stats(logits, tensors))
                reduced = distributed.all_reduce_sum(sums + class_sums.reshape(-1).tolist())
                loss_sum, correct, count = reduced[:3]
                count = max(count, 1.0)
                metrics = {
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
                        float(np.mean(class_correct[present] / class_count[present]))
                        if present.any()
                        else 0.0
                    )
                    metrics["balanced_accuracy_chance"] = 1.0 / max(int(present.sum()), 1)
                    metrics["class_counts"] = [int(c) for c in class_count]
                metrics["metric"] = task.metric_name
                results[name] = metrics
        if was_training:
            self.model.train()
        return results

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Controller, optimizer and schedule state (the model's weights are saved apart).

        Paddle keys the optimizer's moments by generated parameter names (``linear_12.w_0_moment1_0``)
        that differ in another process; here they are keyed by the structured names
        (``ernie.encoder.layers.0.linear1.weight_moment1_0``), which a resumed run maps back.
        """
        structured = {param.name: name for name, param in self.model.named_parameters()}
        optimizer_state = {}
        for key, value in self.optimizer.state_dict().items():
            if key == "LR_Scheduler":
                continue  # saved under "scheduler"
            if key == "master_weights":
                optimizer_state[key] = {structured[k]: v for k, v in value.items()}
                continue
            generated = _longest_prefix(key, structured)
            optimizer_state[structured[generated] + key[len(generated) :]] = value
        state = {
            "controller": self.controller.state_dict(),
            "optimizer": optimizer_state,
            "scheduler": self.scheduler.state_dict(),
        }
        if self.scaler:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        generated = {name: param.name for name, param in self.model.named_parameters()}
        optimizer_state = {}
        for key, value in state["optimizer"].items():
            if key == "master_weights":
                optimizer_state[key] = {generated[k]: v for k, v in value.items()}
                continue
            name = _longest_prefix(key, generated)
            optimizer_state[generated[name] + key[len(name) :]] = value
        optimizer_state["LR_Scheduler"] = state["scheduler"]
        self.optimizer.set_state_dict(optimizer_state)
        self.scheduler.set_state_dict(state["scheduler"])
        if self.scaler and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    def save_pretrained(self, path: str) -> None:
        """The model (PaddleNLP layout, task heads included) and the tokenizer files."""
        os.makedirs(path, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)

    def describe(self) -> dict[str, Any]:
        return {
            "tasks": {name: task.describe() for name, task in self.tasks.items()},
            "stages": [{"name": s.name, "steps": dict(s.steps), "options": s.options} for s in self.stages],
            "total_steps": self.total_steps,
            "samples_per_step": self.samples_per_step,
            "parameters": int(sum(np.prod(p.shape) for p in self.model.parameters())),
        }
