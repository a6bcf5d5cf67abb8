"""Benchmark readers: every row of the real files parsed, labels as the benchmarks define them, and the
official formats of the absent benchmarks (hand-written fixtures) read, with bad rows counted."""

from __future__ import annotations

import csv
import json
import os

import pytest

from ernie.errors import UsageError
from ernie.finetune.benchmarks import BENCHMARKS, get_benchmark
from ernie.finetune.readers import LabelSet, read_split

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "finetune")

# Rows per file as /work/shared/data/SOURCES.md gives them (data rows, header excluded; questions for SQuAD).
REAL_FILES = [
    ("cola", "glue/CoLA/train.tsv", 8551, True),
    ("cola", "glue/CoLA/dev.tsv", 1043, True),
    ("cola", "glue/CoLA/test.tsv", 1063, False),
    ("cola", "glue/CoLA/cola_public_1.1/in_domain_dev.tsv", 527, True),
    ("cola", "glue/CoLA/cola_public_1.1/out_of_domain_dev.tsv", 516, True),
    ("sst2", "glue/SST-2/train.tsv", 67349, True),
    ("sst2", "glue/SST-2/dev.tsv", 872, True),
    ("sst2", "glue/SST-2/test.tsv", 1821, False),
    ("mrpc", "glue/MRPC/train.tsv", 3668, True),
    ("mrpc", "glue/MRPC/dev.tsv", 408, True),
    ("mrpc", "glue/MRPC/test.tsv", 1725, False),
    ("stsb", "glue/STS-B/train.tsv", 5749, True),
    ("stsb", "glue/STS-B/dev.tsv", 1500, True),
    ("stsb", "glue/STS-B/test.tsv", 1379, False),
    ("rte", "glue/RTE/train.tsv", 2490, True),
    ("rte", "glue/RTE/dev.tsv", 277, True),
    ("rte", "glue/RTE/test.tsv", 3000, False),
    ("wnli", "glue/WNLI/dev.tsv", 71, True),
    ("wnli", "glue/WNLI/test.tsv", 146, False),
    ("qnli", "glue/QNLI/dev.tsv", 5463, True),
    ("qnli", "glue/QNLI/test.tsv", 5463, False),
    ("chnsenticorp", "clue/chnsenticorp/train.tsv", 9600, True),
    ("chnsenticorp", "clue/chnsenticorp/dev.tsv", 1200, True),
    ("chnsenticorp", "clue/chnsenticorp/test.tsv", 1200, True),
    ("msra_ner", "clue/msra_ner/dev.tsv", 2318, True),
    ("msra_ner", "clue/msra_ner/test.tsv", 4636, True),
    ("xnli", "clue/xnli/dev.tsv", 2490, True),
    ("xnli", "clue/xnli/test.tsv", 5010, True),
    ("lcqmc", "clue/lcqmc_erniekit_subset/train.txt", 1999, True),
    ("lcqmc", "clue/lcqmc_erniekit_subset/dev.txt", 100, True),
    ("lcqmc", "clue/lcqmc_erniekit_subset/test.txt", 400, True),
    ("bq", "clue/bq_corpus/dev.tsv", 10000, True),
    ("bq", "clue/bq_corpus/test.tsv", 10000, False),
    ("tnews", "clue/tnews/train_few_all.json", 1185, True),
    ("tnews", "clue/tnews/dev_few_all.json", 1098, True),
    ("tnews", "clue/tnews/test_public.json", 2010, True),
    ("iflytek", "clue/iflytek/dev_few_all.json", 1373, True),
    ("iflytek", "clue/iflytek/test_public.json", 1749, True),
    ("cmrc2018", "clue/cmrc2018/cmrc2018_dev.json", 3219, True),
    ("drcd", "clue/drcd/DRCD_dev.json", 3524, True),
]


def _labels(task: str, path: str):
    spec = get_benchmark(task)
    label_map = os.path.join(os.path.dirname(path), "label_map.json")
    return LabelSet.for_task(spec, label_map if os.path.isfile(label_map) else None) if spec.labels else None


@pytest.mark.parametrize("task,relpath,rows,labelled", REAL_FILES, ids=[f[1] for f in REAL_FILES])
def test_every_row_of_the_real_files_is_read(shared_data, task, relpath, rows, labelled):
    path = os.path.join(shared_data, relpath)
    result = read_split(get_benchmark(task), path, _labels(task, path))
    assert result.rows == rows
    assert len(result.examples) == rows
    assert result.malformed == [] and result.skipped == []
    assert result.labelled == labelled


def _tsv(path):
    """An independent read: the csv module with QUOTE_NONE, BOM stripped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


GLUE_COLUMNS = {  # task -> (file, text_a column, text_b column, label column, header?)
    "cola": ("glue/CoLA/dev.tsv", 3, None, 1, False),
    "sst2": ("glue/SST-2/dev.tsv", 0, None, 1, True),
    "mrpc": ("glue/MRPC/train.tsv", 3, 4, 0, True),
    "stsb": ("glue/STS-B/dev.tsv", 7, 8, 9, True),
    "rte": ("glue/RTE/dev.tsv", 1, 2, 3, True),
    "qnli": ("glue/QNLI/dev.tsv", 1, 2, 3, True),
    "wnli": ("glue/WNLI/dev.tsv", 1, 2, 3, True),
}


@pytest.mark.parametrize("task", sorted(GLUE_COLUMNS))
def test_glue_texts_and_labels_match_an_independent_read(shared_data, task):
    relpath, col_a, col_b, col_label, header = GLUE_COLUMNS[task]
    path = os.path.join(shared_data, relpath)
    rows = _tsv(path)[1 if header else 0 :]
    spec = get_benchmark(task)
    result = read_split(spec, path)
    assert [e.text_a for e in result.examples] == [r[col_a] for r in rows]
    if col_b is not None:
        assert [e.text_b for e in result.examples] == [r[col_b] for r in rows]
    if task == "stsb":
        assert [e.label for e in result.examples] == [float(r[col_label]) for r in rows]
    else:
        # GLUE's label strings: 0/1, or entailment/not_entailment (ERNIE ids: entailment 1).
        assert [spec.labels[e.label] for e in result.examples] == [r[col_label] for r in rows]
    if task in ("rte", "qnli"):
        assert spec.labels.index("entailment") == 1 and spec.labels.index("not_entailment") == 0


def test_glue_test_indices_are_the_files_index_column(shared_data):
    for relpath, task in (
        ("glue/SST-2/test.tsv", "sst2"),
        ("glue/MRPC/test.tsv", "mrpc"),
        ("glue/CoLA/test.tsv", "cola"),
    ):
        path = os.path.join(shared_data, relpath)
        result = read_split(get_benchmark(task), path)
        assert [e.index for e in result.examples] == [r[0] for r in _tsv(path)[1:]]


def test_chinese_labels_map_as_the_ernie_label_maps_say(shared_data):
    path = os.path.join(shared_data, "clue/xnli/dev.tsv")
    with open(os.path.join(shared_data, "clue/xnli/label_map.json"), encoding="utf-8") as f:
        label_map = json.load(f)
    result = read_split(get_benchmark("xnli"), path, _labels("xnli", path))
    assert [e.label for e in result.examples] == [label_map[r[2]] for r in _tsv(path)[1:]]

    path = os.path.join(shared_data, "clue/msra_ner/dev.tsv")
    with open(os.path.join(shared_data, "clue/msra_ner/label_map.json"), encoding="utf-8") as f:
        label_map = json.load(f)
    result = read_split(get_benchmark("msra_ner"), path, _labels("msra_ner", path))
    rows = _tsv(path)[1:]
    assert [e.units for e in result.examples] == [r[0].split("\x02") for r in rows]
    assert [e.labels for e in result.examples] == [[label_map[t] for t in r[1].split("\x02")] for r in rows]

    path = os.path.join(shared_data, "clue/chnsenticorp/dev.tsv")  # header: label<TAB>text_a
    result = read_split(get_benchmark("chnsenticorp"), path)
    assert [(e.label, e.text_a) for e in result.examples] == [(int(r[0]), r[1]) for r in _tsv(path)[1:]]


def test_clue_labels_are_the_benchmark_label_lists(shared_data):
    with open(os.path.join(shared_data, "clue/tnews/label_index2en2zh.json"), encoding="utf-8") as f:
        official = [json.loads(line)["label"] for line in f if line.strip()]
    assert list(get_benchmark("tnews").labels) == official
    path = os.path.join(shared_data, "clue/tnews/dev_few_all.json")
    result = read_split(get_benchmark("tnews"), path)
    with open(path, encoding="utf-8") as f:
        gold = [str(json.loads(line)["label"]) for line in f if line.strip()]
    assert [get_benchmark("tnews").labels[e.label] for e in result.examples] == gold
    path = os.path.join(shared_data, "clue/iflytek/test_public.json")
    with open(path, encoding="utf-8") as f:
        gold = [str(json.loads(line)["label"]) for line in f if line.strip()]
    assert [
        get_benchmark("iflytek").labels[e.label] for e in read_split(get_benchmark("iflytek"), path).examples
    ] == gold


def test_squad_readers_keep_every_question_and_answer(shared_data):
    for task, relpath in (
        ("cmrc2018", "clue/cmrc2018/cmrc2018_dev.json"),
        ("drcd", "clue/drcd/DRCD_dev.json"),
    ):
        path = os.path.join(shared_data, relpath)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        gold = [
            (qa["id"], [a["text"] for a in qa["answers"]])
            for article in data["data"]
            for para in article["paragraphs"]
            for qa in para["qas"]
        ]
        result = read_split(get_benchmark(task), path)
        assert [(e.qid, [a["text"] for a in e.answers]) for e in result.examples] == gold
        # Every located answer start points at its text in the context.
        for example in result.examples:
            for answer in example.answers:
                start = answer["answer_start"]
                assert start is None or example.context[start : start + len(answer["text"])] == answer["text"]


# ---------------------------------------------------------------------------------------------- fixtures
def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def test_mnli_files_and_the_no_gold_label_rows():
    spec = get_benchmark("mnli")
    train = read_split(spec, fixture("glue/MNLI/train.tsv"))
    assert train.rows == 6 and len(train.examples) == 6
    assert [spec.labels[e.label] for e in train.examples][:3] == ["entailment", "contradiction", "neutral"]
    assert spec.labels == ("contradiction", "neutral", "entailment")  # ERNIE's MNLI ids 0, 1, 2
    dev = read_split(spec, fixture("glue/MNLI/dev_matched.tsv"))  # 16 columns, gold_label last
    assert dev.rows == 5 and len(dev.examples) == 4
    assert len(dev.skipped) == 1 and dev.skipped[0].line == 6 and "no gold label" in dev.skipped[0].reason
    test = read_split(spec, fixture("glue/MNLI/test_matched.tsv"))
    assert not test.labelled and [e.index for e in test.examples] == ["0", "1", "2"]
    ax = read_split(spec, fixture("glue/diagnostic/diagnostic.tsv"))
    assert not ax.labelled and len(ax.examples) == 3
    assert ax.examples[2].text_a == 'Tom\'s "best" idea failed.'  # quotes are plain characters (QUOTE_NONE)


def test_qqp_malformed_row_is_reported_with_file_and_line():
    result = read_split(get_benchmark("qqp"), fixture("glue/QQP/train.tsv"))
    assert result.rows == 7 and len(result.examples) == 6
    [issue] = result.malformed
    assert issue.line == 5 and "expected 6 tab-separated fields, found 4" in issue.reason
    assert str(issue).startswith(fixture("glue/QQP/train.tsv") + ": line 5:")
    test = read_split(get_benchmark("qqp"), fixture("glue/QQP/test.tsv"))
    assert not test.labelled and [e.index for e in test.examples] == ["0", "1", "2", "3"]


def test_nlpcc_dbqa_both_layouts_group_questions_the_same_way():
    spec = get_benchmark("nlpcc_dbqa")
    ernie = read_split(spec, fixture("chinese/nlpcc_dbqa/dev.tsv"))
    release = read_split(spec, fixture("chinese/nlpcc_dbqa_release/nlpcc-iccpol-2016.dbqa.testing-data"))
    assert [e.qid for e in ernie.examples] == ["0", "0", "0", "1", "1", "2", "2"]
    assert [e.qid for e in release.examples] == [e.qid for e in ernie.examples]
    assert [(e.text_a, e.text_b, e.label) for e in release.examples] == [
        (e.text_a, e.text_b, e.label) for e in ernie.examples
    ]


def test_headerless_xnli_with_the_ernie_label_spellings():
    spec = get_benchmark("xnli")
    result = read_split(spec, fixture("chinese/xnli_headerless/dev.tsv"))
    assert [spec.labels[e.label] for e in result.examples] == ["entailment", "contradiction", "neutral"]
    assert len(result.skipped) == 1 and result.skipped[0].line == 4


def test_xnli_mt_header_premise_hypo_label(tmp_path):
    # XNLI-MT's machine-translated MultiNLI train files name their columns premise / hypo / label.
    path = tmp_path / "multinli.train.zh.tsv"
    path.write_text(
        "premise\thypo\tlabel\n他在看书。\t他在读书。\tentailment\n天在下雨。\t天晴。\tcontradictory\n"
    )
    spec = get_benchmark("xnli")
    result = read_split(spec, str(path))
    assert [(e.text_a, e.text_b, spec.labels[e.label]) for e in result.examples] == [
        ("他在看书。", "他在读书。", "entailment"),
        ("天在下雨。", "天晴。", "contradiction"),
    ]


def test_label_map_file_defines_the_ids(tmp_path):
    spec = get_benchmark("xnli")
    path = tmp_path / "label_map.json"
    path.write_text(json.dumps({"neutral": 0, "entailment": 1, "contradictory": 2, "contradiction": 2}))
    labels = LabelSet.for_task(spec, str(path))
    assert labels.labels == ("neutral", "entailment", "contradiction")
    assert labels.id("contradictory") == 2 and labels.id2label == {
        "0": "neutral",
        "1": "entailment",
        "2": "contradiction",
    }
    path.write_text(json.dumps({"yes": 0, "no": 1}))
    with pytest.raises(UsageError, match="differ from the xnli labels"):
        LabelSet.for_task(spec, str(path))


def test_ner_space_separated_layout_and_a_length_mismatch():
    result = read_split(get_benchmark("msra_ner"), fixture("chinese/msra_ner_spaces/dev.tsv"))
    assert result.rows == 4 and len(result.examples) == 3
    assert result.examples[0].units[:5] == ["我", "们", "在", "北", "京"]
    labels = get_benchmark("msra_ner").labels
    assert [labels[i] for i in result.examples[0].labels][3:5] == ["B-LOC", "I-LOC"]
    [issue] = result.malformed
    assert issue.line == 5 and "6 units but 5 labels" in issue.reason


def test_clue_json_formats():
    afqmc = read_split(get_benchmark("afqmc"), fixture("clue/afqmc/train.json"))
    assert [e.label for e in afqmc.examples] == [1, 0, 1, 0]
    test = read_split(get_benchmark("afqmc"), fixture("clue/afqmc/test.json"))
    assert not test.labelled and [e.index for e in test.examples] == ["0", "1", "2", "3"]
    cmnli = read_split(get_benchmark("cmnli"), fixture("clue/cmnli/train.json"))
    assert len(cmnli.examples) == 3 and len(cmnli.skipped) == 1 and cmnli.skipped[0].line == 4
    ocnli = read_split(get_benchmark("ocnli"), fixture("clue/ocnli/dev.json"))
    assert [e.index for e in ocnli.examples] == ["0", "1", "2"] and len(ocnli.skipped) == 1
    csl = read_split(get_benchmark("csl"), fixture("clue/csl/dev.json"))
    assert csl.examples[0].text_a == "中文分词 注意力机制" and csl.examples[0].text_b.startswith("本文提出")
    tnews = read_split(get_benchmark("tnews"), fixture("clue/tnews/dev.json"))
    assert [get_benchmark("tnews").labels[e.label] for e in tnews.examples] == ["102", "103"]
    iflytek = read_split(get_benchmark("iflytek"), fixture("clue/iflytek/dev.json"))
    assert len(iflytek.examples) == 1
    assert [(i.line, i.reason.split(" (")[0]) for i in iflytek.malformed] == [
        (2, "invalid JSON"),
        (3, "unknown label '500'"),
    ]


def test_undecodable_bytes_cost_one_row_and_a_headerless_file_of_unknown_shape_is_an_error(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"sentence\tlabel\ngood film\t1\n" + b"bad \xff byte\t0\n" + b"dull\t0\n")
    result = read_split(get_benchmark("sst2"), str(path))
    assert (
        len(result.examples) == 2
        and result.malformed[0].line == 3
        and "not UTF-8" in result.malformed[0].reason
    )
    path.write_text("a\tb\tc\td\te\n")
    with pytest.raises(UsageError, match="line 1: no header"):
        read_split(get_benchmark("lcqmc"), str(path))
    with pytest.raises(UsageError, match="no such data file"):
        read_split(get_benchmark("sst2"), str(tmp_path / "missing.tsv"))


def test_every_task_has_a_recipe_config():
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "configs", "finetune")
    from ernie.finetune import load_finetune_config

    found = {}
    for suite in os.listdir(root):
        for name in os.listdir(os.path.join(root, suite)):
            config = load_finetune_config(os.path.join(root, suite, name))
            found[get_benchmark(config["benchmark"]).name] = suite
    assert sorted(found) == sorted(BENCHMARKS)
    assert all(BENCHMARKS[name].suite == suite for name, suite in found.items())
