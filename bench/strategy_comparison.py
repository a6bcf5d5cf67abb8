"""ERNIE 2.0's strategy comparison, measured: continual, multi-task and continual multi-task pre-training.

    ERNIE_TEST_DATA=../shared/data python bench/strategy_comparison.py [--langs en,zh] [--seeds 1,2,3]
        [--jobs 2] [--output bench_out/strategies]

For each language, the recipe ``configs/pretrain/compare_small_<lang>.yaml`` (a 2 x 128 model from scratch, the
official vocabulary, the real corpora of ``corpus/<lang>`` read as paragraphs) is run three ways with
the same data and the same steps per task (key ``strategy``, tasks/strategies.py; ``--per-task-steps``
scales the recipe's stages):

  continual            one stage per task, one task after another
  multitask            one stage, every task interleaved from the first step
  continual_multitask  the recipe's staircase: each stage brings in a task and keeps the earlier ones

for every seed. Pre-training evaluates every task on its held-out set at the end of every stage (the
multi-task run, one stage long, also every "steps per task", where the continual run's stages end); the forgetting table is read
from those evaluations (tasks/forgetting.py): mean ± sample std over seeds, and per task forgetting =
best value at any evaluation minus the final one. Each task's binomial standard error on its held-out
set is reported beside it.

Downstream, the final checkpoint of every run and a random initialisation of the same model (one per
seed) are fine-tuned on two real benchmarks per language (``BENCHMARKS``) with one recipe
(``--finetune-steps`` steps of batch 32, ``--finetune-lr``, no selection on dev: the dev metric is
read once, at the end) and probed linearly: a logistic regression (scikit-learn) on frozen [CLS]
features of up to ``--probe-train`` training examples, scored on all of dev.

Everything lands under ``--output``: runs (their log.jsonl, checkpoints), ``results.json`` (all numbers),
``tables.md`` (the tables of the README) and ``figures/<lang>/`` (tools/plot.py's PNGs of seed 1 of each
strategy). A finished job is not run again: after an interruption the same command continues. Jobs run
``--jobs`` at a time, one thread each. Prints one JSON line: the headline numbers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

from common import ROOT, bench_parser  # noqa: E402  (first: the repository on sys.path)
from runs import (  # noqa: E402
    DOWNSTREAM,
    RANDOM,
    add_run_args,
    benchmark_data,
    build_corpus_shards,
    final_checkpoint,
    finetune_dir,
    finetune_jobs,
    finetune_score,
    log,
    parse_run_args,
    points,
    pretrain_command,
    random_init,
    run_all,
    split_examples,
    spread,
)

from tasks.controller import Stage  # noqa: E402

STRATEGIES = {"continual": "continual", "multitask": "multitask", "continual_multitask": "as_written"}
CORPUS_FILES = {"en": "corpus/en/*.txt", "zh": "corpus/zh/*.txt"}  # read as paragraphs
# The dev sets of bench/runs.py's DOWNSTREAM that the comparison fine-tunes and probes (its committed
# results have these; small_recipe.py uses them all).
BENCHMARKS = {"en": ["sst2", "sst2_1k"], "zh": ["chnsenticorp", "tnews"]}


def corpus_shards(args, lang: str, vocab: str) -> str:
    import glob

    inputs = sorted(glob.glob(os.path.join(args.data, CORPUS_FILES[lang])))
    return build_corpus_shards(args.output, lang, inputs, ["paragraphs"] * len(inputs), vocab)


# ------------------------------------------------------------------------------------------------ pre-training
def pretrain_dir(output: str, lang: str, strategy: str, seed: int) -> str:
    return os.path.join(output, "pretrain", lang, f"{strategy}_seed{seed}")


def scaled_recipe(output: str, lang: str, per_task_steps: Optional[int]) -> tuple[str, int]:
    """``(config path, steps of the task with the most)``: ``configs/pretrain/compare_small_<lang>.yaml``, or a copy
    whose stages are scaled so that the task with the most steps has ``per_task_steps`` (every stage's
    steps x the same factor, rounded, at least 1)."""
    import yaml

    from tasks.strategies import task_totals

    recipe = os.path.join(ROOT, "configs", "pretrain", f"compare_small_{lang}.yaml")
    with open(recipe, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    totals = task_totals([Stage(stage.get("name", ""), stage["tasks"]) for stage in config["stages"]])
    if not per_task_steps:
        return recipe, max(totals.values())
    factor = per_task_steps / max(totals.values())
    for stage in config["stages"]:
        stage["tasks"] = {task: max(1, round(steps * factor)) for task, steps in stage["tasks"].items()}
    config["model_config"] = os.path.join(ROOT, config["model_config"])
    path = os.path.join(output, "configs", f"compare_small_{lang}_{per_task_steps}_per_task.yaml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path, per_task_steps


def pretrain_jobs(args, lang: str, shards: str, vocab: str) -> list[tuple[list[str], str]]:
    recipe, per_task = scaled_recipe(args.output, lang, args.per_task_steps)
    jobs = []
    for strategy, value in STRATEGIES.items():
        for seed in args.seeds:
            run = pretrain_dir(args.output, lang, strategy, seed)
            if final_checkpoint(run):
                continue
            command = pretrain_command(recipe, run, shards, vocab, f"strategy={value}", f"seed={seed}")
            if strategy == "multitask":  # one stage: evaluate where the continual run's stages end too
                command += ["--set", f"trainer.eval_steps={per_task}"]
            if args.eval_samples is not None:
                command += ["--set", f"data.eval_samples={args.eval_samples}"]
            jobs.append((command, run + ".log"))
    return jobs


# ------------------------------------------------------------------------------------------------ downstream
def probe_features(model: Any, tokenizer: Any, examples: list, max_seq_len: int) -> Any:
    """[CLS] of the last layer for each example, frozen (eval mode, no gradient), batches by length."""
    import numpy as np
    import paddle

    inputs = [tokenizer(e.text_a, e.text_b, max_length=max_seq_len, truncation=True) for e in examples]
    encoded = [x["input_ids"] for x in inputs]
    pairs = [x["token_type_ids"] for x in inputs]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    features = np.zeros((len(examples), model.config.hidden_size), dtype=np.float32)
    with paddle.no_grad():
        for start in range(0, len(order), 128):
            rows = order[start : start + 128]
            width = max(len(encoded[r]) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros_like(ids)
            for k, r in enumerate(rows):
                ids[k, : len(encoded[r])] = encoded[r]
                types[k, : len(pairs[r])] = pairs[r]
            sequence = model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types))[0]
            features[rows] = sequence[:, 0].numpy()
    return features


def linear_probe(
    model_dir: str, lang: str, benchmark: str, data_dir: str, train_limit: int, seed: int
) -> dict[str, float]:
    """Logistic regression on frozen [CLS] features: dev accuracy and Matthews correlation."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, matthews_corrcoef
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ernie import ErnieTokenizer
    from ernie.modeling import ErnieModel

    max_seq_len = DOWNSTREAM[lang][benchmark][2]
    splits = {
        split: [e for e in split_examples(lang, benchmark, data_dir, split) if e.label is not None]
        for split in ("train", "dev")
    }
    train = splits["train"]
    if len(train) > train_limit:  # the same subset for every model of a seed
        pick = np.random.default_rng(seed).choice(len(train), train_limit, replace=False)
        train = [train[k] for k in sorted(pick)]
    tokenizer = ErnieTokenizer.from_pretrained(model_dir)
    model = ErnieModel.from_pretrained(model_dir, verbose=False)
    model.eval()
    x_train = probe_features(model, tokenizer, train, max_seq_len)
    x_dev = probe_features(model, tokenizer, splits["dev"], max_seq_len)
    y_train = np.array([e.label for e in train])
    y_dev = np.array([e.label for e in splits["dev"]])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    classifier.fit(x_train, y_train)
    predicted = classifier.predict(x_dev)
    return {"acc": float(accuracy_score(y_dev, predicted)), "mcc": float(matthews_corrcoef(y_dev, predicted))}


# ------------------------------------------------------------------------------------------------ report
def forgetting_report(output: str, lang: str, seeds: list[int]) -> tuple[dict, list[str]]:
    from ernie.engine.plot import read_log
    from tasks.forgetting import evaluation_rows, markdown, summarize

    report, lines = {}, []
    for strategy in STRATEGIES:
        runs = [evaluation_rows(read_log(pretrain_dir(output, lang, strategy, s))) for s in seeds]
        rows, lost = summarize(runs)
        final = {task: spread([r[-1].metrics[task] for r in runs]) for task in lost}
        errors = {task: max(r[-1].standard_errors[task] for r in runs) for task in lost}
        report[strategy] = {
            "rows": [
                {"step": row.step, "stage": row.stage, **{t: [c.mean, c.std] for t, c in cells.items()}}
                for row, cells in rows
            ],
            "forgetting": {t: [c.mean, c.std] for t, c in lost.items()},
            "final": final,
            "standard_error": errors,
            "heldout_units": {t: runs[0][-1].counts.get(t) for t in lost},
        }
        lines += [f"#### {lang}: {strategy}", "", markdown(rows, lost, strategy), ""]
    return report, lines


def final_table(report: dict, lang: str) -> list[str]:
    tasks = list(report["continual_multitask"]["final"])
    lines = [
        f"| {lang}: final held-out metric | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for strategy, entry in report.items():
        lines.append(f"| {strategy} | " + " | ".join(points(entry["final"][t]) for t in tasks) + " |")
    se = report["continual_multitask"]
    lines.append(
        "| standard error of one run (held-out units) | "
        + " | ".join(f"{100 * se['standard_error'][t]:.2f} ({se['heldout_units'][t]})" for t in tasks)
        + " |"
    )
    return lines


def downstream_table(results: dict, lang: str, kind: str) -> list[str]:
    benchmarks = BENCHMARKS[lang]
    lines = [
        f"| {lang}: {kind} | " + " | ".join(f"{b} ({results[b]['metric']})" for b in benchmarks) + " |",
        "|---|" + "---|" * len(benchmarks),
    ]
    for model in [*STRATEGIES, RANDOM]:
        lines.append(f"| {model} | " + " | ".join(points(results[b][model]) for b in benchmarks) + " |")
    return lines


def main() -> None:
    parser = bench_parser(__doc__)
    add_run_args(parser, "strategies")
    parser.add_argument(
        "--per-task-steps",
        type=int,
        default=None,
        help="scale the recipe's stages to this many steps per task",
    )
    parser.add_argument("--eval-samples", type=int, default=None, help="held-out samples per task (recipe's)")
    parser.add_argument("--probe-train", type=int, default=4000)
    args = parse_run_args(parser)
    langs, vocab = args.langs, args.vocab
    start = time.time()
    shards = {lang: corpus_shards(args, lang, vocab[lang]) for lang in langs}
    run_all(
        [job for lang in langs for job in pretrain_jobs(args, lang, shards[lang], vocab[lang])],
        args.jobs,
        "pre-training",
    )
    models: dict[str, dict[tuple[str, int], str]] = {}
    for lang in langs:
        models[lang] = {
            (strategy, seed): final_checkpoint(pretrain_dir(args.output, lang, strategy, seed))
            for strategy in STRATEGIES
            for seed in args.seeds
        }
        models[lang].update(
            {(RANDOM, seed): random_init(args.output, lang, seed, vocab[lang]) for seed in args.seeds}
        )
    run_all(
        [job for lang in langs for job in finetune_jobs(args, lang, models[lang], BENCHMARKS[lang])],
        args.jobs,
        "fine-tuning",
    )

    from ernie.engine.plot import plot

    results: dict[str, Any] = {"bench": "strategy_comparison", "seeds": args.seeds, "langs": {}}
    tables: list[str] = []
    for lang in langs:
        forgetting, forgetting_lines = forgetting_report(args.output, lang, args.seeds)
        finetuned: dict[str, Any] = {}
        probed: dict[str, Any] = {}
        for benchmark in BENCHMARKS[lang]:
            scores: dict[str, list[Optional[float]]] = {}
            probe_scores: dict[str, list[float]] = {}
            metric = "acc"
            for (model, seed), model_dir in models[lang].items():
                metric, value = finetune_score(finetune_dir(args.output, lang, benchmark, model, seed))
                scores.setdefault(model, []).append(value)
                data_dir = benchmark_data(args, lang, benchmark)
                probe = linear_probe(model_dir, lang, benchmark, data_dir, args.probe_train, seed)
                probe_scores.setdefault(model, []).append(probe["mcc" if metric == "mcc" else "acc"])
            finetuned[benchmark] = {"metric": metric, **{m: spread(v) for m, v in scores.items()}}
            probed[benchmark] = {"metric": metric, **{m: spread(v) for m, v in probe_scores.items()}}
            log(f"{lang} {benchmark}: " + ", ".join(f"{m} {points(finetuned[benchmark][m])}" for m in scores))
        figures = plot(
            [pretrain_dir(args.output, lang, s, args.seeds[0]) for s in STRATEGIES],
            os.path.join(args.output, "figures", lang),
        )
        results["langs"][lang] = {
            "pretraining": forgetting,
            "finetune": finetuned,
            "linear_probe": probed,
            "figures": [os.path.relpath(p, args.output) for p in figures],
        }
        tables += [f"### {lang}", "", *final_table(forgetting, lang), "", *forgetting_lines]
        tables += [*downstream_table(finetuned, lang, f"fine-tuned {args.finetune_steps} steps"), ""]
        tables += [*downstream_table(probed, lang, "linear probe on frozen [CLS]"), ""]
    results["seconds"] = round(time.time() - start)
    with open(os.path.join(args.output, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.output, "tables.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(tables) + "\n")
    headline = {
        "bench": "strategy_comparison",
        "output": args.output,
        "seconds": results["seconds"],
        **{
            f"{lang}_{kind}_{b}": {m: entry[b][m]["mean"] for m in [*STRATEGIES, RANDOM]}
            for lang, entry_all in results["langs"].items()
            for kind, entry in (("finetune", entry_all["finetune"]), ("probe", entry_all["linear_probe"]))
            for b in entry
        },
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
