"""What the pre-training benches run and read: shards, pre-training runs, random inits, fine-tunings.

bench/strategy_comparison.py and bench/small_recipe.py pre-train the small recipes and fine-tune what
they give, and a random initialisation of the same model, with one recipe (``add_finetune_args``). Every
job is a subprocess with one thread; a finished job is not run again, so after an interruption the same
command continues.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from common import ROOT  # noqa: E402  (first: the repository on sys.path)

from tasks.forgetting import Spread  # noqa: E402

RANDOM = "random_init"
# name -> (recipe YAML under configs/finetune, data folder under the data dir, max_seq_len, training rows
# kept: None = all). "sst2_1k" is SST-2 fine-tuned on its first 1,000 training sentences (scored on the
# whole dev set), the low-resource setting where a pre-trained encoder has the most to give; so is
# "chnsenticorp_1k".
DOWNSTREAM = {
    "en": {
        "sst2": ("glue/sst2.yaml", "glue/SST-2", 64, None),
        "sst2_1k": ("glue/sst2.yaml", "glue/SST-2", 64, 1000),
    },
    "zh": {
        "chnsenticorp": ("chinese/chnsenticorp.yaml", "clue/chnsenticorp", 64, None),
        "chnsenticorp_1k": ("chinese/chnsenticorp.yaml", "clue/chnsenticorp", 64, 1000),
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


# ------------------------------------------------------------------------------------------------ pre-training
def build_corpus_shards(
    output: str,
    lang: str,
    inputs: list[str],
    formats: list[str],
    vocab: str,
    name: Optional[str] = None,
    tasks: str = "all",
) -> str:
    """Shards of ``tasks`` of ``lang`` from ``inputs`` (read as ``formats``, one per input) under
    ``output/<name>`` (default ``shards_<lang>``), built once."""
    from data_tools.build import build_shards

    shards = os.path.join(output, name or f"shards_{lang}")
    if not os.path.isfile(os.path.join(shards, "manifest.json")):
        log(f"building {shards} from {len(inputs)} file(s)")
        build_shards(inputs, vocab, shards, lang, tasks, workers=2, input_format=formats, progress=False)
    return shards


def pretrain_command(recipe: str, run: str, shards: str, vocab: str, *settings: str) -> list[str]:
    """tools/pretrain.py on ``recipe`` into ``run`` with the bench's shards and vocabulary."""
    command = [
        sys.executable, "tools/pretrain.py", "--config", recipe, "--quiet", "--set", f"output_dir={run}",
        "--set", f"data.dir={shards}", "--set", f"vocab={vocab}",
    ]  # fmt: skip
    for setting in settings:
        command += ["--set", setting]
    return command


def final_checkpoint(run_dir: str) -> Optional[str]:
    latest = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.isfile(latest):
        return None
    with open(latest, encoding="utf-8") as f:
        return os.path.join(run_dir, "checkpoints", f.read().strip())


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


def add_run_args(parser: argparse.ArgumentParser, output: str) -> None:
    """The options both benches take: languages, seeds, parallel jobs, output, the fine-tuning recipe."""
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=2, help="processes at a time (default 2)")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench_out", output))
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)


def parse_run_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parsed options with ``seeds`` and ``langs`` as lists, ``output`` made, ``vocab`` per language."""
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.langs = args.langs.split(",")
    args.output = os.path.abspath(args.output)
    os.makedirs(args.output, exist_ok=True)
    args.vocab = {lang: os.path.join(args.data, "ernie_official", f"vocab_{lang}.txt") for lang in args.langs}
    import ernie  # noqa: F401  (sets MKL_DEBUG_CPU_TYPE before paddle loads)

    return args


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


def split_examples(lang: str, benchmark: str, data_dir: str, split: str) -> list:
    """The examples of a benchmark split (``train`` / ``dev``), read by the fine-tuning readers."""
    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.config import load_finetune_config
    from ernie.finetune.readers import read_split

    config = load_finetune_config(
        os.path.join(ROOT, "configs", "finetune", DOWNSTREAM[lang][benchmark][0]), []
    )
    names = config["data"][split]
    names = names if isinstance(names, list) else [names]
    path = next(os.path.join(data_dir, n) for n in names if os.path.isfile(os.path.join(data_dir, n)))
    return read_split(get_benchmark(config["benchmark"]), path).examples


def finetune_jobs(
    args, lang: str, models: dict[tuple[str, int], str], benchmarks: Optional[list[str]] = None
) -> list[tuple[list[str], str]]:
    """Fine-tuning of every model on ``benchmarks`` (default: all of the language's in DOWNSTREAM)."""
    jobs = []
    for benchmark in benchmarks or list(DOWNSTREAM[lang]):
        recipe, _, max_seq_len, _ = DOWNSTREAM[lang][benchmark]
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


# ------------------------------------------------------------------------------------------------ report
def spread(values: list[Optional[float]]) -> dict[str, Any]:
    """Mean and sample std over seeds (``tasks.forgetting.Spread``) with the values, for results.json."""
    cell = Spread.of(values)
    return {"mean": cell.mean, "std": cell.std, "values": values}


def points(cell: dict[str, Any]) -> str:
    return Spread(cell["mean"], cell["std"], len(cell["values"])).format()
