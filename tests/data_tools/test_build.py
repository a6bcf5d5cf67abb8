"""data_tools build/inspect/verify end to end: determinism, round trips on real text, the official ERNIE 1.0
demo data, PaddleNLP's reader and writer as the reference of the file format, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

from data_tools import build as build_module
from data_tools.build import build_shards, demo_corpus
from data_tools.indexed import IndexedDataset, IndexedDatasetWriter
from data_tools.inspect import render_marked
from data_tools.shards import IGNORE, ShardError, TaskShardWriter, open_task, read_manifest, verify
from data_tools.sources import join_wrapped
from data_tools.text import split_sentences
from ernie.errors import UsageError
from ernie.tokenizer import ErnieTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def vocab(shared_data):
    return {lang: os.path.join(shared_data, "ernie_official", f"vocab_{lang}.txt") for lang in ("en", "zh")}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data_tools", *args], cwd=ROOT, capture_output=True, text=True
    )


def tree_bytes(root: str) -> dict[str, bytes]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


# ---------------------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_workers_give_byte_identical_shards(lang, vocab, tmp_path):
    inputs, ir = demo_corpus(lang)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        # Small chunks: dozens of them, so the two workers really interleave.
        build_shards(inputs, vocab[lang], str(out), lang, "all", workers=workers, ir=ir, chunk_chars=1500)
        outputs.append(tree_bytes(str(out)))
    assert sorted(outputs[0]) == sorted(outputs[1])
    assert len(outputs[0]) > 10
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], name


def test_demo_corpus_feeds_every_task(vocab, tmp_path):
    for lang in ("en", "zh"):
        inputs, ir = demo_corpus(lang)
        manifest = build_shards(inputs, vocab[lang], str(tmp_path / lang), lang, ir=ir)
        expected = list(build_module.LANGUAGE_TASKS[lang]) + (["ir_relevance"] if ir else [])
        assert sorted(manifest["tasks"]) == sorted(expected)
        for task, entry in manifest["tasks"].items():
            assert entry["documents"] >= 25, (lang, task)
        counts = manifest["tasks"]["discourse_relation"]["class_counts"]
        assert sum(v > 0 for v in counts.values()) >= 6, counts
        assert manifest["counts"]["skipped"] == {}
        fields = open_task(str(tmp_path / lang), "knowledge_masking").fields
        for name in ("phrase", "entity"):
            assert int(np.count_nonzero(np.asarray(fields[name]._data) == 1)) > 50, (lang, name)


# ---------------------------------------------------------------------------------------------- round trips on real text
def normalized(text: str) -> str:
    """What an uncased BERT/ERNIE tokenizer keeps of a text, spaces removed (independent of our code)."""
    out = []
    for char in text.lower():
        if char.isspace() or unicodedata.category(char).startswith("C") or char in "\x00\ufffd":
            continue
        out.extend(d for d in unicodedata.normalize("NFD", char) if unicodedata.category(d) != "Mn")
    return "".join(out)


def decoded_pattern(tokens: list[str]) -> re.Pattern:
    """Tokens glued back (## pieces attached); [UNK] stands for any run of characters."""
    parts = []
    for token in tokens:
        if token == "[UNK]":
            parts.append(".+?")
        else:
            parts.append(re.escape(token[2:] if token.startswith("##") else token))
    return re.compile("".join(parts))


def test_round_trip_english_lines(shared_data, vocab, tmp_path):
    path = os.path.join(shared_data, "corpus", "en", "pg11_alice_in_wonderland.txt")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    documents, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    build_shards([path], vocab["en"], str(tmp_path / "out"), "en", "knowledge_masking")
    shards = open_task(str(tmp_path / "out"), "knowledge_masking")
    inverse = {
        i: t
        for t, i in __import__("ernie.tokenizer", fromlist=["load_vocab"]).load_vocab(vocab["en"]).items()
    }
    assert shards.num_documents == len(documents)
    assert [len(shards.document(d)) for d in range(len(documents))] == [len(d) for d in documents]
    sentences = [s for d in documents for s in d]
    for k, sentence in enumerate(sentences):
        tokens = [inverse[int(i)] for i in shards.ids[k]]
        assert decoded_pattern(tokens).fullmatch(normalized(sentence)), (k, sentence)


def test_round_trip_chinese_documents(shared_data, vocab, tmp_path):
    path = os.path.join(shared_data, "corpus", "zh", "hongloumeng.txt")
    with open(path, encoding="utf-8") as f:
        paragraphs = [line.strip() for line in f.read().splitlines()[:500]]
    sample = tmp_path / "hlm.txt"
    sample.write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    manifest = build_shards(
        [str(sample)],
        vocab["zh"],
        str(tmp_path / "out"),
        "zh",
        "knowledge_masking",
        input_format="docs",
        max_sentence_tokens=1000,
    )
    kept = [p for p in paragraphs if p]
    assert manifest["counts"]["skipped"]["empty document"]["count"] == len(paragraphs) - len(kept)
    shards = open_task(str(tmp_path / "out"), "knowledge_masking")
    inverse = {
        i: t
        for t, i in __import__("ernie.tokenizer", fromlist=["load_vocab"]).load_vocab(vocab["zh"]).items()
    }
    assert shards.num_documents == len(kept)
    for d, paragraph in enumerate(kept):
        tokens = [inverse[int(i)] for s in shards.document(d) for i in shards.ids[s]]
        assert decoded_pattern(tokens).fullmatch(normalized(paragraph)), (d, paragraph[:40])
        assert len(shards.document(d)) == len(split_sentences(paragraph, "zh"))
    # Word boundaries are jieba's: the word starts of a sentence are where jieba's words start.
    import jieba

    sentence = split_sentences(kept[3], "zh")[0]
    s = shards.document(3)[0]
    starts = np.cumsum([0] + [len(w) for w in jieba.cut(sentence)])[:-1]
    word = np.asarray(shards.fields["word"][s])
    assert sentence == "".join(sentence.split()) and len(word) == len(
        sentence
    )  # one token per character here
    assert np.nonzero(word == 1)[0].tolist() == starts.tolist()


def test_official_ernie1_demo_data_imports_with_its_counts(shared_data, vocab, tmp_path):
    path = os.path.join(shared_data, "ernie_official", "demo_train_set.gz")
    tokens = boundaries = lines = 0
    first_segments = None
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            ids, _, _, seg, _ = line.rstrip("\n").split(";")
            seg_labels = [int(x) for x in seg.split()]
            tokens += sum(1 for x in seg_labels if x >= 0)
            boundaries += seg_labels.count(0)
            if first_segments is None:
                ids = [int(x) for x in ids.split()]
                sep = ids.index(2)
                first_segments = (ids[1:sep], ids[sep + 1 : -1], seg_labels[1:sep])
            lines += 1
    manifest = build_shards([path], vocab["zh"], str(tmp_path / "out"), "zh")
    assert list(manifest["tasks"]) == ["knowledge_masking"]
    assert manifest["inputs"][0]["format"] == "ernie1"
    shards = open_task(str(tmp_path / "out"), "knowledge_masking")
    word = shards.fields["word"]
    total_ones = sum(int(np.count_nonzero(word[k] == 1)) for k in range(len(word)))
    assert shards.num_documents == lines and len(shards.ids) == 2 * lines
    assert int(shards.ids.sequence_lengths.sum()) == tokens
    assert total_ones == boundaries
    a, b, seg_a = first_segments
    ids, fields = shards.span(0, 2)  # the first line's two segments as one view
    assert ids.tolist() == a + b and fields["phrase"].tolist() == [0] * len(ids)
    ids, fields = shards.sentence(1)
    assert ids.tolist() == b and fields["word"].tolist() == word[1].tolist()
    assert shards.ids[0].tolist() == a and shards.ids[1].tolist() == b
    assert word[0].tolist() == [1 if x == 0 else 2 for x in seg_a]


def test_ernie1_files_mixed_with_text_add_to_knowledge_masking_only(shared_data, vocab, tmp_path):
    # The expectation is two separate builds: the mixed one's masking shard is the text's followed by
    # the ERNIE 1.0 lines', and every other task is the text's alone, byte for byte.
    official = tmp_path / "official.txt"
    with gzip.open(os.path.join(shared_data, "ernie_official", "demo_train_set.gz"), "rt") as f:
        official.write_text("".join(next(f) for _ in range(40)), encoding="utf-8")
    text = demo_corpus("zh")[0][0]
    for name, inputs, formats in (
        ("text", [text], ["lines"]),
        ("official", [str(official)], ["ernie1"]),
        ("mixed", [text, str(official)], ["lines", "ernie1"]),
    ):
        args = ["--input", *inputs, "--format", *formats, "--output", str(tmp_path / name)]
        done = cli("build", "--lang", "zh", "--vocab", vocab["zh"], "--quiet", *args)
        assert done.returncode == 0, done.stderr
    mixed, alone = read_manifest(str(tmp_path / "mixed")), read_manifest(str(tmp_path / "text"))
    assert [i["format"] for i in mixed["inputs"]] == ["lines", "ernie1"]
    assert set(mixed["tasks"]) == set(alone["tasks"]) and len(alone["tasks"]) == 5
    for task in alone["tasks"]:
        if task != "knowledge_masking":
            assert tree_bytes(str(tmp_path / "mixed" / task)) == tree_bytes(str(tmp_path / "text" / task))
    parts = [open_task(str(tmp_path / name), "knowledge_masking") for name in ("text", "official")]
    both = open_task(str(tmp_path / "mixed"), "knowledge_masking")
    assert both.num_documents == parts[0].num_documents + 40 == sum(p.num_documents for p in parts)
    assert [both.ids[k].tolist() for k in range(len(both.ids))] == [
        p.ids[k].tolist() for p in parts for k in range(len(p.ids))
    ]
    for name in ("word", "phrase", "entity"):
        assert np.concatenate([both.fields[name][k] for k in range(len(both.ids))]).tolist() == [
            x for p in parts for k in range(len(p.ids)) for x in p.fields[name][k].tolist()
        ]


def test_formats_must_be_one_or_one_per_input(vocab, tmp_path):
    text = demo_corpus("zh")[0][0]
    args = ["--lang", "zh", "--vocab", vocab["zh"], "--input", text, "--output", str(tmp_path / "o")]
    done = cli("build", *args, "--format", "lines", "ernie1")
    assert done.returncode == 2 and "2 formats for 1 --input files" in done.stderr
    assert not os.path.exists(tmp_path / "o")


# ---------------------------------------------------------------------------------------------- file format
def test_paddlenlp_reads_our_ids_and_writes_the_same_bytes(vocab, tmp_path):
    pytest.importorskip("paddlenlp")
    from paddlenlp.data.indexed_dataset import MMapIndexedDataset, MMapIndexedDatasetBuilder

    inputs, _ = demo_corpus("en")
    build_shards(inputs, vocab["en"], str(tmp_path / "out"), "en", "knowledge_masking,discourse_relation")
    for task in ("knowledge_masking", "discourse_relation"):
        ours = IndexedDataset(str(tmp_path / "out" / task / "ids"))
        theirs = MMapIndexedDataset(str(tmp_path / "out" / task / "ids"))
        assert len(theirs) == len(ours) > 100
        for k in range(len(ours)):
            assert theirs[k].tolist() == ours[k].tolist()
        assert theirs.doc_idx.tolist() == ours.document_index.tolist()
        # PaddleNLP's writer, given the same sequences and documents, writes the same two files.
        prefix = str(tmp_path / f"ref_{task}")
        builder = MMapIndexedDatasetBuilder(prefix + ".bin", dtype=ours.dtype.type)
        for d in range(ours.num_documents):
            for s in ours.document(d):
                builder.add_item(ours[s])
            builder.end_document()
        builder.finalize(prefix + ".idx")
        for ext in (".bin", ".idx"):
            with open(prefix + ext, "rb") as f, open(str(tmp_path / "out" / task / "ids") + ext, "rb") as g:
                assert f.read() == g.read(), ext


def test_bulk_writes_equal_one_by_one_writes(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 9, size=300)
    values = rng.integers(0, 30000, size=int(lengths.sum()))
    sizes = [3, 1, 7, 89, 200]
    with IndexedDatasetWriter(str(tmp_path / "a"), np.uint16) as writer:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        k = 0
        for size in sizes:
            for _ in range(size):
                writer.add_sequence(values[bounds[k] : bounds[k + 1]])
                k += 1
            writer.end_document()
    with IndexedDatasetWriter(str(tmp_path / "b"), np.uint16) as writer:
        writer.add_sequences(values[: bounds[100]], lengths[:100], [3, 1, 7, 89])
        writer.add_sequences(values[bounds[100] :], lengths[100:], [200])
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    pairs = TaskShardWriter(str(tmp_path / "p"), "ir_relevance", np.uint16)
    pairs.add_pairs(values[:10], [4, 6], [2])
    pairs.add_pair(values[10:12], values[12:15], 1)
    pairs.finalize()
    labels = np.load(tmp_path / "p" / "ir_relevance" / "labels.npy")
    assert labels.dtype == np.int64 and labels.tolist() == [2, 1]


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input_is_counted_with_file_and_line(vocab, tmp_path):
    corpus = tmp_path / "bad.txt"
    long_sentence = " ".join(["word"] * 40)
    corpus.write_bytes(
        b"A good first sentence.\nA second one about Paris.\n\xff\xfe broken bytes\n\n"
        + long_sentence.encode()
        + b"\nShort one.\n\n\x01\x02\n"
    )
    ir = tmp_path / "ir.tsv"
    ir.write_text(
        "query one\ttitle one\t2\nquery two\ttitle two\t7\nonly two\tfields\n\nq\tt\t0\n", encoding="utf-8"
    )
    manifest = build_shards(
        [str(corpus)], vocab["en"], str(tmp_path / "out"), "en", "all", ir=[str(ir)], max_sentence_tokens=30
    )
    skipped = manifest["counts"]["skipped"]
    assert skipped["invalid UTF-8"] == {"count": 1, "examples": [f"{corpus}:3 (byte 1)"]}
    assert skipped["sentence longer than 30 tokens"] == {"count": 1, "examples": [f"{corpus}:5"]}
    assert skipped["sentence without tokens"] == {"count": 1, "examples": [f"{corpus}:8"]}
    assert skipped["bad IR label (expected 0, 1 or 2)"]["examples"] == [f"{ir}:2 (label '7')"]
    assert skipped["IR row without 3 fields (query<TAB>title<TAB>label)"]["examples"] == [
        f"{ir}:3 (2 fields)"
    ]
    assert skipped["empty IR row"]["examples"] == [f"{ir}:4"]
    assert manifest["tasks"]["ir_relevance"]["class_counts"] == {"0": 1, "1": 0, "2": 1}
    assert manifest["tasks"]["knowledge_masking"]["sequences"] == 3  # good first, second, short one
    assert manifest["tasks"]["knowledge_masking"]["documents"] == 2


def test_empty_documents_and_bad_json_are_reported(vocab, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("First document. It has two sentences.\n\n   \nSecond document here.\n", encoding="utf-8")
    jsonl = tmp_path / "c.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as f:
        f.write(
            json.dumps({"text": "One doc.\nTwo lines."}) + "\n{not json\n" + json.dumps({"body": "x"}) + "\n"
        )
        f.write(json.dumps({"text": ""}) + "\n")
    manifest = build_shards(
        [str(docs)], vocab["en"], str(tmp_path / "a"), "en", "sentence_reordering", input_format="docs"
    )
    assert manifest["counts"]["skipped"]["empty document"]["examples"] == [f"{docs}:2", f"{docs}:3"]
    assert manifest["tasks"]["sentence_reordering"]["documents"] == 2
    assert manifest["tasks"]["sentence_reordering"]["sequences"] == 3
    manifest = build_shards([str(jsonl)], vocab["en"], str(tmp_path / "b"), "en", "sentence_reordering")
    skipped = manifest["counts"]["skipped"]
    assert manifest["inputs"][0]["format"] == "jsonl"
    assert [k for k in skipped if k.startswith("invalid JSON")] and skipped["no string 'text' field"][
        "examples"
    ] == [f"{jsonl}:3"]
    assert skipped["empty document"]["examples"] == [f"{jsonl}:4"]
    assert manifest["tasks"]["sentence_reordering"]["sequences"] == 2


def test_cli_rejects_bad_arguments_with_exit_2(vocab, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("One sentence.\n", encoding="utf-8")
    cases = [
        (["--vocab", str(tmp_path / "missing_vocab.txt")], "missing_vocab.txt"),
        (["--vocab", vocab["en"], "--tasks", "knowledge_masking,nonsense"], "nonsense"),
        (["--vocab", vocab["en"], "--tasks", "ir_relevance"], "--ir"),
        (["--vocab", vocab["en"], "--input", str(tmp_path / "nope.txt")], "nope.txt"),
    ]
    for extra, needle in cases:
        args = ["build", "--lang", "en", "--input", str(corpus), "--output", str(tmp_path / "o"), *extra]
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        assert (
            result.stderr.startswith("error: ")
            and needle in result.stderr
            and "Traceback" not in result.stderr
        )
        assert len(result.stderr.strip().splitlines()) == 1
        assert not os.path.exists(tmp_path / "o")
    (tmp_path / "exists").mkdir()
    result = cli(
        "build",
        "--lang",
        "en",
        "--input",
        str(corpus),
        "--vocab",
        vocab["en"],
        "--output",
        str(tmp_path / "exists"),
    )
    assert result.returncode == 2 and "--overwrite" in result.stderr


def test_verify_names_a_truncated_or_flipped_file(vocab, tmp_path):
    inputs, _ = demo_corpus("en")
    out = tmp_path / "out"
    result = cli(
        "build", "--lang", "en", "--input", *inputs, "--vocab", vocab["en"], "--output", str(out), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert "wrote   knowledge_masking" in result.stderr and "skipped nothing" in result.stderr
    assert cli("verify", str(out)).returncode == 0

    damaged = out / "token_document" / "tdr.bin"
    original = damaged.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    damaged.write_bytes(bytes(flipped))
    result = cli("verify", str(out))
    assert result.returncode == 2 and str(damaged) in result.stderr and "sha256" in result.stderr

    damaged.write_bytes(original)
    ids = out / "knowledge_masking" / "ids.bin"
    ids.write_bytes(ids.read_bytes()[:-10])
    result = cli("verify", str(out))
    assert result.returncode == 2 and str(ids) in result.stderr
    with pytest.raises(ShardError, match="ids.bin"):
        open_task(str(out), "knowledge_masking")


def test_verify_catches_out_of_range_labels_with_a_consistent_manifest(vocab, tmp_path):
    inputs, _ = demo_corpus("en")
    out = tmp_path / "out"
    build_shards(inputs, vocab["en"], str(out), "en", "capitalization")
    cap = out / "capitalization" / "cap.bin"
    data = bytearray(cap.read_bytes())
    data[0] = 7
    cap.write_bytes(bytes(data))
    manifest = read_manifest(str(out))  # re-hash so that only the value check can catch it
    from data_tools.shards import write_manifest

    write_manifest(str(out), {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    with pytest.raises(ShardError, match="value 7 is not a cap label"):
        verify(str(out))


def test_failed_build_leaves_nothing_behind(vocab, tmp_path, monkeypatch):
    inputs, _ = demo_corpus("en")
    calls = {"n": 0}
    original = build_module._write

    def failing(result, writers):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        original(result, writers)

    monkeypatch.setattr(build_module, "_write", failing)
    with pytest.raises(RuntimeError):
        build_shards(inputs, vocab["en"], str(tmp_path / "out"), "en", chunk_chars=500)
    assert os.listdir(tmp_path) == []


def test_a_build_that_keeps_nothing_is_an_error_and_writes_nothing(vocab, tmp_path):
    ir = tmp_path / "ir.tsv"
    ir.write_text("q\tt\t3\nq\tt\t-1\n", encoding="utf-8")
    with pytest.raises(
        UsageError, match=r"ir.tsv: no usable query-title row \(2 inputs skipped: bad IR label"
    ):
        build_shards([], vocab["zh"], str(tmp_path / "out"), "zh", ir=[str(ir)])
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": ""}\n{"text": "   "}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="empty.jsonl: no usable text"):
        build_shards([str(empty)], vocab["en"], str(tmp_path / "out"), "en")
    assert sorted(os.listdir(tmp_path)) == ["empty.jsonl", "ir.tsv"]


def test_gzipped_text_gives_the_same_shards_and_the_manifest_describes_the_build(vocab, tmp_path):
    import hashlib

    import data_tools

    inputs, _ = demo_corpus("en")
    zipped = tmp_path / "en.txt.gz"
    with open(inputs[0], "rb") as src, gzip.open(zipped, "wb") as dst:
        dst.write(src.read())
    plain = build_shards(inputs, vocab["en"], str(tmp_path / "plain"), "en", "knowledge_masking")
    packed = build_shards([str(zipped)], vocab["en"], str(tmp_path / "gz"), "en", "knowledge_masking")
    a, b = tree_bytes(str(tmp_path / "plain")), tree_bytes(str(tmp_path / "gz"))
    assert sorted(a) == sorted(b)
    for name in a:
        if name != "manifest.json":  # which names the inputs
            assert a[name] == b[name], name
    assert packed["tasks"] == plain["tasks"] and packed["inputs"][0]["format"] == plain["inputs"][0]["format"]
    with open(vocab["en"], "rb") as f:
        assert packed["vocab"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert packed["version"] == data_tools.__version__ and packed["language"] == "en"
    assert packed["settings"]["tasks"] == ["knowledge_masking"]
    for name, data in b.items():
        if name != "manifest.json":
            assert packed["files"][name]["sha256"] == hashlib.sha256(data).hexdigest(), name


def test_overwrite_replaces_the_old_build(vocab, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("First.\n", encoding="utf-8")
    out = tmp_path / "out"
    build_shards([str(corpus)], vocab["en"], str(out), "en", "sentence_reordering")
    corpus.write_text("First.\nSecond.\n", encoding="utf-8")
    manifest = build_shards([str(corpus)], vocab["en"], str(out), "en", "sentence_reordering", overwrite=True)
    assert manifest["tasks"]["sentence_reordering"]["sequences"] == 2
    assert sorted(os.listdir(tmp_path)) == ["c.txt", "out"]


def test_cli_mines_clause_markers_on_request(vocab, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("It was cold.\nBut the sun shone, so we walked home.\n", encoding="utf-8")
    counts = {}
    for extra in ([], ["--discourse-within-sentences"]):
        out = tmp_path / f"o{len(extra)}"
        args = ["build", "--lang", "en", "--input", str(corpus), "--vocab", vocab["en"], "--output", str(out)]
        result = cli(*args, "--tasks", "discourse_relation", "--quiet", *extra)
        assert result.returncode == 0, result.stderr
        manifest = read_manifest(str(out))
        assert manifest["settings"]["discourse_within_sentences"] == bool(extra)
        counts[bool(extra)] = {
            name: n for name, n in manifest["tasks"]["discourse_relation"]["class_counts"].items() if n
        }
    # The "But" sentence pairs with "It was cold." (contrast); ", so" adds (the sun shone, we walked home.).
    assert counts[False] == {"contrast": 1}
    assert counts[True] == {"contrast": 1, "result": 1}


# ---------------------------------------------------------------------------------------------- inspect / help
def test_inspect_shows_decoded_samples_with_labels(vocab, tmp_path):
    inputs, ir = demo_corpus("zh")
    out = tmp_path / "out"
    build_shards(inputs, vocab["zh"], str(out), "zh", ir=ir)
    result = cli("inspect", str(out), "--samples", "2")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for task in ("knowledge_masking", "token_document", "discourse_relation", "ir_relevance"):
        assert f"== {task}" in text
    assert re.search(r"entity .*\[[\u4e00-\u9fff]+\]", text)  # a bracketed Chinese entity
    assert re.search(r"label \d \((contrast|cause|result|example|addition|temporal|concession)\): ", text)


def test_inspect_shows_capitals_on_word_starts_and_tdr_marks():
    tokens = ["the", "cater", "##pil", "##lar", "said", ",", "alice"]
    cap = np.array([0, 1, 1, 1, 0, IGNORE, 1])  # every piece of "Caterpillar" carries its word's label
    assert render_marked(tokens, cap, "cap") == "the Caterpillar said <,> Alice"
    tdr = np.array([IGNORE, 1, 1, 1, 0, IGNORE, 0])
    assert render_marked(tokens, tdr, "tdr") == "<the> *caterpillar* said <,> alice"


def test_every_command_has_help():
    for command in ("build", "inspect", "verify"):
        result = cli(command, "--help")
        assert result.returncode == 0 and "usage:" in result.stdout


def test_the_detected_format_and_its_reason_are_printed_and_a_doubtful_one_is_flagged(vocab, tmp_path):
    paragraphs = tmp_path / "paragraphs.txt"  # a paragraph per line, read by default as a sentence per line
    paragraphs.write_text(
        "The river rose. However, the town stayed dry. People were relieved.\n"
        "The rain came back. Because of that, the roads closed. Nobody travelled.\n" * 20,
        encoding="utf-8",
    )
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(json.dumps({"text": "One document. It has two sentences."}) + "\n", encoding="utf-8")
    result = cli(
        "build", "--lang", "en", "--input", str(paragraphs), str(jsonl), "--vocab", vocab["en"],
        "--output", str(tmp_path / "out"), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"format  {paragraphs}: lines (auto: plain text, a sentence per line)" in result.stderr
    assert f"format  {jsonl}: jsonl (auto: the file name ends in .jsonl)" in result.stderr
    # Three sentences per line: the likely mistake is named with the flag that fixes it.
    assert re.search(
        rf"{paragraphs}: its lines hold 3.0 sentences on average; if each line is a paragraph, pass "
        "--format paragraphs",
        result.stderr,
    )
    manifest = read_manifest(str(tmp_path / "out"))
    assert manifest["inputs"][0]["format_reason"] == "auto: plain text, a sentence per line"


def test_hard_wrapped_text_is_flagged(vocab, tmp_path):
    wrapped = tmp_path / "book.txt"  # Project Gutenberg style: paragraphs wrapped at ~70 characters
    wrapped.write_text(
        "The river rose in the night and\nthe town stayed dry until the\nmorning came.\n\n" * 20
    )
    result = cli(
        "build", "--lang", "en", "--input", str(wrapped), "--vocab", vocab["en"],
        "--output", str(tmp_path / "out"), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 40 of the 60 non-blank lines stop mid-sentence and go on in the next one.
    assert f"{wrapped}: 67% of its lines stop mid-sentence" in result.stderr
    assert "pass --format paragraphs" in result.stderr


def test_paragraphs_format_joins_wrapped_lines_and_ends_documents_at_two_blank_lines(vocab, tmp_path):
    book = tmp_path / "book.txt"
    book.write_text(
        "CHAPTER I.\n\n\n"  # a heading alone, then a chapter break: a one-sentence document
        "The river rose in the\nnight. The town\nstayed dry.\n\n"  # paragraph 1: two sentences
        "People were relieved.\n"  # paragraph 2, same document
        "\n\n\n"
        "Rain came back.\n",  # the last document, no blank line at the end
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli(
        "build", "--lang", "en", "--input", str(book), "--vocab", vocab["en"], "--format", "paragraphs",
        "--tasks", "sentence_reordering", "--output", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shards = open_task(str(out), "sentence_reordering")
    assert shards.num_documents == 3
    tokenizer = ErnieTokenizer(vocab["en"])
    sentences = [
        [tokenizer.decode(shards.sentence(s)[0].tolist()) for s in shards.document(d)] for d in range(3)
    ]
    assert sentences == [
        ["chapter i."],
        ["the river rose in the night.", "the town stayed dry.", "people were relieved."],
        ["rain came back."],
    ]


def test_paragraph_lines_join_without_a_space_between_chinese_characters():
    assert join_wrapped(["他说：今天", "天气很好。"]) == "他说：今天天气很好。"
    assert join_wrapped(["The river", "rose."]) == "The river rose."
    assert join_wrapped(["看 Alice", "走了"]) == "看 Alice 走了"
