"""A word longer than WordPiece's limit (which the tokenizer turns into one [UNK]) is a skipped input with
its reason, file, line and a short example, not a silent [UNK] under "skipped nothing"."""

from __future__ import annotations

import os

import pytest

from data_tools.build import build_shards, summary
from ernie.tokenizer import ErnieTokenizer

LIMIT = 100  # WordPiece's max_input_chars_per_word in PaddleNLP and BERT
REASON = f"word longer than {LIMIT} characters (sentence dropped)"


@pytest.fixture(scope="module")
def vocab(shared_data):
    return {lang: os.path.join(shared_data, "ernie_official", f"vocab_{lang}.txt") for lang in ("en", "zh")}


def test_the_limit_is_the_tokenizers(vocab):
    # The build's limit must be where the tokenizer starts giving [UNK] for a word it could spell.
    tokenizer = ErnieTokenizer(vocab["en"])
    assert "[UNK]" not in tokenizer.tokenize("a" * LIMIT)
    assert tokenizer.tokenize("a" * (LIMIT + 1)) == ["[UNK]"]


def test_overlong_words_are_skipped_with_file_line_and_example(vocab, tmp_path):
    corpus = tmp_path / "c.txt"
    lines = [
        "A good first sentence.",
        "A second one about Paris.",
        "x" * 5_000_000,  # a 5 MB line without spaces
        "Short one here.",
        "The hash is " + "ab12" * 40 + " and nothing more.",  # a 160-character word inside a sentence
        "Exactly at the limit: " + "a" * LIMIT + " stays.",
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = build_shards([str(corpus)], vocab["en"], str(tmp_path / "out"), "en", "knowledge_masking")
    skipped = manifest["counts"]["skipped"]
    assert list(skipped) == [REASON]
    assert skipped[REASON] == {
        "count": 2,
        "examples": [
            f"{corpus}:3 (5,000,000 characters: 'xxxxxxxxxxxxxxxxxxxx...')",
            f"{corpus}:5 (160 characters: 'ab12ab12ab12ab12ab12...')",
        ],
    }
    assert manifest["tasks"]["knowledge_masking"]["sequences"] == 4
    assert manifest["counts"]["read"]["sentences kept"] == 4
    text = summary(manifest)
    assert "skipped nothing" not in text
    assert f"skipped 2:\n        {REASON}: 2 (first at {corpus}:3 (5,000,000 characters" in text


def test_chinese_text_has_no_overlong_words_but_a_latin_run_does(vocab, tmp_path):
    corpus = tmp_path / "zh.txt"
    # A long run of ideographs is no long word (the tokenizer splits every ideograph), a Latin run is.
    long_chinese = "我们" * 200 + "。"
    corpus.write_text(
        "今天天气很好。\n" + long_chinese + "\n" + "x" * 5_000_000 + "\n他们也来了。\n", encoding="utf-8"
    )
    out = str(tmp_path / "out")
    manifest = build_shards(
        [str(corpus)], vocab["zh"], out, "zh", "knowledge_masking", max_sentence_tokens=512
    )
    assert manifest["counts"]["skipped"] == {
        REASON: {"count": 1, "examples": [f"{corpus}:3 (5,000,000 characters: 'xxxxxxxxxxxxxxxxxxxx...')"]}
    }
    assert manifest["tasks"]["knowledge_masking"]["sequences"] == 3


def test_ir_rows_with_an_overlong_word_are_skipped(vocab, tmp_path):
    ir = tmp_path / "ir.tsv"
    ir.write_text("query one\ttitle one\t2\nquery two\t" + "y" * 300 + "\t1\nq\tt\t0\n", encoding="utf-8")
    manifest = build_shards([], vocab["zh"], str(tmp_path / "out"), "zh", "ir_relevance", ir=[str(ir)])
    skipped = manifest["counts"]["skipped"]
    assert skipped == {
        f"IR query or title with a word longer than {LIMIT} characters": {
            "count": 1,
            "examples": [f"{ir}:2 (300 characters: 'yyyyyyyyyyyyyyyyyyyy...')"],
        }
    }
    assert manifest["tasks"]["ir_relevance"]["class_counts"] == {"0": 1, "1": 0, "2": 1}
