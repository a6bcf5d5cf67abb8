"""Worker side of a build: one chunk of input in, numpy arrays for every task out.

A chunk holds whole documents of one input file (or rows of an IR file, or lines of the official
ERNIE 1.0 format). ``Processor.process(chunk)`` depends on nothing but the chunk and the settings,
so the shards are the same whatever the number of workers and however chunks are scheduled.

Token ids: a sentence's ids are the tokenizer's ids of the sentence. On the fast path they are
built word by word from a cache (the tokenizer never splits across a boundary between our words
when the characters on both sides of it are split characters: whitespace, punctuation, symbols,
CJK ideographs); a sentence where some word boundary has a joining character on both sides (letters
that jieba cut apart, combining marks, control characters) or that contains a special token such
as ``[MASK]`` takes the exact path instead: the tokenizer on the whole sentence, tokens assigned to
words by their character offsets.

Sentence-level labels:

* capitalization (``cap``): 1 when the first character of the token's word (as written in the
  input) is upper-case, 0 when it is lower-case, IGNORE when it is not a cased letter (digits,
  punctuation, CJK). All tokens of a word share its label.
* token_document (``tdr``): a word here is a word as defined in ``units.py`` (jieba word / en
  alphanumeric run), compared lower-cased. A token is labelled 1 when its word occurs in another
  sentence of the same document, else 0. Not scored (IGNORE): punctuation and symbols, stop words
  and function words (``lexicon``), and numbers (words without a letter).
* discourse_relation: see ``lexicon.EN_DISCOURSE_MARKERS`` / ``ZH_DISCOURSE_MARKERS``: a sentence
  that opens with a marker, preceded by a sentence of the same document, gives the pair
  (previous sentence, the sentence without the marker and the punctuation right after it); the
  marker must be whole words of the sentence (zh: end on a jieba word boundary). With
  ``discourse_within_sentences`` a sentence whose clause opens with a marker after a comma or
  semicolon ("It rained, but we went out.") also gives the pair (the words before that comma, at
  least two, and the rest without the marker): the first such marker of the sentence only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Any, Optional

import numpy as np

from ernie.files import JsonTextError, json_loads

from . import units
from .discourse import DiscourseMiner
from .records import process_ernie1, process_ir
from .shards import IGNORE
from .text import MAX_CHARS_PER_WORD, char_table, code_points, overlong_word, split_sentences

CORPUS_KINDS = ("lines", "docs", "jsonl")
FIELD_TASKS = {
    "knowledge_masking": ("word", "phrase", "entity"),
    "capitalization": ("cap",),
    "token_document": ("tdr",),
}
# The tokenizer's CJK ranges (ernie.tokenizer.is_chinese_char).
_CJK_WORD = re.compile(
    "[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002b73f"
    "\U0002b740-\U0002b81f\U0002b820-\U0002ceaf\U0002f800-\U0002fa1f]+"
)


@dataclass
class Settings:
    lang: str
    tasks: tuple[str, ...]
    max_sentence_tokens: int = 256
    max_document_sentences: int = 512
    text_key: str = "text"
    discourse_within_sentences: bool = False


@dataclass
class Chunk:
    kind: str  # lines | paragraphs | docs | jsonl | ernie1 | ir
    file: str
    texts: list[str]
    lines: list[int]
    doc_sizes: Optional[list[int]] = None  # kind "lines": lines per document; "paragraphs": paragraphs
    progress: int = 0  # input bytes this chunk accounts for


@dataclass
class ChunkResult:
    corpus: Optional[dict[str, Any]] = None  # ids, lengths, doc_sizes, fields{name: uint8}
    # The corpus tasks these documents feed; None: all. ERNIE 1.0 lines carry ids and word boundaries
    # only (no case, no real documents), so they feed knowledge masking alone.
    corpus_tasks: Optional[tuple[str, ...]] = None
    pairs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # task -> ids, lengths, labels
    counts: Counter = field(default_factory=Counter)
    skipped: list[tuple] = field(default_factory=list)  # (reason, file, line[, detail])
    notes: Counter = field(default_factory=Counter)
    progress: int = 0


class Processor:
    MAX_CACHE = 300_000

    def __init__(self, tokenizer: Any, settings: Settings):
        self.tok = tokenizer
        self.settings = settings
        self.lang = settings.lang
        self.segment = units.JiebaWords() if self.lang == "zh" else units.en_words
        self.tags = self.segment.tags if self.lang == "zh" else {}
        self.joining = char_table("joining")
        self.mark_or_control = char_table("mark_or_control")
        specials = sorted(set(tokenizer.special_tokens.values()), key=len, reverse=True)
        self._specials = re.compile("|".join(re.escape(t) for t in specials))
        self._tokens: dict[str, tuple[int, ...]] = {}
        self._char_tokens: dict[str, tuple[int, ...]] = {}
        self._feats: dict[str, int] = {}
        self._keys: dict[str, int] = {}
        self._key_ids: dict[str, int] = {}
        wanted = set(settings.tasks)
        self.fields = [name for task, names in FIELD_TASKS.items() if task in wanted for name in names]
        self.corpus_tasks = wanted & {
            "knowledge_masking",
            "capitalization",
            "token_document",
            "sentence_reordering",
            "sentence_distance",
        }
        self.discourse = (
            DiscourseMiner(self.lang, settings.discourse_within_sentences)
            if "discourse_relation" in wanted
            else None
        )

    # ------------------------------------------------------------------ entry point
    def process(self, chunk: Chunk) -> ChunkResult:
        result = ChunkResult(progress=chunk.progress)
        if chunk.kind == "ir":
            process_ir(self.tok, self.settings, chunk, result)
        elif chunk.kind == "ernie1":
            process_ernie1(self.tok, self.settings, chunk, result)
        else:
            self._process_corpus(chunk, result)
        if len(self._tokens) > self.MAX_CACHE:  # only between chunks: ids and keys stay consistent inside one
            self._tokens.clear()
            self._feats.clear()
            self._keys.clear()
            self._key_ids.clear()
        return result

    # ------------------------------------------------------------------ documents -> sentences
    def _documents(self, chunk: Chunk, result: ChunkResult) -> tuple[list[str], list[int], list[int]]:
        """Sentences of the chunk with their line and document number."""
        sentences: list[str] = []
        lines: list[int] = []
        docs: list[int] = []
        skip = result.skipped
        if chunk.kind == "lines":
            k = 0
            for doc, size in enumerate(chunk.doc_sizes):
                sentences.extend(chunk.texts[k : k + size])
                lines.extend(chunk.lines[k : k + size])
                docs.extend([doc] * size)
                k += size
            result.counts["documents"] += len(chunk.doc_sizes)
            return sentences, lines, docs
        if chunk.kind == "paragraphs":  # each paragraph sentence-split, documents by doc_sizes
            owners = np.repeat(np.arange(len(chunk.doc_sizes)), chunk.doc_sizes)
            for text, line, doc in zip(chunk.texts, chunk.lines, owners.tolist()):
                parts = split_sentences(text, self.lang)
                sentences.extend(parts)
                lines.extend([line] * len(parts))
                docs.extend([doc] * len(parts))
            result.counts["documents"] += len(chunk.doc_sizes)
            return sentences, lines, docs
        doc = 0
        for text, line in zip(chunk.texts, chunk.lines):
            if chunk.kind == "jsonl":
                try:
                    record = json_loads(text)
                except (json.JSONDecodeError, JsonTextError) as exc:  # JsonTextError: a lone surrogate, ...
                    skip.append(("invalid JSON", chunk.file, line, getattr(exc, "msg", str(exc))))
                    continue
                value = record.get(self.settings.text_key) if isinstance(record, dict) else None
                if not isinstance(value, str):
                    skip.append((f"no string '{self.settings.text_key}' field", chunk.file, line))
                    continue
                text = value
            parts = split_sentences(text, self.lang)
            if not parts:
                skip.append(("empty document", chunk.file, line))
                continue
            sentences.extend(parts)
            lines.extend([line] * len(parts))
            docs.extend([doc] * len(parts))
            doc += 1
        result.counts["documents"] += doc
        return sentences, lines, docs

    # ------------------------------------------------------------------ words and tokens
    def _word_tokens(self, words: list[str]) -> list[tuple[int, ...]]:
        cache = self._tokens
        missing = [w for w in set(words) if w not in cache]
        if missing:
            # A word of CJK ideographs only is tokenized character by character (the tokenizer puts
            # spaces around each), so its ids are its characters' ids: no tokenizer call per new word.
            chars = self._char_tokens
            cjk = [w for w in missing if _CJK_WORD.fullmatch(w)]
            others = [w for w in missing if not _CJK_WORD.fullmatch(w)]
            unknown = sorted(set(chain.from_iterable(cjk)).difference(chars))
            for char, ids in zip(unknown, self.tok.encode_texts(unknown)):
                chars[char] = tuple(ids)
            for word in cjk:
                cache[word] = tuple(chain.from_iterable(map(chars.__getitem__, word)))
            if others:
                others.sort()
                for word, ids in zip(others, self._encode_words(others)):
                    cache[word] = ids
        return list(map(cache.__getitem__, words))

    def _encode_words(self, words: list[str], group: int = 256) -> list[tuple[int, ...]]:
        """Ids of each word, tokenizing groups of words joined by spaces (one tokenizer call per group
        instead of per word: the tokenizer splits at spaces, so the ids are the same)."""
        out: list[tuple[int, ...]] = []
        texts = [" ".join(words[i : i + group]) for i in range(0, len(words), group)]
        all_ids, all_offsets = self.tok.encode_texts(texts, return_offsets=True)
        for g, (ids, offsets) in enumerate(zip(all_ids, all_offsets)):
            members = words[g * group : (g + 1) * group]
            sizes = np.fromiter(map(len, members), dtype=np.int64, count=len(members))
            starts = np.cumsum(sizes + 1) - sizes - 1
            token_starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(ids))
            owner = np.searchsorted(starts, token_starts, side="right") - 1
            bounds = np.searchsorted(owner, np.arange(len(members) + 1)).tolist()
            out.extend(tuple(ids[bounds[i] : bounds[i + 1]]) for i in range(len(members)))
        return out

    def _word_info(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        feats, keys, key_ids = self._feats, self._keys, self._key_ids
        for word in set(words).difference(feats):
            if self.lang == "zh":
                feats[word] = units.zh_features(word, self.tags.get(word))
            else:
                feats[word] = units.en_features(word)
            keys[word] = key_ids.setdefault(word.lower(), len(key_ids))
        n = len(words)
        return (
            np.fromiter(map(feats.__getitem__, words), dtype=np.int64, count=n),
            np.fromiter(map(keys.__getitem__, words), dtype=np.int64, count=n),
        )

    def _unsafe_sentences(
        self, sentences: list[str], words: list[str], word_sentence: np.ndarray
    ) -> list[int]:
        """Sentences that must take the exact tokenizer path (see the module docstring)."""
        unsafe = {s for s, text in enumerate(sentences) if "[" in text and self._specials.search(text)}
        if not sentences:
            return []
        joined = "\n".join(sentences)
        cps = code_points(joined)
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        bases = np.zeros(len(sentences), dtype=np.int64)
        bases[1:] = np.cumsum(lengths + 1)[:-1]
        if self.lang == "zh":
            # jieba's words concatenate to the sentence: check the characters around each boundary.
            sizes = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            starts = np.cumsum(sizes) - sizes + word_sentence  # + one separator per earlier sentence
            inner = starts[starts > 0]
            join = self.joining
            bad = join[cps[inner - 1]] & join[cps[inner]]
            unsafe.update(np.unique(word_sentence[starts > 0][bad]).tolist())
        else:
            # Our English words are the tokenizer's words unless a mark or control character glues them.
            where = np.nonzero(self.mark_or_control[cps])[0]
            if len(where):
                unsafe.update(np.unique(np.searchsorted(bases, where, side="right") - 1).tolist())
        return sorted(unsafe)

    def _exact_tokens(self, sentence: str, words: list[str]) -> list[tuple[int, ...]]:
        """Tokens of a sentence from the tokenizer itself, given to the word holding each token's start."""
        ids, offsets = self.tok.encode_texts([sentence], return_offsets=True)
        if self.lang == "zh":
            sizes = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            starts = np.cumsum(sizes) - sizes
        else:
            starts = np.asarray([m.start() for m in units.EN_WORD.finditer(sentence)], dtype=np.int64)
        per_word: list[list[int]] = [[] for _ in words]
        token_starts = np.asarray([o[0] for o in offsets[0]], dtype=np.int64)
        owner = np.maximum(np.searchsorted(starts, token_starts, side="right") - 1, 0)
        for token, w in zip(ids[0], owner.tolist()):
            per_word[w].append(token)
        return [tuple(t) for t in per_word]

    # ------------------------------------------------------------------ corpus
    def _process_corpus(self, chunk: Chunk, result: ChunkResult) -> None:
        s = self.settings
        sentences, lines, docs = self._documents(chunk, result)
        result.counts["sentences"] += len(sentences)
        # A word over WordPiece's limit would become one [UNK]. Its sentence is dropped and counted rather
        # than kept as [UNK]: a lone [UNK] from a line without spaces is noise (and a masked-LM target of
        # [UNK]), and cutting out only the word would splice its neighbours into a sentence nobody wrote.
        # The sentence is blanked before segmenting and tokenizing, which on a 5 MB word take seconds.
        overlong: dict[int, str] = {}
        for k, text in enumerate(sentences):
            example = overlong_word(text)
            if example is not None:
                overlong[k] = example
                sentences[k] = ""
        words_per_sentence = [self.segment(text) for text in sentences]
        counts = np.fromiter(map(len, words_per_sentence), dtype=np.int64, count=len(sentences))
        words = list(chain.from_iterable(words_per_sentence))
        word_sentence = np.repeat(np.arange(len(sentences)), counts)
        tokens = self._word_tokens(words)
        word_first = np.zeros(len(sentences) + 1, dtype=np.int64)
        word_first[1:] = np.cumsum(counts)
        for k in self._unsafe_sentences(sentences, words, word_sentence):
            a, b = word_first[k], word_first[k + 1]
            tokens[a:b] = self._exact_tokens(sentences[k], words[a:b])
            result.notes["sentences tokenized on the exact path"] += 1
        ntok = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))

        # Sentences: drop the empty and the over-long ones (reported with file and line).
        sentence_tokens = np.bincount(word_sentence, weights=ntok, minlength=len(sentences)).astype(np.int64)
        keep = (sentence_tokens > 0) & (sentence_tokens <= s.max_sentence_tokens)
        for k in np.nonzero(~keep)[0].tolist():
            if k in overlong:
                reason = f"word longer than {MAX_CHARS_PER_WORD} characters (sentence dropped)"
                result.skipped.append((reason, chunk.file, lines[k], overlong[k]))
            elif sentence_tokens[k] == 0:
                result.skipped.append(("sentence without tokens", chunk.file, lines[k]))
            else:
                reason = f"sentence longer than {s.max_sentence_tokens} tokens"
                result.skipped.append((reason, chunk.file, lines[k]))
        kept = np.nonzero(keep)[0]
        # Documents: renumber over the kept sentences, cutting those longer than the limit.
        doc_of = np.asarray(docs, dtype=np.int64)[kept]
        new_doc = np.ones(len(kept), dtype=bool)
        new_doc[1:] = doc_of[1:] != doc_of[:-1]
        doc_start = (
            np.maximum.accumulate(np.where(new_doc, np.arange(len(kept)), 0)) if len(kept) else new_doc
        )
        position = np.arange(len(kept)) - doc_start
        cut = new_doc | ((position % s.max_document_sentences == 0) & (position > 0))
        if (cut & ~new_doc).any():
            result.notes[f"documents cut after {s.max_document_sentences} sentences"] += int(
                (cut & ~new_doc).sum()
            )
        dropped_docs = len(set(docs)) - int(new_doc.sum())
        if dropped_docs:
            result.notes["documents left without sentences"] += dropped_docs
        sentence_doc = np.cumsum(cut) - 1  # document of each kept sentence
        doc_sizes = np.bincount(sentence_doc) if len(kept) else np.zeros(0, dtype=np.int64)

        sentence_index = np.full(len(sentences), -1, dtype=np.int64)
        sentence_index[kept] = np.arange(len(kept))
        keep_word = keep[word_sentence] & (ntok > 0)
        kept_words = list(compress(words, keep_word.tolist()))
        kept_tokens = list(compress(tokens, keep_word.tolist()))
        w_sentence = sentence_index[word_sentence[keep_word]]
        w_doc = sentence_doc[w_sentence] if len(w_sentence) else w_sentence
        w_ntok = ntok[keep_word]
        total = int(w_ntok.sum())
        ids = np.fromiter(chain.from_iterable(kept_tokens), dtype=np.int64, count=total)
        lengths = sentence_tokens[kept]
        result.counts["sentences kept"] += len(kept)
        result.counts["tokens"] += total
        feats, keys = self._word_info(kept_words)

        token_word = np.repeat(np.arange(len(kept_words)), w_ntok)
        fields: dict[str, np.ndarray] = {}
        if "word" in self.fields:
            fields["word"] = units.unit_labels(token_word)
            phrase = units.phrase_ids((feats & units.CONTENT) > 0, w_sentence)
            fields["phrase"] = units.unit_labels(phrase[token_word])
            if self.lang == "zh":
                entity = units.run_ids((feats & units.ENTITY) > 0, w_sentence)
            else:
                entity = units.en_entity_ids(feats, keys, w_sentence, sentence_doc)
            fields["entity"] = units.unit_labels(entity[token_word])
        if "cap" in self.fields:
            cap = np.full(len(kept_words), IGNORE, dtype=np.uint8)
            cap[(feats & units.CAP_UPPER) > 0] = 1
            cap[(feats & units.CAP_LOWER) > 0] = 0
            fields["cap"] = cap[token_word]
        if "tdr" in self.fields:
            fields["tdr"] = self._token_document(feats, keys, w_doc, w_sentence)[token_word]
        if self.corpus_tasks:
            result.corpus = {
                "ids": ids,
                "lengths": lengths,
                "doc_sizes": doc_sizes,
                "fields": fields,
            }
        if self.discourse is not None:
            pairs = self.discourse.mine(
                kept_words, w_sentence, w_ntok, sentence_doc, ids, lengths, result.notes
            )
            if pairs is not None:
                result.pairs["discourse_relation"] = pairs

    @staticmethod
    def _token_document(
        feats: np.ndarray, keys: np.ndarray, w_doc: np.ndarray, w_sentence: np.ndarray
    ) -> np.ndarray:
        """Per word: 1 if it occurs in another sentence of its document, 0 if not, IGNORE if not scored."""
        labels = np.full(len(feats), IGNORE, dtype=np.uint8)
        scored = (feats & units.SCORED) > 0
        if not scored.any():
            return labels
        doc, key, sentence = w_doc[scored], keys[scored], w_sentence[scored]
        doc_key = doc * (int(keys.max()) + 1) + key
        pairs = np.unique(doc_key * (int(w_sentence.max()) + 1) + sentence) // (int(w_sentence.max()) + 1)
        values, counts = np.unique(pairs, return_counts=True)
        labels[scored] = np.isin(doc_key, values[counts >= 2]).astype(np.uint8)
        return labels
