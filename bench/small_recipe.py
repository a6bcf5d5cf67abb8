"""Does pre-training pay off? The small recipes against random weights, fine-tuned with one recipe.

    ERNIE_TEST_DATA=../shared/data python bench/small_recipe.py [--langs en,zh] [--seeds 1,2,3]
        [--jobs 2] [--output bench_out/small_recipe]

For each language, three pre-trained models of the same size (2 x 128) and a random initialisation:

  small                 configs/pretrain/small_<lang>.yaml: every task of the language on the shared
                        text (English: the corpora of corpus/en; Chinese: Hongloumeng and the official
                        ERNIE 1.0 demo data), ~8k steps
  small+<task>_text     then configs/pretrain/small_en_sst2.yaml / small_zh_chnsenticorp.yaml: 1,500 /
                        5,000 steps of knowledge masking on the unlabeled text of that benchmark's
                        training set (in-domain adaptation; labels dropped, dev never seen)
  <task>_text_only      the same steps from random weights: what the in-domain text gives alone
  random_init           the model with fresh weights (one per seed)

Pre-training runs once (``--pretrain-seed``), recipe by recipe, the languages side by side. Every
model is fine-tuned on all the benchmarks of ``bench/runs.py`` (SST-2, SST-2 on its first 1,000
training sentences; ChnSentiCorp, ChnSentiCorp on its first 1,000 training reviews, TNEWS) with the
strategy comparison's recipe and seeds; the dev metric is read once, at the end. A model beats random
init on a benchmark when the spreads over seeds do not touch: its mean minus its sample std is above
random init's mean plus its std. Writes ``results.json`` and ``tables.md`` under ``--output``; a
finished job is not run again (``seconds`` counts the last invocation only). Prints one JSON line: per
language and benchmark, every model's mean and which beat random init.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

import runs  # noqa: E402
from common import ROOT, bench_parser  # noqa: E402  (first: the repository on sys.path)


@dataclass(frozen=True)
class Recipe:
    name: str  # the model's name in the tables
    config: str  # under configs/pretrain
    # (file or glob under the data folder, format); "BENCHMARK train text" is that benchmark's training
    # sentences, a line each (bench/runs.py's DOWNSTREAM names the benchmark).
    inputs: tuple[tuple[str, str], ...]
    tasks: str = "all"
    after: Optional[str] = None  # start from this recipe's final checkpoint; None: from random weights


SST2_TEXT = (("sst2 train text", "lines"),)
CHNSENTICORP_TEXT = (("chnsenticorp train text", "docs"),)
RECIPES = {
    "en": (
        Recipe("small", "small_en.yaml", (("corpus/en/*.txt", "paragraphs"),)),
        Recipe("small+sst2_text", "small_en_sst2.yaml", SST2_TEXT, "knowledge_masking", after="small"),
        Recipe("sst2_text_only", "small_en_sst2.yaml", SST2_TEXT, "knowledge_masking"),
    ),
    "zh": (
        Recipe(
            "small",
            "small_zh.yaml",
            (("corpus/zh/hongloumeng.txt", "paragraphs"), ("ernie_official/demo_train_set.gz", "ernie1")),
        ),
        Recipe("small+chnsenticorp_text", "small_zh_chnsenticorp.yaml", CHNSENTICORP_TEXT, "knowledge_masking", after="small"),
        Recipe("chnsenticorp_text_only", "small_zh_chnsenticorp.yaml", CHNSENTICORP_TEXT, "knowledge_masking"),
    ),
}  # fmt: skip


def train_text(args, lang: str, benchmark: str) -> str:
    """A text file of the benchmark's training sentences, a line each (labels dropped)."""
    target = os.path.join(args.output, "data", f"{benchmark}_train_text.txt")
    if not os.path.isfile(target):
        folder = os.path.join(args.data, runs.DOWNSTREAM[lang][benchmark][1])
        examples = runs.split_examples(lang, benchmark, folder, "train")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(f"{example.text_a}\n" for example in examples)
        os.replace(target + ".tmp", target)
    return target


def recipe_shards(args, lang: str, recipe: Recipe) -> str:
    """The recipe's shards (built once; recipes reading the same text share them)."""
    inputs, formats = [], []
    for pattern, fmt in recipe.inputs:
        if pattern.endswith(" train text"):
            found = [train_text(args, lang, pattern.split()[0])]
        else:
            found = sorted(glob.glob(os.path.join(args.data, pattern)))
        if not found:
            raise SystemExit(f"error: {os.path.join(args.data, pattern)}: no such file")
        inputs += found
        formats += [fmt] * len(found)
    name = f"shards_{lang}_{os.path.splitext(recipe.config)[0]}"
    return runs.build_corpus_shards(args.output, lang, inputs, formats, args.vocab[lang], name, recipe.tasks)


def pretrain_run(args, lang: str, name: str) -> str:
    return os.path.join(args.output, "pretrain", lang, f"{name}_seed{args.pretrain_seed}")


def pretrain_jobs(args, lang: str, index: int) -> list[tuple[list[str], str]]:
    """The run of the language's recipe ``index``, unless it is done (recipes run in their order, so
    one that starts from another's end finds it)."""
    if index >= len(RECIPES[lang]):
        return []
    recipe = RECIPES[lang][index]
    run = pretrain_run(args, lang, recipe.name)
    if runs.final_checkpoint(run):
        return []
    init = runs.final_checkpoint(pretrain_run(args, lang, recipe.after)) if recipe.after else None
    config = os.path.join(ROOT, "configs", "pretrain", recipe.config)
    shards = recipe_shards(args, lang, recipe)
    settings = [f"seed={args.pretrain_seed}", f"init_from={init or 'null'}"]
    return [(runs.pretrain_command(config, run, shards, args.vocab[lang], *settings), run + ".log")]


def beats(pretrained: dict[str, Any], random: dict[str, Any]) -> bool:
    """The spreads over seeds do not touch, pre-trained above (a failed run, None, never beats)."""
    if pretrained["mean"] is None or random["mean"] is None or None in pretrained["values"]:
        return False
    return pretrained["mean"] - (pretrained["std"] or 0.0) > random["mean"] + (random["std"] or 0.0)


def main() -> None:
    parser = bench_parser(__doc__)
    runs.add_run_args(parser, "small_recipe")
    parser.add_argument("--pretrain-seed", type=int, default=1)
    args = runs.parse_run_args(parser)
    start = time.time()
    for index in range(max(len(RECIPES[lang]) for lang in args.langs)):
        jobs = [job for lang in args.langs for job in pretrain_jobs(args, lang, index)]
        runs.run_all(jobs, args.jobs, f"pre-training {index + 1}")
    models: dict[str, dict[tuple[str, int], str]] = {}
    for lang in args.langs:
        models[lang] = {
            (recipe.name, seed): runs.final_checkpoint(pretrain_run(args, lang, recipe.name))
            for recipe in RECIPES[lang]
            for seed in args.seeds
        }
        models[lang].update(
            {
                (runs.RANDOM, seed): runs.random_init(args.output, lang, seed, args.vocab[lang])
                for seed in args.seeds
            }
        )
    runs.run_all(
        [job for lang in args.langs for job in runs.finetune_jobs(args, lang, models[lang])],
        args.jobs,
        "fine-tuning",
    )

    results: dict[str, Any] = {"bench": "small_recipe", "seeds": args.seeds, "langs": {}}
    tables: list[str] = []
    headline: dict[str, Any] = {"bench": "small_recipe", "output": args.output}
    for lang in args.langs:
        entry: dict[str, Any] = {"finetune": {}, "pretraining_final_heldout": {}}
        names = [recipe.name for recipe in RECIPES[lang]]
        for benchmark in runs.DOWNSTREAM[lang]:
            scores: dict[str, list] = {}
            metric = "acc"
            for name, seed in models[lang]:
                metric, value = runs.finetune_score(
                    runs.finetune_dir(args.output, lang, benchmark, name, seed)
                )
                scores.setdefault(name, []).append(value)
            cells = {name: runs.spread(values) for name, values in scores.items()}
            winners = [name for name in names if beats(cells[name], cells[runs.RANDOM])]
            entry["finetune"][benchmark] = {"metric": metric, **cells, "beat_random_init": winners}
            runs.log(f"{lang} {benchmark}: " + ", ".join(f"{n} {runs.points(c)}" for n, c in cells.items()))
            headline[f"{lang}_{benchmark}"] = {
                **{name: cell["mean"] for name, cell in cells.items()},
                "beat_random_init": winners,
            }
        for name in names:
            with open(os.path.join(pretrain_run(args, lang, name), "log.jsonl"), encoding="utf-8") as f:
                evals = [r for r in map(json.loads, f) if r.get("event") == "eval"]
            entry["pretraining_final_heldout"][name] = evals[-1]["eval"] if evals else {}
        results["langs"][lang] = entry
        tables += [*downstream_table(entry["finetune"], lang, [*names, runs.RANDOM], args.finetune_steps), ""]
    results["seconds"] = headline["seconds"] = round(time.time() - start)
    with open(os.path.join(args.output, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.output, "tables.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(tables) + "\n")
    print(json.dumps(headline))


def downstream_table(finetuned: dict[str, Any], lang: str, names: list[str], steps: int) -> list[str]:
    benchmarks = list(finetuned)
    return [
        f"| {lang}: fine-tuned {steps} steps | "
        + " | ".join(f"{b} ({finetuned[b]['metric']})" for b in benchmarks)
        + " |",
        "|---|" + "---|" * len(benchmarks),
        *(
            f"| {name} | "
            + " | ".join(
                runs.points(finetuned[b][name])
                + (" **beats random init**" if name in finetuned[b]["beat_random_init"] else "")
                for b in benchmarks
            )
            + " |"
            for name in names
        ),
    ]


if __name__ == "__main__":
    main()
