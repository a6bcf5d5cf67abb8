"""Acceptance: a model fine-tuned on CMRC 2018 and served answers exactly what its fine-tuning run predicted.

Fine-tunes a tiny random encoder with configs/finetune/chinese/cmrc2018.yaml through tools/finetune.py
on a slice of the real CMRC 2018 dev file (a training part and a 200-question dev part), exports
``best/`` with tools/export.py and runs tools/predict.py on the 200 dev questions: every served answer
must be the run's own dev prediction (``predictions/dev.json``), with the recipe's max_answer_len 100.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV_QUESTIONS = 200
TRAIN_QUESTIONS = 400


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, os.path.join("tools", tool), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1800,
    )
    assert done.returncode == 0, f"{tool} failed:\n{done.stderr[-3000:]}"
    return done


def squad_file(path, items: list) -> None:
    """A SQuAD file of (context, question) pairs, one paragraph each."""
    data = [{"paragraphs": [{"context": context, "qas": [qa]}]} for context, qa in items]
    path.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")


@pytest.mark.slow
def test_served_answers_equal_the_finetuning_runs_dev_predictions(encoders, shared_data, tmp_path):
    with open(os.path.join(shared_data, "clue", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        articles = json.load(f)["data"]
    items = [(p["context"], qa) for article in articles for p in article["paragraphs"] for qa in p["qas"]]
    dev = items[:DEV_QUESTIONS]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    squad_file(data_dir / "dev.json", dev)
    squad_file(data_dir / "train.json", items[DEV_QUESTIONS : DEV_QUESTIONS + TRAIN_QUESTIONS])

    run = tmp_path / "run"
    run_tool(
        "finetune.py",
        "--config",
        "configs/finetune/chinese/cmrc2018.yaml",
        "--model_dir",
        encoders["zh"],
        "--data_dir",
        str(data_dir),
        "--output",
        str(run),
        "--do_train",
        "--do_eval",
        "--quiet",
        *("--set", "data.max_seq_len=128", "--set", "data.doc_stride=64"),
        *(
            "--set",
            "trainer.max_steps=6",
            "--set",
            "trainer.global_batch_size=16",
            "--set",
            "trainer.eval_steps=3",
        ),
        *("--set", "trainer.eval_batch_size=64", "--set", "optimizer.learning_rate=1e-3"),
    )
    expected = json.loads((run / "predictions" / "dev.json").read_text(encoding="utf-8"))
    assert len(expected) == DEV_QUESTIONS

    export = json.loads(
        run_tool(
            "export.py", "--model_dir", str(run / "best"), "--output", str(tmp_path / "export") + "/"
        ).stdout.splitlines()[-1]
    )
    meta = json.loads((tmp_path / "export" / "inference.predictor.json").read_text(encoding="utf-8"))
    assert export["finetune_settings"] is True and meta["benchmark"] == "cmrc2018"
    assert (meta["max_answer_len"], meta["max_seq_len"], meta["doc_stride"], meta["n_best"]) == (
        100,
        128,
        64,
        20,
    )

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"id": qa["id"], "question": qa["question"], "context": context}, ensure_ascii=False)
            + "\n"
            for context, qa in dev
        ),
        encoding="utf-8",
    )
    output = tmp_path / "served.jsonl"
    run_tool(
        "predict.py", "--model", str(tmp_path / "export"), "--input", str(questions), "--output", str(output)
    )
    served = {}
    for line in output.read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        served[result["id"]] = result["answer"]["text"]
    assert len(served) == DEV_QUESTIONS
    differing = {qid: (served[qid], expected[qid]) for qid in expected if served[qid] != expected[qid]}
    assert not differing, (
        f"{len(differing)} of {DEV_QUESTIONS} answers differ, e.g. {list(differing.items())[:3]}"
    )
    assert sum(1 for text in served.values() if text) > DEV_QUESTIONS // 2  # real answers, not empty ones
