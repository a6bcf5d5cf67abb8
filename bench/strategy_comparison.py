"""ERNIE 2.0's strategy comparison, measured: continual, multi-task and continual multi-task pre-training.

    ERNIE_TEST_DATA=../shared/data python bench/strategy_comparison.py [--langs en,zh] [--seeds 1,2,3]
        [--jobs 2] [--output bench_out/strategies]

For each language, the recipe ``configs/pretrain/small_<lang>.yaml`` (a 2 x 128 model from scratch, the
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
seed) are fine-tuned on two real benchmarks per language with one recipe (``--finetune-steps`` steps of
batch 32, ``--finetune-lr``, no selection on dev: the dev metric is read once, at the end) and probed
linearly: a logistic regression (scikit-learn) on frozen [CLS] features of up to ``--probe-train``
training examples, scored on all of dev.

Everything lands under ``--output``: runs (their log.jsonl, checkpoints), ``results.json`` (all numbers),
``tables.md`` (the tables of the README) and ``figures/<lang>/`` (tools/plot.py's PNGs of seed 1 of each
strategy). A finished job is not run again: after an interruption the same command continues. Jobs run
``--jobs`` at a time, one thread each. Prints one JSON line: the headline numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from common import ROOT, bench_parser  # noqa: E402  (first: the repository on sys.path)

from tasks.controller import Stage  # noqa: E402
from tasks.forgetting import Spread  # noqa: E402

STRATEGIES = {"continual": "continual", "multitask": "multitask", "continual_multitask": "as_written"}
RANDOM = "random_init"
CORPUS_FILES = {"en": "corpus/en/*.txt", "zh": "corpus/zh/*.txt"}
# name -> (recipe YAML under configs/finetune, data folder under the data dir, max_seq_len, training rows
# kept: None = all). "sst2_1k" is SST-2 fine-tuned on its first 1,000 training sentences (scored on the
# whole dev set), the low-resource setting where a pre-trained encoder has the most to give.
DOWNSTREAM = {
    "en": {
        "sst2": ("glue/sst2.yaml", "glue/SST-2", 64, None),
        "sst2_1k": ("glue/sst2.yaml", "glue/SST-2", 64, 1000),
    },
    "zh": {
        "chnsenticorp": ("chinese/chnsenticorp.yaml", "clue/chnsenticorp", 64, None),
        "tnews": ("clue/tnews.yaml", "clue/tnews", 64, None),  # FewCLUE: 1,185 training titles, 15 classes
    },
}
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_job(command: list[str], log_file: str) -> None:
    """One subprocess, one thread, its output to ``log_file``; a failure stops the bench naming the log."""
    env = {**os.environ, **THREADS}
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if code != 0:
        with open(log_file, encoding="utf-8") as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{' '.join(command[:4])} ... failed (exit {code}), see {log_file}:\n{tail}")


def run_all(jobs: list[tuple[list[str], str]], workers: int, what: str) -> None:
    if not jobs:
        return
    log(f"{what}: {len(jobs)} job(s), {workers} at a time")
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run_job, command, log_file) for command, log_file in jobs]:
            future.result()


# ------------------------------------------------------------------------------------------------ data
def build_corpus_shards(lang: str, data: str, vocab: str, output: str) -> str:
    import glob

    from data_tools.build import build_shards

    shards = os.path.join(output, f"shards_{lang}")
    if not os.path.isfile(os.path.join(shards, "manifest.json")):
        inputs = sorted(glob.glob(os.path.join(data, CORPUS_FILES[lang])))
        log(f"building {lang} shards from {len(inputs)} file(s)")
        build_shards(inputs, vocab, shards, lang, "all", workers=2, input_format="paragraphs", progress=False)
    return shards


# ------------------------------------------------------------------------------------------------ pre-training
def pretrain_dir(output: str, lang: str, strategy: str, seed: int) -> str:
    return os.path.join(output, "pretrain", lang, f"{strategy}_seed{seed}")


def final_checkpoint(run_dir: str) -> Optional[str]:
    latest = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.isfile(latest):
        return None
    with open(latest, encoding="utf-8") as f:
        return os.path.join(run_dir, "checkpoints", f.read().strip())


def scaled_recipe(output: str, lang: str, per_task_steps: Optional[int]) -> tuple[str, int]:
    """``(config path, steps of the task with the most)``: ``configs/pretrain/small_<lang>.yaml``, or a copy
    whose stages are scaled so that the task with the most steps has ``per_task_steps`` (every stage's
    steps x the same factor, rounded, at least 1)."""
    import yaml

    from tasks.strategies import task_totals

    recipe = os.path.join(ROOT, "configs", "pretrain", f"small_{lang}.yaml")
    with open(recipe, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    totals = task_totals([Stage(stage.get("name", ""), stage["tasks"]) for stage in config["stages"]])
    if not per_task_steps:
        return recipe, max(totals.values())
    factor = per_task_steps / max(totals.values())
    for stage in config["stages"]:
        stage["tasks"] = {task: max(1, round(steps * factor)) for task, steps in stage["tasks"].items()}
    config["model_config"] = os.path.join(ROOT, config["model_config"])
    path = os.path.join(output, "configs", f"small_{lang}_{per_task_steps}_per_task.yaml")
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
            command = [
                sys.executable, "tools/pretrain.py", "--config", recipe, "--quiet",
                "--set", f"strategy={value}", "--set", f"seed={seed}", "--set", f"output_dir={run}",
                "--set", f"data.dir={shards}", "--set", f"vocab={vocab}",
            ]  # fmt: skip
            if strategy == "multitask":  # one stage: evaluate where the continual run's stages end too
                command += ["--set", f"trainer.eval_steps={per_task}"]
            if args.eval_samples is not None:
                command += ["--set", f"data.eval_samples={args.eval_samples}"]
            jobs.append((command, run + ".log"))
    return jobs


def random_init(output: str, lang: str, seed: int, vocab: str) -> str:
    """The recipe's model with fresh weights (``paddle.seed(seed)``), saved like a checkpoint."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.modeling import ErnieModel

    path = os.path.join(output, "pretrain", lang, f"{RANDOM}_seed{seed}")
    if not os.path.isfile(os.path.join(path, "model_state.pdparams")):
        paddle.seed(seed)
        config = ErnieConfig.from_pretrained(
            os.path.join(ROOT, "configs", "model", f"ernie-tiny-{lang}.json")
        )
        ErnieModel(config).save_pretrained(path)
        ErnieTokenizer(vocab).save_pretrained(path)
    return path


# ------------------------------------------------------------------------------------------------ downstream
def finetune_dir(output: str, lang: str, benchmark: str, model: str, seed: int) -> str:
    return os.path.join(output, "finetune", lang, benchmark, f"{model}_seed{seed}")


def benchmark_data(args, lang: str, benchmark: str) -> str:
    """The benchmark's data folder; for a training subset, a folder with the first rows of train."""
    recipe, folder, _, rows = DOWNSTREAM[lang][benchmark]
    source = os.path.join(args.data, folder)
    if rows is None:
        return source
    target = os.path.join(args.output, "data", benchmark)
    if not os.path.isdir(target):
        os.makedirs(target)
        for name in sorted(os.listdir(source)):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                lines = f.read().split("\n")
            if name.startswith("train"):
                lines = lines[: rows + 1] + [""]  # the header and the first rows
            with open(os.path.join(target, name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
    return target


def finetune_jobs(args, lang: str, models: dict[tuple[str, int], str]) -> list[tuple[list[str], str]]:
    jobs = []
    for benchmark, (recipe, _, max_seq_len, _) in DOWNSTREAM[lang].items():
        data_dir = benchmark_data(args, lang, benchmark)
        for (model, seed), model_dir in models.items():
            run = finetune_dir(args.output, lang, benchmark, model, seed)
            if os.path.isfile(os.path.join(run, "results.json")):
                continue
            command = [
                sys.executable, "tools/finetune.py", "--config", os.path.join("configs", "finetune", recipe),
                "--model_dir", model_dir, "--data_dir", data_dir, "--output", run,
                "--do_train", "--do_eval", "--quiet",
                "--set", f"seed={seed}", "--set", f"trainer.max_steps={args.finetune_steps}",
                "--set", "trainer.global_batch_size=32", "--set", f"optimizer.learning_rate={args.finetune_lr}",
                "--set", "optimizer.warmup=0.1", "--set", f"data.max_seq_len={max_seq_len}",
                "--set", "trainer.eval_steps=0", "--set", "data.test=null", "--set", "trainer.visualdl=false",
            ]  # fmt: skip
            jobs.append((command, run + ".log"))
    return jobs


def finetune_score(run: str) -> tuple[str, Optional[float]]:
    with open(os.path.join(run, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    metric = results["selection_metric"]
    value = results["dev"][metric]
    return metric, (None if value is None else float(value))  # None: not finite (logged as null)


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
    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.config import load_finetune_config
    from ernie.finetune.readers import read_split
    from ernie.modeling import ErnieModel

    recipe, _, max_seq_len, _ = DOWNSTREAM[lang][benchmark]
    config = load_finetune_config(os.path.join(ROOT, "configs", "finetune", recipe), [])
    spec = get_benchmark(config["benchmark"])
    splits = {}
    for split in ("train", "dev"):
        names = config["data"][split]
        names = names if isinstance(names, list) else [names]
        path = next(os.path.join(data_dir, n) for n in names if os.path.isfile(os.path.join(data_dir, n)))
        splits[split] = [e for e in read_split(spec, path).examples if e.label is not None]
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
def spread(values: list[Optional[float]]) -> dict[str, Any]:
    """Mean and sample std over seeds (``tasks.forgetting.Spread``) with the values, for results.json."""
    cell = Spread.of(values)
    return {"mean": cell.mean, "std": cell.std, "values": values}


def points(cell: dict[str, Any]) -> str:
    return Spread(cell["mean"], cell["std"], len(cell["values"])).format()


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
    benchmarks = list(DOWNSTREAM[lang])
    lines = [
        f"| {lang}: {kind} | " + " | ".join(f"{b} ({results[b]['metric']})" for b in benchmarks) + " |",
        "|---|" + "---|" * len(benchmarks),
    ]
    for model in [*STRATEGIES, RANDOM]:
        lines.append(f"| {model} | " + " | ".join(points(results[b][model]) for b in benchmarks) + " |")
    return lines


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=2, help="processes at a time (default 2)")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench_out", "strategies"))
    parser.add_argument(
        "--per-task-steps",
        type=int,
        default=None,
        help="scale the recipe's stages to this many steps per task",
    )
    parser.add_argument("--eval-samples", type=int, default=None, help="held-out samples per task (recipe's)")
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--probe-train", type=int, default=4000)
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.output = os.path.abspath(args.output)
    langs = args.langs.split(",")
    os.makedirs(args.output, exist_ok=True)
    start = time.time()

    import ernie  # noqa: F401  (sets MKL_DEBUG_CPU_TYPE before paddle loads)

    vocab = {lang: os.path.join(args.data, "ernie_official", f"vocab_{lang}.txt") for lang in langs}
    shards = {lang: build_corpus_shards(lang, args.data, vocab[lang], args.output) for lang in langs}
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
        [job for lang in langs for job in finetune_jobs(args, lang, models[lang])], args.jobs, "fine-tuning"
    )

    from ernie.engine.plot import plot

    results: dict[str, Any] = {"bench": "strategy_comparison", "seeds": args.seeds, "langs": {}}
    tables: list[str] = []
    for lang in langs:
        forgetting, forgetting_lines = forgetting_report(args.output, lang, args.seeds)
        finetuned: dict[str, Any] = {}
        probed: dict[str, Any] = {}
        for benchmark in DOWNSTREAM[lang]:
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
