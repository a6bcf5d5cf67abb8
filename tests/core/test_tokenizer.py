"""ErnieTokenizer: ids identical to PaddleNLP's ErnieTokenizer on real text, both vocabularies.

Chinese lines come from the official ERNIE 1.0 pre-training demo data, decoded with its vocab;
English lines from the GLUE copies and the English corpora in ERNIE_TEST_DATA.
"""

from __future__ import annotations

import csv
import glob
import gzip
import os
import random

import pytest

from ernie.tokenizer import (
    BasicTokenizer,
    ErnieTokenizer,
    TokenizerError,
    fast_path_unsafe_ranges,
    load_vocab,
)
from tests.conftest import paddlenlp_or_skip

MIN_LINES = 10_000


def zh_lines(shared_data: str) -> list[str]:
    """Real Chinese text: the demo pre-training instances decoded back to characters and words."""
    vocab = [
        line.rstrip("\n").split("\t")[0]
        for line in open(os.path.join(shared_data, "ernie_official", "vocab_zh.txt"), encoding="utf-8")
    ]
    lines = []
    for name in ("demo_train_set.gz", "demo_valid_set.gz"):
        with gzip.open(os.path.join(shared_data, "ernie_official", name), "rt", encoding="utf-8") as f:
            for record in f:
                text = ""
                for token_id in map(int, record.split(";")[0].split()):
                    token = vocab[token_id]
                    if token_id <= 3 or token == "[UNK]":
                        continue
                    if token.startswith("##"):
                        text += token[2:]
                    elif (
                        text
                        and text[-1].isascii()
                        and text[-1].isalnum()
                        and token[0].isascii()
                        and token[0].isalnum()
                    ):
                        text += " " + token
                    else:
                        text += token
                lines.append(text)
    return lines


def en_lines(shared_data: str) -> list[str]:
    lines = []
    for path in sorted(glob.glob(os.path.join(shared_data, "glue", "*", "*.tsv"))):
        with open(path, encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                lines.extend(cell for cell in row if len(cell) > 20)
    for path in sorted(glob.glob(os.path.join(shared_data, "corpus", "en", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            lines.extend(line.strip() for line in f if line.strip())
    return lines


@pytest.fixture(scope="module")
def tokenizer_pair(shared_data, tmp_path_factory):
    """(ours, PaddleNLP's) per language. PaddleNLP reads only one-token-per-line vocab files."""
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieTokenizer as PaddleNLPTokenizer

    pairs = {}
    for lang, name in (("zh", "vocab_zh.txt"), ("en", "vocab_en.txt")):
        folder = tmp_path_factory.mktemp(f"vocab_{lang}")
        tokens = [
            line.rstrip("\n").split("\t")[0]
            for line in open(os.path.join(shared_data, "ernie_official", name), encoding="utf-8")
        ]
        (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
        # from_pretrained: the way users load PaddleNLP tokenizers (it also keeps [MASK] etc. whole).
        ours = ErnieTokenizer(os.path.join(shared_data, "ernie_official", name))
        pairs[lang] = (ours, PaddleNLPTokenizer.from_pretrained(str(folder)))
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ids_identical_to_paddlenlp_on_real_lines(lang, shared_data, tokenizer_pair):
    ours, reference = tokenizer_pair[lang]
    lines = zh_lines(shared_data) if lang == "zh" else en_lines(shared_data)
    assert len(lines) >= MIN_LINES
    if lang == "en":
        # Accents, curly quotes and other scripts are where the fast and the reference paths part (the
        # fast path hands such lines to the reference one): a third of the English lines carry some.
        special = [line for line in lines if not line.isascii()]
        assert len(special) >= 4000
        lines = special[:4000] + [line for line in lines if line.isascii()][:8000]
    lines = lines[: max(MIN_LINES, 12_000)]
    got = ours(lines)["input_ids"]
    mismatches = [i for i, line in enumerate(lines) if got[i] != reference(line)["input_ids"]]
    assert mismatches == [], f"{len(mismatches)} of {len(lines)} lines differ, e.g. {lines[mismatches[0]]!r}"
    # The reference path agrees too (the fast path handled most of these lines).
    reference_path = ours.encode_texts(lines[:3000], use_fast=False)
    assert reference_path == [ids[1:-1] for ids in got[:3000]]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pairs_with_truncation_identical_to_paddlenlp(lang, shared_data, tokenizer_pair):
    ours, reference = tokenizer_pair[lang]
    lines = zh_lines(shared_data) if lang == "zh" else en_lines(shared_data)
    rng = random.Random(0)
    firsts = rng.sample(lines, 2500)
    seconds = rng.sample(lines, 2500)
    for max_length in (32, 64, 128):
        got = ours(firsts, seconds, max_length=max_length, truncation=True)
        for k in range(len(firsts)):
            expected = reference(firsts[k], seconds[k], max_length=max_length, truncation=True)
            assert got["input_ids"][k] == expected["input_ids"], (max_length, firsts[k], seconds[k])
            assert got["token_type_ids"][k] == expected["token_type_ids"]
    singles = ours(firsts[:1000], max_length=16, truncation="longest_first")
    for k in range(1000):
        assert singles["input_ids"][k] == reference(firsts[k], max_length=16, truncation=True)["input_ids"]


@pytest.mark.parametrize(
    "len_a, len_b, budget", [(10, 3, 8), (3, 10, 8), (7, 7, 9), (7, 6, 10), (5, 0, 2), (9, 9, 3)]
)
def test_longest_first_closed_form_equals_token_by_token(len_a, len_b, budget):
    a, b = len_a, len_b
    while a + b > budget:  # PaddleNLP's loop: the longer side loses one, the second one on ties
        if a > b:
            a -= 1
        else:
            b -= 1
    assert ErnieTokenizer.truncate_pair(len_a, len_b, budget, "longest_first") == (a, b)


@pytest.fixture
def small_vocab(tmp_path):
    tokens = [
        "[PAD]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "[UNK]",
        "un",
        "##aff",
        "##able",
        "hello",
        "world",
        ",",
        "!",
        "中",
        "国",
        "cafe",
        "e",
        "°",
        "c",
        "€",
        "5",
    ]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def test_hand_worked_tokenization(small_vocab):
    for use_fast in (True, False):
        tokenizer = ErnieTokenizer(small_vocab, use_fast=use_fast)
        assert tokenizer.tokenize("Unaffable, HELLO world!") == [
            "un",
            "##aff",
            "##able",
            ",",
            "hello",
            "world",
            "!",
        ]
        assert tokenizer.tokenize("中国 Café") == ["中", "国", "cafe"]  # CJK split, accent stripped
        assert tokenizer.tokenize("5°C €5") == ["5", "°", "c", "€", "5"]  # symbols split off, as PaddleNLP
        assert tokenizer.tokenize("xyz hello") == ["[UNK]", "hello"]
        encoded = tokenizer("Hello 中国", "world", return_offsets_mapping=True, return_attention_mask=True)
        assert encoded["input_ids"] == [1, 8, 12, 13, 2, 9, 2]
        assert encoded["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1]
        assert encoded["offset_mapping"] == [(0, 0), (0, 5), (6, 7), (7, 8), (0, 0), (0, 5), (0, 0)]
        batch = tokenizer(["hello", "hello world !"], padding=True, return_attention_mask=True)
        assert batch["input_ids"] == [[1, 8, 2, 0, 0], [1, 8, 9, 11, 2]]
        assert batch["attention_mask"] == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_offsets_point_at_the_source_characters(shared_data, tokenizer_pair):
    ours, _ = tokenizer_pair["en"]
    lines = en_lines(shared_data)[:3000]
    for use_fast in (True, False):
        ids, offsets = ours.encode_texts(lines, return_offsets=True, use_fast=use_fast)
        for line, line_ids, spans in zip(lines, ids, offsets):
            for token_id, (start, end) in zip(line_ids, spans):
                piece = ours.ids_to_tokens[token_id]
                if piece == "[UNK]":
                    continue
                source = BasicTokenizer(True).tokenize(line[start:end])
                # The source span, normalised, is the piece (without its ## continuation mark).
                assert "".join(source) == piece.removeprefix("##"), (line, piece, line[start:end])


def test_vocab_formats_and_special_ids(shared_data, tmp_path):
    zh = ErnieTokenizer(os.path.join(shared_data, "ernie_official", "vocab_zh.txt"))
    assert (zh.pad_token_id, zh.cls_token_id, zh.sep_token_id, zh.mask_token_id, zh.unk_token_id) == (
        0,
        1,
        2,
        3,
        17963,
    )
    assert zh.convert_ids_to_tokens(4) == "，"
    en = ErnieTokenizer(os.path.join(shared_data, "ernie_official", "vocab_en.txt"))
    assert (en.pad_token_id, en.unk_token_id, en.cls_token_id, en.sep_token_id, en.mask_token_id) == (
        0,
        100,
        101,
        102,
        103,
    )
    en.save_pretrained(str(tmp_path / "saved"))
    again = ErnieTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert again.vocab == en.vocab and again.do_lower_case
    assert load_vocab(str(tmp_path / "saved" / "vocab.txt")) == load_vocab(
        os.path.join(shared_data, "ernie_official", "vocab_en.txt")
    )


def test_bad_vocab_files_name_file_and_line(tmp_path):
    no_unk = tmp_path / "no_unk.txt"
    no_unk.write_text("[PAD]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    with pytest.raises(TokenizerError, match=r"no_unk.txt: the vocabulary has no \[UNK\]"):
        ErnieTokenizer(str(no_unk))
    three_fields = tmp_path / "bad.txt"
    three_fields.write_text("[PAD]\t0\n[CLS]\t1\tx\n")
    with pytest.raises(TokenizerError, match="bad.txt: line 2"):
        load_vocab(str(three_fields))
    with pytest.raises(TokenizerError, match="no such vocabulary file"):
        ErnieTokenizer(str(tmp_path / "missing.txt"))


def test_fast_path_gate_covers_no_ascii_and_no_cjk():
    unsafe = fast_path_unsafe_ranges(True)
    # ASCII texts skip the per-character check, and CJK ideographs must go the fast way.
    assert all(low > 0x7F for low, _ in unsafe)
    assert not any(low <= 0x4E00 <= high or low <= 0x9FA5 <= high for low, high in unsafe)
