"""Served outputs equal fine-tuning's own evaluation outputs: same model, same real examples.

Each model is a tiny random encoder (tests/fixtures/finetune/tiny.py) with a task head, saved the way
fine-tuning saves ``best/`` (weights, tokenizer, ``finetune_settings.json``). Fine-tuning's evaluation
(``evaluate_splits`` over the benchmark reader's examples) and the predictor (exported program, raw
text in) must then predict the same labels, scores, entities and answers.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.serving.helpers import cmrc_slice, fine_tuned, head_lines

paddle = pytest.importorskip("paddle")

from ernie.serving import Example, Predictor, export_model  # noqa: E402

TOL = 1e-4  # static program vs dygraph; fine-tuning also rounds probabilities to 6 digits


def served(checkpoint: str, examples: list, tmp_path, **options) -> list:
    prefix = export_model(checkpoint, str(tmp_path / "export" / "inference")).prefix
    return Predictor(prefix, threads=1, batch_size=8, **options).predict(examples)


def test_sentence_classification_pairs_and_regression_equal_finetuning(encoders, shared_data, tmp_path):
    glue = os.path.join(shared_data, "glue")
    for benchmark, folder, rows, max_seq_len in (("sst2", "SST-2", 40, 128), ("mrpc", "MRPC", 30, 24)):
        source = head_lines(os.path.join(glue, folder, "dev.tsv"), tmp_path / f"{benchmark}.tsv", rows)
        checkpoint, split, want = fine_tuned(
            encoders["en"], benchmark, source, str(tmp_path / benchmark), max_seq_len=max_seq_len
        )
        examples = [Example(line=e.line, text_a=e.text_a, text_b=e.text_b) for e in split.examples]
        predictor_dir = tmp_path / f"served-{benchmark}"
        got = served(checkpoint, examples, predictor_dir)
        assert len(got) == len(want) == rows
        assert [g["label"] for g in got] == [w["label"] for w in want]
        assert np.abs(np.array([g["probs"] for g in got]) - np.array([w["probs"] for w in want])).max() <= TOL
        # The probabilities vary with the input, so the comparison is not one of constants.
        assert np.ptp(np.array([w["probs"][0] for w in want])) > 1e-3

    # MRPC pairs at 24 tokens are cut longest-first: serving counts them as truncated.
    predictor = Predictor(str(tmp_path / "served-mrpc" / "export"), threads=1)
    predictor.predict([Example(line=e.line, text_a=e.text_a, text_b=e.text_b) for e in split.examples])
    assert predictor.stats.truncated > 0

    source = head_lines(os.path.join(glue, "STS-B", "dev.tsv"), tmp_path / "stsb.tsv", 25)
    checkpoint, split, want = fine_tuned(encoders["en"], "stsb", source, str(tmp_path / "stsb"))
    examples = [Example(line=e.line, text_a=e.text_a, text_b=e.text_b) for e in split.examples]
    got = served(checkpoint, examples, tmp_path / "served-stsb")
    assert np.abs(np.array([g["score"] for g in got]) - np.array([w["score"] for w in want])).max() <= TOL


def test_msra_ner_entities_equal_finetuning(encoders, shared_data, tmp_path):
    source = head_lines(os.path.join(shared_data, "clue", "msra_ner", "dev.tsv"), tmp_path / "dev.tsv", 30)
    # max_seq_len 32: long sentences are cut into several windows by both.
    checkpoint, split, want = fine_tuned(
        encoders["zh"], "msra_ner", source, str(tmp_path / "ner"), max_seq_len=32
    )
    texts = ["".join(e.units) for e in split.examples]
    # The file labels every non-whitespace character, so unit offsets are character offsets here.
    assert all(e.units == [c for c in t if not c.isspace()] for e, t in zip(split.examples, texts))
    got = served(checkpoint, [Example(line=k, text_a=t) for k, t in enumerate(texts)], tmp_path)
    assert [g["entities"] for g in got] == [w["entities"] for w in want]
    assert sum(len(g["entities"]) for g in got) > 0
    meta = json.loads((tmp_path / "export" / "inference.predictor.json").read_text(encoding="utf-8"))
    assert meta["ner_units"] == "characters" and meta["max_seq_len"] == 32


def test_cmrc2018_answers_equal_finetuning(encoders, shared_data, tmp_path):
    source = cmrc_slice(shared_data, tmp_path)
    checkpoint, split, want = fine_tuned(
        encoders["zh"], "cmrc2018", source, str(tmp_path / "qa"), max_seq_len=128, doc_stride=64
    )
    examples = [
        Example(line=k, question=e.question, context=e.context, id=e.qid)
        for k, e in enumerate(split.examples)
    ]
    predictor_dir = tmp_path / "served"
    got = served(checkpoint, examples, predictor_dir)
    assert len(got) == len(want) > 10
    for g, w in zip(got, want):
        assert g["id"] == w["qid"]
        assert (g["answer"]["text"], g["answer"]["start"], g["answer"]["end"]) == (
            w["text"],
            w["start"],
            w["end"],
        )
        assert abs(g["answer"]["score"] - w["score"]) <= TOL
    meta = json.loads((predictor_dir / "export" / "inference.predictor.json").read_text(encoding="utf-8"))
    assert (meta["max_seq_len"], meta["doc_stride"], meta["max_answer_len"]) == (128, 64, 100)
