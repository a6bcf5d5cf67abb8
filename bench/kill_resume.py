"""The kill/resume guarantee at random moments: a run SIGKILLed anywhere and rerun with ``--resume auto``
ends bit-identical to an uninterrupted one, for pre-training and for fine-tuning.

For each of the two tools: one uninterrupted reference run, then ``--kills`` runs each SIGKILLed at a
uniformly random wall-clock moment between process start and the reference run's duration (so kills land
anywhere: start-up, mid-step, mid-evaluation, mid-checkpoint-save), each rerun once with ``--resume auto``.
A run that ends before its moment is no kill: another moment is drawn (counted in ``not_killed``). A kill
before the first checkpoint resumes from scratch. A kill is identical when the final checkpoint's weights
are bit-identical (every tensor of model_state.pdparams), the ``train`` records of log.jsonl are identical
(wall-clock keys aside; logging every step, so per-step losses) and, for fine-tuning, the dev metrics and
best step in results.json are identical.

* pre-training: the bundled English demo corpus, three stages switching tasks (24 steps), a checkpoint
  every 4 steps and an evaluation every 8 (as tests/tasks/test_pretrain_cli.py);
* fine-tuning: SST-2 (the first 96 train and 40 dev rows), a random 2 x 32 ERNIE with the official English
  vocabulary, 20 steps, an evaluation and checkpoint every 3 (as tests/finetune/test_resume.py).

One JSON line; exit 1 when any kill is not identical (its run folder is kept and named on stderr).

    python bench/kill_resume.py [--data ../shared/data] [--kills 10] [--seed 0] [--only pretrain|finetune]
                                [--keep]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

from common import ROOT, bench_parser  # noqa: E402  (first: the repository on sys.path)

import ernie  # noqa: E402,F401  (before paddle: sets MKL_DEBUG_CPU_TYPE on AMD CPUs)

# Three stages that switch tasks mid-run, so a resume lands inside a stage with heads not yet trained.
STAGES = (
    "stages=[{name: s1, tasks: {knowledge_masking: 6}},"
    " {name: s2, tasks: {knowledge_masking: 4, capitalization: 4, sentence_reordering: 4}},"
    " {name: s3, tasks: {token_document: 3, discourse_relation: 3}}]"
)
TIMEOUT = 900  # seconds for one uninterrupted or resumed run (a demo run takes well under a minute alone)

Command = Callable[[str], list]


def pretrain_command(work: str) -> Command:
    """The demo pre-training command for an output folder (the shards are built once, here)."""
    from data_tools.build import build_shards, demo_corpus

    shards = os.path.join(work, "shards")
    vocab = os.path.join(ROOT, "data_tools", "demo_corpus", "vocab_en.txt")
    build_shards(demo_corpus("en")[0], vocab, shards, "en")

    def command(output: str) -> list:
        return [
            sys.executable, os.path.join(ROOT, "tools", "pretrain.py"),
            "--config", os.path.join(ROOT, "configs", "pretrain", "demo_en.yaml"), "--quiet",
            "--set", f"output_dir={output}", "--set", f"data.dir={shards}", "--set", STAGES,
            "--set", "trainer.save_steps=4", "--set", "trainer.logging_steps=1",
            "--set", "trainer.eval_steps=8", "--set", "data.eval_samples=16",
            "--set", "trainer.visualdl=false",
        ]  # fmt: skip

    return command


def finetune_command(work: str, data: str) -> Command:
    """The SST-2 fine-tuning command for an output folder (subsets and the tiny model are written once)."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.modeling import ErnieModel

    sst2 = os.path.join(work, "SST-2")
    os.makedirs(sst2)
    for split, rows in (("train", 96), ("dev", 40)):
        with open(os.path.join(data, "glue", "SST-2", f"{split}.tsv"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        with open(os.path.join(sst2, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines[: rows + 1]) + "\n")  # the header and the first rows
    # A bare random ErnieModel and its tokenizer: ErnieForSequenceClassification loads it with a new head.
    model = os.path.join(work, "model")
    tokenizer = ErnieTokenizer(os.path.join(data, "ernie_official", "vocab_en.txt"))
    paddle.seed(0)
    config = ErnieConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        type_vocab_size=4,
    )
    ErnieModel(config).save_pretrained(model)
    tokenizer.save_pretrained(model)

    def command(output: str) -> list:
        return [
            sys.executable, os.path.join(ROOT, "tools", "finetune.py"),
            "--config", os.path.join(ROOT, "configs", "finetune", "glue", "sst2.yaml"),
            "--model_dir", model, "--data_dir", sst2, "--output", output,
            "--do_train", "--do_eval", "--quiet",
            "--set", "trainer.max_steps=20", "--set", "trainer.global_batch_size=8",
            "--set", "trainer.micro_batch_size=4", "--set", "trainer.eval_steps=3",
            "--set", "trainer.logging_steps=1",
            "--set", "trainer.keep_checkpoints=2", "--set", "optimizer.learning_rate=1.0e-3",
            "--set", "trainer.visualdl=false",
        ]  # fmt: skip

    return command


def run(args: list) -> Optional[str]:
    """Run to the end: None, or the tail of stderr when the run failed."""
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT)
    return None if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr[-2000:]}"


def kill_at(args: list, moment: float) -> bool:
    """Start a run and SIGKILL it ``moment`` seconds later: False when it ended first."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=moment)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def outcome(output: str) -> dict:
    """What must match: the final checkpoint's weights, the train log records, the dev metrics."""
    import paddle

    from ernie.engine.checkpoints import find_checkpoint
    from ernie.engine.reporting import LOG_FILE, TIMING_KEYS

    final = find_checkpoint(output)
    with open(os.path.join(output, LOG_FILE), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    # The wall-clock keys are the only ones that differ between identical runs.
    train = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records if r["event"] == "train"]
    results = None
    if os.path.isfile(os.path.join(output, "results.json")):  # fine-tuning
        with open(os.path.join(output, "results.json"), encoding="utf-8") as f:
            loaded = json.load(f)
        results = {"dev": loaded.get("dev"), "best_step": loaded.get("best_step")}
    weights = paddle.load(os.path.join(final, "model_state.pdparams"), return_numpy=True) if final else {}
    return {
        "checkpoint": os.path.basename(final) if final else None,
        "weights": weights,
        "train": train,
        "results": results,
    }


def differences(got: dict, expected: dict) -> list[str]:
    """What differs from the reference, empty when bit-identical."""
    import numpy as np

    found = []
    if got["checkpoint"] != expected["checkpoint"]:
        found.append(f"final checkpoint {got['checkpoint']} (reference {expected['checkpoint']})")
    if set(got["weights"]) != set(expected["weights"]):
        found.append("model_state.pdparams holds other tensor names")
    unequal = [k for k, v in expected["weights"].items() if not np.array_equal(got["weights"].get(k), v)]
    if unequal:
        found.append(f"{len(unequal)} tensors differ, e.g. {unequal[0]}")
    if got["train"] != expected["train"]:
        steps = [r["step"] for r in got["train"]]
        mismatched = [a.get("step") for a, b in zip(got["train"], expected["train"]) if a != b]
        found.append(f"train log records differ: steps logged {steps}, first differing step {mismatched[:1]}")
    if got["results"] != expected["results"]:
        found.append(f"results.json {got['results']} (reference {expected['results']})")
    return found


def check(name: str, command: Command, work: str, kills: int, rng: random.Random) -> dict:
    """The reference run, then ``kills`` killed-and-resumed runs compared with it."""
    from ernie.engine.checkpoints import find_checkpoint

    reference = os.path.join(work, f"{name}_reference")
    start = time.perf_counter()
    failed = run(command(reference))
    duration = time.perf_counter() - start
    if failed:
        raise SystemExit(f"{name}: the reference run failed: {failed}")
    expected = outcome(reference)
    moments, resumed_from, identical, failures, not_killed = [], [], 0, [], 0
    k = 0
    while k < kills:
        output = os.path.join(work, f"{name}_kill{k}")
        moment = rng.uniform(0, duration)
        if not kill_at(command(output), moment):
            # The run ended before the moment: no kill happened, so draw another one.
            not_killed += 1
            shutil.rmtree(output, ignore_errors=True)
            if not_killed > 5 * kills:
                raise SystemExit(f"{name}: the runs keep ending before the drawn moments")
            continue
        moments.append(round(moment, 2))
        k += 1
        checkpoint = find_checkpoint(output) if os.path.isdir(output) else None
        resumed_from.append(int(checkpoint.rsplit("_", 1)[1]) if checkpoint else None)
        failed = run([*command(output), "--resume", "auto"])
        found = [f"resume failed: {failed}"] if failed else differences(outcome(output), expected)
        if found:
            failures.append(
                {"kill": k, "moment_s": moments[-1], "resumed_from": resumed_from[-1], "found": found}
            )
            print(f"{name}: kill {k} at {moment:.2f}s NOT identical, kept {output}: {found}", file=sys.stderr)
        else:
            identical += 1
            shutil.rmtree(output)
    return {
        "kills": kills,
        "identical": identical,
        "reference_s": round(duration, 1),
        "moments_s": moments,
        "resumed_from": resumed_from,
        "not_killed": not_killed,
        "failures": failures,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--kills", type=int, default=10, help="killed-and-resumed runs of each tool")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    parser.add_argument("--only", choices=["pretrain", "finetune"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    start = time.perf_counter()
    work = tempfile.mkdtemp(prefix="bench_kill_resume_")
    report: dict = {"bench": "kill_resume"}
    for name in ("pretrain", "finetune"):
        if args.only in (None, name):
            folder = os.path.join(work, name)
            os.makedirs(folder)
            command = pretrain_command(folder) if name == "pretrain" else finetune_command(folder, args.data)
            # One generator per tool: --only gives the moments of the full bench.
            report[name] = check(name, command, folder, args.kills, random.Random(f"{args.seed}/{name}"))
    report["seconds"] = round(time.perf_counter() - start, 1)
    failed = any(report[n]["failures"] for n in ("pretrain", "finetune") if n in report)
    if args.keep or failed:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    print(json.dumps(report))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
