"""The reference tokenisation: BERT/ERNIE BasicTokenizer + greedy WordPiece, as PaddleNLP does it.

PaddleNLP's steps: special tokens kept whole; lower-case character by character; drop control
characters; spaces around CJK ideographs; split on whitespace; lower-case and strip accents per word;
split off punctuation and symbols; greedy longest-match WordPiece, words over 100 characters become
``[UNK]``. The character-by-character lower-casing is done per word here, after the cleaning and the
split (no lower-cased character is a control, space or CJK character, so the words are the same; checked
on every code point), which lets ``never_split`` words keep their case. Pure Python, so ``data_tools``
can use it without paddle.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Iterable, Mapping, Optional

from .errors import TokenizerError

logger = logging.getLogger("ernie")

MAX_CHARS_PER_WORD = 100


# ---------------------------------------------------------------------------------------------- vocab
DUPLICATES_NAMED = 5  # duplicates named in the warning; the rest are only counted


def read_vocab(path: str) -> tuple[dict[str, int], dict[int, str]]:
    """``(token -> id, overridden)``: ``overridden`` maps the id of each line whose token appears again
    later to that token. Logs a warning naming the duplicated tokens.

    A duplicated token takes the id of its last line, as PaddleNLP 2.8.1 does (its loader assigns
    ``token_to_idx[token] = line`` line by line), so the ids of the earlier lines name no token and the
    largest id + 1, not the count of distinct tokens, is what the ids must fit in.
    """
    vocab: dict[str, int] = {}
    line_of: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    overridden: dict[int, str] = {}
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerError(f"{path}: no such vocabulary file") from None
    with f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            fields = line.split("\t")
            if len(fields) > 2:
                raise TokenizerError(
                    f"{path}: line {lineno}: expected 'token' or 'token<TAB>id', got {len(fields)} fields"
                )
            token = fields[0]
            if len(fields) == 2:
                try:
                    index = int(fields[1])
                except ValueError:
                    raise TokenizerError(
                        f"{path}: line {lineno}: id {fields[1]!r} is not an integer"
                    ) from None
            else:
                index = lineno - 1
            if token in vocab:
                duplicates.setdefault(token, [line_of[token]]).append(lineno)
                overridden[vocab[token]] = token
            vocab[token] = index
            line_of[token] = lineno
    if not vocab:
        raise TokenizerError(f"{path}: the vocabulary is empty")
    if duplicates:
        named = [
            f"{token!r} (lines {_and(lines)})" for token, lines in list(duplicates.items())[:DUPLICATES_NAMED]
        ]
        more = len(duplicates) - len(named)
        logger.warning(
            "%s: %d duplicate token%s, each gets the id of its last line (as PaddleNLP does): %s%s",
            path,
            len(duplicates),
            "s" if len(duplicates) > 1 else "",
            ", ".join(named),
            f" and {more} more" if more else "",
        )
    return vocab, overridden


def _and(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return ", ".join(words[:-1]) + " and " + words[-1]


def load_vocab(path: str) -> dict[str, int]:
    """Read ``token`` or ``token<TAB>id`` lines (the official zh vocab has ids; ids = line numbers otherwise).

    A token on several lines gets the id of the last one (see ``read_vocab``)."""
    return read_vocab(path)[0]


# ---------------------------------------------------------------------------------------------- characters
def is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    cp = ord(char)
    # All non-alphanumeric ASCII counts as punctuation, as in BERT.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


EXTRA_SYMBOLS = {0x00AD, 0x00B2, 0x00BA, 0x3007, 0x00B5, 0x00D8, 0x014B, 0x01B1}


def is_symbol(char: str) -> bool:
    """PaddleNLP also splits off Unicode symbols (S*) and a few listed characters; BERT does not."""
    return unicodedata.category(char).startswith("S") or ord(char) in EXTRA_SYMBOLS


CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_chinese_char(cp: int) -> bool:
    """CJK Unified Ideographs (and extensions, compatibility ideographs): one token each."""
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


# ---------------------------------------------------------------------------------------------- reference path
class BasicTokenizer:
    """Whitespace, CJK, punctuation and symbol splitting with lower-casing and accent stripping.

    The arguments are PaddleNLP's and HF's: ``never_split`` words (whole whitespace-separated words) are
    left as they are; ``strip_accents`` defaults to ``do_lower_case``; ``tokenize_chinese_chars`` puts
    each CJK ideograph in a word of its own.

    Lower-casing goes character by character before the word is lower-cased, as PaddleNLP's
    ErnieTokenizer does it before calling its BasicTokenizer, so that both paths of our ErnieTokenizer
    and ``data_tools`` see the same words. PaddleNLP's BasicTokenizer used alone lower-cases whole words
    only; the two differ in a word-final capital sigma (ours gives σ, theirs ς).

    Works on ``(char, source_index)`` pairs so that every output word knows its span in the input.
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: Optional[Iterable[str]] = None,
        tokenize_chinese_chars: bool = True,
        strip_accents: Optional[bool] = None,
    ):
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents

    def tokenize_with_spans(
        self, text: str, never_split: Optional[Iterable[str]] = None
    ) -> list[tuple[str, list[int]]]:
        """Words with the source index of each of their characters."""
        keep = self.never_split.union(never_split or ())
        chars: list[tuple[str, int]] = []
        for index, char in enumerate(text):
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or is_control(char):
                continue
            if is_whitespace(char):
                chars.append((" ", index))
            elif self.tokenize_chinese_chars and is_chinese_char(cp):
                chars.extend(((" ", index), (char, index), (" ", index)))
            else:
                chars.append((char, index))

        words: list[tuple[str, list[int]]] = []
        for word in _split_on_spaces(chars):
            if _text(word) not in keep:
                if self.do_lower_case:
                    word = _lower(_lower_each(word))
                if self.strip_accents or (self.strip_accents is None and self.do_lower_case):
                    word = _strip_accents(word)
            # A word that is (or became) a never_split word is not split at punctuation either.
            parts = [word] if _text(word) in keep else _split_on_punctuation(word)
            words.extend((_text(part), [i for _, i in part]) for part in parts)
        return words

    def tokenize(self, text: str, never_split: Optional[Iterable[str]] = None) -> list[str]:
        return [word for word, _ in self.tokenize_with_spans(text, never_split)]


def _text(word: list[tuple[str, int]]) -> str:
    return "".join(c for c, _ in word)


def _split_on_spaces(chars: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    # str.split() semantics: other Unicode separators (U+2028, ...) also end a word.
    words, current = [], []
    for item in chars:
        if item[0].isspace():
            if current:
                words.append(current)
                current = []
        else:
            current.append(item)
    if current:
        words.append(current)
    return words


def _lower_each(word: list[tuple[str, int]]) -> list[tuple[str, int]]:
    # Character by character, as PaddleNLP's ErnieTokenizer lower-cases the text (no final-sigma context).
    return [(lc, i) for c, i in word for lc in c.lower()]


def _lower(word: list[tuple[str, int]]) -> list[tuple[str, int]]:
    # str.lower() of the whole word (final-sigma context), spans kept per source character.
    text = _text(word)
    lowered = text.lower()
    if len(lowered) == len(text):
        return [(lc, i) for lc, (_, i) in zip(lowered, word)]
    return _lower_each(word)


def _strip_accents(word: list[tuple[str, int]]) -> list[tuple[str, int]]:
    out = []
    for c, i in word:
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.category(d) != "Mn":
                out.append((d, i))
    return out


def _split_on_punctuation(word: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    parts: list[list[tuple[str, int]]] = []
    start_new = True
    for item in word:
        if is_punctuation(item[0]) or is_symbol(item[0]):
            parts.append([item])
            start_new = True
        else:
            if start_new:
                parts.append([])
            start_new = False
            parts[-1].append(item)
    return parts


class WordpieceTokenizer:
    """Greedy longest-match-first sub-words with the ``##`` continuation prefix."""

    def __init__(
        self,
        vocab: Mapping[str, int],
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = MAX_CHARS_PER_WORD,
    ):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize_with_spans(self, word: str) -> list[tuple[str, int, int]]:
        """``(piece, start, end)`` of one word, with character positions inside ``word``."""
        if len(word) > self.max_input_chars_per_word:
            return [(self.unk_token, 0, len(word))]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = "##" + piece
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [(self.unk_token, 0, len(word))]
            pieces.append((found, start, end))
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The pieces of each whitespace-separated word of ``text`` (the BasicTokenizer's output joined by
        spaces, as PaddleNLP and HF take it)."""
        return [piece for word in text.split() for piece, _, _ in self.tokenize_with_spans(word)]
