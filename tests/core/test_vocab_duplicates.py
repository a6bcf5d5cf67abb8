"""Vocabularies with a token on two lines: the ids are PaddleNLP 2.8.1's (the last line wins), the
duplicates are named in a warning, and nothing sizes the vocabulary by its count of distinct tokens
(ids reach the line count)."""

from __future__ import annotations

import logging
import os

import pytest

from ernie.tokenizer import ErnieTokenizer, load_vocab
from tests.conftest import paddlenlp_or_skip

# 13 lines, 10 distinct tokens: [UNK] (ids 4 and 8), hello (5, 9) and [PAD] (0, 11) appear twice.
LINES = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "hello", "world", "##s", "[UNK]", "hello"]
LINES += ["foo", "[PAD]", "bar"]
# Worked by hand from the rule "a token's id is the number of its last line": ids 0, 4 and 5 name no token.
EXPECTED_IDS = {"[PAD]": 11, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "[UNK]": 8, "hello": 9}
EXPECTED_IDS |= {"world": 6, "##s": 7, "foo": 10, "bar": 12}
TEXTS = [
    "hello worlds foo bar",
    "Hello, zzz [UNK] world [PAD] [MASK] hellos",
    "bar hello [SEP] foo",
    "unknown words only",
]


@pytest.fixture
def vocab_dir(tmp_path):
    folder = tmp_path / "vocab"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return str(folder)


def test_the_last_line_of_a_duplicate_gives_its_id(vocab_dir):
    path = os.path.join(vocab_dir, "vocab.txt")
    assert load_vocab(path) == EXPECTED_IDS
    for use_fast in (False, True):
        tokenizer = ErnieTokenizer(path, use_fast=use_fast)
        assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (11, 8)
        assert tokenizer("hello worlds zzz [PAD]")["input_ids"] == [1, 9, 6, 7, 8, 11, 2]
        assert tokenizer.convert_ids_to_tokens([9, 8, 11, 12]) == ["hello", "[UNK]", "[PAD]", "bar"]


def test_ids_and_tokens_identical_to_paddlenlp(vocab_dir):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieTokenizer as PaddleNLPTokenizer

    # from_pretrained, the way users load it (it also keeps [PAD] etc. written in the text whole).
    reference = PaddleNLPTokenizer.from_pretrained(vocab_dir)
    for use_fast in (False, True):
        ours = ErnieTokenizer.from_pretrained(vocab_dir, use_fast=use_fast)
        for text in TEXTS:
            assert ours(text)["input_ids"] == reference(text)["input_ids"], (use_fast, text)
        assert ours(TEXTS[0], TEXTS[1])["input_ids"] == reference(TEXTS[0], TEXTS[1])["input_ids"]
        for name in ("pad", "unk", "cls", "sep", "mask"):
            assert getattr(ours, f"{name}_token_id") == getattr(reference, f"{name}_token_id"), name
        assert ours.convert_tokens_to_ids(LINES) == reference.convert_tokens_to_ids(LINES)
        # id -> token: the same map (PaddleNLP knows no token for the ids of overridden lines).
        known = sorted(reference.vocab.idx_to_token)
        assert ours.convert_ids_to_tokens(known) == reference.convert_ids_to_tokens(known)
        assert sorted(ours.ids_to_tokens) == known


def test_the_duplicates_are_named_in_a_warning(vocab_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="ernie"):
        ErnieTokenizer(os.path.join(vocab_dir, "vocab.txt"))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1, messages
    assert "3 duplicate tokens" in messages[0]
    for token, lines in (("[UNK]", "5 and 9"), ("hello", "6 and 10"), ("[PAD]", "1 and 12")):
        assert f"{token!r} (lines {lines})" in messages[0], messages[0]
    assert os.path.join(vocab_dir, "vocab.txt") in messages[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ernie"):
        load_vocab(_write(vocab_dir, "plain.txt", LINES[:8]))  # no duplicate, no warning
    assert caplog.records == []


def test_many_duplicates_are_counted_and_the_first_few_named(vocab_dir, caplog):
    path = _write(vocab_dir, "many.txt", LINES + [f"w{k}" for k in range(30)] * 2)
    with caplog.at_level(logging.WARNING, logger="ernie"):
        vocab = load_vocab(path)
    message = caplog.records[-1].getMessage()
    assert "33 duplicate tokens" in message and "'w0'" in message and "'w29'" not in message
    assert vocab["w29"] == len(LINES) + 59


def test_no_id_reaches_the_vocabulary_size(vocab_dir):
    for use_fast in (False, True):
        tokenizer = ErnieTokenizer(os.path.join(vocab_dir, "vocab.txt"), use_fast=use_fast)
        assert tokenizer.vocab_size == len(tokenizer) == len(LINES)  # max id + 1, not 10 distinct tokens
        ids = [i for text in TEXTS for i in tokenizer(text, "bar bar")["input_ids"]]
        assert max(ids) == 12 and max(ids) < tokenizer.vocab_size
        padded = tokenizer(["bar", "bar foo hello"], padding=True)["input_ids"]
        assert max(max(row) for row in padded) < tokenizer.vocab_size


def test_reference_and_fast_paths_agree(vocab_dir):
    path = os.path.join(vocab_dir, "vocab.txt")
    fast = ErnieTokenizer(path, use_fast=True)
    assert fast.uses_fast_path
    reference = ErnieTokenizer(path, use_fast=False)
    texts = TEXTS + ["hello " * 50, "Bar, foo; WORLDS!", "hellohello worldsss"]
    assert fast.encode_texts(texts, return_offsets=True) == reference.encode_texts(texts, return_offsets=True)


def test_save_pretrained_keeps_the_ids_for_paddlenlp_and_us(vocab_dir, tmp_path):
    ours = ErnieTokenizer.from_pretrained(vocab_dir)
    ours.save_pretrained(str(tmp_path / "saved"))
    # The file as PaddleNLP saves it too: the same lines, so every reader gets the same ids.
    with open(tmp_path / "saved" / "vocab.txt", encoding="utf-8") as f:
        assert f.read().splitlines() == LINES
    assert ErnieTokenizer.from_pretrained(str(tmp_path / "saved")).vocab == EXPECTED_IDS


def test_shard_manifest_sizes_the_vocabulary_by_its_id_limit(vocab_dir, tmp_path):
    from data_tools.build import build_shards

    corpus = tmp_path / "c.txt"
    corpus.write_text("hello worlds foo bar\nbar foo hello\n", encoding="utf-8")
    manifest = build_shards([str(corpus)], os.path.join(vocab_dir, "vocab.txt"), str(tmp_path / "out"), "en")
    assert manifest["vocab"]["size"] == manifest["vocab"]["id_limit"] == len(LINES)


def test_pretraining_checks_the_model_against_the_id_limit(vocab_dir, tmp_path):
    pytest.importorskip("paddle")
    from ernie.engine import resolve_settings
    from ernie.errors import ConfigError, ErnieError
    from tasks.config import load_pretrain_config
    from tasks.objective import PretrainingObjective
    from tests.fixtures.pretrain.toy_shards import tiny_model_config

    def objective_error(vocab_size: int) -> ErnieError:
        """The error of a run whose shard folder is missing: the vocabulary is checked before it."""
        model = tiny_model_config(str(tmp_path / f"model{vocab_size}.json"), vocab_size=vocab_size)
        config = tmp_path / f"run{vocab_size}.yaml"
        config.write_text(
            f"model_config: {model}\nvocab: {vocab_dir}/vocab.txt\noutput_dir: {tmp_path / 'out'}\n"
            f"data: {{dir: {tmp_path / 'no_shards'}}}\ntrainer: {{global_batch_size: 2}}\n"
            "tasks: {knowledge_masking: {task_id: 0}}\nstages: [{name: s, tasks: {knowledge_masking: 2}}]\n",
            encoding="utf-8",
        )
        loaded = load_pretrain_config(str(config))
        with pytest.raises(ErnieError) as caught:
            PretrainingObjective(loaded, resolve_settings(loaded, world_size=1), str(config))
        return caught.value

    # 10 distinct tokens but ids up to 12: 12 embeddings are too few, 13 are enough.
    error = objective_error(12)
    assert isinstance(error, ConfigError) and "'model.vocab_size' (12)" in str(error), str(error)
    assert "(13 ids)" in str(error)
    assert "model.vocab_size" not in str(objective_error(13))


def _write(folder: str, name: str, lines: list[str]) -> str:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
