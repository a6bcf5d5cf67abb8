"""Words and knowledge units (word, phrase, entity) of Chinese and English sentences.

Words
    zh: the words of ``jieba.cut(sentence)`` (accurate mode, HMM on). ``JiebaWords`` produces exactly
    jieba.cut's words with the same dictionary code, only with a bounded cache of the Chinese blocks
    jieba cuts independently (clauses between punctuation repeat a lot in real text).
    en: maximal runs of letters and digits, and every other non-space character on its own
    (``[^\\W_]+|\\S``); these are the tokenizer's words (before WordPiece).

Entities
    zh: a word whose jieba dictionary tag is a named-entity tag (``lexicon.ZH_ENTITY_TAGS``: person
    nr/nrt/nrfg, place ns, organisation nt, other proper noun nz), looked up in jieba's word-tag table
    after the fast cut (no POS tagger run), or a Latin word starting with a capital letter; adjacent
    entity words form one entity. Words jieba's HMM discovers have no tag and are not entities.
    en: runs of capitalised words and acronyms (2+ capitals, no lower-case letter), which may hold
    connectors between capitalised words (``of``, ``de``, ``-``, ``&``, ...; ``lexicon.EN_ENTITY_CONNECTORS``)
    and the full stop of a title or an initial ("Mr. Darcy", "J. K. Rowling"). A capitalised stop
    word ("The", "However", "I") never starts or ends an entity. A run of a single capitalised word at
    the start of a sentence (or after an opening quote or colon) is an entity only when the same word
    also appears capitalised elsewhere in the document at a position where capitals are not
    conventional; acronyms always count. A run made only of titles ("Mr.") is not an entity.

Phrases (both languages)
    Runs of consecutive content words inside a sentence, delimited by stop words, function words
    (zh: also by their dictionary tag, ``lexicon.ZH_FUNCTION_TAGS``) and punctuation. A run of 2-4
    words is one phrase; a longer run of n words is cut into ceil(n / 4) consecutive phrases of
    near-equal size (5 -> 3 + 2, 9 -> 3 + 3 + 3), so every phrase has 2-4 words. Single content words
    are not phrases.

Per-token labels (``shards.py``): 0 outside a unit, 1 first token of a unit, 2 continuation. Tokens
are mapped to words by the tokenizer's character offsets (or, on the fast path, by tokenizing word
by word, which gives the same ids: see ``process.py``).
"""

from __future__ import annotations

import logging
import re
from typing import Optional

import numpy as np

from . import lexicon

# ---------------------------------------------------------------------------------------------- word features
CONTENT = 1  # counts for phrases
SCORED = 2  # scored by token_document
ENTITY = 4  # zh entity word
CAP_UPPER = 8  # first character upper-case
CAP_LOWER = 16  # first character lower-case
CAPWORD = 32  # en: alphanumeric word starting upper-case
ACRONYM = 64  # en: 2+ capitals, no lower-case letter
CONNECTOR = 128  # en: may sit inside an entity
STOP = 256  # stop word
TITLE = 512  # en: title abbreviation (Mr, Dr, ...) or single capital letter (an initial)
OPENER = 1024  # en: the next word is capitalised by convention
DOT = 2048  # "."
ALNUM = 4096  # starts with a letter or digit


def _has_letter(word: str) -> bool:
    return any(map(str.isalpha, word))


def en_features(word: str) -> int:
    lower = word.lower()
    first = word[0]
    bits = 0
    if first.isupper():
        bits |= CAP_UPPER
    elif first.islower():
        bits |= CAP_LOWER
    if word == ".":
        bits |= DOT
    if word in lexicon.EN_OPENERS:
        bits |= OPENER
    if lower in lexicon.EN_ENTITY_CONNECTORS:
        bits |= CONNECTOR
    if not first.isalnum():
        return bits
    bits |= ALNUM
    if lower in lexicon.EN_STOP_WORDS:
        bits |= STOP
    else:
        bits |= CONTENT
        if not word.isnumeric():  # an alphanumeric run without letters is a number
            bits |= SCORED
    if first.isupper():
        bits |= CAPWORD
        if lower in lexicon.EN_TITLES or (len(word) == 1 and first.isalpha()):
            bits |= TITLE
        if len(word) >= 2 and word.isupper() and sum(map(str.isalpha, word)) >= 2:
            bits |= ACRONYM
    return bits


def zh_features(word: str, tag: Optional[str]) -> int:
    bits = 0
    first = word[0]
    if first.isupper():
        bits |= CAP_UPPER
    elif first.islower():
        bits |= CAP_LOWER
    if not any(c.isalnum() for c in word):
        return bits  # punctuation, symbols, whitespace
    bits |= ALNUM
    if word in lexicon.ZH_STOP_WORDS or tag in lexicon.ZH_FUNCTION_TAGS:
        bits |= STOP
        return bits
    bits |= CONTENT
    if _has_letter(word):  # CJK characters are letters (Lo); pure numbers are not scored
        bits |= SCORED
    if tag in lexicon.ZH_ENTITY_TAGS or (first.isascii() and first.isupper() and word.isascii()):
        bits |= ENTITY
    return bits


# ---------------------------------------------------------------------------------------------- segmenters
EN_WORD = re.compile(r"[^\W_]+|\S")


class JiebaWords:
    """``jieba.cut(text)`` (accurate mode, HMM), with a bounded cache of cut Chinese blocks."""

    MAX_CACHE = 200_000

    def __init__(self) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        self._jieba = jieba
        self._re_han = jieba.re_han_default
        self._re_skip = jieba.re_skip_default
        # The block cutter jieba.cut uses; fall back to jieba.cut itself if a release renames it.
        self._cut_block = getattr(jieba.dt, "_Tokenizer__cut_DAG", None)
        self.tags: dict[str, str] = jieba.posseg.dt.word_tag_tab
        self._cache: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        if self._cut_block is None:
            return list(self._jieba.cut(text))
        out: list[str] = []
        extend, append = out.extend, out.append
        re_han, re_skip, cache = self._re_han, self._re_skip, self._cache
        # The loop of jieba.Tokenizer.cut (cut_all=False, HMM=True), block by block.
        for block in re_han.split(text):
            if not block:
                continue
            if re_han.match(block):
                words = cache.get(block)
                if words is None:
                    words = list(self._cut_block(block))
                    if len(cache) >= self.MAX_CACHE:
                        cache.clear()
                    cache[block] = words
                extend(words)
            else:
                for piece in re_skip.split(block):
                    if re_skip.match(piece):
                        append(piece)
                    else:
                        extend(piece)
        return out


def en_words(text: str) -> list[str]:
    return EN_WORD.findall(text)


# ---------------------------------------------------------------------------------------------- units
def run_ids(flags: np.ndarray, sentence: np.ndarray) -> np.ndarray:
    """Id of the maximal run of True flags each word belongs to (runs stop at sentence ends), -1 elsewhere."""
    n = len(flags)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    prev_same = np.zeros(n, dtype=bool)
    prev_same[1:] = flags[:-1] & (sentence[1:] == sentence[:-1])
    starts = flags & ~prev_same
    ids = np.cumsum(starts) - 1
    return np.where(flags, ids, -1)


def phrase_ids(content: np.ndarray, sentence: np.ndarray, max_words: int = 4) -> np.ndarray:
    """Phrase id per word (-1 outside): content-word runs of 2+ words cut into near-equal parts of <= max_words."""
    runs = run_ids(content, sentence)
    out = np.full(len(content), -1, dtype=np.int64)
    inside = runs >= 0
    if not inside.any():
        return out
    run = runs[inside]
    length = np.bincount(run)
    first = np.zeros(len(length), dtype=np.int64)
    first[1:] = np.cumsum(length)[:-1]
    position = np.arange(len(run)) - first[run]
    size = length[run]
    parts = -(-size // max_words)
    part = position * parts // size
    phrase = np.where(size >= 2, run * max_words + part, -1)
    out[inside] = phrase
    return out


def unit_labels(unit_of_token: np.ndarray) -> np.ndarray:
    """0 outside (-1), 1 where a unit starts, 2 where the previous token is in the same unit."""
    prev = np.empty_like(unit_of_token)
    if len(prev):
        prev[0] = -1
        prev[1:] = unit_of_token[:-1]
    return np.where(unit_of_token < 0, 0, np.where(unit_of_token != prev, 1, 2)).astype(np.uint8)


def en_entity_ids(
    feats: np.ndarray, keys: np.ndarray, sentence: np.ndarray, doc_of_sentence: np.ndarray
) -> np.ndarray:
    """Entity id per word (-1 outside) by the English rule of the module docstring.

    ``feats``/``keys``/``sentence`` per word of a chunk (words in order), ``doc_of_sentence`` the
    document of each sentence. Only capitalised words are visited in Python.
    """
    n = len(feats)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    alnum = (feats & ALNUM) > 0
    # A word is capitalised by convention when no alphanumeric word precedes it in its sentence, or
    # an opener (quote, colon, ...) lies between it and the previous alphanumeric word.
    index = np.arange(n)
    new_sentence = np.ones(n, dtype=bool)
    new_sentence[1:] = sentence[1:] != sentence[:-1]
    sentence_start = np.maximum.accumulate(np.where(new_sentence, index, 0))
    last_alnum = np.maximum.accumulate(np.where(alnum, index, -1))
    prev_alnum = np.full(n, -1, dtype=np.int64)
    prev_alnum[1:] = last_alnum[:-1]
    prev_alnum = np.where(prev_alnum >= sentence_start, prev_alnum, -1)
    openers = np.cumsum((feats & OPENER) > 0)
    opener_between = openers[np.maximum(index - 1, 0)] - openers[np.maximum(prev_alnum, 0)] > 0
    initial = alnum & ((prev_alnum < 0) | opener_between)
    caplike = (feats & (CAPWORD | ACRONYM)) > 0
    stop_only = ((feats & STOP) > 0) & ((feats & ACRONYM) == 0)
    capital = caplike & ~stop_only
    bridge = ((feats & CONNECTOR) > 0) | (((feats & STOP) > 0) & ((feats & CAPWORD) > 0))
    dot_after_title = np.zeros(n, dtype=bool)
    dot_after_title[1:] = ((feats[1:] & DOT) > 0) & ((feats[:-1] & TITLE) > 0)
    bridge |= dot_after_title

    doc = doc_of_sentence[sentence]
    marked = set(zip(doc[capital & ~initial].tolist(), keys[capital & ~initial].tolist()))
    candidates = np.nonzero(capital)[0].tolist()
    f_list = feats.tolist()
    sentence_list = sentence.tolist()
    bridge_list = bridge.tolist()
    entity = 0
    k = 0
    while k < len(candidates):
        first = last = candidates[k]
        capwords, titles_only = 1, bool(f_list[first] & TITLE)
        k += 1
        # Join the next capitalised word when at most two bridging words separate them.
        while k < len(candidates):
            nxt = candidates[k]
            gap = nxt - last - 1
            if sentence_list[nxt] != sentence_list[last] or gap > 2 or not all(bridge_list[last + 1 : nxt]):
                break
            last = nxt
            capwords += 1
            titles_only = titles_only and bool(f_list[nxt] & TITLE)
            k += 1
        if titles_only:
            continue
        if initial[first] and capwords == 1 and not f_list[first] & ACRONYM:
            if (int(doc[first]), int(keys[first])) not in marked:
                continue
        out[first : last + 1] = entity
        entity += 1
    return out
