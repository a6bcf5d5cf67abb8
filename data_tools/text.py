"""Sentence splitting (zh, en) and the character classes the segmenters need.

Sentence splitting is used for inputs with one document per line (``--format docs``) and for JSONL
texts; plain-text input already has one sentence per line. The rules, in order of application:

* A line break always ends a sentence (JSONL texts may hold several lines).
* zh: a sentence ends after a run of ``。．｡！？!?…`` (``．`` is the full-width full stop some
  editions use) followed by any closing quotes or brackets (``”’」』）)》"'``). ``；`` and ``，``
  do not end a sentence. ASCII ``.`` does not either (it is a decimal point in Chinese text far
  more often than a full stop).
* en: a sentence ends after a run of ``.!?`` (plus closing quotes or brackets) that is followed by
  whitespace and then an upper-case letter, a digit or an opening quote/bracket, unless the
  terminator is a single ``.`` after an abbreviation from ``EN_ABBREVIATIONS`` (``Mr.``,
  ``e.g.``, ``U.S.``, ...) or after a single letter (an initial such as ``J.``).

Leading and trailing whitespace is stripped from every sentence and empty sentences are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

import numpy as np

from ernie.wordpiece import (
    MAX_CHARS_PER_WORD,
    is_chinese_char,
    is_control,
    is_punctuation,
    is_symbol,
    is_whitespace,
)

EN_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st sr jr gen col capt lt sgt rev mt ft hon pres gov sen rep messrs mme mlle
    e.g i.e etc vs cf al approx dept est fig no vol ed eds inc ltd co corp bros jan feb mar apr jun
    jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k u.n a.m p.m ph.d b.a m.a""".split()
)

_ZH_SPLIT = re.compile(r"[。．｡！？!?…]+[”’」』）)》\"']*")
_EN_CANDIDATE = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_EN_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of a document text by the rules in the module docstring."""
    sentences: list[str] = []
    for line in text.splitlines():
        if lang == "zh":
            pieces = _split_zh(line)
        else:
            pieces = _split_en(line)
        for piece in pieces:
            piece = piece.strip()
            if piece:
                sentences.append(piece)
    return sentences


def _split_zh(line: str) -> list[str]:
    pieces, start = [], 0
    for match in _ZH_SPLIT.finditer(line):
        pieces.append(line[start : match.end()])
        start = match.end()
    pieces.append(line[start:])
    return pieces


def _split_en(line: str) -> list[str]:
    pieces, start = [], 0
    for match in _EN_CANDIDATE.finditer(line):
        terminator = match.group()
        if terminator.rstrip("\"'”’)]") == ".":
            word = _EN_LAST_WORD.search(line, start, match.start())
            if word is not None:
                token = word.group(1).lower().rstrip(".")
                if token in EN_ABBREVIATIONS or len(token) == 1:
                    continue
        pieces.append(line[start : match.end()])
        start = match.end()
    pieces.append(line[start:])
    return pieces


# ---------------------------------------------------------------------------------------------- character classes
# "Joining" characters are those the tokenizer does NOT split a word at: letters and digits (other
# than CJK ideographs), combining marks, and the characters it deletes (controls, U+0000, U+FFFD),
# which glue their neighbours together. Whitespace, punctuation, symbols and CJK ideographs split.
# The table covers code points below TABLE_LIMIT; everything above counts as joining (no CJK range
# of the tokenizer lies there), which is the safe side: a joining character only ever sends a
# sentence to the exact (slower) tokenizer path.
TABLE_LIMIT = 0x30000


def _joining(cp: int) -> bool:
    char = chr(cp)
    if cp == 0 or cp == 0xFFFD or is_control(char):
        return True
    if is_whitespace(char) or char.isspace():
        return False
    return not (is_punctuation(char) or is_symbol(char) or is_chinese_char(cp))


def _mark_or_control(cp: int) -> bool:
    char = chr(cp)
    if char in "\t\n\r":
        return False
    return cp == 0 or cp == 0xFFFD or unicodedata.category(char)[0] in "MC"


_TABLES: dict[str, np.ndarray] = {}


def char_table(name: str) -> np.ndarray:
    """Boolean table over code points (``joining`` or ``mark_or_control``), built once per process."""
    table = _TABLES.get(name)
    if table is None:
        test = {"joining": _joining, "mark_or_control": _mark_or_control}[name]
        table = np.fromiter((test(cp) for cp in range(TABLE_LIMIT)), dtype=bool, count=TABLE_LIMIT)
        table = np.append(table, True)  # index TABLE_LIMIT stands for everything above
        _TABLES[name] = table
    return table


def code_points(text: str) -> np.ndarray:
    """Code points of ``text`` clipped to the tables' range."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    return np.minimum(cps, TABLE_LIMIT)


# ---------------------------------------------------------------------------------------------- overlong words
# Runs of characters none of which is ASCII whitespace or punctuation, a CJK ideograph of the main block or
# common CJK / full-width punctuation: all of those split words, so every word of the tokenizer lies inside
# one such run. The regex finds the rare long runs at C speed; only they are checked character by character.
_LONG_RUN = re.compile(
    "[^ \t\n\r!-/:-@\\[-`{-~\u3000-\u3002\u4e00-\u9fff\uff01-\uff0f\uff1a-\uff20]"
    f"{{{MAX_CHARS_PER_WORD + 1},}}"
)
EXAMPLE_CHARS = 20


def overlong_word(text: str) -> Optional[str]:
    """The first word of ``text`` longer than WordPiece's limit, described for the skip report by its
    length and first characters (``"5,000,000 characters: 'xxxx...'"``), or None.

    A word is a maximal run of joining characters (the tokenizer's word before WordPiece), its length
    counted in characters of ``text``. The tokenizer counts after deleting control characters and, when
    lower-casing, stripping accents, so a word within a few characters of the limit that holds such
    characters may be judged differently; the words this is for (a line without spaces, base64, hex
    dumps) are far past it.
    """
    if len(text) <= MAX_CHARS_PER_WORD:
        return None
    joining = char_table("joining")
    for match in _LONG_RUN.finditer(text):
        flags = np.concatenate(([False], joining[code_points(match.group())], [False]))
        edges = np.flatnonzero(flags[1:] != flags[:-1])
        starts, ends = edges[::2], edges[1::2]
        long = np.flatnonzero(ends - starts > MAX_CHARS_PER_WORD)
        if len(long):
            start = match.start() + int(starts[long[0]])
            length = int(ends[long[0]] - starts[long[0]])
            return f"{length:,} characters: {text[start : start + EXAMPLE_CHARS] + '...'!r}"
    return None
