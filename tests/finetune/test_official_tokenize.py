"""The MRC metrics' word tokenizer against ``nltk.word_tokenize``, the one the official CMRC 2018 script calls.

The official script lower-cases the text and word-tokenises each run of non-Chinese characters with
``nltk.word_tokenize``: Punkt's English sentence split, then NLTK's Treebank rules per sentence. The table
was worked out by hand from those rules and runs everywhere; on the real dev files the runs of every answer
and of context spans (what a model predicts) are compared with nltk itself when it is installed.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from ernie.finetune import metrics as M

# (text, nltk.word_tokenize(text.lower()) worked out by hand)
HAND_WORKED = [
    # A period inside the run ends a sentence and is split off; at the end of the run, always.
    ("5 km. next", ["5", "km", ".", "next"]),
    ("5 km.", ["5", "km", "."]),
    ("the end. ", ["the", "end", "."]),
    # Abbreviations of the English model keep their period inside the run, not at its end.
    ("u.s. army", ["u.s.", "army"]),
    ("U.S. Army", ["u.s.", "army"]),
    ("u.s.", ["u.s", "."]),
    ("dr. smith and mrs. jones", ["dr.", "smith", "and", "mrs.", "jones"]),
    ("st. louis, missouri.", ["st.", "louis", ",", "missouri", "."]),
    ("ph.d. student", ["ph.d.", "student"]),
    ("a.m. to p.m.", ["a.m.", "to", "p.m", "."]),
    ("ex-gen. x", ["ex-gen.", "x"]),  # the part after the last hyphen is an abbreviation
    # Not in the model: a sentence break.
    ("e.g. the", ["e.g", ".", "the"]),
    ("no. 1", ["no", ".", "1"]),
    # A number or an initial before a lower-case word is no break; before a digit it stays one.
    ("in 1990. the war", ["in", "1990.", "the", "war"]),
    ("1. 2", ["1", ".", "2"]),
    ("j. k. rowling", ["j.", "k.", "rowling"]),
    ("a. 1", ["a", ".", "1"]),
    # ... except before the few words the model only ever saw lower-case at a sentence start.
    ("2. administrators", ["2", ".", "administrators"]),
    # A letter that stays upper-case after lower(): no break after an initial, a break after a number.
    ("x. ℝ", ["x.", "ℝ"]),
    ("1. ℝ", ["1", ".", "ℝ"]),
    # Ellipses.
    ("wait... what", ["wait", "...", "what"]),
    ("wait...", ["wait", "..."]),
    # Clitics and contractions.
    ("don't", ["do", "n't"]),
    ("can't stop", ["ca", "n't", "stop"]),
    ("cannot", ["can", "not"]),
    ("gonna", ["gon", "na"]),
    ("china's economy", ["china", "'s", "economy"]),
    ("jordan's.", ["jordan", "'s", "."]),
    ("they're", ["they", "'re"]),
    ("'tis", ["'", "tis"]),
    ("rock 'n' roll", ["rock", "'n", "'", "roll"]),
    # Quotes: opening ones become ``, closing ones ''.
    ('"hello" world', ["``", "hello", "''", "world"]),
    ("'hello' world", ["'", "hello", "'", "world"]),
    ('ends. "next"', ["ends", ".", "``", "next", "''"]),
    # Closing punctuation after a sentence's period stays with that sentence.
    ('he said "go." then', ["he", "said", "``", "go", ".", "''", "then"]),
    ("(ends.) next", ["(", "ends", ".", ")", "next"]),
    # Brackets, symbols, numbers.
    ("(1990)", ["(", "1990", ")"]),
    ("well-known", ["well-known"]),
    ("50%", ["50", "%"]),
    ("3.5%", ["3.5", "%"]),
    ("$100", ["$", "100"]),
    ("a & b", ["a", "&", "b"]),
    ("2.0", ["2.0"]),
    ("3.14.", ["3.14", "."]),
    ("3,000 cars", ["3,000", "cars"]),
    ("a,b", ["a", ",", "b"]),
    ("46,600m²", ["46,600m²"]),
    ("why? because", ["why", "?", "because"]),
    ("", []),
    ("  ", []),
]


@pytest.mark.parametrize("text, expected", HAND_WORKED)
def test_word_tokenize_hand_worked(text, expected):
    assert M.word_tokenize(text) == expected


# ---------------------------------------------------------------------------------------------- real dev files
MRC_PUNCTUATION = set("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
CJK = re.compile("[\u4e00-\u9fa5]")
SPAN_CHARS = 30


def runs(text: str, remove_punctuation: bool) -> list[str]:
    """The strings the official script hands to nltk.word_tokenize for ``text`` (its character walk)."""
    out, pending = [], ""
    for char in text.lower().strip():
        if remove_punctuation and char in MRC_PUNCTUATION:
            continue
        if CJK.match(char) or char in MRC_PUNCTUATION:
            out.append(pending)
            pending = ""
        else:
            pending += char
    return [run for run in out + [pending] if run]


def dev_runs(shared_data: str, every_context: int) -> list[str]:
    """Runs of every gold answer, and of every span of up to SPAN_CHARS characters of the contexts.

    A span's runs are pieces of the context's runs, so every substring of those (up to SPAN_CHARS
    characters) and every whole run stands for the predictions a model can make.
    """
    found: set[str] = set()
    for name in ("cmrc2018/cmrc2018_dev.json", "drcd/DRCD_dev.json"):
        with open(os.path.join(shared_data, "clue", name), encoding="utf-8") as f:
            paragraphs = [p for article in json.load(f)["data"] for p in article["paragraphs"]]
        for remove in (True, False):
            for paragraph in paragraphs:
                for qa in paragraph["qas"]:
                    for answer in qa["answers"]:
                        found.update(runs(answer["text"], remove))
            for paragraph in paragraphs[::every_context]:
                for run in runs(paragraph["context"], remove):
                    found.add(run)
                    for start in range(len(run)):
                        for end in range(start + 1, min(len(run), start + SPAN_CHARS) + 1):
                            found.add(run[start:end])
    return sorted(found)


@pytest.fixture
def nltk_without_downloads(monkeypatch):
    nltk = pytest.importorskip("nltk")
    if tuple(int(part) for part in re.findall(r"\d+", nltk.__version__)[:3]) < (3, 10, 4):
        # Older releases split a single quote before a word, and en and em dashes, differently.
        pytest.skip(f"nltk {nltk.__version__}: the metrics follow nltk 3.10.4's rules")

    def refuse(*args, **kwargs):
        raise AssertionError("nltk tried to download data")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(nltk.downloader, "download", refuse)
    return nltk


def mismatches(ours, theirs, texts: list[str]) -> list:
    return [(text, ours(text), theirs(text)) for text in texts if ours(text) != theirs(text)]


@pytest.mark.slow
def test_same_words_as_nltk_and_its_english_model_on_the_dev_files(shared_data, nltk_without_downloads):
    nltk = nltk_without_downloads
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        pytest.skip("nltk's punkt_tab English model is not installed (it is never downloaded here)")
    texts = dev_runs(shared_data, every_context=1)
    assert len(texts) > 100_000
    assert mismatches(M.word_tokenize, nltk.word_tokenize, texts) == []


@pytest.mark.slow
def test_same_words_as_nltks_code_with_our_model_facts_on_the_dev_files(
    shared_data, nltk_without_downloads, monkeypatch, tmp_path
):
    # nltk's own Punkt and Treebank code given the part of the English model that lower-cased text reaches
    # (ABBREVIATIONS, LOWER_CASE_STARTERS): our code against theirs where the model's data files are not
    # installed (an empty data path: any look-up would fail). A quarter of the contexts keeps it short.
    nltk = nltk_without_downloads
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    from ernie.finetune import official_tokenize as tokenizer

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    params = PunktParameters()
    params.abbrev_types = set(tokenizer.ABBREVIATIONS)
    for word in tokenizer.LOWER_CASE_STARTERS:
        params.add_ortho_context(word, 16)  # seen lower-case at a sentence start, never upper-case
    sentences, words = PunktSentenceTokenizer(params), NLTKWordTokenizer()

    def nltk_code(text: str) -> list[str]:
        lowered = text.lower()
        return [word for sentence in sentences.tokenize(lowered) for word in words.tokenize(sentence)]

    texts = dev_runs(shared_data, every_context=4)
    assert len(texts) > 40_000
    assert mismatches(M.word_tokenize, nltk_code, texts) == []
    assert mismatches(M.word_tokenize, nltk_code, [text for text, _ in HAND_WORKED]) == []
