"""Pre-train a tiny ERNIE on real text with every task of a language; held-out metric per task, start vs end vs chance.

    ERNIE_TEST_DATA=../shared/data python bench/pretrain_tasks.py [--lang en|zh|both] [--steps N]

English: ``corpus/en/*.txt`` (Gutenberg novels, Shakespeare, WikiText-2), with the official English
vocabulary; tasks knowledge masking, capitalization, token-document relation, sentence reordering,
discourse relation. Chinese: ``corpus/zh/hongloumeng.txt`` with the official Chinese vocabulary;
tasks knowledge masking, sentence reordering, sentence distance, discourse relation, IR relevance.

The corpora are turned into documents of about ``--doc-sentences`` consecutive sentences (paragraphs
kept together; WikiText headings start documents) and built into shards by
``data_tools.build.build_shards``. IR relevance has no real query logs here, so the bench derives
query-title pairs from the novel itself: the query is two or three words (jieba) of a sentence; the
title is that sentence (label 0, a "clicked" title that holds the query), another sentence of the
same document (1, topically close), or a sentence of another document (2, unrelated). That keeps the
task's input form and its three classes, but it is a proxy, not search data.

The schedule is ERNIE 2.0's continual multi-task learning in two stages: knowledge masking alone
(``--masking-first`` of the steps), then every task with masking kept in. The order matters here.
The sentence-pair tasks that need the two segments compared token by token (distance, IR) do not
find that from scratch on their sentence-level labels alone: their loss stays at ln 3 for thousands
of steps (PaddleNLP's ErnieModel does the same on a synthetic "does B repeat a token of A" task).
After the masked LM they start to learn once they have had ~2,000 steps of their own, which is why
Chinese runs longer and gives them most of the second stage. Discourse pairs are mined with
``discourse_within_sentences`` (``--discourse-within-sentences 0`` for sentence-initial markers only).

Each task is scored by its headline metric (``Task.metric_name``) on the same held-out samples at
the start and at the end: accuracy against the best blind guess (the majority class; the most
frequent token for the masked LM; for sentence reordering 1/m!, a guess that sees the number of
segments m), ``z`` = (end - chance) / sqrt(chance (1 - chance) / n); or, for discourse relation
(trained class-balanced), balanced accuracy, the mean recall over the classes, against 1/K, with
``z`` from a permutation test: the model's held-out predictions shuffled over the samples 2,000
times give the null mean and sd (a blind guesser with the model's class frequencies).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ernie  # noqa: E402,F401  (sets MKL_DEBUG_CPU_TYPE before paddle loads)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_IDS = {
    "knowledge_masking": 0,
    "capitalization": 1,
    "token_document": 2,
    "sentence_reordering": 3,
    "sentence_distance": 4,
    "discourse_relation": 5,
    "ir_relevance": 6,
}
LANGUAGE_TASKS = {
    "en": [
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "discourse_relation",
    ],
    "zh": [
        "knowledge_masking",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
        "ir_relevance",
    ],
}

# Per language: optimizer steps, the masking-only share of them, and the relative steps of each task
# in the all-tasks stage (the rest get 1). Chinese needs more: its two pair tasks that compare the
# segments token by token (distance, IR) start learning only after ~2,000 steps of their own.
LANGUAGE_DEFAULTS = {
    "en": {
        "steps": 10000,
        "masking_first": 0.4,
        "shares": {
            "capitalization": 0.5,
            "token_document": 0.5,
            "sentence_reordering": 1.5,
            "discourse_relation": 0.5,  # 4,400 pairs: more steps only memorise them
        },
    },
    "zh": {
        "steps": 15000,
        "masking_first": 0.3,
        "shares": {"sentence_distance": 4.0, "ir_relevance": 3.0, "discourse_relation": 0.5},
    },
}


# ---------------------------------------------------------------------------------------------- corpora
def paragraphs(path: str) -> list[tuple[bool, str]]:
    """``(starts a document, paragraph text)``: blank-line separated blocks, lines joined."""
    out, block = [], []
    wikitext = "wikitext" in os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if wikitext:
                if re.fullmatch(r"(= )+.*( =)+", line):  # a heading: a new document
                    if block:
                        out.append((False, " ".join(block)))
                        block = []
                    out.append((True, ""))
                    continue
                line = (
                    line.replace(" @-@ ", "-")
                    .replace(" @,@ ", ",")
                    .replace(" @.@ ", ".")
                    .replace("<unk>", "")
                )
                line = re.sub(r" ([.,;:!?')])", r"\1", line)
            if line:
                block.append(line)
            elif block:
                out.append((False, " ".join(block)))
                block = []
    if block:
        out.append((False, " ".join(block)))
    return out


def documents(files: list[str], lang: str, doc_sentences: int) -> list[list[str]]:
    """Documents of about ``doc_sentences`` sentences; paragraphs are never split across documents."""
    from data_tools.text import split_sentences

    docs: list[list[str]] = []
    current: list[str] = []
    for path in files:
        for starts, text in paragraphs(path) + [(True, "")]:
            if starts and current:
                docs.append(current)
                current = []
            if lang == "zh":
                text = text.replace("．", "。")  # this edition ends its sentences with a full-width full stop
            sentences = [s for s in split_sentences(text, lang) if len(s) >= 2]
            current.extend(sentences)
            if len(current) >= doc_sentences:
                docs.append(current)
                current = []
    return [d for d in docs if len(d) >= 2]


def write_lines(docs: list[list[str]], path: str) -> None:
    """The builder's ``lines`` format: a sentence per line, a blank line between documents."""
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write("\n".join(doc) + "\n\n")


def ir_pairs(docs: list[list[str]], path: str, count: int, seed: int = 0) -> int:
    """Query-title pairs derived from the corpus (see the module docstring); returns how many."""
    import jieba

    jieba.setLogLevel(60)
    rng = random.Random(seed)
    rows = []
    attempts = 0
    while len(rows) < count and attempts < count * 20:
        attempts += 1
        d = rng.randrange(len(docs))
        doc = docs[d]
        sentence = doc[rng.randrange(len(doc))]
        words = [w for w in jieba.lcut(sentence) if len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w)]
        if len(words) < 3 or len(sentence) > 80:
            continue
        query = "".join(rng.sample(words, rng.choice((2, 3))))
        label = len(rows) % 3
        if label == 0:
            title = sentence
        elif label == 1:
            others = [s for s in doc if s != sentence]
            if not others:
                continue
            title = rng.choice(others)
        else:
            other = docs[(d + rng.randrange(1, len(docs))) % len(docs)]
            title = rng.choice(other)
        rows.append(f"{query}\t{title}\t{label}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    return len(rows)


# ---------------------------------------------------------------------------------------------- run
def blind_guess_se(metrics: dict, chance: float) -> float:
    """Standard error of the accuracy of a blind guess on these held-out samples: sqrt(c (1 - c) / n)."""
    return math.sqrt(max(chance * (1 - chance), 1e-9) / metrics["count"])


def balanced_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels``."""
    return float(np.mean([(predictions[labels == c] == c).mean() for c in np.unique(labels)]))


def permutation_null(trainer, name: str, rounds: int = 2000) -> tuple[float, float, float]:
    """Balanced accuracy of the model's held-out predictions against the same predictions shuffled
    over the samples (blind to the input, same class frequencies): ``(observed, null mean, null sd)``.

    Tiny classes make a uniform-guess standard error huge (one class with 5 held-out pairs weighs as
    much as one with 700); the permutation null measures what the model's own guessing gives."""
    import paddle

    from tasks.context import IGNORE_INDEX
    from tasks.objective import to_tensors

    objective = trainer.objective
    task = objective.tasks[name]
    labels, predictions = [], []
    trainer.model.eval()
    with paddle.no_grad():
        for batch in objective.eval_batches(name):
            logits = task.forward(trainer.model, to_tensors(batch))
            labels.append(np.asarray(batch["labels"]).reshape(-1))
            predictions.append(logits.argmax(axis=-1).numpy().reshape(-1))
    trainer.model.train()
    y, p = np.concatenate(labels), np.concatenate(predictions)
    y, p = y[y != IGNORE_INDEX], p[y != IGNORE_INDEX]
    rng = np.random.default_rng(0)
    null = np.array([balanced_accuracy(y, rng.permutation(p)) for _ in range(rounds)])
    return balanced_accuracy(y, p), float(null.mean()), float(null.std())


def run_language(lang: str, data: str, args: argparse.Namespace, workdir: str) -> dict:
    import yaml

    from data_tools.build import build_shards
    from ernie.engine import resolve_settings
    from ernie.engine.loop import Engine
    from tasks.config import load_pretrain_config
    from tasks.objective import PretrainingObjective

    started = time.time()
    if lang == "en":
        files = sorted(glob.glob(os.path.join(data, "corpus", "en", "*.txt")))
        vocab = os.path.join(data, "ernie_official", "vocab_en.txt")
    else:
        files = [os.path.join(data, "corpus", "zh", "hongloumeng.txt")]
        vocab = os.path.join(data, "ernie_official", "vocab_zh.txt")
    docs = documents(files, lang, args.doc_sentences)
    corpus = os.path.join(workdir, f"{lang}.txt")
    write_lines(docs, corpus)
    ir = []
    if "ir_relevance" in LANGUAGE_TASKS[lang]:
        ir_file = os.path.join(workdir, f"{lang}_ir.tsv")
        ir_pairs(docs, ir_file, args.ir_pairs)
        ir = [ir_file]
    within = args.discourse_within_sentences
    shard_dir = os.path.join(workdir, f"shards_{lang}" + ("_clauses" if within else ""))
    if os.path.isdir(shard_dir):  # --workdir kept from an earlier run
        from data_tools.shards import read_manifest

        manifest = read_manifest(shard_dir)
    else:
        manifest = build_shards(
            [corpus], vocab, shard_dir, lang, LANGUAGE_TASKS[lang], ir=ir, discourse_within_sentences=within
        )
    build_seconds = time.time() - started

    tasks = [t for t in LANGUAGE_TASKS[lang] if not args.tasks or t in args.tasks.split(",")]
    defaults = LANGUAGE_DEFAULTS[lang]
    steps = args.steps or defaults["steps"]
    masking_first = defaults["masking_first"] if args.masking_first is None else args.masking_first
    shares = {name: defaults["shares"].get(name, 1.0) for name in tasks}
    for item in args.share:
        name, value = item.split("=")
        shares[name] = float(value)
    # Two stages of continual multi-task learning: masking alone, then every task with masking kept.
    warmup_km = int(steps * masking_first) if "knowledge_masking" in tasks else 0
    rest = steps - warmup_km
    total_share = sum(shares[name] for name in tasks)
    stages = []
    if warmup_km:
        stages.append({"name": "masking", "tasks": {"knowledge_masking": warmup_km}})
    stages.append(
        {
            "name": "all_tasks",
            "tasks": {name: max(1, round(rest * shares[name] / total_share)) for name in tasks},
        }
    )
    task_options = {name: {"task_id": TASK_IDS[name]} for name in tasks}
    for item in args.task_option:
        key, value = item.split("=")
        name, option = key.split(".")
        if name in task_options:
            task_options[name][option] = yaml.safe_load(value)
    config = {
        "seed": args.seed,
        "model_config": os.path.join(REPO, "configs", "model", f"ernie-tiny-{lang}.json"),
        "vocab": vocab,
        "data": {
            "dir": shard_dir,
            "max_seq_len": args.max_seq_len,
            "heldout": args.heldout,
            "eval_samples": args.eval_samples,
        },
        "optimizer": {"learning_rate": args.lr, "warmup": 0.06, "weight_decay": 0.01},
        "output_dir": os.path.join(workdir, f"run_{lang}"),
        "trainer": {"global_batch_size": args.batch, "eval_batch_size": 64},
        "tasks": task_options,
        "stages": stages,
    }

    path = os.path.join(workdir, f"pretrain_{lang}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    loaded = load_pretrain_config(path)
    settings = resolve_settings(loaded, world_size=1)
    trainer = Engine(PretrainingObjective(loaded, settings), settings, checkpoint=None)  # the engine's step
    total = trainer.objective.total_steps
    start = trainer.evaluate().metrics
    train_started = time.time()
    losses: dict[str, list[float]] = {name: [] for name in tasks}
    for step in range(1, total + 1):
        result = trainer.train_step(step)
        task_name = result.info["task"]
        losses[task_name].append(result.loss)
        if args.verbose and step % 100 == 0:
            print(
                f"[{lang}] step {step} {task_name} loss {result.loss:.3f}",
                file=sys.stderr,
                flush=True,
            )
        if args.eval_every and step % args.eval_every == 0 and step < total:
            curve = trainer.evaluate().metrics
            print(
                f"[{lang}] step {step} held-out "
                + " ".join(f"{name}={curve[name][curve[name]['metric']]:.3f}" for name in tasks),
                file=sys.stderr,
                flush=True,
            )
    train_seconds = time.time() - train_started
    end = trainer.evaluate().metrics

    report = {}
    for name in tasks:
        metric = end[name]["metric"]
        chance = end[name].get(f"{metric}_chance", end[name]["chance"])
        entry = {
            "metric": metric,
            "start": round(start[name][metric], 4),
            "end": round(end[name][metric], 4),
            "chance": round(chance, 4),
            "n": end[name]["count"],
            "train_loss_first_last": [
                round(sum(v[:20]) / max(len(v[:20]), 1), 3),
                round(sum(v[-20:]) / max(len(v[-20:]), 1), 3),
            ]
            if (v := losses[name])
            else None,
            "steps": len(losses[name]),
        }
        if metric == "balanced_accuracy":
            observed, null_mean, null_sd = permutation_null(trainer, name)
            assert abs(observed - end[name][metric]) < 1e-6, (observed, end[name][metric])
            entry["z"] = round((observed - null_mean) / max(null_sd, 1e-9), 1)
            entry["permutation_null_mean_sd"] = [round(null_mean, 4), round(null_sd, 4)]
            entry["class_counts"] = end[name]["class_counts"]
        else:
            entry["z"] = round((end[name][metric] - chance) / blind_guess_se(end[name], chance), 1)
        if metric != "accuracy":
            entry["accuracy_end_chance"] = [round(end[name]["accuracy"], 4), round(end[name]["chance"], 4)]
        if "perplexity" in end[name]:
            entry["perplexity_start_end"] = [
                round(start[name]["perplexity"], 1),
                round(end[name]["perplexity"], 1),
            ]
        report[name] = entry
    counts = {
        name: {
            "train_units": trainer.objective.tasks[name].num_units("train"),
            "heldout_units": trainer.objective.tasks[name].num_units("heldout"),
        }
        for name in tasks
    }
    return {
        "documents": len(docs),
        "tokens": manifest["tasks"]["knowledge_masking"]["tokens"],
        "units": counts,
        "steps": total,
        "stages": stages,
        "global_batch": trainer.settings.global_batch_size,
        "max_seq_len": args.max_seq_len,
        "build_seconds": round(build_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "tasks": report,
        "all_above_chance": all(
            entry["z"] > 3 and entry["end"] > entry["chance"] + 0.02 for entry in report.values()
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "zh", "both"), default="both")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: en 10,000, zh 15,000)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--heldout", type=float, default=0.2)
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--doc-sentences", type=int, default=16)
    parser.add_argument("--ir-pairs", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tasks", default="", help="only these tasks (comma-separated)")
    parser.add_argument(
        "--share", action="append", default=[], metavar="TASK=W", help="relative steps of a task (default 1)"
    )
    parser.add_argument(
        "--masking-first",
        type=float,
        help="share of the steps for the masking-only stage (default: en 0.4, zh 0.3)",
    )
    parser.add_argument(
        "--discourse-within-sentences",
        type=int,
        default=1,
        help='1 (default): discourse pairs also from "clause, marker clause" inside sentences; 0: not',
    )
    parser.add_argument("--task-option", action="append", default=[], metavar="TASK.KEY=VALUE")
    parser.add_argument("--workdir", help="keep corpora and shards here (reused when present)")
    parser.add_argument("--eval-every", type=int, default=0, help="print held-out metrics every N steps")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    data = os.environ.get("ERNIE_TEST_DATA")
    if not data or not os.path.isdir(data):
        print("error: set ERNIE_TEST_DATA to the shared data folder", file=sys.stderr)
        sys.exit(2)
    import paddle

    paddle.set_device("cpu")
    out = {"bench": "pretrain_tasks", "threads": os.environ.get("OMP_NUM_THREADS")}
    out["settings"] = {k: v for k, v in vars(args).items() if k not in ("verbose", "workdir", "eval_every")}
    with tempfile.TemporaryDirectory(prefix="pretrain_tasks_") as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        for lang in ("en", "zh") if args.lang == "both" else (args.lang,):
            out[lang] = run_language(lang, data, args, workdir)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
