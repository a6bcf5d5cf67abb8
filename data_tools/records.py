"""The two record formats of a build: IR relevance rows and official ERNIE 1.0 lines.

Neither is running text: an IR row is a labelled query-title pair, an ERNIE 1.0 line two segments
already as token ids with word boundaries. ``Processor.process`` hands their chunks here; bad rows are
counted in the chunk's result with their file and line, as everywhere in a build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .text import MAX_CHARS_PER_WORD, overlong_word

if TYPE_CHECKING:
    from .process import Chunk, ChunkResult, Settings

IR_LABELS = {"0": 0, "1": 1, "2": 2}


def process_ir(tokenizer: Any, settings: Settings, chunk: Chunk, result: ChunkResult) -> None:
    """``query<TAB>title<TAB>label`` rows -> ir_relevance pairs."""
    rows: list[tuple[str, str, int]] = []
    where: list[int] = []
    for text, line in zip(chunk.texts, chunk.lines):
        if not text.strip():
            result.skipped.append(("empty IR row", chunk.file, line))
            continue
        parts = text.split("\t")
        if len(parts) != 3:
            result.skipped.append(
                (
                    "IR row without 3 fields (query<TAB>title<TAB>label)",
                    chunk.file,
                    line,
                    f"{len(parts)} fields",
                )
            )
            continue
        query, title, label = parts[0].strip(), parts[1].strip(), parts[2].strip()
        if label not in IR_LABELS:
            result.skipped.append(
                ("bad IR label (expected 0, 1 or 2)", chunk.file, line, f"label {label[:20]!r}")
            )
            continue
        if not query or not title:
            result.skipped.append(("IR row with an empty query or title", chunk.file, line))
            continue
        # As in sentences: a word over WordPiece's limit would be one [UNK] (see _process_corpus).
        example = overlong_word(query) or overlong_word(title)
        if example is not None:
            reason = f"IR query or title with a word longer than {MAX_CHARS_PER_WORD} characters"
            result.skipped.append((reason, chunk.file, line, example))
            continue
        rows.append((query, title, IR_LABELS[label]))
        where.append(line)
    result.counts["ir rows"] += len(chunk.texts)
    if not rows:
        return
    queries = tokenizer.encode_texts([r[0] for r in rows])
    titles = tokenizer.encode_texts([r[1] for r in rows])
    pair_ids: list[int] = []
    pair_lengths: list[int] = []
    labels: list[int] = []
    limit = settings.max_sentence_tokens
    for (_, _, label), q, t, line in zip(rows, queries, titles, where):
        if not q or not t:
            result.skipped.append(("IR row whose query or title has no tokens", chunk.file, line))
            continue
        if len(q) > limit or len(t) > limit:
            result.skipped.append((f"IR query or title longer than {limit} tokens", chunk.file, line))
            continue
        pair_ids += q
        pair_ids += t
        pair_lengths += [len(q), len(t)]
        labels.append(label)
    if labels:
        result.pairs["ir_relevance"] = {
            "ids": np.asarray(pair_ids, dtype=np.int64),
            "lengths": np.asarray(pair_lengths, dtype=np.int64),
            "labels": np.asarray(labels, dtype=np.int64),
        }


def process_ernie1(tokenizer: Any, settings: Settings, chunk: Chunk, result: ChunkResult) -> None:
    """``token_ids;sent_ids;pos_ids;seg_labels;label``: [CLS] A [SEP] B [SEP] -> a 2-sentence document.

    seg_labels 0 (word begin) -> word 1, 1 (continuation) -> word 2, -1 marks [CLS]/[SEP]; phrase and
    entity are 0 (the format carries no such units).
    """
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    vocab_limit = max(tokenizer.vocab.values()) + 1
    limit = settings.max_sentence_tokens
    out_ids: list[np.ndarray] = []
    out_words: list[np.ndarray] = []
    out_lengths: list[int] = []
    for text, line in zip(chunk.texts, chunk.lines):
        if not text.strip():
            result.skipped.append(("empty line", chunk.file, line))
            continue
        parts = text.strip().split(";")
        if len(parts) != 5:
            result.skipped.append(
                (
                    "ERNIE 1.0 line without 5 ';'-separated fields",
                    chunk.file,
                    line,
                    f"{len(parts)} fields",
                )
            )
            continue
        try:
            ids = np.asarray(parts[0].split(), dtype=np.int64)
            seg = np.asarray(parts[3].split(), dtype=np.int64)
            n_sent, n_pos = len(parts[1].split()), len(parts[2].split())
        except ValueError:
            result.skipped.append(("ERNIE 1.0 line with a non-integer value", chunk.file, line))
            continue
        if not (len(ids) == len(seg) == n_sent == n_pos):
            result.skipped.append(("ERNIE 1.0 line whose fields differ in length", chunk.file, line))
            continue
        marks = np.nonzero(seg == -1)[0]
        if (
            len(marks) != 3
            or marks[0] != 0
            or marks[2] != len(seg) - 1
            or ids[0] != cls
            or ids[marks[1]] != sep
            or ids[marks[2]] != sep
        ):
            result.skipped.append(("ERNIE 1.0 line not shaped [CLS] A [SEP] B [SEP]", chunk.file, line))
            continue
        if ((seg < -1) | (seg > 1)).any() or (ids < 0).any() or (ids >= vocab_limit).any():
            result.skipped.append(
                ("ERNIE 1.0 line with a seg label or token id out of range", chunk.file, line)
            )
            continue
        segments = [(1, int(marks[1])), (int(marks[1]) + 1, int(marks[2]))]
        if any(b - a == 0 for a, b in segments):
            result.skipped.append(("ERNIE 1.0 line with an empty segment", chunk.file, line))
            continue
        if any(b - a > limit for a, b in segments):
            result.skipped.append((f"sentence longer than {limit} tokens", chunk.file, line))
            continue
        for a, b in segments:
            words = np.where(seg[a:b] == 0, 1, 2).astype(np.uint8)
            if words[0] != 1:
                result.notes["ERNIE 1.0 segments opening with a continuation label (made a word start)"] += 1
                words[0] = 1
            out_ids.append(ids[a:b])
            out_words.append(words)
            out_lengths.append(b - a)
    docs = len(out_lengths) // 2
    result.counts["documents"] += docs
    result.counts["sentences"] += 2 * docs
    result.counts["sentences kept"] += 2 * docs
    if not docs:
        return
    ids = np.concatenate(out_ids)
    words = np.concatenate(out_words)
    result.counts["tokens"] += len(ids)
    zeros = np.zeros(len(ids), dtype=np.uint8)
    result.corpus_tasks = ("knowledge_masking",)
    result.corpus = {
        "ids": ids,
        "lengths": np.asarray(out_lengths, dtype=np.int64),
        "doc_sizes": np.full(docs, 2, dtype=np.int64),
        "fields": {"word": words, "phrase": zeros, "entity": zeros},
    }
