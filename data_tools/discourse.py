"""Discourse relation pairs mined from a chunk's sentences (the rules: ``process.py``'s docstring).

A sentence that opens with a marker of ``lexicon`` ("However, ...") gives the pair (previous sentence
of the same document, the sentence without the marker); with ``within_sentences`` also a clause that
opens with one after a comma or semicolon.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

import numpy as np

from . import lexicon


def _is_text(word: str) -> bool:
    """Holds a letter, digit or ideograph: not punctuation alone."""
    return any(char.isalnum() for char in word)


def _has_text(words: list[str]) -> bool:
    return any(map(_is_text, words))


class DiscourseMiner:
    def __init__(self, lang: str, within_sentences: bool):
        self.lang = lang
        self.within_sentences = within_sentences
        markers = lexicon.ZH_DISCOURSE_MARKERS if lang == "zh" else lexicon.EN_DISCOURSE_MARKERS
        classes = list(lexicon.DISCOURSE_CLASSES)
        # Candidates by the sentence's first character (zh) or first word (en), longest first (但是 before 但).
        self._markers: dict[str, list[tuple[Any, int]]] = {}
        for marker in sorted(markers, key=len, reverse=True):
            label = classes.index(markers[marker])
            if lang == "zh":
                self._markers.setdefault(marker[0], []).append((marker, label))
            else:
                self._markers.setdefault(marker.split()[0], []).append((tuple(marker.split()), label))

    def mine(
        self,
        words: list[str],
        w_sentence: np.ndarray,
        w_ntok: np.ndarray,
        sentence_doc: np.ndarray,
        ids: np.ndarray,
        lengths: np.ndarray,
        notes: Counter,
    ) -> Optional[dict[str, np.ndarray]]:
        """The chunk's discourse pairs (ids, lengths, labels), or None; what was passed over counted in ``notes``."""
        n_sentences = len(lengths)
        word_start = np.searchsorted(w_sentence, np.arange(n_sentences + 1)).tolist()
        token_start = np.zeros(n_sentences + 1, dtype=np.int64)
        token_start[1:] = np.cumsum(lengths)
        word_token = np.zeros(len(words) + 1, dtype=np.int64)
        word_token[1:] = np.cumsum(w_ntok)
        pair_ids: list[np.ndarray] = []
        pair_lengths: list[int] = []
        labels: list[int] = []
        zh = self.lang == "zh"
        heads = [words[i] for i in word_start[:-1]]
        if zh:
            hits = [k for k, head in enumerate(heads) if head[0] in self._markers]
        else:
            hits = [k for k, head in enumerate(heads) if head.lower() in self._markers]
        for k in hits:
            first, end = word_start[k], word_start[k + 1]
            match = self._marker_at(words, first, end)
            if match is None:
                continue
            w, label = match
            if k == 0 or sentence_doc[k - 1] != sentence_doc[k]:
                notes["marker sentences opening a document (no pair)"] += 1
                continue
            if not _has_text(words[w:end]):
                notes["marker sentences with nothing after the marker"] += 1
                continue
            prev = ids[token_start[k - 1] : token_start[k]]
            second = ids[word_token[w] : token_start[k + 1]]
            pair_ids += [prev, second]
            pair_lengths += [len(prev), len(second)]
            labels.append(label)
        if self.within_sentences:
            # A clause separator followed by a marker, inside a sentence: (clause before, clause after).
            used = -1
            for j in [j for j, word in enumerate(words) if word in lexicon.CLAUSE_SEPARATORS]:
                k = int(w_sentence[j])
                if k == used or j + 1 >= word_start[k + 1]:
                    continue
                if sum(map(_is_text, words[word_start[k] : j])) < 2:
                    continue  # no clause before it ("Then, because ...", "Yes, but ...")
                match = self._marker_at(words, j + 1, word_start[k + 1])
                if match is None:
                    continue
                used = k
                w, label = match
                if not _has_text(words[w : word_start[k + 1]]):
                    notes["clause markers with nothing after the marker"] += 1
                    continue
                before = ids[token_start[k] : word_token[j]]
                after = ids[word_token[w] : token_start[k + 1]]
                pair_ids += [before, after]
                pair_lengths += [len(before), len(after)]
                labels.append(label)
                notes["discourse pairs within a sentence"] += 1
        if not labels:
            return None
        return {
            "ids": np.concatenate(pair_ids),
            "lengths": np.asarray(pair_lengths, dtype=np.int64),
            "labels": np.asarray(labels, dtype=np.int64),
        }

    def _marker_at(self, words: list[str], start: int, end: int) -> Optional[tuple[int, int]]:
        """``(first word after the marker and its trailing punctuation, class)`` when the words from
        ``start`` (up to ``end``, the sentence's end) open with a marker, else None."""
        zh = self.lang == "zh"
        for marker, label in self._markers.get(words[start][0] if zh else words[start].lower(), ()):
            if zh:
                w, text = start, ""
                while w < end and len(text) < len(marker):
                    text += words[w]
                    w += 1
                found = text == marker  # the marker ends on a word boundary
            else:
                w = start + len(marker)
                found = w <= end and tuple(x.lower() for x in words[start:w]) == marker
            if found:
                while w < end and words[w] in lexicon.MARKER_TRAILERS:
                    w += 1
                return w, label
        return None
