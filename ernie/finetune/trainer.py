"""The fine-tuning run: read the benchmark, train, keep the best checkpoint by the dev metric, predict.

``run_finetune(config, do_train, do_eval, do_predict)`` does everything ``tools/finetune.py`` offers.
Under ``fleetrun`` every process reads and tokenises the data, takes its share of every global
batch, and gradients are averaged once per optimizer step; evaluation is split across processes
and gathered; only rank 0 writes.

Outputs under ``output_dir``: ``log.jsonl`` (a line per logged step and per evaluation),
``best/`` (model + tokenizer of the best dev evaluation, replaced atomically), ``results.json``
(dev and test metrics of that checkpoint, data counts, the resolved config), ``predictions/``
(per-example predictions) and ``submission/`` (GLUE/CLUE submission files).

Bad input (missing files, wrong keys, malformed rows under ``strict``) raises before anything is
written.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from typing import Any, Optional

import numpy as np
import paddle

from .. import distributed as dist
from ..cli import UsageError, atomic_write_text
from ..config import ConfigError, ErnieConfig
from ..optimization import build_optimizer
from ..tokenizer import ErnieTokenizer
from .config import apply_recipe, resolve_batch
from .heads import Adapter, make_adapter, model_class
from .readers import LabelSet, ReadResult, read_split
from .tasks import MRC, REGRESSION, TaskSpec, get_task

logger = logging.getLogger("ernie.finetune")

METRIC_NAMES = {
    "acc": ("acc",),
    "acc_f1": ("acc", "f1", "acc_and_f1"),
    "mcc": ("mcc", "acc"),
    "corr": ("pearson", "spearman", "corr"),
    "mrr_f1": ("mrr", "f1", "acc"),
    "ner": ("f1", "precision", "recall"),
    "mrc": ("em", "f1", "avg"),
}
MAX_ISSUES_SHOWN = 5


# ---------------------------------------------------------------------------------------------- data
def _candidates(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def split_files(value: Any, data_dir: str, key: str, required: bool) -> dict[str, str]:
    """``data.<split>`` -> ``{name: path}``; a list is alternatives, a mapping names several splits."""
    if value is None:
        return {}
    named = value if isinstance(value, dict) else {key.split(".")[-1]: value}
    out = {}
    for name, choice in named.items():
        if choice is None:
            continue
        if not isinstance(choice, (str, list)) or not choice:
            raise ConfigError(
                f"key '{key}': expected a file name, a list of alternatives or a mapping, got {choice!r}"
            )
        paths = [os.path.join(data_dir, c) for c in _candidates(choice)]
        found = next((p for p in paths if os.path.isfile(p)), None)
        if found is None:
            if required:
                raise UsageError(f"{' or '.join(paths)}: no such data file (key '{key}')")
            logger.warning("no %s file (%s): skipped", name, " or ".join(paths))
            continue
        out[name] = found
    return out


def report_data(splits: dict[str, dict[str, ReadResult]], strict: bool) -> None:
    """Log what was read; every malformed or skipped row is counted, the first few shown."""
    malformed = [issue for group in splits.values() for r in group.values() for issue in r.malformed]
    for group in splits.values():
        for result in group.values():
            logger.info(
                "%s: %d rows, %d examples%s, %d malformed, %d skipped",
                result.path,
                result.rows,
                len(result.examples),
                "" if result.labelled else " (no labels)",
                len(result.malformed),
                len(result.skipped),
            )
            for kind, issues in (
                ("malformed", result.malformed),
                ("skipped", result.skipped),
                ("note", result.notes),
            ):
                for issue in issues[:MAX_ISSUES_SHOWN]:
                    logger.warning("%s: %s", kind, issue)
                if len(issues) > MAX_ISSUES_SHOWN:
                    logger.warning(
                        "%s: ... and %d more in %s", kind, len(issues) - MAX_ISSUES_SHOWN, result.path
                    )
    if strict and malformed:
        raise UsageError(f"{malformed[0]} ({len(malformed)} malformed rows in all; --strict)")


# ---------------------------------------------------------------------------------------------- evaluation
def _gather(local: list) -> list:
    if dist.world_size() <= 1:
        return local
    gathered: list = []
    paddle.distributed.all_gather_object(gathered, local)
    return [item for part in gathered for item in part]


def model_outputs(model, adapter: Adapter, features: list, batch_size: int) -> list:
    """Outputs for every feature; each process runs its share, longest first, and all are gathered."""
    mine = list(range(dist.rank(), len(features), dist.world_size()))
    mine.sort(key=lambda i: -len(features[i].input_ids))
    local = []
    model.eval()
    with paddle.no_grad():
        for start in range(0, len(mine), batch_size):
            indices = mine[start : start + batch_size]
            batch = [features[i] for i in indices]
            local.extend(zip(indices, adapter.outputs(model, adapter.inputs(batch), batch)))
    outputs: list = [None] * len(features)
    for index, output in _gather(local):
        outputs[index] = output
    return outputs


def evaluate(model, adapter: Adapter, splits: dict, features: dict, batch_size: int) -> dict[str, tuple]:
    return {
        name: adapter.evaluate(
            split, features[name], model_outputs(model, adapter, features[name], batch_size)
        )
        for name, split in splits.items()
    }


# ---------------------------------------------------------------------------------------------- outputs
def _json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_predictions(spec: TaskSpec, split: str, name: str, predictions: list, output_dir: str) -> str:
    """Write one split's predictions; test splits of GLUE/CLUE tasks in the benchmark's submission format."""
    submission_file = spec.submission_files.get(name) if split == "test" else None
    if submission_file and spec.submission == "glue":
        path = os.path.join(output_dir, "submission", submission_file)
        if spec.kind == REGRESSION:
            rows = [f"{p['index']}\t{p['score']:.3f}" for p in predictions]
        else:
            rows = [f"{p['index']}\t{p['label']}" for p in predictions]
        atomic_write_text(path, "index\tprediction\n" + "".join(r + "\n" for r in rows))
        return path
    if submission_file and spec.submission == "clue":
        path = os.path.join(output_dir, "submission", submission_file)
        lines = []
        for p in predictions:
            index = int(p["index"]) if str(p["index"]).isdigit() else p["index"]
            lines.append(_json_line({"id": index, "label": p["label"]}))
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        return path
    stem = split if name == split else f"{split}_{name}"
    if spec.kind == MRC:
        # {qid: answer}: the input of the official CMRC 2018 evaluation script and the CLUE submission form.
        path = os.path.join(output_dir, "predictions", f"{stem}.json")
        answers = {p["qid"]: p["text"] for p in predictions}
        atomic_write_text(path, json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
        return path
    path = os.path.join(output_dir, "predictions", f"{stem}.jsonl")
    atomic_write_text(path, "".join(_json_line(p) + "\n" for p in predictions))
    return path


def save_model_dir(model, tokenizer, target: str) -> None:
    """Write model + tokenizer to ``target`` through a temporary folder, replacing it in one rename."""
    parent = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp{os.getpid()}")
    old = os.path.join(parent, f".{os.path.basename(target)}.old{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if os.path.isdir(target):
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def format_table(results: dict) -> str:
    lines = [
        f"task {results['task']} ({results['suite']}), model {results['model_dir']}",
        f"best step {results.get('best_step')} of {results.get('steps', 0)} (by dev {results['selection_metric']})",
        f"{'split':<22}{'metric':<14}{'value':>10}",
    ]
    for split in ("dev", "test"):
        for name, metrics in (results.get(f"{split}_splits") or {}).items():
            if not metrics:
                continue
            label = split if name == split else f"{split} {name}"
            for key, value in metrics.items():
                if isinstance(value, float):
                    lines.append(f"{label:<22}{key:<14}{100 * value:>10.2f}")
    for path in results.get("predictions", {}).values():
        lines.append(f"predictions: {path}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the run
def _total_steps(trainer: dict, n_examples: int, batch_size: int) -> int:
    if trainer["max_steps"] is not None and trainer["max_steps"] > 0:
        return int(trainer["max_steps"])
    epochs = trainer["epochs"]
    if epochs is None:
        raise ConfigError(
            "key 'trainer.epochs' is not set (and no recipe gives it); or set trainer.max_steps"
        )
    if not isinstance(epochs, (int, float)) or epochs <= 0:
        raise ConfigError(f"key 'trainer.epochs' must be positive, got {epochs!r}")
    return max(1, math.ceil(epochs * n_examples / batch_size))


def run_finetune(
    config: dict,
    do_train: bool = True,
    do_eval: bool = True,
    do_predict: bool = True,
    files_required: bool = True,
) -> dict:
    """Fine-tune and/or evaluate and predict as ``config`` says; returns the results dict (all ranks)."""
    spec = get_task(config["task"])
    for key in ("model_dir", "data_dir", "output_dir"):
        if not config.get(key):
            flag = "--output" if key == "output_dir" else f"--{key}"
            raise ConfigError(f"key '{key}' is not set ({flag})")
    model_dir, data_dir, output_dir = config["model_dir"], config["data_dir"], config["output_dir"]
    rank, world = dist.init_distributed(config["seed"])
    if rank != 0:
        logger.setLevel(logging.WARNING)

    model_config = ErnieConfig.from_pretrained(model_dir)
    config, size = apply_recipe(config, model_config)
    data_cfg, trainer_cfg, optim_cfg = config["data"], config["trainer"], config["optimizer"]
    tokenizer = ErnieTokenizer.from_pretrained(model_dir)

    labels = None
    if spec.labels:
        label_map = data_cfg["label_map"]
        label_map_path = os.path.join(data_dir, label_map) if label_map else None
        labels = LabelSet.for_task(
            spec, label_map_path if label_map_path and os.path.isfile(label_map_path) else None
        )

    files = {
        "train": split_files(data_cfg["train"], data_dir, "data.train", files_required) if do_train else {},
        "dev": split_files(data_cfg["dev"], data_dir, "data.dev", files_required)
        if (do_train or do_eval)
        else {},
        "test": split_files(data_cfg["test"], data_dir, "data.test", files_required) if do_predict else {},
    }
    if do_train and not files["train"]:
        raise ConfigError("key 'data.train' names no training file")
    splits = {
        group: {name: read_split(spec, path, labels, data_cfg["columns"]) for name, path in paths.items()}
        for group, paths in files.items()
    }
    adapter = make_adapter(spec, labels, tokenizer, data_cfg)
    features = {
        group: {
            name: adapter.features(split, training=(group == "train")) for name, split in group_splits.items()
        }
        for group, group_splits in splits.items()
    }
    report_data(splits, config["strict"])
    for split in splits["dev"].values():
        if not split.labelled:
            raise UsageError(f"{split.path}: the dev file has no labels")

    metric_kind = spec.metrics
    selection = trainer_cfg["metric"] or spec.selection_metric
    if selection not in METRIC_NAMES[metric_kind]:
        raise ConfigError(
            f"key 'trainer.metric': {selection!r} is not a {spec.name} metric ({', '.join(METRIC_NAMES[metric_kind])})"
        )

    overrides = {**config["model"], **adapter.model_overrides(), "finetuning_task": spec.name}
    model = model_class(adapter).from_pretrained(model_dir, verbose=False, **overrides)
    logger.info("%s", model.load_report.summary())
    if not do_train and model.load_report.new_head_keys:
        raise UsageError(
            f"{model_dir}: has no fine-tuned {adapter.model_class_name} head "
            f"({', '.join(model.load_report.new_head_keys)}); evaluate a fine-tuned model or add --do_train"
        )
    dist.broadcast_parameters(model)

    results: dict[str, Any] = {
        "task": spec.name,
        "suite": spec.suite,
        "model_dir": model_dir,
        "recipe": size,
        "selection_metric": selection,
        "world_size": world,
        "data": {
            group: {name: split.summary() for name, split in group_splits.items()}
            for group, group_splits in splits.items()
        },
    }
    if do_train:  # the whole plan is checked before anything is written
        train_split = next(iter(splits["train"].values()))
        train_features = next(iter(features["train"].values()))
        if not train_features:
            raise UsageError(f"{train_split.path}: no usable training examples")
        batch_size, micro, accum = resolve_batch(trainer_cfg, world)
        total_steps = _total_steps(trainer_cfg, len(train_features), batch_size)
        steps_per_epoch = math.ceil(len(train_features) / batch_size)
        save_steps = (
            trainer_cfg["save_steps"]
            if trainer_cfg["save_steps"] and trainer_cfg["save_steps"] > 0
            else steps_per_epoch
        )
        if optim_cfg["learning_rate"] is None:
            raise ConfigError("key 'optimizer.learning_rate' is not set (and no recipe gives it)")
        try:
            optimizer, scheduler = build_optimizer(
                model,
                float(optim_cfg["learning_rate"]),
                total_steps,
                warmup=float(optim_cfg["warmup"]),
                weight_decay=float(optim_cfg["weight_decay"]),
                max_grad_norm=optim_cfg["max_grad_norm"],
                beta1=float(optim_cfg["beta1"]),
                beta2=float(optim_cfg["beta2"]),
                epsilon=float(optim_cfg["epsilon"]),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"section 'optimizer': {exc}") from None
        results.update(
            steps=total_steps,
            global_batch_size=batch_size,
            micro_batch_size=micro,
            accumulate_steps=accum,
            epochs=round(total_steps * batch_size / len(train_features), 4),
        )
        logger.info(
            "training %s: %d features, %d steps of %d (%d per process x %d accumulation x %d processes), lr %g",
            spec.name,
            len(train_features),
            total_steps,
            batch_size,
            micro,
            accum,
            world,
            float(optim_cfg["learning_rate"]),
        )
    if rank == 0:
        os.makedirs(output_dir, exist_ok=True)
    best_dir = os.path.join(output_dir, "best")
    dev_results: Optional[dict] = None

    if do_train:
        dev_results = _train(
            model,
            tokenizer,
            adapter,
            spec,
            train_features,
            splits["dev"],
            features["dev"],
            optimizer,
            scheduler,
            config,
            total_steps,
            batch_size,
            micro,
            accum,
            save_steps,
            selection,
            results,
        )
        dist.barrier()
        state = paddle.load(os.path.join(best_dir, "model_state.pdparams"))
        model.set_state_dict(state)

    predictions_written: dict[str, str] = {}
    if do_eval and splits["dev"] and dev_results is None:
        dev_results = evaluate(model, adapter, splits["dev"], features["dev"], trainer_cfg["eval_batch_size"])
    if dev_results is not None:
        results["dev_splits"] = {name: metrics for name, (metrics, _) in dev_results.items()}
        if rank == 0:
            for name, (_, predictions) in dev_results.items():
                predictions_written[f"dev {name}"] = write_predictions(
                    spec, "dev", name, predictions, output_dir
                )
    if do_predict and splits["test"]:
        test_results = evaluate(
            model, adapter, splits["test"], features["test"], trainer_cfg["eval_batch_size"]
        )
        results["test_splits"] = {name: metrics for name, (metrics, _) in test_results.items()}
        if rank == 0:
            for name, (_, predictions) in test_results.items():
                predictions_written[f"test {name}"] = write_predictions(
                    spec, "test", name, predictions, output_dir
                )
    for split in ("dev", "test"):
        named = results.get(f"{split}_splits")
        if named:
            results[split] = next(iter(named.values()))
    results["predictions"] = predictions_written
    results["config"] = config
    if rank == 0:
        atomic_write_text(
            os.path.join(output_dir, "results.json"), json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        )
        print(format_table(results), flush=True)
    dist.barrier()
    return results


def _train(
    model,
    tokenizer,
    adapter: Adapter,
    spec: TaskSpec,
    train_features: list,
    dev_splits: dict,
    dev_features: dict,
    optimizer,
    scheduler,
    config: dict,
    total_steps: int,
    batch_size: int,
    micro: int,
    accum: int,
    save_steps: int,
    selection: str,
    results: dict,
) -> Optional[dict]:
    """The training loop; returns the dev results of the best evaluation (None without a dev set)."""
    from .data import global_batches, rank_micro_batches

    rank, world = dist.rank(), dist.world_size()
    trainer_cfg = config["trainer"]
    output_dir = config["output_dir"]
    best_dir = os.path.join(output_dir, "best")
    units = np.array([adapter.units(f) for f in train_features], dtype=np.int64)
    log = open(os.path.join(output_dir, "log.jsonl"), "w", encoding="utf-8") if rank == 0 else None
    best_value: Optional[float] = None
    best_results: Optional[dict] = None
    window_loss = window_units = 0.0
    window_steps, window_start = 0, time.time()
    try:
        for step, batch in enumerate(
            global_batches(len(train_features), batch_size, total_steps, config["seed"]), 1
        ):
            model.train()
            total_units = int(units[batch].sum())
            lr = optimizer.get_lr()
            for indices in rank_micro_batches(batch, micro, accum, rank, world):
                chunk = [train_features[i] for i in indices]
                loss_sum = adapter.loss_sum(model, adapter.inputs(chunk), chunk)
                # Dividing by the global batch's units (gradients are summed over processes) makes the
                # update the global batch mean however the batch is split.
                (loss_sum / max(total_units, 1)).backward()
                window_loss += float(loss_sum)
            window_units += total_units
            window_steps += 1
            dist.all_reduce_gradients(model.parameters())
            optimizer.step()
            scheduler.step()
            optimizer.clear_grad()

            if step % trainer_cfg["logging_steps"] == 0 or step == total_steps:
                loss_total = dist.all_reduce_sum([window_loss])[0]
                record = {
                    "step": step,
                    "task": spec.name,
                    "epoch": round(step * batch_size / len(train_features), 4),
                    "loss": loss_total / max(window_units, 1),
                    "lr": lr,
                    "examples_per_s": round(
                        batch_size * window_steps / max(time.time() - window_start, 1e-9), 2
                    ),
                }
                if log:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                logger.info("step %d/%d loss %.4f lr %.3g", step, total_steps, record["loss"], lr)
                window_loss = window_units = 0.0
                window_steps, window_start = 0, time.time()

            if step % save_steps == 0 or step == total_steps:
                if dev_splits:
                    evaluation = evaluate(
                        model, adapter, dev_splits, dev_features, trainer_cfg["eval_batch_size"]
                    )
                    primary = next(iter(evaluation.values()))[0]
                    value = float(primary[selection])
                    improved = best_value is None or value > best_value
                    if improved:
                        best_value, best_results = value, evaluation
                        results["best_step"] = step
                else:
                    evaluation, improved = None, step == total_steps
                    if improved:
                        results["best_step"] = step
                if rank == 0:
                    if improved:
                        save_model_dir(model, tokenizer, best_dir)
                    if trainer_cfg["save_checkpoints"]:
                        save_model_dir(
                            model, tokenizer, os.path.join(output_dir, "checkpoints", f"step_{step}")
                        )
                        atomic_write_text(os.path.join(output_dir, "checkpoints", "latest"), f"step_{step}\n")
                    if evaluation is not None:
                        record = {
                            "step": step,
                            "task": spec.name,
                            "eval": {name: metrics for name, (metrics, _) in evaluation.items()},
                            "best": improved,
                        }
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                if evaluation is not None:
                    logger.info(
                        "step %d dev %s %.4f%s", step, selection, value, " (best)" if improved else ""
                    )
                dist.barrier()
    finally:
        if log:
            log.close()
    return best_results
