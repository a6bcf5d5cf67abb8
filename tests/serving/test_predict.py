"""Predictor: output lines per head against the dygraph model, input reading, CLI errors.

Decoding itself is fine-tuning's (``ernie.finetune``), tested by hand there; here the serving glue:
units and offsets, windows, the settings the predictor picks, files and errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.serving.helpers import build_checkpoint, copy_export, exported, run_predict

paddle = pytest.importorskip("paddle")

from ernie.finetune.decoding import softmax  # noqa: E402
from ernie.finetune.metrics import bio_entities  # noqa: E402
from ernie.finetune.mrc import build_mrc_features  # noqa: E402
from ernie.finetune.readers import MrcExample  # noqa: E402
from ernie.serving import (  # noqa: E402
    META_SUFFIX,
    Example,
    Predictor,
    ServingError,
    export_model,
    read_examples,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-4


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "inference-shared")


def dygraph(model, tokenizer, text, pair=None, max_length=None):
    """The dygraph model on one unpadded example, tokenised by the tokenizer's own call."""
    enc = tokenizer(text, pair, max_length=max_length)
    ids = paddle.to_tensor([enc["input_ids"]])
    types = paddle.to_tensor([enc["token_type_ids"]])
    with paddle.no_grad():
        out = model(ids, types)
    return [o.numpy()[0] for o in (out if isinstance(out, (tuple, list)) else [out])], enc


# ============================================================================================ reading input
def write(path, text: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_read_jsonl_tsv_and_text(tmp_path):
    examples, stats = read_examples(
        write(
            tmp_path / "a.jsonl", '{"text_a": "x", "id": 3}\n\n{"text_a": "y", "text_b": "z", "label": 1}\n'
        ),
        qa=False,
    )
    assert [(e.line, e.text_a, e.text_b, e.id) for e in examples] == [(1, "x", None, 3), (3, "y", "z", None)]
    assert stats.blank == 1
    examples, _ = read_examples(
        write(tmp_path / "b.tsv", "label\tsentence1\tsentence2\n1\tp\tq\n0\tr\ts\n"), qa=False
    )
    assert [(e.line, e.text_a, e.text_b) for e in examples] == [(2, "p", "q"), (3, "r", "s")]
    examples, _ = read_examples(write(tmp_path / "c.txt", "one line\r\ntwo {x}\n"), qa=False)
    assert [e.text_a for e in examples] == ["one line", "two {x}"]
    examples, _ = read_examples(write(tmp_path / "d", '{"question": "q?", "context": "c."}\n'), qa=True)
    assert (examples[0].question, examples[0].context) == ("q?", "c.")


@pytest.mark.parametrize(
    "name, text, qa, message",
    [
        ("bad.jsonl", '{"text_a": "ok"}\n{"text_a": "broken"\n', False, r"bad.jsonl: line 2: invalid JSON"),
        ("list.jsonl", '["text"]\n', False, r"list.jsonl: line 1: expected a JSON object"),
        (
            "miss.jsonl",
            '{"text_a": "ok"}\n{"sentence": "x"}\n',
            False,
            r"miss.jsonl: line 2: missing key 'text_a'",
        ),
        ("type.jsonl", '{"text_a": 5}\n', False, r"type.jsonl: line 1: key 'text_a' must be a string"),
        (
            "qa.jsonl",
            '{"question": "q", "context": "  "}\n',
            True,
            r"qa.jsonl: line 1: key 'context' is empty",
        ),
        ("empty.txt", "", False, r"empty.txt: no input lines"),
        ("blank.txt", "\n  \n\n", False, r"blank.txt: no input lines"),
        (
            "head.tsv",
            "label\tsomething\n1\tx\n",
            False,
            r"head.tsv: line 1: the TSV header needs a column text_a",
        ),
        ("cols.tsv", "text_a\ttext_b\nx\ty\nlonely\n", False, r"cols.tsv: line 3: 1 columns"),
        ("plain.txt", "what?\n", True, r"plain.txt: plain text input is for single-text tasks"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, name, text, qa, message):
    with pytest.raises(ServingError, match=message):
        read_examples(write(tmp_path / name, text), qa=qa)


def test_non_utf8_input_names_the_line(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ServingError, match=r"latin.txt: line 2: not UTF-8"):
        read_examples(str(path), qa=False)


# ============================================================================================ outputs vs dygraph
TEXTS = ["the film was great !", "johns works in new york and smithed paris", "bad", "what a movie , mary"]


def test_classification_labels_and_probs_equal_dygraph(root):
    prefix, model, tokenizer = exported(root, "cls")
    predictor = Predictor(prefix, threads=1, batch_size=3)
    pairs = [None, "mary lives in london", None, "the city"]
    results = predictor.predict(
        [Example(line=k, text_a=t, text_b=p) for k, (t, p) in enumerate(zip(TEXTS, pairs))]
    )
    labels = ["neg", "neu", "pos"]
    for result, text, pair in zip(results, TEXTS, pairs):
        (logits,), _ = dygraph(model, tokenizer, text, pair)
        want = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert set(result) == {"label", "probs"}
        assert np.abs(np.array(result["probs"]) - want).max() <= TOL
        assert result["label"] == labels[int(np.argmax(logits))]
    assert (
        len({r["label"] for r in results}) > 1
        or max(abs(a - b) for a, b in zip(*[r["probs"] for r in results[:2]])) > 1e-3
    )


def test_regression_score_and_encoder_embedding_equal_dygraph(root):
    prefix, model, tokenizer = exported(root, "reg")
    results = Predictor(prefix, threads=1).predict([Example(line=k, text_a=t) for k, t in enumerate(TEXTS)])
    for result, text in zip(results, TEXTS):
        (logits,), _ = dygraph(model, tokenizer, text)
        assert set(result) == {"score"} and abs(result["score"] - float(logits[0])) <= TOL
    prefix, model, tokenizer = exported(root, "encoder")
    results = Predictor(prefix, threads=1).predict([Example(line=k, text_a=t) for k, t in enumerate(TEXTS)])
    for result, text in zip(results, TEXTS):
        (_, pooled), _ = dygraph(model, tokenizer, text)
        assert np.abs(np.array(result["embedding"]) - pooled).max() <= TOL


def test_entities_follow_the_dygraph_tags_of_each_word(root):
    # Words as units (fine-tuning's ``ner_units: words``): each word is tokenised on its own and takes
    # the tag of its first piece (before: the whole text was tokenised and pieces grouped by "##").
    prefix, model, tokenizer = exported(root, "ner")
    labels = ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]
    texts = TEXTS + ["john smith and  mary smith live in london , paris and new york city"]
    results = Predictor(prefix, threads=1, batch_size=2, ner_units="words").predict(
        [Example(line=k, text_a=t) for k, t in enumerate(texts)]
    )
    found = 0
    for result, text in zip(results, texts):
        spans = [m.span() for m in re.finditer(r"\S+", text)]
        pieces = [tokenizer.encode_texts([text[a:b]])[0] for a, b in spans]
        ids = [tokenizer.cls_token_id] + [i for p in pieces for i in p] + [tokenizer.sep_token_id]
        with paddle.no_grad():
            logits = model(paddle.to_tensor([ids]), paddle.to_tensor([[0] * len(ids)])).numpy()[0]
        first_piece = np.cumsum([1] + [len(p) for p in pieces[:-1]])
        tags = [labels[int(np.argmax(logits[position]))] for position in first_piece]
        want = [
            {"type": kind, "start": spans[first][0], "end": spans[last - 1][1]}
            for kind, first, last in bio_entities(tags)
        ]
        got = result["entities"]
        assert [{k: e[k] for k in ("type", "start", "end")} for e in got] == want
        for entity in got:
            assert entity["text"] == text[entity["start"] : entity["end"]]
        found += len(got)
    assert found > 0  # the random tagger finds something, so the comparison above is not vacuous
    assert any(p.startswith("##") for p in tokenizer.tokenize(TEXTS[1]))


def test_entities_over_characters_point_into_the_text(root):
    # The default units (no finetune_settings.json): every non-whitespace character, as MSRA-NER.
    prefix, _, _ = exported(root, "ner")
    predictor = Predictor(prefix, threads=1)
    assert predictor.ner_units == "characters"
    texts = ["john  smith\tlives in new york", "mary"]
    results = predictor.predict([Example(line=k, text_a=t) for k, t in enumerate(texts)])
    assert predictor.stats.windows == 2 and predictor.stats.split == 0
    for result, text in zip(results, texts):
        for entity in result["entities"]:
            assert entity["text"] == text[entity["start"] : entity["end"]]
            assert not text[entity["start"]].isspace() and not text[entity["end"] - 1].isspace()
    long_text = " ".join(TEXTS * 3)  # more characters than one 48-token window holds
    predictor.predict([Example(line=1, text_a=long_text)])
    assert predictor.stats.split == 1


def test_answers_are_the_best_spans_across_windows(root):
    prefix, model, tokenizer = exported(root, "qa")  # max_seq_len 48
    # Fine-tuning's answer rules now (before: any span of any window): a start counts only in the window
    # where its token has most context. n_best 48 >= any window makes every such span a candidate, so a
    # brute-force search is the reference.
    predictor = Predictor(prefix, threads=1, batch_size=4, doc_stride=8, max_answer_len=5, n_best=48)
    words = "john smith lives in new york , mary lives in london and works in paris .".split()
    context = " ".join(words * 5)
    # Shuffled long contexts too, so that some best spans lie beyond the first window (random weights
    # decide where): mapping a later window back into the context is then checked as well.
    rng = np.random.RandomState(0)
    shuffled = [" ".join(rng.permutation(words * 5)) for _ in range(6)]
    examples = [
        Example(line=1, question="who lives in london ?", context=context, id="long"),
        Example(line=2, question="where is the film", context="the film was great in paris !"),
    ] + [Example(line=3 + i, question="who works in paris ?", context=c) for i, c in enumerate(shuffled)]
    results = predictor.predict(examples)
    assert predictor.stats.split == 7 and predictor.stats.windows > 8
    features, _ = build_mrc_features(
        [MrcExample(str(k), e.question, e.context, []) for k, e in enumerate(examples)],
        tokenizer,
        max_seq_len=48,
        doc_stride=8,
        max_query_len=64,
        training=False,
    )
    beyond_first_window = 0
    for k, (example, result) in enumerate(zip(examples, results)):
        best = None
        windows = [f for f in features if f.example_index == k]
        for w, feature in enumerate(windows):
            with paddle.no_grad():
                start, end = model(
                    paddle.to_tensor([feature.input_ids]), paddle.to_tensor([feature.token_type_ids])
                )
            start, end = start.numpy()[0], end.numpy()[0]
            context_positions = [i for i, o in enumerate(feature.offsets) if o is not None]
            for i in context_positions:
                if not feature.max_context[i]:  # a token is scored in the window where it has most context
                    continue
                for j in context_positions:
                    if i <= j < i + 5:
                        score = float(start[i] + end[j])
                        if best is None or score > best[0] + 1e-6:
                            best = (score, feature.offsets[i][0], feature.offsets[j][1], w)
        beyond_first_window += best[3] > 0
        answer = result["answer"]
        assert abs(answer["score"] - best[0]) <= TOL
        assert (answer["start"], answer["end"]) == best[1:3]
        assert answer["text"] == example.context[answer["start"] : answer["end"]]
        assert len(tokenizer.tokenize(answer["text"])) <= 5
    assert results[0]["id"] == "long" and "id" not in results[1]
    assert beyond_first_window > 0


def test_long_questions_are_cut_and_counted(root):
    prefix, _, _ = exported(root, "qa")  # max_seq_len 48
    predictor = Predictor(prefix, threads=1, max_query_len=3)
    predictor.predict(
        [
            Example(line=4, question="who lives in new york ?", context="john lives in new york"),
            Example(line=5, question="who", context="mary"),
        ]
    )
    assert predictor.stats.summary("question_answering") == (
        "2 examples, 2 windows (0 contexts split into several), 1 questions truncated (lines 4)"
    )
    # A question longer than the window keeps max_seq_len - 4 tokens, so context still fits (one token
    # per window here); fine-tuning refuses such a question instead.
    predictor = Predictor(prefix, threads=1)
    result = predictor.predict(
        [Example(line=1, question=" ".join(["who"] * 60), context="john lives in paris")]
    )
    assert result[0]["answer"]["text"] in ("john", "lives", "in", "paris")
    assert predictor.stats.truncated == 1 and predictor.stats.windows == 4


def test_long_inputs_are_truncated_and_counted(root):
    prefix, model, tokenizer = exported(root, "cls")
    predictor = Predictor(prefix, threads=1, max_seq_len=12)
    long_text = " ".join(TEXTS * 3)
    results = predictor.predict([Example(line=1, text_a=long_text), Example(line=2, text_a="bad")])
    assert predictor.stats.truncated == 1 and predictor.stats.examples == 2
    (logits,), enc = dygraph(model, tokenizer, long_text, max_length=12)
    assert len(enc["input_ids"]) == 12
    assert np.abs(np.array(results[0]["probs"]) - softmax(logits)).max() <= TOL
    with pytest.raises(ServingError, match="max_position_embeddings"):
        Predictor(prefix, threads=1, max_seq_len=65)


# ============================================================================================ the CLI
def test_cli_writes_one_line_per_example_and_reports_truncation(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "cls")
    source = write(tmp_path / "in.txt", "the film was great !\n\n" + " ".join(TEXTS * 4) + "\nbad\n")
    output = tmp_path / "preds.jsonl"
    code, out, err = run_predict(
        [
            "--model",
            prefix,
            "--input",
            source,
            "--output",
            str(output),
            "--max_seq_len",
            "16",
            "--threads",
            "1",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0 and out == ""
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(set(json.loads(line)) == {"label", "probs"} for line in lines)
    assert (
        "3 examples" in err
        and "1 truncated to max_seq_len (lines 3)" in err
        and "1 blank lines skipped" in err
    )
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_cli_malformed_line_exits_2_and_writes_nothing(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "cls")
    source = write(tmp_path / "in.jsonl", '{"text_a": "good"}\n{"text_a": "bad",}\n')
    output = tmp_path / "preds.jsonl"
    code, out, err = run_predict(
        ["--model", prefix, "--input", source, "--output", str(output)], monkeypatch, capsys
    )
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"error: {source}: line 2: invalid JSON (Expecting property name enclosed in double quotes at column 18)"
    )
    assert os.listdir(tmp_path) == ["in.jsonl"]


def test_cli_empty_input_exits_2(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "reg")
    code, out, err = run_predict(
        ["--model", prefix, "--input", write(tmp_path / "e.jsonl", "\n")], monkeypatch, capsys
    )
    assert code == 2 and out == "" and "e.jsonl: no input lines" in err and "Traceback" not in err


def test_cli_output_that_cannot_be_a_file_exits_2(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "reg")
    source = write(tmp_path / "in.txt", "a text\n")
    folder = tmp_path / "out_dir"
    folder.mkdir()
    code, out, err = run_predict(
        ["--model", prefix, "--input", source, "--output", str(folder)], monkeypatch, capsys
    )
    assert code == 2 and out == "" and "out_dir: is a directory" in err and "Traceback" not in err
    assert os.listdir(folder) == []
    under_a_file = str(tmp_path / "in.txt" / "preds.jsonl")
    code, _, err = run_predict(
        ["--model", prefix, "--input", source, "--output", under_a_file], monkeypatch, capsys
    )
    assert code == 2 and "is not a directory" in err


def test_cli_model_folder_problems_exit_2(root, tmp_path, monkeypatch, capsys):
    prefix, _, _ = exported(root, "ner")
    source = write(tmp_path / "in.txt", "john smith\n")

    no_meta = copy_export(prefix, str(tmp_path / "no_meta"))
    os.remove(no_meta + META_SUFFIX)
    code, _, err = run_predict(["--model", no_meta, "--input", source], monkeypatch, capsys)
    assert code == 2 and "inference.predictor.json: not found (an incomplete export" in err

    no_labels = copy_export(prefix, str(tmp_path / "no_labels"))
    with open(no_labels + META_SUFFIX, encoding="utf-8") as f:
        meta = json.load(f)
    meta["labels"] = None
    with open(no_labels + META_SUFFIX, "w", encoding="utf-8") as f:
        json.dump(meta, f)
    code, _, err = run_predict(["--model", no_labels, "--input", source], monkeypatch, capsys)
    assert code == 2 and "no label map (key 'labels')" in err

    no_vocab = copy_export(prefix, str(tmp_path / "no_vocab"))
    os.remove(os.path.join(tmp_path / "no_vocab", "vocab.txt"))
    code, _, err = run_predict(["--model", no_vocab, "--input", source], monkeypatch, capsys)
    assert code == 2 and "no vocab.txt" in err

    other_vocab = copy_export(prefix, str(tmp_path / "other_vocab"))
    with open(os.path.join(tmp_path / "other_vocab", "vocab.txt"), "a", encoding="utf-8") as f:
        f.write("extra\n")
    code, _, err = run_predict(["--model", other_vocab, "--input", source], monkeypatch, capsys)
    assert code == 2 and "differs from the vocabulary this model was exported with" in err


# ============================================================================================ real data
def test_real_sst2_and_chnsenticorp_end_to_end(shared_data, tmp_path):
    """Exports and predicts through both CLIs on real dev rows (random weights: labels are arbitrary)."""
    rows = (
        open(os.path.join(shared_data, "glue", "SST-2", "dev.tsv"), encoding="utf-8")
        .read()
        .splitlines()[1:41]
    )
    sst = tmp_path / "sst2.jsonl"
    sst.write_text("".join(json.dumps({"text_a": r.split("\t")[0]}) + "\n" for r in rows), encoding="utf-8")
    zh_rows = (
        open(os.path.join(shared_data, "clue", "chnsenticorp", "dev.tsv"), encoding="utf-8")
        .read()
        .splitlines()[:31]
    )
    # The benchmark file's text_a column behind an id column, without its labels ("0"/"1"): this
    # random model's labels are neg/neu/pos, and a gold label the model does not have is an error.
    zh = tmp_path / "chnsenticorp.tsv"
    texts_zh = [row.split("\t")[1] for row in zh_rows[1:]]
    zh.write_text("qid\ttext_a\n" + "".join(f"{k}\t{t}\n" for k, t in enumerate(texts_zh)), encoding="utf-8")

    for name, vocab, source, count, max_len in (
        ("en", "vocab_en.txt", sst, 40, 128),
        ("zh", "vocab_zh.txt", zh, 30, 64),
    ):
        directory, model, tokenizer = build_checkpoint(
            str(tmp_path / name),
            "cls",
            vocab_file=os.path.join(shared_data, "ernie_official", vocab),
            max_position_embeddings=128,
        )
        export = subprocess.run(
            [
                sys.executable,
                "tools/export.py",
                "--model_dir",
                directory,
                "--output",
                str(tmp_path / f"exp-{name}") + "/",
                "--max_seq_len",
                str(max_len),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert export.returncode == 0, export.stderr
        output = tmp_path / f"{name}.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "tools/predict.py",
                "--model",
                str(tmp_path / f"exp-{name}"),
                "--input",
                str(source),
                "--output",
                str(output),
                "--batch_size",
                "8",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        assert f"wrote {count} lines" in done.stderr
        lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == count
        texts = [json.loads(x)["text_a"] for x in sst.read_text().splitlines()] if name == "en" else texts_zh
        for result, text in list(zip(lines, texts))[:5]:
            assert result["label"] in ("neg", "neu", "pos") and abs(sum(result["probs"]) - 1) < 1e-6
            (logits,), _ = dygraph(model, tokenizer, text, max_length=max_len)
            assert np.abs(np.array(result["probs"]) - softmax(logits)).max() <= TOL
        if name == "zh":
            assert (
                "truncated to max_seq_len" in done.stderr and " 0 truncated" not in done.stderr
            )  # long reviews


def test_real_msra_ner_and_cmrc2018_spans_point_into_the_text(shared_data, tmp_path):
    vocab = os.path.join(shared_data, "ernie_official", "vocab_zh.txt")
    lines = (
        open(os.path.join(shared_data, "clue", "msra_ner", "dev.tsv"), encoding="utf-8")
        .read()
        .splitlines()[1:21]
    )
    # Raw text, as a user sends it: the file joins its labelled characters with \x02.
    texts = [line.split("\t")[0].replace("\x02", "") for line in lines]
    directory, model, tokenizer = build_checkpoint(str(tmp_path / "ner"), "ner", vocab_file=vocab)
    export_model(directory, str(tmp_path / "ner-export" / "inference"), max_seq_len=64)
    results = Predictor(str(tmp_path / "ner-export"), threads=1, batch_size=8).predict(
        [Example(line=k, text_a=t) for k, t in enumerate(texts)]
    )
    assert len(results) == 20 and sum(len(r["entities"]) for r in results) > 0
    for result, text in zip(results, texts):
        for entity in result["entities"]:
            assert (
                entity["type"] in ("PER", "LOC") and entity["text"] == text[entity["start"] : entity["end"]]
            )
            assert 0 <= entity["start"] < entity["end"] <= len(text)

    with open(os.path.join(shared_data, "clue", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        data = json.load(f)["data"]
    examples = []
    for article in data[:3]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"][:2]:
                examples.append(
                    Example(
                        line=len(examples), question=qa["question"], context=paragraph["context"], id=qa["id"]
                    )
                )
    directory, _, _ = build_checkpoint(str(tmp_path / "qa"), "qa", vocab_file=vocab)
    export_model(directory, str(tmp_path / "qa-export" / "inference"), max_seq_len=64)
    predictor = Predictor(
        str(tmp_path / "qa-export"), threads=1, batch_size=16, doc_stride=32, max_answer_len=20
    )
    results = predictor.predict(examples)
    assert predictor.stats.split > 0  # real paragraphs are longer than one 64-token window
    for result, example in zip(results, examples):
        answer = result["answer"]
        assert result["id"] == example.id
        assert answer["text"] == example.context[answer["start"] : answer["end"]] and answer["text"]
        assert isinstance(answer["score"], float)


def test_glue_pair_tsvs_read_as_their_pairs(tmp_path):
    """QNLI (question, sentence) and QQP (question1, question2) as sentence pairs, in fine-tuning's order."""
    qnli = tmp_path / "qnli.tsv"
    qnli.write_text(
        "index\tquestion\tsentence\tlabel\n0\tWho came?\tAnna came.\tentailment\n", encoding="utf-8"
    )
    (example,), _ = read_examples(str(qnli), qa=False)
    assert (example.text_a, example.text_b) == ("Who came?", "Anna came.")
    qqp = tmp_path / "qqp.tsv"
    qqp.write_text(
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tA?\tB?\t0\n", encoding="utf-8"
    )
    (example,), _ = read_examples(str(qqp), qa=False)
    assert (example.text_a, example.text_b) == ("A?", "B?")
