"""A fine-tuning run (``tools/finetune.py``, ``ernie-finetune``): read the benchmark, train on the engine,
keep the best checkpoint by the dev metric, evaluate and predict.

Under ``fleetrun`` every process reads and tokenises the data and takes its share of every global
batch (the engine all-reduces the gradients once per step); evaluation is split across processes
and gathered; only rank 0 writes.

Outputs under ``output_dir``: ``log.jsonl``, ``checkpoints/`` (resumable: ``--resume auto``) and
``config.yaml`` (the engine's), ``best/`` (model, tokenizer and ``finetune_settings.json`` of the best
dev evaluation, replaced atomically), ``results.json`` (dev and test metrics of that model, data
counts, the resolved config), ``predictions/`` and ``submission/`` (GLUE/CLUE submission files).

Bad input (missing files, wrong keys, malformed rows under ``strict``) raises before anything is
written.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Optional

import paddle

from ..config import ErnieConfig
from ..engine import distributed, resolve_settings, train
from ..errors import ConfigError, UsageError
from ..files import atomic_write_text, json_dumps, writing
from ..tokenizer import ErnieTokenizer
from .adapters import make_adapter, model_class
from .benchmarks import NER, get_benchmark
from .config import apply_recipe
from .evaluation import evaluate_splits
from .objective import FinetuningObjective
from .outputs import format_table, write_predictions
from .readers import LabelSet
from .settings_file import FinetuneSettings
from .splits import check_usable, read_splits, report_data

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


def total_steps(trainer: dict, n_examples: int, batch_size: int) -> int:
    if trainer["max_steps"] is not None and trainer["max_steps"] > 0:
        return int(trainer["max_steps"])
    epochs = trainer["epochs"]
    if epochs is None:
        raise ConfigError(
            "key 'trainer.epochs' is not set (and no recipe gives it); or set trainer.max_steps"
        )
    if not isinstance(epochs, (int, float)) or isinstance(epochs, bool) or epochs <= 0:
        raise ConfigError(f"key 'trainer.epochs' must be positive, got {epochs!r}")
    return max(1, math.ceil(epochs * n_examples / batch_size))


def ner_units(train_split: Any) -> str:
    """What one NER label covers in the training file: single characters (MSRA-NER) or words."""
    units = [u for e in train_split.examples for u in e.units]
    return "characters" if all(len(u) == 1 for u in units) else "words"


def run_finetune(
    config: dict,
    do_train: bool = True,
    do_eval: bool = True,
    do_predict: bool = True,
    files_required: bool = True,
    resume: Optional[str] = None,
    progress: bool = False,
) -> dict:
    """Fine-tune and/or evaluate and predict as ``config`` says; returns the results dict (all ranks).

    ``resume``: ``"auto"`` continues the newest checkpoint under ``output_dir`` (or a checkpoint dir).
    """
    spec = get_benchmark(config["benchmark"])
    for key in ("model_dir", "data_dir", "output_dir"):
        if not config.get(key):
            flag = "--output" if key == "output_dir" else f"--{key}"
            raise ConfigError(f"key '{key}' is not set ({flag})")
    model_dir, data_dir, output_dir = config["model_dir"], config["data_dir"], config["output_dir"]
    if not os.path.isdir(model_dir):
        raise UsageError(f"{model_dir}: no such model directory (--model_dir)")
    if not os.path.isdir(data_dir):
        raise UsageError(f"{data_dir}: no such data directory (--data_dir)")
    rank, world = distributed.init_distributed(config["seed"])
    if rank != 0:
        logger.setLevel(logging.WARNING)

    model_config = ErnieConfig.from_pretrained(model_dir)
    config, size = apply_recipe(config, model_config)
    data_cfg, trainer_cfg = config["data"], config["trainer"]
    tokenizer = ErnieTokenizer.from_pretrained(model_dir)

    labels = None
    if spec.labels:
        label_map = data_cfg["label_map"]
        label_map_path = os.path.join(data_dir, label_map) if label_map else None
        labels = LabelSet.for_task(
            spec, label_map_path if label_map_path and os.path.isfile(label_map_path) else None
        )
    wanted = {"train": do_train, "dev": do_train or do_eval, "test": do_predict}
    splits = read_splits(spec, data_cfg, data_dir, labels, wanted, files_required)
    if do_train and not splits["train"]:
        raise ConfigError("key 'data.train' names no training file")
    adapter = make_adapter(spec, labels, tokenizer, data_cfg)
    features = {
        group: {
            name: adapter.features(split, training=(group == "train")) for name, split in group_splits.items()
        }
        for group, group_splits in splits.items()
    }
    report_data(splits, config["strict"])
    check_usable(splits)
    for split in splits["dev"].values():
        if not split.labelled:
            raise UsageError(f"{split.path}: the dev file has no labels")

    selection = trainer_cfg["metric"] or spec.selection_metric
    if selection not in METRIC_NAMES[spec.metrics]:
        raise ConfigError(
            f"key 'trainer.metric': {selection!r} is not a {spec.name} metric ({', '.join(METRIC_NAMES[spec.metrics])})"
        )

    overrides = {**config["model"], **adapter.model_overrides(), "finetuning_task": spec.name}
    model = model_class(adapter).from_pretrained(model_dir, verbose=False, **overrides)
    logger.info("%s", model.load_report.summary())
    if not do_train and model.load_report.new_head_keys:
        raise UsageError(
            f"{model_dir}: has no fine-tuned {adapter.model_class_name} head "
            f"({', '.join(model.load_report.new_head_keys)}); evaluate a fine-tuned model or add --do_train"
        )

    results: dict[str, Any] = {
        "benchmark": spec.name,
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
    best_dir = os.path.join(output_dir, "best")
    dev_results: Optional[dict] = None
    if do_train:  # the whole plan is checked before anything is written
        train_split = next(iter(splits["train"].values()))
        train_features = next(iter(features["train"].values()))
        if not train_features:
            raise UsageError(f"{train_split.path}: no usable training examples")
        if config["optimizer"]["learning_rate"] is None:
            raise ConfigError("key 'optimizer.learning_rate' is not set (and no recipe gives it)")
        settings = resolve_settings(config, world)
        steps = total_steps(trainer_cfg, len(train_features), settings.global_batch_size)
        steps_per_epoch = math.ceil(len(train_features) / settings.global_batch_size)
        eval_steps = steps_per_epoch if settings.eval_steps is None else settings.eval_steps
        settings = settings.replace(
            eval_steps=eval_steps,
            save_steps=eval_steps if settings.save_steps is None else settings.save_steps,
            best_dir=best_dir,
        )
        record = FinetuneSettings.for_benchmark(
            spec,
            labels.labels if labels else None,
            data_cfg,
            ner_units(train_split) if spec.kind == NER else None,
        )

        def save_files(directory: str) -> None:
            tokenizer.save_pretrained(directory)
            record.write(directory)

        objective = FinetuningObjective(
            spec,
            model,
            adapter,
            train_features,
            splits["dev"],
            features["dev"],
            selection,
            settings,
            steps,
            config["seed"],
            save_files,
        )
        results.update(
            steps=steps,
            global_batch_size=settings.global_batch_size,
            micro_batch_size=settings.micro_batch_size,
            accumulate_steps=settings.accumulate_steps,
            epochs=objective.epoch(steps),
        )
        trained = train(objective, settings, resume=resume, config=config, progress=progress)
        results["best_step"] = trained.best_step
        if trained.best_evaluation is not None:
            dev_results = trained.best_evaluation.outputs
        model = objective.model
        model.set_state_dict(paddle.load(os.path.join(best_dir, "model_state.pdparams")))
    elif rank == 0:
        with writing(output_dir):
            os.makedirs(output_dir, exist_ok=True)

    batch_size = trainer_cfg["eval_batch_size"]
    predictions_written: dict[str, str] = {}
    if do_eval and splits["dev"] and dev_results is None:
        dev_results = evaluate_splits(model, adapter, splits["dev"], features["dev"], batch_size)
    if dev_results is not None:
        results["dev_splits"] = {name: metrics for name, (metrics, _) in dev_results.items()}
        if rank == 0:
            for name, (_, predictions) in dev_results.items():
                predictions_written[f"dev {name}"] = write_predictions(
                    spec, "dev", name, predictions, output_dir
                )
    if do_predict and splits["test"]:
        test_results = evaluate_splits(model, adapter, splits["test"], features["test"], batch_size)
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
            os.path.join(output_dir, "results.json"), json_dumps(results, indent=2, ensure_ascii=False) + "\n"
        )
        print(format_table(results), flush=True)
    distributed.barrier()
    return results
