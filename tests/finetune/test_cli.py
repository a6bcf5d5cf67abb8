"""tools/finetune.py end to end on tiny random models: outputs, submission formats, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ernie.errors import ConfigError, UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "finetune")
from tests.fixtures.finetune.tiny import make_tiny_model, vocab_from_texts  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "finetune.py")
FAST = ["--set", "trainer.eval_batch_size=128", "--quiet"]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, TOOL, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


def config_path(suite: str, task: str) -> str:
    return os.path.join(ROOT, "configs", "finetune", suite, f"{task}.yaml")


def _fixture_texts() -> list:
    texts = []
    for folder, _, files in os.walk(FIXTURES):
        for name in files:
            if not name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    texts.append(f.read())
    return texts


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory) -> str:
    return make_tiny_model(
        str(tmp_path_factory.mktemp("tiny_fixture")), vocab_tokens=vocab_from_texts(_fixture_texts())
    )


@pytest.fixture(scope="module")
def english_model(tmp_path_factory, shared_data) -> str:
    vocab = os.path.join(shared_data, "ernie_official", "vocab_en.txt")
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny_en")), vocab_file=vocab)


@pytest.fixture(scope="module")
def chinese_model(tmp_path_factory, shared_data) -> str:
    vocab = os.path.join(shared_data, "ernie_official", "vocab_zh.txt")
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny_zh")), vocab_file=vocab)


def _head(src: str, dst: str, rows: int, header: bool = True) -> None:
    with open(src, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    with open(dst, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines[: rows + (1 if header else 0)]) + "\n")


def _tsv_rows(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


# ---------------------------------------------------------------------------------------------- real SST-2
def test_sst2_end_to_end_writes_every_output(tmp_path, shared_data, english_model):
    data = tmp_path / "SST-2"
    data.mkdir()
    real = os.path.join(shared_data, "glue", "SST-2")
    _head(os.path.join(real, "train.tsv"), str(data / "train.tsv"), 64)
    _head(os.path.join(real, "dev.tsv"), str(data / "dev.tsv"), 48)
    _head(os.path.join(real, "test.tsv"), str(data / "test.tsv"), 1821)  # the whole test file
    out = tmp_path / "out"
    proc = run_tool(
        "--config", config_path("glue", "sst2"), "--model_dir", english_model, "--data_dir", str(data),
        "--output", str(out), "--set", "trainer.max_steps=4", "--set", "trainer.global_batch_size=16",
        "--set", "trainer.logging_steps=2", "--set", "trainer.eval_steps=2", *FAST,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr

    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval" in r]
    assert [r["step"] for r in steps] == [2, 4] and all(r["lr"] > 0 and np.isfinite(r["loss"]) for r in steps)
    assert [r["step"] for r in evals] == [2, 4]

    results = json.loads((out / "results.json").read_text())
    assert results["benchmark"] == "sst2" and results["steps"] == 4 and results["global_batch_size"] == 16
    assert results["best_step"] in (2, 4)
    assert results["data"]["train"]["train"]["examples"] == 64
    best_eval = next(r for r in evals if r["step"] == results["best_step"])
    assert results["dev"]["acc"] == best_eval["eval"]["dev"]["acc"]
    assert "dev" in proc.stdout and "acc" in proc.stdout  # the results table

    # best/ is a complete checkpoint: the model with its trained head, the tokenizer, the label names.
    from ernie import ErnieTokenizer
    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.readers import read_split
    from ernie.modeling import ErnieForSequenceClassification

    best = out / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["architectures"] == ["ErnieForSequenceClassification"]
    assert config["id2label"] == {"0": "0", "1": "1"} and config["num_labels"] == 2
    model = ErnieForSequenceClassification.from_pretrained(str(best))
    assert model.load_report.new_head_keys == []
    tokenizer = ErnieTokenizer.from_pretrained(str(best))
    # Re-scoring dev with the saved checkpoint gives the dev accuracy in results.json.
    import paddle

    dev = read_split(get_benchmark("sst2"), str(data / "dev.tsv")).examples
    encoded = tokenizer(
        [e.text_a for e in dev], max_length=128, truncation=True, padding=True, return_attention_mask=True
    )
    with paddle.no_grad():
        logits = model(
            paddle.to_tensor(encoded["input_ids"]),
            paddle.to_tensor(encoded["token_type_ids"]),
            attention_mask=paddle.to_tensor(encoded["attention_mask"]),
        ).numpy()
    accuracy = float(np.mean(logits.argmax(-1) == np.array([e.label for e in dev])))
    assert accuracy == pytest.approx(results["dev"]["acc"])

    # The GLUE submission file: header, one row per test row, GLUE's indices and label strings.
    rows = _tsv_rows(str(out / "submission" / "SST-2.tsv"))
    test_rows = _tsv_rows(os.path.join(real, "test.tsv"))
    assert rows[0] == ["index", "prediction"]
    assert len(rows) - 1 == len(test_rows) - 1 == 1821
    assert [r[0] for r in rows[1:]] == [r[0] for r in test_rows[1:]]
    assert {r[1] for r in rows[1:]} <= {"0", "1"}


def test_stsb_regression_head_and_float_submission(tmp_path, shared_data, english_model):
    from ernie.finetune import load_finetune_config, run_finetune

    data = tmp_path / "STS-B"
    data.mkdir()
    real = os.path.join(shared_data, "glue", "STS-B")
    for name, rows in (("train.tsv", 48), ("dev.tsv", 40), ("test.tsv", 30)):
        _head(os.path.join(real, name), str(data / name), rows)
    config = load_finetune_config(
        config_path("glue", "stsb"), ["trainer.max_steps=3", "trainer.global_batch_size=16"]
    )
    config.update(model_dir=english_model, data_dir=str(data), output_dir=str(tmp_path / "out"))
    results = run_finetune(config)
    assert set(results["dev"]) >= {"pearson", "spearman", "corr"}
    assert json.loads((tmp_path / "out" / "best" / "config.json").read_text())["num_labels"] == 1
    rows = _tsv_rows(str(tmp_path / "out" / "submission" / "STS-B.tsv"))
    assert rows[0] == ["index", "prediction"] and len(rows) == 31
    assert all(len(r[1].split(".")[1]) == 3 and np.isfinite(float(r[1])) for r in rows[1:])


# ---------------------------------------------------------------------------------------------- fixtures
GLUE_LABELS = {"mnli": {"entailment", "neutral", "contradiction"}}


def test_mnli_writes_matched_mismatched_and_ax_submissions(tmp_path, fixture_model):
    from ernie.finetune import load_finetune_config, run_finetune

    config = load_finetune_config(
        config_path("glue", "mnli"), ["trainer.max_steps=2", "trainer.global_batch_size=4"]
    )
    config.update(
        model_dir=fixture_model, data_dir=os.path.join(FIXTURES, "glue", "MNLI"), output_dir=str(tmp_path)
    )
    results = run_finetune(config)
    assert set(results["dev_splits"]) == {"matched", "mismatched"}
    assert results["dev_splits"]["matched"]["examples"] == 4  # the '-' row is skipped, not scored
    assert results["data"]["dev"]["matched"]["skipped"] == 1
    for name, test_file in (
        ("MNLI-m.tsv", "test_matched.tsv"),
        ("MNLI-mm.tsv", "test_mismatched.tsv"),
        ("AX.tsv", None),
    ):
        rows = _tsv_rows(str(tmp_path / "submission" / name))
        source = (
            os.path.join(FIXTURES, "glue", "MNLI", test_file)
            if test_file
            else os.path.join(FIXTURES, "glue", "diagnostic", "diagnostic.tsv")
        )
        expected = _tsv_rows(source)
        assert rows[0] == ["index", "prediction"] and [r[0] for r in rows[1:]] == [r[0] for r in expected[1:]]
        assert {r[1] for r in rows[1:]} <= GLUE_LABELS["mnli"]


@pytest.mark.parametrize(
    "suite,task,data,submission",
    [
        ("clue", "afqmc", "clue/afqmc", "afqmc_predict.json"),
        ("clue", "cmnli", "clue/cmnli", "cmnli_predict.json"),
        ("chinese", "nlpcc_dbqa", "chinese/nlpcc_dbqa", None),
    ],
)
def test_fixture_tasks_train_evaluate_and_predict(tmp_path, fixture_model, suite, task, data, submission):
    from ernie.finetune import load_finetune_config, run_finetune

    config = load_finetune_config(
        config_path(suite, task), ["trainer.max_steps=2", "trainer.global_batch_size=2"]
    )
    config.update(model_dir=fixture_model, data_dir=os.path.join(FIXTURES, data), output_dir=str(tmp_path))
    results = run_finetune(config)
    assert 0.0 <= results["dev"]["acc"] <= 1.0
    if task == "nlpcc_dbqa":
        assert set(results["dev"]) >= {"mrr", "f1"} and 0 < results["dev"]["mrr"] <= 1
        lines = (tmp_path / "predictions" / "test.jsonl").read_text().splitlines()
        assert len(lines) == 7 and set(json.loads(lines[0])) == {"index", "label", "probs"}
        return
    lines = (tmp_path / "submission" / submission).read_text().splitlines()
    with open(os.path.join(FIXTURES, data, "test.json"), encoding="utf-8") as f:
        test_ids = [json.loads(line)["id"] for line in f]
    predicted = [json.loads(line) for line in lines]
    assert [p["id"] for p in predicted] == test_ids  # CLUE: test-file order, ids as given
    from ernie.finetune.benchmarks import get_benchmark

    assert all(set(p) == {"id", "label"} and p["label"] in get_benchmark(task).labels for p in predicted)


# ---------------------------------------------------------------------------------------------- real Chinese
def test_msra_ner_and_cmrc2018_on_real_slices(tmp_path, shared_data, chinese_model):
    from ernie.finetune import load_finetune_config, run_finetune
    from ernie.finetune.metrics import mrc_scores

    ner = tmp_path / "ner"
    ner.mkdir()
    real = os.path.join(shared_data, "clue", "msra_ner")
    _head(os.path.join(real, "dev.tsv"), str(ner / "train.tsv"), 40)
    _head(os.path.join(real, "test.tsv"), str(ner / "dev.tsv"), 30)
    config = load_finetune_config(
        config_path("chinese", "msra_ner"), ["trainer.max_steps=2", "trainer.global_batch_size=8"]
    )
    config.update(
        model_dir=chinese_model,
        data_dir=str(ner),
        output_dir=str(tmp_path / "out_ner"),
        data=dict(config["data"], test=None),
    )
    results = run_finetune(config)
    assert set(results["dev"]) >= {"precision", "recall", "f1"}
    best = json.loads((tmp_path / "out_ner" / "best" / "config.json").read_text())
    assert best["architectures"] == ["ErnieForTokenClassification"]
    assert list(best["id2label"].values()) == ["B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "O"]
    first = json.loads((tmp_path / "out_ner" / "predictions" / "dev.jsonl").read_text().splitlines()[0])
    assert set(first) == {"index", "labels", "entities"}

    mrc = tmp_path / "cmrc"
    mrc.mkdir()
    with open(os.path.join(shared_data, "clue", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        data = json.load(f)
    (mrc / "train.json").write_text(
        json.dumps({"data": data["data"][:6]}, ensure_ascii=False), encoding="utf-8"
    )
    (mrc / "dev.json").write_text(
        json.dumps({"data": data["data"][6:10]}, ensure_ascii=False), encoding="utf-8"
    )
    config = load_finetune_config(
        config_path("chinese", "cmrc2018"),
        ["trainer.max_steps=2", "trainer.global_batch_size=8", "data.max_seq_len=256"],
    )
    config.update(model_dir=chinese_model, data_dir=str(mrc), output_dir=str(tmp_path / "out_mrc"))
    results = run_finetune(config, do_predict=False)
    predictions = json.loads((tmp_path / "out_mrc" / "predictions" / "dev.json").read_text())
    gold = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for art in data["data"][6:10]
        for p in art["paragraphs"]
        for qa in p["qas"]
    }
    assert set(predictions) == set(gold)
    # The dev score in results.json is the official metric of the {qid: answer} file it wrote.
    assert results["dev"]["f1"] == pytest.approx(mrc_scores(gold, predictions)["f1"])
    assert results["dev"]["em"] == pytest.approx(mrc_scores(gold, predictions)["em"])


# ---------------------------------------------------------------------------------------------- bad input
def test_malformed_row_is_reported_and_strict_exits_2(tmp_path, fixture_model):
    common = [
        "--config", config_path("glue", "qqp"), "--model_dir", fixture_model,
        "--data_dir", os.path.join(FIXTURES, "glue", "QQP"), "--set", "trainer.max_steps=1",
        "--set", "trainer.global_batch_size=2", "--set", "data.test=null",
    ]  # fmt: skip
    proc = run_tool(*common, "--output", str(tmp_path / "lenient"))
    assert proc.returncode == 0, proc.stderr
    train = os.path.join(FIXTURES, "glue", "QQP", "train.tsv")
    assert f"{train}: line 5: expected 6 tab-separated fields, found 4" in proc.stderr
    results = json.loads((tmp_path / "lenient" / "results.json").read_text())
    assert (
        results["data"]["train"]["train"]["malformed"] == 1
        and results["data"]["train"]["train"]["examples"] == 6
    )

    proc = run_tool(*common, "--output", str(tmp_path / "strict"), "--strict")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {train}: line 5: expected 6 tab-separated fields")
    )
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "strict").exists()  # nothing half-written


def test_wrong_config_key_exits_2_naming_the_key(tmp_path, fixture_model):
    base = [
        "--model_dir",
        fixture_model,
        "--data_dir",
        os.path.join(FIXTURES, "glue", "QQP"),
        "--output",
        str(tmp_path / "o"),
    ]
    proc = run_tool("--config", config_path("glue", "qqp"), *base, "--set", "trainer.max_step=3")
    assert (
        proc.returncode == 2
        and "unknown key 'trainer.max_step'" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("benchmark: qqp\noptimizer:\n  learning_rate: 1.0e-4\n  warm_up: 0.1\n")
    proc = run_tool("--config", str(bad), *base)
    assert proc.returncode == 2 and f"{bad}: unknown key 'optimizer.warm_up'" in proc.stderr
    proc = run_tool("--config", config_path("glue", "qqp"), *base, "--set", "model.hidden_dropout=0")
    assert proc.returncode == 2 and "unknown key 'model.hidden_dropout'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_config_errors_in_process(tmp_path, fixture_model):
    from ernie.finetune import load_finetune_config, run_finetune

    config = load_finetune_config(
        config_path("glue", "qqp"), ["trainer.global_batch_size=6", "trainer.micro_batch_size=4"]
    )
    config.update(
        model_dir=fixture_model,
        data_dir=os.path.join(FIXTURES, "glue", "QQP"),
        output_dir=str(tmp_path / "o"),
    )
    with pytest.raises(
        ConfigError,
        match=r"keys .trainer.global_batch_size. \(6\) and .trainer.micro_batch_size. \(4\) do not fit",
    ):
        run_finetune(config, do_train=True, do_eval=False, do_predict=False)
    # Evaluating a model that was never fine-tuned is refused (its head would be random).
    config = load_finetune_config(config_path("glue", "qqp"))
    config.update(
        model_dir=fixture_model,
        data_dir=os.path.join(FIXTURES, "glue", "QQP"),
        output_dir=str(tmp_path / "o"),
    )
    with pytest.raises(UsageError, match="no fine-tuned ErnieForSequenceClassification head"):
        run_finetune(config, do_train=False, do_eval=True, do_predict=False)
    assert not (tmp_path / "o").exists()


def test_evaluating_best_again_reproduces_its_dev_scores(tmp_path, fixture_model):
    from ernie.finetune import load_finetune_config, run_finetune

    data = os.path.join(FIXTURES, "glue", "MNLI")
    config = load_finetune_config(
        config_path("glue", "mnli"),
        ["trainer.max_steps=3", "trainer.global_batch_size=2", "trainer.eval_steps=1"],
    )
    config.update(model_dir=fixture_model, data_dir=data, output_dir=str(tmp_path / "train"))
    trained = run_finetune(config, do_predict=False)
    again = load_finetune_config(config_path("glue", "mnli"))
    again.update(model_dir=str(tmp_path / "train" / "best"), data_dir=data, output_dir=str(tmp_path / "eval"))
    evaluated = run_finetune(again, do_train=False, do_eval=True, do_predict=False)
    assert evaluated["dev_splits"] == trained["dev_splits"]
    assert not (tmp_path / "eval" / "best").exists() and (tmp_path / "eval" / "results.json").exists()


def test_a_model_that_predicts_nan_is_an_error_not_a_score(tmp_path, fixture_model):
    # Before: a NaN model scored accuracy 53.33 (the share of class 0) on this dev set and exit 0.
    import paddle

    from ernie.errors import TrainingError
    from ernie.finetune import load_finetune_config, run_finetune
    from ernie.modeling import ErnieForSequenceClassification

    broken = str(tmp_path / "nan_model")
    model = ErnieForSequenceClassification.from_pretrained(
        fixture_model,
        verbose=False,
        num_labels=3,
        id2label={"0": "contradiction", "1": "neutral", "2": "entailment"},
    )
    weight = model.classifier.weight
    weight.set_value(paddle.full(weight.shape, float("nan")))
    model.save_pretrained(broken)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        with (
            open(os.path.join(fixture_model, name), "rb") as src,
            open(os.path.join(broken, name), "wb") as dst,
        ):
            dst.write(src.read())
    config = load_finetune_config(config_path("glue", "mnli"))
    config.update(
        model_dir=broken, data_dir=os.path.join(FIXTURES, "glue", "MNLI"), output_dir=str(tmp_path / "o")
    )
    with pytest.raises(
        TrainingError, match=r"dev_matched.tsv: the model's outputs are not finite for \d+ of \d+"
    ):
        run_finetune(config, do_train=False, do_eval=True, do_predict=False)
    assert not (tmp_path / "o" / "results.json").exists()


def test_a_split_without_a_usable_example_is_an_error_naming_the_first_bad_row(tmp_path, fixture_model):
    # Before: a dev file with its header swapped gave 0 examples, "acc 0.00" and exit 0.
    from ernie.finetune import load_finetune_config, run_finetune

    data = tmp_path / "SST-2"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n", encoding="utf-8")
    (data / "dev.tsv").write_text("label\tsentence\nfine\t1\ndull\t0\n", encoding="utf-8")
    config = load_finetune_config(
        config_path("glue", "sst2"), ["trainer.max_steps=1", "trainer.global_batch_size=2"]
    )
    config.update(model_dir=fixture_model, data_dir=str(data), output_dir=str(tmp_path / "o"))
    with pytest.raises(UsageError, match=r"dev.tsv: no usable example in 2 rows \(first: .*line 2"):
        run_finetune(config, do_train=True, do_eval=True, do_predict=False)
    assert not (tmp_path / "o").exists()
