"""Example files for the predictor: JSONL, TSV with a header, or plain text; ``-`` is stdin.

Every line is accounted for: blank lines are skipped and counted, anything else malformed is an
error naming the file and line. The whole input is read and checked before the model runs.

A line may carry its gold answer, kept as given in ``Example.gold`` (``scoring`` checks it against
the model): JSONL key ``label`` (a label, a score, or NER tags), or ``answers`` for question
answering; a TSV column ``label``, ``gold_label`` or ``score``, or ``answer`` for question answering.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..files import JsonTextError, json_loads
from .errors import ServingError


@dataclass
class Example:
    """One input example: ``text_a`` (+ ``text_b``), or ``question`` and ``context`` for QA."""

    line: int  # 1-based line in the input file, for messages
    text_a: str = ""
    text_b: Optional[str] = None
    question: Optional[str] = None
    context: Optional[str] = None
    id: Any = None  # copied to the output line when given
    gold: Any = None  # the gold label, score, tags or answers the line carries, unchecked; None: none


@dataclass
class ReadStats:
    lines: int = 0
    blank: int = 0  # blank lines (and lines before a TSV header) skipped


_TSV_COLUMNS = {
    "text_a": "text_a",
    "text": "text_a",
    "sentence": "text_a",
    "sentence1": "text_a",
    "text_b": "text_b",
    "sentence2": "text_b",
    "question": "question",
    "context": "context",
    "question1": "text_a",
    "question2": "text_b",
}
# A sentence-pair TSV (not question answering) whose question comes first: QNLI's question + sentence.
_TSV_PAIR_COLUMNS = {"question": "text_a", "sentence": "text_b"}
# Columns of the gold answer, first match wins: sentence tasks (GLUE names it label, gold_label or score), QA.
_TSV_GOLD = ("label", "gold_label", "score")
_TSV_QA_GOLD = ("answer",)
# The JSONL keys of the same.
GOLD_KEY = "label"
QA_GOLD_KEY = "answers"


def _read_lines(path: str) -> list[str]:
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        if os.path.isdir(path):
            raise ServingError(f"{path}: is a directory, expected an input file")
        with open(path, "rb") as f:
            data = f.read()
        name = path
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise ServingError(f"{name}: line {lineno}: not UTF-8 text ({exc.reason})") from None
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    return lines


def detect_format(path: str, lines: Sequence[str]) -> str:
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return "jsonl"
    if lower.endswith(".tsv"):
        return "tsv"
    first = next((line for line in lines if line.strip()), "")
    return "jsonl" if first.lstrip().startswith("{") else "text"


def read_examples(path: str, qa: bool, fmt: str = "auto") -> tuple[list[Example], ReadStats]:
    """Examples from JSONL, TSV (with a header row) or plain text (one text per line); ``-`` is stdin.

    Blank lines are skipped and counted; anything else malformed is an error naming the file and line.
    """
    name = "<stdin>" if path == "-" else path
    lines = _read_lines(path)
    if fmt == "auto":
        fmt = detect_format(path, lines)
    if fmt not in ("jsonl", "tsv", "text"):
        raise ServingError(f"--format: expected auto, jsonl, tsv or text, got {fmt!r}")
    stats = ReadStats(lines=len(lines))
    examples: list[Example] = []
    if fmt == "text":
        if qa:
            raise ServingError(
                f"{name}: plain text input is for single-text tasks; give JSONL with 'question' and 'context'"
            )
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                stats.blank += 1
                continue
            examples.append(Example(line=lineno, text_a=line))
    elif fmt == "jsonl":
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                stats.blank += 1
                continue
            try:
                obj = json_loads(line)
            except json.JSONDecodeError as exc:
                raise ServingError(
                    f"{name}: line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            except JsonTextError as exc:
                raise ServingError(f"{name}: line {lineno}: {exc}") from None
            if not isinstance(obj, dict):
                raise ServingError(f"{name}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
            examples.append(
                _example_from_fields(obj, qa, name, lineno, obj.get(QA_GOLD_KEY if qa else GOLD_KEY))
            )
    else:
        header_index = next((k for k, line in enumerate(lines) if line.strip()), None)
        if header_index is None:
            raise ServingError(f"{name}: no input lines")
        header = lines[header_index].split("\t")
        columns = {}
        gold_names = _TSV_QA_GOLD if qa else _TSV_GOLD
        names = {column.strip() for column in header}
        pairs = not qa and set(_TSV_PAIR_COLUMNS) <= names
        for k, column in enumerate(header):
            column = column.strip()
            key = (
                "gold"
                if column in gold_names
                else (pairs and _TSV_PAIR_COLUMNS.get(column)) or _TSV_COLUMNS.get(column)
            )
            if key is not None and key not in columns:
                columns[key] = k
        needed = ("question", "context") if qa else ("text_a",)
        missing = [key for key in needed if key not in columns]
        if missing:
            raise ServingError(
                f"{name}: line {header_index + 1}: the TSV header needs a column {' and '.join(missing)} "
                f"(found: {', '.join(header)})"
            )
        stats.blank += header_index
        for lineno, line in enumerate(lines[header_index + 1 :], header_index + 2):
            if not line.strip():
                stats.blank += 1
                continue
            cells = line.split("\t")
            if len(cells) <= max(columns.values()):
                raise ServingError(
                    f"{name}: line {lineno}: {len(cells)} columns, the header has {len(header)}"
                )
            fields = {key: cells[k] for key, k in columns.items()}
            gold = fields.pop("gold", None)
            examples.append(_example_from_fields(fields, qa, name, lineno, gold))
    if not examples:
        raise ServingError(f"{name}: no input lines")
    return examples, stats


def _example_from_fields(obj: dict, qa: bool, name: str, lineno: int, gold: Any = None) -> Example:
    def text(key: str, required: bool) -> Optional[str]:
        value = obj.get(key)
        if value is None:
            if required:
                raise ServingError(f"{name}: line {lineno}: missing key '{key}'")
            return None
        if not isinstance(value, str):
            raise ServingError(
                f"{name}: line {lineno}: key '{key}' must be a string, got {type(value).__name__}"
            )
        return value

    if qa:
        question, context = text("question", True), text("context", True)
        if not context.strip():
            raise ServingError(f"{name}: line {lineno}: key 'context' is empty")
        return Example(line=lineno, question=question, context=context, id=obj.get("id"), gold=gold)
    return Example(
        line=lineno, text_a=text("text_a", True), text_b=text("text_b", False), id=obj.get("id"), gold=gold
    )


__all__ = ["GOLD_KEY", "QA_GOLD_KEY", "Example", "ReadStats", "detect_format", "read_examples"]
