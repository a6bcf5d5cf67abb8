"""The corpus vocabulary builder, and the bundled demo vocabularies it made."""

import os
import subprocess
import sys

import pytest

from data_tools.build import DEMO_DIR
from data_tools.vocab import SPECIAL_TOKENS, build_vocab
from ernie.tokenizer import ErnieTokenizer

DEMO_INPUTS = {
    "en": [os.path.join(DEMO_DIR, "en.txt")],
    "zh": [os.path.join(DEMO_DIR, "zh.txt"), os.path.join(DEMO_DIR, "zh_ir.tsv")],
}


def test_small_corpus_by_hand(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("The cat sat.\nthe Cat ran!\n猫\n")
    tokens = build_vocab([str(path)], max_size=100)
    chars = sorted(set("thecatsrn.!") | {"猫"})
    assert tokens[:5] == list(SPECIAL_TOKENS)
    assert tokens[5 : 5 + len(chars)] == chars
    continuations = [f"##{c}" for c in chars if c != "猫"]  # CJK characters stand alone
    assert tokens[5 + len(chars) : 5 + len(chars) + len(continuations)] == continuations
    # Then words by count (the: 2, cat: 2), ties in order of first sighting; single characters are already in.
    assert tokens[5 + len(chars) + len(continuations) :] == ["the", "cat", "sat", "ran"]
    assert build_vocab([str(path)], max_size=len(tokens) - 2)[-2:] == ["the", "cat"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bundled_demo_vocab_is_the_builders_output_and_covers_the_corpus(lang):
    path = os.path.join(DEMO_DIR, f"vocab_{lang}.txt")
    with open(path, encoding="utf-8") as f:
        bundled = f.read().split("\n")[:-1]
    assert bundled == build_vocab(DEMO_INPUTS[lang], max_size=4000)
    tokenizer = ErnieTokenizer(path)
    assert tokenizer.vocab["[PAD]"] == 0
    unk = tokenizer.vocab["[UNK]"]
    for file in DEMO_INPUTS[lang]:
        with open(file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                text = " ".join(line.rstrip("\n").split("\t")[:-1]) if file.endswith(".tsv") else line
                ids = tokenizer(text)["input_ids"]
                assert unk not in ids, f"{file}:{number}"


def test_cli_writes_the_file_and_rejects_bad_utf8(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("hello world\n")
    bad.write_bytes(b"fine\n\xff\xfe broken\n")
    out = tmp_path / "vocab.txt"
    run = [sys.executable, "-m", "data_tools", "vocab", "--output", str(out), "--input"]
    proc = subprocess.run([*run, str(good)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().split("\n")[:-1] == build_vocab([str(good)])
    out.unlink()
    proc = subprocess.run([*run, str(good), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and f"{bad}:2: invalid UTF-8" in proc.stderr
    assert not out.exists()
