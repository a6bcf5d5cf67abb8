"""Benchmark file readers: the files as their authors distribute them, every row accounted for.

Each reader returns a ``ReadResult``: the examples, the number of rows seen, and two lists of
``DataIssue`` (file, line or key, reason): ``malformed`` rows (wrong field count, unknown label,
invalid JSON, ...) and ``skipped`` rows that the benchmark itself excludes (NLI pairs whose gold
label is ``-``, blank lines). Nothing is dropped without being counted; the trainer reports both
and ``--strict`` turns malformed rows into an error.

TSV files are split on tabs only, quotes are ordinary characters (csv ``QUOTE_NONE``: GLUE's
sentences contain unbalanced quotes), lines end at ``\\n`` only (some texts contain other Unicode
line separators) and each line is decoded on its own so one bad byte costs one row, not the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

from ..errors import UsageError
from ..files import JsonTextError, json_loads
from .benchmarks import CLUE_JSON, NER_TSV, REGRESSION, SQUAD_JSON, TSV, BenchmarkSpec


@dataclass
class DataIssue:
    path: str
    line: Optional[int]  # 1-based physical line; None for whole-file JSON (then ``key`` says where)
    reason: str
    key: Optional[str] = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else str(self.key)
        return f"{self.path}: {where}: {self.reason}"


@dataclass
class TextExample:
    text_a: str
    text_b: Optional[str] = None
    label: Union[int, float, None] = None  # label id, regression target, or None (unlabelled)
    index: Optional[str] = None  # the id a submission file refers to (GLUE index, CLUE id)
    qid: Optional[str] = None  # question group (NLPCC-DBQA)
    line: int = 0


@dataclass
class NerExample:
    units: list  # characters (Chinese) or words, one label each
    labels: Optional[list] = None  # label ids, or None (unlabelled)
    index: Optional[str] = None
    line: int = 0


@dataclass
class MrcExample:
    qid: str
    question: str
    context: str
    answers: list  # [{"text": str, "answer_start": int or None}]; start None: text not found in the context
    key: str = ""


@dataclass
class ReadResult:
    path: str
    examples: list
    rows: int = 0  # data rows seen (header and blank lines excluded)
    labelled: bool = True
    malformed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # fixed in place (e.g. a corrected answer_start), not lost

    def summary(self) -> dict:
        return {
            "path": self.path,
            "rows": self.rows,
            "examples": len(self.examples),
            "labelled": self.labelled,
            "malformed": len(self.malformed),
            "skipped": len(self.skipped),
            "notes": len(self.notes),
        }


class LabelSet:
    """Label strings in id order, plus the spellings that map onto them."""

    def __init__(self, labels: tuple, aliases: Optional[dict] = None, no_gold: tuple = ()):
        self.labels = tuple(labels)
        self.aliases = dict(aliases or {})
        self.no_gold = tuple(no_gold)
        self._ids = {label: i for i, label in enumerate(self.labels)}

    def id(self, value: str) -> Optional[int]:
        return self._ids.get(self.aliases.get(value, value))

    @property
    def id2label(self) -> dict:
        return {str(i): label for i, label in enumerate(self.labels)}

    @classmethod
    def for_task(cls, spec: BenchmarkSpec, label_map_path: Optional[str] = None) -> LabelSet:
        """The task's labels; an ERNIE ``label_map.json`` (label -> id) redefines the ids if given."""
        if label_map_path is None:
            return cls(spec.labels, spec.label_aliases, spec.no_gold_labels)
        try:
            with open(label_map_path, encoding="utf-8") as f:
                mapping = json.load(f)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{label_map_path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(mapping, dict) or not mapping:
            raise UsageError(f"{label_map_path}: expected a JSON object label -> id")
        by_id: dict[int, str] = {}
        aliases = dict(spec.label_aliases)
        for name, index in mapping.items():
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise UsageError(
                    f"{label_map_path}: key {name!r}: id must be a non-negative integer, got {index!r}"
                )
            canonical = spec.label_aliases.get(name, name)
            if index in by_id and by_id[index] != canonical:
                # Two spellings of one class (XNLI: contradictory/contradiction): prefer the benchmark's own.
                keep, other = (
                    (by_id[index], canonical) if by_id[index] in spec.labels else (canonical, by_id[index])
                )
                aliases[other] = keep
                canonical = keep
            by_id[index] = canonical
        if sorted(by_id) != list(range(len(by_id))):
            raise UsageError(f"{label_map_path}: label ids must be 0..{len(by_id) - 1}, got {sorted(by_id)}")
        labels = tuple(by_id[i] for i in range(len(by_id)))
        if spec.labels and set(labels) != set(spec.labels):
            raise UsageError(
                f"{label_map_path}: labels {sorted(labels)} differ from the {spec.name} labels {sorted(spec.labels)}"
            )
        return cls(labels, aliases, spec.no_gold_labels)


# ---------------------------------------------------------------------------------------------- lines
def _lines(path: str) -> Iterator[tuple[int, Optional[str], Optional[str]]]:
    """``(line number, text, error)`` per physical line; the UTF-8 BOM of the first line is dropped."""
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such data file")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip(b"\n")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 (byte {exc.start})"


# ---------------------------------------------------------------------------------------------- TSV
def _layout(spec: BenchmarkSpec, first: list, path: str, columns: Optional[list]) -> tuple[dict, int, bool]:
    """Column index per role, the expected field count, and whether the first row is a header."""
    text_a_names = spec.columns.get("text_a", ())
    if any(name in first for name in text_a_names):
        index = {}
        for role, names in spec.columns.items():
            for name in names:
                if name in first:
                    index[role] = first.index(name)
                    break
        return index, len(first), True
    layout = list(columns) if columns else spec.headerless.get(len(first))
    if layout is None:
        known = (
            ", ".join(f"{n} columns ({'/'.join(r)})" for n, r in sorted(spec.headerless.items())) or "none"
        )
        raise UsageError(
            f"{path}: line 1: no header naming {'/'.join(text_a_names)} and {len(first)} columns match no "
            f"headerless {spec.name} layout (known: {known}); set data.columns"
        )
    roles = {"text_a", "text_b", "label", "index", "qid"}
    unknown = [r for r in layout if r not in roles and r not in ("source", "author_label", "skip")]
    if columns and unknown:
        raise UsageError(f"data.columns: unknown column role(s) {unknown}; use {sorted(roles)} or 'skip'")
    return {role: i for i, role in enumerate(layout) if role in roles}, len(layout), False


def read_tsv(
    spec: BenchmarkSpec, path: str, labels: Optional[LabelSet] = None, columns: Optional[list] = None
) -> ReadResult:
    labels = labels or LabelSet.for_task(spec)
    result = ReadResult(path=path, examples=[])
    index = width = None
    group_by_question = spec.metrics == "mrr_f1"
    last_question, qnum = None, -1
    for number, text, error in _lines(path):
        if error:
            result.rows += 1
            result.malformed.append(DataIssue(path, number, error))
            continue
        if text.strip() == "":
            result.skipped.append(DataIssue(path, number, "blank line"))
            continue
        fields = text.split("\t")
        if index is None:
            index, width, is_header = _layout(spec, fields, path, columns)
            result.labelled = "label" in index
            if spec.pair and "text_b" not in index:
                raise UsageError(
                    f"{path}: line {number}: no second-text column for the sentence-pair task {spec.name}"
                )
            if is_header:
                continue
        result.rows += 1
        if len(fields) != width:
            result.malformed.append(
                DataIssue(path, number, f"expected {width} tab-separated fields, found {len(fields)}")
            )
            continue
        example = TextExample(text_a=fields[index["text_a"]], line=number)
        if "text_b" in index:
            example.text_b = fields[index["text_b"]]
        if "index" in index:
            example.index = fields[index["index"]].strip()
        else:
            example.index = str(result.rows - 1)
        if "label" in index:
            raw = fields[index["label"]].strip()
            if spec.kind == REGRESSION:
                try:
                    example.label = float(raw)
                except ValueError:
                    result.malformed.append(DataIssue(path, number, f"score {raw!r} is not a number"))
                    continue
            else:
                label_id = labels.id(raw)
                if label_id is None:
                    if raw in labels.no_gold:
                        result.skipped.append(DataIssue(path, number, f"no gold label ({raw!r})"))
                    else:
                        expected = ", ".join(labels.labels)
                        result.malformed.append(
                            DataIssue(path, number, f"unknown label {raw!r} (expected {expected})")
                        )
                    continue
                example.label = label_id
        if "qid" in index:
            example.qid = fields[index["qid"]].strip()
        elif group_by_question:
            if example.text_a != last_question:
                last_question, qnum = example.text_a, qnum + 1
            example.qid = str(qnum)
        result.examples.append(example)
    if index is None:
        raise UsageError(f"{path}: the file has no rows")
    return result


# ---------------------------------------------------------------------------------------------- CLUE JSON
def read_clue_json(spec: BenchmarkSpec, path: str, labels: Optional[LabelSet] = None) -> ReadResult:
    labels = labels or LabelSet.for_task(spec)
    result = ReadResult(path=path, examples=[])
    keys = spec.json_fields
    labelled: Optional[bool] = None
    for number, text, error in _lines(path):
        if error:
            result.rows += 1
            result.malformed.append(DataIssue(path, number, error))
            continue
        if text.strip() == "":
            result.skipped.append(DataIssue(path, number, "blank line"))
            continue
        result.rows += 1
        try:
            obj = json_loads(text)
        except json.JSONDecodeError as exc:
            result.malformed.append(DataIssue(path, number, f"invalid JSON ({exc.msg})"))
            continue
        except JsonTextError as exc:
            result.malformed.append(DataIssue(path, number, str(exc)))
            continue
        if not isinstance(obj, dict):
            result.malformed.append(
                DataIssue(path, number, f"expected a JSON object, got {type(obj).__name__}")
            )
            continue
        if labelled is None:
            labelled = keys["label"] in obj
        values = {}
        missing = [keys[r] for r in ("text_a", "text_b") if r in keys and keys[r] not in obj]
        if labelled and keys["label"] not in obj:
            missing.append(keys["label"])
        if missing:
            result.malformed.append(
                DataIssue(path, number, f"missing key(s) {', '.join(repr(m) for m in missing)}")
            )
            continue
        for role in ("text_a", "text_b"):
            if role in keys:
                value = obj[keys[role]]
                values[role] = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        example = TextExample(text_a=values["text_a"], text_b=values.get("text_b"), line=number)
        example.index = str(obj[keys["index"]]) if keys.get("index") in obj else str(result.rows - 1)
        if labelled:
            raw = str(obj[keys["label"]]).strip()
            label_id = labels.id(raw)
            if label_id is None:
                if raw in labels.no_gold:
                    result.skipped.append(DataIssue(path, number, f"no gold label ({raw!r})"))
                else:
                    result.malformed.append(
                        DataIssue(
                            path, number, f"unknown label {raw!r} (expected {', '.join(labels.labels)})"
                        )
                    )
                continue
            example.label = label_id
        result.examples.append(example)
    result.labelled = bool(labelled)
    return result


# ---------------------------------------------------------------------------------------------- NER
def read_ner_tsv(
    spec: BenchmarkSpec, path: str, labels: Optional[LabelSet] = None, columns: Optional[list] = None
) -> ReadResult:
    """``text_a<TAB>label``: units and tags joined by \\x02 (ERNIE task data) or by spaces (UER/CLUE copies)."""
    labels = labels or LabelSet.for_task(spec)
    result = ReadResult(path=path, examples=[])
    index = width = None
    for number, text, error in _lines(path):
        if error:
            result.rows += 1
            result.malformed.append(DataIssue(path, number, error))
            continue
        if text.strip() == "":
            result.skipped.append(DataIssue(path, number, "blank line"))
            continue
        fields = text.split("\t")
        if index is None:
            index, width, is_header = _layout(spec, fields, path, columns)
            result.labelled = "label" in index
            if is_header:
                continue
        result.rows += 1
        if len(fields) != width:
            result.malformed.append(
                DataIssue(path, number, f"expected {width} tab-separated fields, found {len(fields)}")
            )
            continue
        raw_units = fields[index["text_a"]]
        separator = "\x02" if "\x02" in text else " "
        units = raw_units.split(separator)
        example = NerExample(units=units, index=str(result.rows - 1), line=number)
        if "label" in index:
            tags = fields[index["label"]].split(separator)
            if len(tags) != len(units):
                result.malformed.append(DataIssue(path, number, f"{len(units)} units but {len(tags)} labels"))
                continue
            ids = [labels.id(t.strip()) for t in tags]
            if None in ids:
                bad = tags[ids.index(None)]
                result.malformed.append(
                    DataIssue(path, number, f"unknown label {bad!r} (expected {', '.join(labels.labels)})")
                )
                continue
            example.labels = ids
        if any(u == "" for u in units):
            result.malformed.append(DataIssue(path, number, "empty unit (two separators in a row)"))
            continue
        result.examples.append(example)
    if index is None:
        raise UsageError(f"{path}: the file has no rows")
    return result


# ---------------------------------------------------------------------------------------------- SQuAD
def _locate_answer(context: str, text: str, start) -> tuple[Optional[int], bool]:
    """The answer's start in ``context``: the given one if it matches, else the nearest occurrence."""
    if isinstance(start, int) and not isinstance(start, bool) and context[start : start + len(text)] == text:
        return start, False
    hits, pos = [], context.find(text)
    while pos >= 0 and text:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    if not hits:
        return None, False
    target = start if isinstance(start, int) else 0
    return min(hits, key=lambda h: (abs(h - target), h)), True


def read_squad(spec: BenchmarkSpec, path: str) -> ReadResult:
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such data file")
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json_loads(f.read())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except JsonTextError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 (byte {exc.start})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UsageError(f"{path}: not a SQuAD file (no top-level 'data' list)")
    result = ReadResult(path=path, examples=[], labelled=False)
    for a, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            result.malformed.append(DataIssue(path, None, "no 'paragraphs' list", key=f"data[{a}]"))
            continue
        for p, para in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if (
                not isinstance(para, dict)
                or not isinstance(para.get("context"), str)
                or not isinstance(para.get("qas"), list)
            ):
                result.malformed.append(
                    DataIssue(path, None, "needs a 'context' string and a 'qas' list", key=where)
                )
                continue
            context = para["context"]
            for q, qa in enumerate(para["qas"]):
                key = f"{where}.qas[{q}]"
                result.rows += 1
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or "id" not in qa:
                    result.malformed.append(DataIssue(path, None, "needs 'id' and 'question'", key=key))
                    continue
                key = f"question {qa['id']}"
                answers = []
                for ans in qa.get("answers") or []:
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                        result.malformed.append(DataIssue(path, None, "an answer without 'text'", key=key))
                        answers = None
                        break
                    start, moved = _locate_answer(context, ans["text"], ans.get("answer_start"))
                    if start is None:
                        result.notes.append(
                            DataIssue(path, None, f"answer {ans['text']!r} is not in the context", key=key)
                        )
                    elif moved:
                        result.notes.append(
                            DataIssue(
                                path,
                                None,
                                f"answer_start {ans.get('answer_start')} corrected to {start}",
                                key=key,
                            )
                        )
                    answers.append({"text": ans["text"], "answer_start": start})
                if answers is None:
                    continue
                result.labelled = result.labelled or bool(answers)
                result.examples.append(MrcExample(str(qa["id"]), qa["question"], context, answers, key=key))
    return result


def read_split(
    spec: BenchmarkSpec, path: str, labels: Optional[LabelSet] = None, columns: Optional[list] = None
) -> ReadResult:
    """Read one data file of ``spec``'s task in the task's format."""
    if spec.format == TSV:
        return read_tsv(spec, path, labels, columns)
    if spec.format == CLUE_JSON:
        return read_clue_json(spec, path, labels)
    if spec.format == NER_TSV:
        return read_ner_tsv(spec, path, labels, columns)
    if spec.format == SQUAD_JSON:
        return read_squad(spec, path)
    raise ValueError(f"unknown format {spec.format}")
