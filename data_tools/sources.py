"""Input files -> chunks of whole documents, streamed (the corpus is never held in memory).

Formats (``--format``: one for every input, or one per input; ``auto`` picks per file):

``lines``   plain text, one sentence per line, a blank line between documents (the default).
``docs``    plain text, one document per line; sentences are split by ``text.split_sentences``.
``paragraphs`` plain text in paragraphs: a blank line ends a paragraph, two or more blank lines in a
            row end a document (as between chapters of Project Gutenberg books). The lines of a
            paragraph are joined (hard-wrapped text) and sentence-split like ``docs``; a paragraph per
            line with single blank lines between (wikitext, many novels) reads the same way.
``jsonl``   one JSON object per line, the document text under ``"text"`` (``--text-key``); the text
            is sentence-split like ``docs`` (line breaks inside it always end a sentence).
``ernie1``  the official ERNIE 1.0 pre-training format ``token_ids;sent_ids;pos_ids;seg_labels;label``;
            ids and word boundaries only, so it feeds knowledge masking alone (beside text inputs too).
``ir``      query-title relevance TSV ``query<TAB>title<TAB>label`` (``--ir`` files only).

``auto``: ``*.jsonl``/``*.json`` (optionally ``.gz``) is jsonl; a file whose first non-empty line
looks like ``ids;ids;ids;seg_labels;label`` is ernie1; anything else is lines. Any file may be
gzip-compressed (detected by its magic bytes, not its name).

Lines are decoded as UTF-8 one by one; a line that is not valid UTF-8 is skipped and reported with
its file and line number. A UTF-8 byte-order mark at the start of a file is dropped.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from typing import BinaryIO, Callable, Iterator

from ernie.errors import UsageError
from ernie.wordpiece import is_chinese_char

from .process import Chunk
from .text import split_sentences

FORMATS = ("auto", "lines", "paragraphs", "docs", "jsonl", "ernie1")
_ERNIE1_LINE = re.compile(rb"^[\d ]+;[\d ]+;[\d ]+;[-\d ]+;\s*\d+\s*$")

Skip = Callable[..., None]  # (reason, file, line[, detail])


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


class InputFile:
    """A binary line reader over a plain or gzip file that knows how many raw bytes it consumed."""

    def __init__(self, path: str):
        self.path = path
        self.size = os.path.getsize(path)
        self._raw = open(path, "rb")
        self._stream: BinaryIO = gzip.GzipFile(fileobj=self._raw) if _is_gzip(path) else self._raw
        self._reported = 0

    def consumed(self) -> int:
        """Raw bytes read since the last call (progress)."""
        position = self._raw.tell()
        delta, self._reported = position - self._reported, position
        return delta

    def lines(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UsageError(f"{self.path}: damaged gzip stream ({exc})") from None

    def close(self) -> None:
        self._stream.close()
        self._raw.close()


def detect_format(path: str, requested: str) -> tuple[str, str]:
    """``(format, why)`` of an input file: ``requested`` unless it is ``auto`` (rules in the docstring)."""
    if requested != "auto":
        return requested, f"--format {requested}"
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ending in (".jsonl", ".json"):
        if name.endswith(ending):
            return "jsonl", f"auto: the file name ends in {ending}"
    reader = InputFile(path)
    try:
        for raw in reader.lines():
            if raw.strip():
                if _ERNIE1_LINE.match(raw.strip()):
                    return "ernie1", "auto: the first line is token_ids;sent_ids;pos_ids;seg_labels;label"
                break
    finally:
        reader.close()
    return "lines", "auto: plain text, a sentence per line"


def _is_cjk(char: str) -> bool:
    """A CJK ideograph (the tokenizer's own test) or CJK / full-width punctuation."""
    return is_chinese_char(ord(char)) or "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef"


def join_wrapped(parts: list[str]) -> str:
    """The lines of one paragraph as one text: joined by a space, except between two CJK characters
    (a line break inside Chinese text is not a word break)."""
    text = parts[0]
    for part in parts[1:]:
        text += part if _is_cjk(text[-1]) and _is_cjk(part[0]) else " " + part
    return text


SAMPLE_LINES = 200  # lines looked at to judge whether a sentence-per-line reading is plausible
_SENTENCE_END = tuple(".!?;:\"')]\u201d\u2019\u3002\uff01\uff1f\uff1b\uff1a\u300d\u300f\uff09")


def line_shape(path: str, lang: str) -> tuple[float, float]:
    """Over the first ``SAMPLE_LINES`` non-blank lines of a plain-text file: the mean sentences per line
    (well above 1: the lines are paragraphs or documents) and the share of lines that stop mid-sentence
    with the text going on in the next line (high: hard-wrapped paragraphs)."""
    reader = InputFile(path)
    counts: list[int] = []
    wrapped = 0
    previous = ""
    try:
        for raw in reader.lines():
            text = raw.decode("utf-8", errors="replace").strip()
            if text and previous and not previous.endswith(_SENTENCE_END):
                wrapped += 1
            previous = text
            if text:
                if len(counts) == SAMPLE_LINES:
                    break
                counts.append(len(split_sentences(text, lang)))
    finally:
        reader.close()
    if not counts:
        return 0.0, 0.0
    return sum(counts) / len(counts), wrapped / len(counts)


def decoded_lines(reader: InputFile, skip: Skip) -> Iterator[tuple[int, str]]:
    """(line number, text without the line break) for every line that is valid UTF-8."""
    for number, raw in enumerate(reader.lines(), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            skip("invalid UTF-8", reader.path, number, f"byte {exc.start + 1}")
            continue
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield number, text.rstrip("\r\n")


def iter_chunks(
    path: str, kind: str, chunk_chars: int, max_document_sentences: int, skip: Skip, counts: dict, notes: dict
) -> Iterator[Chunk]:
    """Chunks of ``kind`` from one file; a document never spans two chunks."""
    reader = InputFile(path)
    try:
        texts: list[str] = []
        lines: list[int] = []
        doc_sizes: list[int] = []
        size = 0
        open_doc = 0  # kind "lines": sentences of the document being read

        def flush() -> Chunk:
            nonlocal texts, lines, doc_sizes, size
            sizes = doc_sizes if kind in ("lines", "paragraphs") else None
            chunk = Chunk(kind, path, texts, lines, sizes, reader.consumed())
            texts, lines, doc_sizes, size = [], [], [], 0
            return chunk

        paragraph: list[str] = []  # kind "paragraphs": the stripped lines of the open paragraph
        paragraph_line = 0
        blank_run = 0

        def close_paragraph() -> None:
            nonlocal paragraph, open_doc, size
            if paragraph:
                texts.append(join_wrapped(paragraph))
                lines.append(paragraph_line)
                size += len(texts[-1])
                open_doc += 1
                paragraph = []

        for number, text in decoded_lines(reader, skip):
            counts["lines"] += 1
            if kind == "paragraphs":
                part = text.strip()
                if part:
                    if not paragraph:
                        paragraph_line = number
                    paragraph.append(part)
                    blank_run = 0
                    continue
                close_paragraph()
                blank_run += 1
                # A document ends at two blank lines, or at a paragraph end once the chunk is full
                # (a file without chapter breaks is one long document, cut like any other).
                if open_doc and (blank_run >= 2 or size >= chunk_chars):
                    doc_sizes.append(open_doc)
                    open_doc = 0
                    if size >= chunk_chars:
                        yield flush()
            elif kind == "lines":
                sentence = text.strip()
                if not sentence:
                    if open_doc:
                        doc_sizes.append(open_doc)
                        open_doc = 0
                        if size >= chunk_chars:
                            yield flush()
                    continue
                if open_doc == max_document_sentences:
                    doc_sizes.append(open_doc)
                    open_doc = 0
                    notes[f"documents cut after {max_document_sentences} sentences"] += 1
                    if size >= chunk_chars:
                        yield flush()
                texts.append(sentence)
                lines.append(number)
                open_doc += 1
                size += len(sentence)
            else:
                texts.append(text)
                lines.append(number)
                size += len(text)
                if size >= chunk_chars:
                    yield flush()
        close_paragraph()
        if kind in ("lines", "paragraphs") and open_doc:
            doc_sizes.append(open_doc)
        if texts:
            yield flush()
        counts["bytes"] += reader.size
        counts["files"] += 1
    finally:
        reader.close()


def check_readable(path: str) -> None:
    """Fail early, naming the file, when an input cannot be opened."""
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such input file", path)
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, expected a file")
    with open(path, "rb") as f:
        f.read(1)


__all__ = [
    "FORMATS",
    "InputFile",
    "check_readable",
    "decoded_lines",
    "detect_format",
    "iter_chunks",
    "join_wrapped",
    "line_shape",
]
