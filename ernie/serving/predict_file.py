"""Predict a whole example file into a JSONL file: everything checked first, the output written whole or not at all."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Iterable, Iterator, Optional, TextIO

from ..files import json_dumps, remove_quietly, writing
from .errors import ServingError
from .inputs import read_examples
from .metadata import QUESTION_ANSWERING, TOKEN_CLASSIFICATION
from .predictor import Predictor
from .scoring import describe, read_gold, score


def _kept(results: Iterable[dict[str, Any]], kept: list) -> Iterator[dict[str, Any]]:
    for result in results:
        kept.append(result)
        yield result


def _write_lines(out: TextIO, results: Iterable[dict[str, Any]]) -> int:
    count = 0
    for result in results:
        out.write(json_dumps(result, ensure_ascii=False) + "\n")
        count += 1
    return count


def check_output_path(output_path: Optional[str]) -> None:
    """Refuse an output path that cannot become a file, before any work is done."""
    if output_path in (None, "-"):
        return
    if os.path.isdir(output_path):
        raise ServingError(f"--output {output_path}: is a directory; name a file")
    parent = os.path.dirname(os.path.abspath(output_path))
    while not os.path.exists(parent):  # makedirs will create the missing part; what exists must be a dir
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ServingError(f"--output {output_path}: {parent} is not a directory")


def predict_file(
    predictor: Predictor, input_path: str, output_path: Optional[str] = None, fmt: str = "auto"
) -> str:
    """Predict every example of ``input_path`` into ``output_path`` (stdout when None or ``-``); a summary line.

    The whole input is read and checked before anything is written; a file output appears only
    when complete (written under a temporary name in its folder, then renamed). When examples carry
    gold answers, the summary ends with fine-tuning's metrics over them (``scoring``).
    """
    check_output_path(output_path)
    name = "<stdin>" if input_path == "-" else input_path
    examples, read_stats = read_examples(input_path, predictor.head == QUESTION_ANSWERING, fmt)
    gold = read_gold(
        examples, predictor.head, predictor.labels, predictor.meta.get("benchmark"), predictor.ner_units, name
    )
    results = predictor.predict_stream(examples)
    kept: list = []
    if gold is not None:
        results = _kept(results, kept)
    if output_path in (None, "-"):
        written = _write_lines(sys.stdout, results)
        sys.stdout.flush()
        where = "stdout"
    else:
        directory = os.path.dirname(os.path.abspath(output_path))
        with writing(output_path):
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(output_path)}.", suffix=".tmp", dir=directory
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    written = _write_lines(out, results)
                os.replace(tmp, output_path)
            except BaseException:
                remove_quietly(tmp)
                raise
        where = output_path
    summary = (
        f"wrote {written} lines to {where} from {name} ({predictor.backend} {predictor.precision}): "
        f"{predictor.stats.summary(predictor.head)}"
    )
    if read_stats.blank:
        summary += f", {read_stats.blank} blank lines skipped"
    if predictor.stats.truncated and predictor.head not in (QUESTION_ANSWERING, TOKEN_CLASSIFICATION):
        summary += f"; max_seq_len={predictor.max_seq_len}"
    if gold is not None:
        summary += f"; {describe(gold, score(gold, kept))}"
    return summary


__all__ = ["check_output_path", "predict_file"]
