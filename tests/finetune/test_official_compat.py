"""Official-compatible scores beside ours: MSRA-NER on the first 254 word pieces, DBQA qids as integers."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from ernie.finetune import metrics as M
from ernie.finetune import ner
from ernie.finetune.adapters import make_adapter
from ernie.finetune.benchmarks import get_benchmark
from ernie.finetune.outputs import format_table
from ernie.finetune.readers import LabelSet, NerExample, ReadResult, read_split
from ernie.tokenizer import ErnieTokenizer
from tests.fixtures.finetune.tiny import make_tiny_model, vocab_from_texts

# ---------------------------------------------------------------------------------------------- NLPCC-DBQA
# "1" and "01" are one question for the official script (it parses qids with int()), two for us. "10" sorts
# after "2" as a number and before it as text, which changes nothing: questions are averaged, not ordered.
QIDS = ["1", "1", "01", "10", "10", "2"]
SCORES = [0.9, 0.2, 0.8, 0.3, 0.6, 0.7]
LABELS = [0, 1, 1, 0, 1, 1]
# Ours: "1" 0.9(0) 0.2(1) -> 1/2; "01" -> 1; "10" 0.6(1) first -> 1; "2" -> 1.  (0.5 + 1 + 1 + 1) / 4
OURS_MRR = 3.5 / 4
# Official: 1 = {0.9(0), 0.8(1), 0.2(1)} -> 1/2; 10 -> 1; 2 -> 1.  (0.5 + 1 + 1) / 3
OFFICIAL_MRR = 2.5 / 3


def test_dbqa_official_mrr_merges_qids_equal_as_integers():
    preds = [1 if s > 0.5 else 0 for s in SCORES]
    metrics = M.classification_metrics("mrr_f1", preds, LABELS, scores=SCORES, qids=QIDS)
    assert metrics["mrr"] == pytest.approx(OURS_MRR)
    assert metrics["mrr_official"] == pytest.approx(OFFICIAL_MRR)
    # The official F1 does not read qids: nothing to report beside ours.
    assert "f1_official" not in metrics


def test_dbqa_official_mrr_is_absent_when_a_qid_is_not_an_integer():
    # The official reader cannot run on such a file (int("q1") fails): there is no official number.
    metrics = M.classification_metrics("mrr_f1", [1, 0], [1, 0], scores=[0.9, 0.1], qids=["q1", "q1"])
    assert metrics["mrr"] == 1.0 and "mrr_official" not in metrics


def test_dbqa_hand_made_file_reports_both_mrrs(tmp_path):
    spec = get_benchmark("nlpcc_dbqa")
    rows = [f"{q}\t问题{q}\t候选{i}\t{label}" for i, (q, label) in enumerate(zip(QIDS, LABELS))]
    path = tmp_path / "dev.tsv"
    path.write_text("qid\ttext_a\ttext_b\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    split = read_split(spec, str(path))
    assert [e.qid for e in split.examples] == QIDS  # read as written: "01" stays "01"
    adapter = make_adapter(spec, LabelSet.for_task(spec), None, {"max_seq_len": 32})
    # Logits [0, log(p / (1 - p))]: softmax gives p for the positive class.
    outputs = [np.array([0.0, math.log(p / (1 - p))], dtype="float32") for p in SCORES]
    metrics, _ = adapter.evaluate(split, [None] * len(outputs), outputs)
    assert metrics["mrr"] == pytest.approx(OURS_MRR, abs=1e-6)
    assert metrics["mrr_official"] == pytest.approx(OFFICIAL_MRR, abs=1e-6)


# ---------------------------------------------------------------------------------------------- MSRA-NER
@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab_from_texts(["张三的李四王五北京"])) + "\n", encoding="utf-8")
    return ErnieTokenizer(str(path))


def test_official_scored_units_count_word_pieces_and_drop_units_without_one(tokenizer):
    # Pieces: 张 1, 三三 2, " " 0 (dropped by the official reader), 李 1, 四 1. The first 4 pieces are
    # 张 三 三 李; max_seq_len 5 (3 pieces a window) puts 李 in a second window, which changes nothing.
    example = NerExample(units=["张", "三三", " ", "李", "四"], labels=[0, 0, 0, 0, 0])
    short = NerExample(units=["王", "五"], labels=[0, 0])
    features, empty = ner.build_ner_features([example, short], tokenizer, max_seq_len=5)
    assert empty == 1
    assert ner.official_scored_units([example, short], features, pieces=4) == [[0, 1, 3], [0, 1]]


def _sentence() -> tuple[list, list, list]:
    """260 characters: gold and predicted tags hand-placed around the official cut after character 254."""
    units = ["的"] * 260
    gold = ["O"] * 260
    pred = ["O"] * 260
    units[0:2] = ["张", "三"]
    gold[0:2] = pred[0:2] = ["B-PER", "I-PER"]  # right in both scorings
    units[253:255] = ["北", "京"]
    gold[253:255] = ["B-ORG", "I-ORG"]  # crosses the cut: officially ORG 253-254 only ...
    pred[253] = "B-ORG"  # ... which this prediction matches; ours misses ORG 253-255
    units[256:258] = ["李", "四"]
    gold[256:258] = ["B-LOC", "I-LOC"]  # beyond the cut: missed, officially not counted
    units[258:260] = ["王", "五"]
    pred[258:260] = ["B-PER", "I-PER"]  # beyond the cut: a false positive, officially not counted
    return units, gold, pred


def test_ner_evaluation_reports_the_official_254_f1_beside_ours(tokenizer):
    spec = get_benchmark("msra_ner")
    labels = LabelSet.for_task(spec)
    units, gold, pred = _sentence()
    example = NerExample(units=units, labels=[labels.id(t) for t in gold], index="0")
    split = ReadResult(path="dev.tsv", examples=[example])
    adapter = make_adapter(spec, labels, tokenizer, {"max_seq_len": 256})
    features = adapter.features(split, training=False)
    assert len(features) == 2  # our windows read all 260 characters
    outputs = []
    for feature in features:
        logits = np.zeros((len(feature.input_ids), len(labels.labels)), dtype="float32")
        for unit, position in feature.unit_positions:
            logits[position, labels.id(pred[unit])] = 1.0
        outputs.append(logits)
    metrics, _ = adapter.evaluate(split, features, outputs)
    # Ours: gold PER, ORG 253-255, LOC; predicted PER, ORG 253-254, PER 258-260; 1 right: P = R = F = 1/3.
    assert metrics["f1"] == pytest.approx(1 / 3)
    # Official: gold PER, ORG 253-254; predicted the same two: F = 1.
    assert metrics["f1_official_254"] == pytest.approx(1.0)
    assert metrics["gold_entities_official_254"] == 2
    results = {
        "benchmark": "msra_ner",
        "suite": "chinese",
        "model_dir": "m",
        "selection_metric": "f1",
        "dev_splits": {"dev": metrics},
    }
    table = format_table(results).splitlines()
    assert any(line.split() == ["dev", "f1_official_254", "100.00"] for line in table)
    assert any(line.split() == ["dev", "f1", "33.33"] for line in table)


def test_msra_ner_real_dev_file_official_cut(shared_data):
    path = os.path.join(shared_data, "clue", "msra_ner", "dev.tsv")
    # Independent count straight from the file: an entity is a B- tag (the file has no entity opened by I-).
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    tags = [label.split("\x02") for _, label in rows]
    total = sum(t.startswith("B-") for sentence in tags for t in sentence)
    beyond = sum(t.startswith("B-") for sentence in tags for t in sentence[254:])
    assert (total, beyond) == (3819, 102)

    # Ours with the official vocabulary: predict the gold tags but nothing after character 254 (what a
    # model reading only 254 characters would say). Officially a perfect score; ours misses the 102.
    spec = get_benchmark("msra_ner")
    labels = LabelSet.for_task(spec)
    split = read_split(spec, path)
    vocab = os.path.join(shared_data, "ernie_official", "vocab_zh.txt")
    adapter = make_adapter(spec, labels, ErnieTokenizer(vocab), {"max_seq_len": 256})
    features = adapter.features(split, training=False)
    outside = labels.id("O")
    outputs = []
    for feature in features:
        logits = np.zeros((len(feature.input_ids), len(labels.labels)), dtype="float32")
        gold = split.examples[feature.example_index].labels
        for unit, position in feature.unit_positions:
            logits[position, gold[unit] if unit < 254 else outside] = 1.0
        outputs.append(logits)
    metrics, _ = adapter.evaluate(split, features, outputs)
    assert metrics["gold_entities"] == 3819
    assert metrics["gold_entities_official_254"] == 3819 - 102
    recall = (3819 - 102) / 3819
    assert metrics["f1"] == pytest.approx(2 * recall / (1 + recall))
    assert metrics["f1_official_254"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- end to end
CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)


def _finetune(config_name: str, model_dir: str, data_dir: str, output_dir: str) -> dict:
    from ernie.finetune import load_finetune_config, run_finetune

    config = load_finetune_config(
        os.path.join(CONFIGS, "finetune", "chinese", config_name),
        ["trainer.max_steps=2", "trainer.global_batch_size=4"],
    )
    config.update(
        model_dir=model_dir, data_dir=data_dir, output_dir=output_dir, data=dict(config["data"], test=None)
    )
    run_finetune(config)
    with open(os.path.join(output_dir, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def test_dbqa_results_json_and_table_carry_both_mrrs(tmp_path, capsys):
    # "1" (wrong answer) and "01" (right answer) are two questions for us, one for the official script;
    # "10" has its right answer. Ours: (0 + 1 + 1) / 3 whatever the model says. Official: (1 or 1/2, as
    # the model ranks the two candidates of question 1) + 1, over 2 questions: 1 or 3/4.
    rows = [
        "qid\ttext_a\ttext_b\tlabel",
        "1\t长江在哪\t长江很长\t0",
        "01\t长江在哪\t长江在中国\t1",
        "10\t黄河在哪\t黄河在中国\t1",
    ]
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (data / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = make_tiny_model(str(tmp_path / "model"), vocab_tokens=vocab_from_texts(rows))
    results = _finetune("nlpcc_dbqa.yaml", model, str(data), str(tmp_path / "out"))
    assert results["dev"]["mrr"] == pytest.approx(2 / 3)
    assert results["dev"]["mrr_official"] in (pytest.approx(1.0), pytest.approx(0.75))
    table = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["dev", "mrr_official"] for line in table)


def test_msra_ner_results_json_and_table_carry_both_f1s(tmp_path, capsys, shared_data):
    # The dev file's sentences longer than 254 characters; the official gold is their entities (B- tags)
    # that start before character 254.
    with open(os.path.join(shared_data, "clue", "msra_ner", "dev.tsv"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    long_rows = [row for row in rows if len(row.split("\t")[0].split("\x02")) > 254]
    tags = [row.split("\t")[1].split("\x02") for row in long_rows]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("\n".join([header] + rows[:20]) + "\n", encoding="utf-8")
    (data / "dev.tsv").write_text("\n".join([header] + long_rows) + "\n", encoding="utf-8")
    vocab = os.path.join(shared_data, "ernie_official", "vocab_zh.txt")
    model = make_tiny_model(str(tmp_path / "model"), vocab_file=vocab)
    results = _finetune("msra_ner.yaml", model, str(data), str(tmp_path / "out"))
    assert results["dev"]["gold_entities"] == sum(t.startswith("B-") for s in tags for t in s)
    assert results["dev"]["gold_entities_official_254"] == sum(
        t.startswith("B-") for s in tags for t in s[:254]
    )
    assert 0.0 <= results["dev"]["f1_official_254"] <= 1.0
    table = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["dev", "f1_official_254"] for line in table)
