"""predict.py scores input that carries gold labels, with fine-tuning's metrics.

Expectations: hand counts over the predictions predict.py wrote, and the dev metrics fine-tuning
itself computed for the same model and file (results.json, or its ``evaluate_splits``).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from tests.serving.helpers import cmrc_slice, exported, fine_tuned_scored, head_lines, run_predict

paddle = pytest.importorskip("paddle")

from ernie.serving import ServingError, export_model, read_examples  # noqa: E402
from ernie.serving.scoring import read_gold  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "finetune")
TEXTS = [
    "the film was great !",
    "john smith lives in new york",
    "bad",
    "what a movie , mary",
    "not good at all",
    "paris is a city",
    "the movie was bad and the city was good",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "inference-shared")


def dygraph_labels(model, tokenizer, texts, names):
    labels = []
    for text in texts:
        enc = tokenizer(text)
        with paddle.no_grad():
            logits = model(paddle.to_tensor([enc["input_ids"]]), paddle.to_tensor([enc["token_type_ids"]]))
        labels.append(names[int(np.argmax(logits.numpy()[0]))])
    return labels


def reported(err: str, metric: str) -> float:
    """The value (x100) of ``metric`` in predict.py's summary line."""
    match = re.search(rf"\b{metric} (-?\d+\.\d\d)\b", err)
    assert match, f"no {metric} in {err!r}"
    return float(match.group(1))


# ============================================================================================ hand counts
@pytest.mark.parametrize("fmt", ["jsonl", "tsv"])
def test_accuracy_is_the_hand_count_of_the_written_predictions(root, tmp_path, monkeypatch, capsys, fmt):
    # Before: the summary said nothing about the labels the input carried.
    prefix, model, tokenizer = exported(root, "cls")
    names = ["neg", "neu", "pos"]
    predicted = dygraph_labels(model, tokenizer, TEXTS, names)
    # The first four gold labels are the model's answers, the last three another label: 4 of 7 right.
    gold = predicted[:4] + [names[(names.index(p) + 1) % 3] for p in predicted[4:]]
    if fmt == "jsonl":
        lines = [json.dumps({"text_a": t, "label": g}) for t, g in zip(TEXTS, gold)]
        lines.insert(2, json.dumps({"text_a": "a text without a label"}))
        source = tmp_path / "in.jsonl"
    else:
        lines = ["sentence\tlabel"] + [f"{t}\t{g}" for t, g in zip(TEXTS, gold)]
        lines.insert(3, "a text without a label\t")
        source = tmp_path / "in.tsv"
    source.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    output = tmp_path / "preds.jsonl"
    code, out, err = run_predict(
        ["--model", prefix, "--input", str(source), "--output", str(output), "--threads", "1"],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    written = [json.loads(line)["label"] for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(written) == 8
    del written[2]  # the line without a label
    right = sum(w == g for w, g in zip(written, gold))
    assert right == 4
    assert "acc 57.14 (4/7)" in err  # 3 labels, no benchmark: fine-tuning's accuracy alone
    assert "1 without a label" in err and "f1" not in err


def test_two_labels_report_accuracy_and_f1_of_the_second_label(root, tmp_path, monkeypatch, capsys):
    prefix, model, tokenizer = exported(root, "task")  # labels no, yes
    with paddle.no_grad():  # the task embedding is part of the model's input
        predicted = []
        for text in TEXTS:
            enc = tokenizer(text)
            ids = paddle.to_tensor([enc["input_ids"]])
            logits = model(
                ids, paddle.to_tensor([enc["token_type_ids"]]), task_type_ids=paddle.full_like(ids, 2)
            )
            predicted.append(["no", "yes"][int(np.argmax(logits.numpy()[0]))])
    gold = ["yes", "yes", "no", "no", "yes", "no", "yes"]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"text_a": t, "label": g}) + "\n" for t, g in zip(TEXTS, gold)), encoding="utf-8"
    )
    output = tmp_path / "preds.jsonl"
    code, _, err = run_predict(
        ["--model", prefix, "--input", str(source), "--output", str(output)], monkeypatch, capsys
    )
    assert code == 0, err
    written = [json.loads(line)["label"] for line in output.read_text(encoding="utf-8").splitlines()]
    assert written == predicted
    tp = sum(w == g == "yes" for w, g in zip(written, gold))
    fp = sum(w == "yes" != g for w, g in zip(written, gold))
    fn = sum(g == "yes" != w for w, g in zip(written, gold))
    right = sum(w == g for w, g in zip(written, gold))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    assert f"acc {100 * right / 7:.2f} ({right}/7)" in err
    assert reported(err, "f1") == pytest.approx(100 * f1, abs=0.006)
    assert "without a label" not in err


# ============================================================================================ bad gold labels
def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "name, text, head, message",
    [
        (
            "cls.jsonl",
            '{"text_a": "a", "label": "neg"}\n\n{"text_a": "b", "label": "positive"}\n',
            "sequence_classification",
            r"cls.jsonl: line 3: label 'positive' is not one of the model's labels \(neg, neu, pos\)",
        ),
        (
            "cls.tsv",
            "text_a\tlabel\na\tneu\nb\tNEG\n",
            "sequence_classification",
            r"cls.tsv: line 3: label 'NEG' is not one of the model's labels",
        ),
        (
            "type.jsonl",
            '{"text_a": "a", "label": true}\n',
            "sequence_classification",
            r"type.jsonl: line 1: key 'label' must be a label string, got bool",
        ),
        (
            "reg.tsv",
            "sentence1\tsentence2\tscore\na\tb\thigh\n",
            "regression",
            r"reg.tsv: line 2: score 'high' is not a number",
        ),
        (
            "nan.jsonl",
            '{"text_a": "a", "label": NaN}\n',
            "regression",
            r"nan.jsonl: line 1: score nan is not a finite number",
        ),
        (
            "ner.jsonl",
            '{"text_a": "john lives", "label": ["B-PER", "O"]}\n',
            "token_classification",
            r"ner.jsonl: line 1: 2 tags for 9 units \(characters\)",
        ),
        (
            "tag.tsv",
            "text_a\tlabel\nab\tB-PER I-ORG\n",
            "token_classification",
            r"tag.tsv: line 2: tag 'I-ORG' is not one of the model's labels",
        ),
        (
            "qa.jsonl",
            '{"question": "q", "context": "c", "answers": [3]}\n',
            "question_answering",
            r"qa.jsonl: line 1: key 'answers' must be a list of answer texts",
        ),
    ],
)
def test_bad_gold_labels_name_file_and_line(tmp_path, name, text, head, message):
    examples, _ = read_examples(write(tmp_path / name, text), qa=head == "question_answering")
    labels = {
        "sequence_classification": ["neg", "neu", "pos"],
        "token_classification": ["B-PER", "I-PER", "O"],
    }.get(head)
    with pytest.raises(ServingError, match=message):
        read_gold(examples, head, labels, name=str(tmp_path / name))


def test_unknown_label_exits_2_before_anything_is_written(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "cls")
    source = write(
        tmp_path / "in.jsonl", '{"text_a": "good", "label": "pos"}\n{"text_a": "x", "label": "1"}\n'
    )
    output = tmp_path / "preds.jsonl"
    code, out, err = run_predict(
        ["--model", prefix, "--input", source, "--output", str(output)], monkeypatch, capsys
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {source}: line 2: label '1' is not one of the model's labels (neg, neu, pos)"
    )
    assert os.listdir(tmp_path) == ["in.jsonl"]


# ============================================================================================ = fine-tuning's
def test_sst2_accuracy_equals_the_dev_accuracy_in_results_json(
    encoders, shared_data, tmp_path, monkeypatch, capsys
):
    from ernie.finetune import load_finetune_config, run_finetune

    data = tmp_path / "SST-2"
    data.mkdir()
    real = os.path.join(shared_data, "glue", "SST-2")
    head_lines(os.path.join(real, "train.tsv"), data / "train.tsv", 32)
    dev = head_lines(os.path.join(real, "dev.tsv"), data / "dev.tsv", 40)
    config = load_finetune_config(
        os.path.join(REPO, "configs", "finetune", "glue", "sst2.yaml"),
        ["trainer.max_steps=2", "trainer.global_batch_size=16", "data.test=null", "data.max_seq_len=64"],
    )
    config.update(model_dir=encoders["en"], data_dir=str(data), output_dir=str(tmp_path / "out"))
    run_finetune(config)
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    prefix = export_model(str(tmp_path / "out" / "best"), str(tmp_path / "export" / "inference")).prefix
    code, _, err = run_predict(
        ["--model", prefix, "--input", dev, "--output", str(tmp_path / "preds.jsonl")], monkeypatch, capsys
    )
    assert code == 0, err
    right = round(results["dev"]["acc"] * 40)
    assert right / 40 == results["dev"]["acc"]
    assert f"acc {100 * right / 40:.2f} ({right}/40)" in err
    # SST-2 is scored by accuracy alone, in fine-tuning and here.
    assert [k for k, v in results["dev"].items() if isinstance(v, float)] == ["acc"] and "f1" not in err


def test_mnli_rows_without_gold_label_are_counted_as_finetuning_skips_them(
    encoders, tmp_path, monkeypatch, capsys
):
    source = os.path.join(FIXTURES, "glue", "MNLI", "dev_matched.tsv")  # 5 rows, one labelled '-'
    checkpoint, _, _, metrics = fine_tuned_scored(encoders["en"], "mnli", source, str(tmp_path / "mnli"))
    assert metrics["examples"] == 4
    prefix = export_model(checkpoint, str(tmp_path / "export" / "inference")).prefix
    code, _, err = run_predict(["--model", prefix, "--input", source], monkeypatch, capsys)
    assert code == 0, err
    right = round(metrics["acc"] * 4)
    assert f"acc {100 * metrics['acc']:.2f} ({right}/4)" in err and "1 without a label" in err


def test_stsb_correlations_equal_finetunings(encoders, shared_data, tmp_path, monkeypatch, capsys):
    source = head_lines(os.path.join(shared_data, "glue", "STS-B", "dev.tsv"), tmp_path / "stsb.tsv", 25)
    checkpoint, _, _, metrics = fine_tuned_scored(encoders["en"], "stsb", source, str(tmp_path / "stsb"))
    prefix = export_model(checkpoint, str(tmp_path / "export" / "inference")).prefix
    code, _, err = run_predict(["--model", prefix, "--input", source], monkeypatch, capsys)
    assert code == 0, err
    for key in ("pearson", "spearman", "corr"):
        assert reported(err, key) == pytest.approx(100 * metrics[key], abs=0.006)
    assert abs(metrics["pearson"]) > 0.01  # not a constant model


def test_msra_ner_entity_f1_equals_finetunings(encoders, shared_data, tmp_path, monkeypatch, capsys):
    # The benchmark file as it is: characters and tags joined by \x02, as fine-tuning reads it.
    source = head_lines(os.path.join(shared_data, "clue", "msra_ner", "dev.tsv"), tmp_path / "dev.tsv", 30)
    checkpoint, _, _, metrics = fine_tuned_scored(
        encoders["zh"], "msra_ner", source, str(tmp_path / "ner"), max_seq_len=32
    )
    prefix = export_model(checkpoint, str(tmp_path / "export" / "inference")).prefix
    code, _, err = run_predict(["--model", prefix, "--input", source], monkeypatch, capsys)
    assert code == 0, err
    assert metrics["pred_entities"] > 0 and metrics["gold_entities"] > 0
    for key in ("precision", "recall", "f1"):
        assert reported(err, key) == pytest.approx(100 * metrics[key], abs=0.006)


def test_cmrc2018_em_and_f1_equal_finetunings(encoders, shared_data, tmp_path, monkeypatch, capsys):
    source = cmrc_slice(shared_data, tmp_path, articles=3)
    checkpoint, split, _, metrics = fine_tuned_scored(
        encoders["zh"], "cmrc2018", source, str(tmp_path / "qa"), max_seq_len=128, doc_stride=64
    )
    lines = [
        json.dumps({"id": e.qid, "question": e.question, "context": e.context, "answers": e.answers})
        for e in split.examples
    ]  # SQuAD's answer objects ({"text", "answer_start"}), as the dev file has them
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prefix = export_model(checkpoint, str(tmp_path / "export" / "inference")).prefix
    code, _, err = run_predict(["--model", prefix, "--input", str(questions)], monkeypatch, capsys)
    assert code == 0, err
    assert metrics["f1"] > 0
    for key in ("em", "f1"):
        assert reported(err, key) == pytest.approx(100 * metrics[key], abs=0.006)
