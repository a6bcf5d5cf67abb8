"""Backends and precisions: ONNX Runtime fp32 answers as Paddle does for every head; int8 and bf16 exports load,
run, record their precision and agree with fp32 on real text (the calibration report); ``--backend``
overrides the export's; a missing optional package is one line, exit status 2."""

from __future__ import annotations

import json
import logging
import os
import sys

import numpy as np
import pytest

from tests.serving.helpers import build_checkpoint, head_lines, run_predict

paddle = pytest.importorskip("paddle")

from ernie.serving import META_SUFFIX, Example, Predictor, ServingError, export_model, read_examples  # noqa: E402
from ernie.serving.calibration import compare  # noqa: E402
from ernie.serving.paddle_backend import fast_bf16  # noqa: E402

TOL = 1e-4
# Agreement of int8 with fp32 on these 200 SST-2 dev sentences, measured with this tiny random classifier
# for seeds 1-4 (those whose labels vary): 96.5-99.5% (this one, seed 2: 99%), on an AMD EPYC without VNNI.
# Random weights leave many probabilities near 0.5, where a small change flips the label; a fine-tuned model
# is more confident. bf16 is held to the same: issue 20 measured it closer to fp32 than int8 on base (max
# probability difference 2.2e-3 against 4.9e-3); where the CPU lacks avx512_bf16 it runs fp32.
MIN_AGREEMENT = 0.95
# The largest probability differences measured for int8 on those rows: 0.019-0.036.
MAX_PROB_DIFF = 0.1
TEXTS = ["the film was great !", "john smith lives in new york and works in paris", "bad", "what a movie"]
PAIRS = ["good", "mary lives in london", "not good at all", "the city"]
QUESTIONS = [("who lives in paris ?", "john smith lives in paris and mary lives in london .")] * 2


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    pytest.importorskip("paddle2onnx", reason="paddle2onnx (requirements-dev.txt) makes the ONNX models")
    pytest.importorskip("onnxruntime", reason="onnxruntime (requirements-dev.txt) is the second backend")
    return str(tmp_path_factory.mktemp("backends"))


@pytest.fixture(scope="module")
def sst2_rows(root, shared_data, tmp_path_factory) -> str:
    """The first 200 rows of the real SST-2 dev file, with their gold labels."""
    target = tmp_path_factory.mktemp("sst2") / "dev.tsv"
    return head_lines(os.path.join(shared_data, "glue", "SST-2", "dev.tsv"), target, 200)


@pytest.fixture(scope="module")
def sst2_classifier(root, shared_data, sst2_rows) -> str:
    """A tiny random two-label classifier over the official English vocabulary (SST-2's labels 0 and 1)
    whose fp32 labels vary over the SST-2 rows, so that agreeing is not agreeing on a constant."""
    directory, model, _ = build_checkpoint(
        root,
        "cls",
        vocab_file=os.path.join(shared_data, "ernie_official", "vocab_en.txt"),
        seed=2,
        num_labels=2,
        id2label={"0": "0", "1": "1"},
    )
    paddle.seed(102)
    with paddle.no_grad():  # the initialiser's weights (std 0.02) give every sentence the same label
        for parameter in model.parameters():
            if parameter.ndim == 2:
                parameter.set_value(paddle.randn(parameter.shape) * 0.2)
    model.save_pretrained(directory)
    return directory


def examples_for(head: str) -> list[Example]:
    if head == "qa":
        return [Example(line=k + 1, question=q, context=c) for k, (q, c) in enumerate(QUESTIONS)]
    return [Example(line=k + 1, text_a=a, text_b=b) for k, (a, b) in enumerate(zip(TEXTS, PAIRS))]


def read_meta(prefix: str) -> dict:
    with open(prefix + META_SUFFIX, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------------------------------ fp32
@pytest.mark.parametrize("head", ["cls", "reg", "ner", "qa"])
def test_onnxruntime_fp32_answers_as_paddle(root, head):
    directory, _, tokenizer = build_checkpoint(root, head)
    prefix = export_model(
        directory, os.path.join(root, f"ort-{head}", "inference"), backend="onnxruntime"
    ).prefix
    meta = read_meta(prefix)
    assert (meta["precision"], meta["backend"], meta["onnx_file"]) == (
        "fp32",
        "onnxruntime",
        "inference.onnx",
    )
    assert meta["int8_onnx_file"] is None and meta["calibration"] is None
    served = Predictor(prefix, threads=1)  # the export's backend
    reference = Predictor(prefix, threads=1, backend="paddle")
    assert (served.backend, served.precision, reference.backend) == ("onnxruntime", "fp32", "paddle")

    enc = tokenizer(TEXTS, PAIRS, padding=True)
    ids, types = np.array(enc["input_ids"]), np.array(enc["token_type_ids"])
    assert (ids == tokenizer.pad_token_id).any()
    got, want = served.run(ids, types), reference.run(ids, types)
    assert len(got) == len(want) == len(meta["outputs"])
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.abs(g - w).max() <= TOL

    results, expected = served.predict(examples_for(head)), reference.predict(examples_for(head))
    if head == "cls":
        assert [r["label"] for r in results] == [r["label"] for r in expected]
        assert np.abs(np.array([r["probs"] for r in results]) - [r["probs"] for r in expected]).max() <= TOL
    elif head == "reg":
        assert np.abs(np.array([r["score"] for r in results]) - [r["score"] for r in expected]).max() <= TOL
    elif head == "ner":
        assert results == expected
    else:  # the same span; its score (a sum of logits) within the tolerance
        assert [(r["answer"]["start"], r["answer"]["end"]) for r in results] == [
            (r["answer"]["start"], r["answer"]["end"]) for r in expected
        ]
        assert all(
            abs(a["answer"]["score"] - b["answer"]["score"]) <= 2 * TOL for a, b in zip(results, expected)
        )


# ------------------------------------------------------------------------------------------ int8, bf16
def test_int8_export_runs_on_onnxruntime_and_agrees_with_fp32(root, sst2_classifier, sst2_rows):
    prefix = os.path.join(root, "int8", "inference")
    result = export_model(sst2_classifier, prefix, precision="int8", calibrate=sst2_rows)
    meta = read_meta(prefix)
    assert (meta["precision"], meta["backend"]) == ("int8", "onnxruntime")
    assert meta["int8_onnx_file"] == "inference.int8.onnx" and meta["onnx_file"] is None
    assert "inference.int8.onnx" in result.files and not os.path.exists(prefix + ".onnx")  # the fp32 step
    # The int8 model is smaller than the parameters it was made from (embeddings stay fp32).
    assert os.path.getsize(prefix + ".int8.onnx") < os.path.getsize(prefix + ".pdiparams")

    report = meta["calibration"]
    assert report["file"] == sst2_rows and report["examples"] == 200 and report["labelled"] == 200
    assert report["reference"] == {"backend": "paddle", "precision": "fp32"}
    assert report["measured"] == {"backend": "onnxruntime", "precision": "int8"}
    print(f"int8 agreement {report['agreement']:.3f}, max prob diff {report['max_prob_diff']:.3g}")
    assert report["agreement"] >= MIN_AGREEMENT
    assert report["different"] == round((1 - report["agreement"]) * 200)
    assert 0 < report["max_prob_diff"] <= MAX_PROB_DIFF  # int8 really ran: outputs differ a little
    assert set(report["metrics"]) == {"reference", "measured"}
    assert {"acc", "f1"} <= set(report["metrics"]["measured"])
    assert (
        abs(report["metrics"]["measured"]["acc"] - report["metrics"]["reference"]["acc"]) <= 1 - MIN_AGREEMENT
    )

    # The predictor serves the int8 model by default, and says so.
    predictor = Predictor(prefix, threads=1)
    assert (predictor.backend, predictor.precision) == ("onnxruntime", "int8")
    fp32 = Predictor(prefix, threads=1, backend="paddle", precision="fp32")
    labels = [r["label"] for r in fp32.predict(read_examples(sst2_rows, qa=False)[0])]
    assert 40 <= labels.count("1") <= 160  # both labels, often: the agreement is not of a constant
    examples = [Example(line=k, text_a=text) for k, text in enumerate(TEXTS)]
    diffs = [
        np.abs(np.array(a["probs"]) - b["probs"]).max()
        for a, b in zip(predictor.predict(examples), fp32.predict(examples))
    ]
    assert max(diffs) <= MAX_PROB_DIFF


def test_bf16_export_runs_on_paddle_and_records_its_calibration(root, sst2_classifier, sst2_rows, caplog):
    prefix = os.path.join(root, "bf16", "inference")
    with caplog.at_level(logging.WARNING, logger="ernie"):
        export_model(sst2_classifier, prefix, precision="bf16", calibrate=sst2_rows)
    meta = read_meta(prefix)
    assert (meta["precision"], meta["backend"], meta["onnx_file"], meta["int8_onnx_file"]) == (
        "bf16",
        "paddle",
        None,
        None,
    )
    ran = "bf16" if fast_bf16() else "fp32"
    if ran == "fp32":
        assert "calibration: bf16 ran as fp32 here, so the report says nothing about bf16" in caplog.text
    report = meta["calibration"]
    assert report["measured"] == {"backend": "paddle", "precision": ran}
    assert report["agreement"] >= MIN_AGREEMENT and report["max_prob_diff"] <= MAX_PROB_DIFF
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ernie"):
        predictor = Predictor(prefix, threads=1)
    assert (predictor.backend, predictor.precision) == ("paddle", ran)
    if ran == "fp32":  # this CPU has no avx512_bf16: fp32, and a warning saying so
        assert (
            "precision bf16 needs oneDNN on a CPU with avx512_bf16 (this CPU has none): running fp32"
            in caplog.text
        )
        fp32 = Predictor(prefix, threads=1, precision="fp32")
        assert predictor.predict(examples_for("cls")) == fp32.predict(examples_for("cls"))
    with pytest.raises(ServingError, match="precision bf16 runs on paddle, not onnxruntime"):
        Predictor(prefix, threads=1, backend="onnxruntime")


def test_calibration_of_token_classification_compares_entities(root):
    directory, _, _ = build_checkpoint(root, "ner", seed=3)
    examples = root + "/ner.jsonl"
    with open(examples, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps({"text_a": text}) + "\n" for text in TEXTS))
    prefix = os.path.join(root, "ner-int8", "inference")
    report = export_model(directory, prefix, precision="int8", calibrate=examples).meta["calibration"]
    assert report["examples"] == len(TEXTS) and "metrics" not in report and "max_prob_diff" not in report
    assert 0 <= report["agreement"] <= 1 and report["different"] == round(
        (1 - report["agreement"]) * len(TEXTS)
    )
    # Numbers-only heads have no agreement, only their largest difference.
    assert compare("regression", [{"score": 1.0}], [{"score": 1.25}]) == {
        "agreement": None,
        "max_score_diff": 0.25,
    }
    assert (
        compare("encoder", [{"embedding": [0.0, 1.0]}], [{"embedding": [0.5, 1.0]}])["max_embedding_diff"]
        == 0.5
    )


# ------------------------------------------------------------------------------------------ --backend
def test_backend_flag_overrides_the_exports(root, monkeypatch, capsys, tmp_path):
    directory, _, _ = build_checkpoint(root, "cls", seed=1)
    prefix = str(tmp_path / "both" / "inference")
    export_model(directory, prefix, backend="onnxruntime")  # fp32 on onnxruntime: program and ONNX model
    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    outputs = {}
    for flags in ([], ["--backend", "paddle"], ["--backend", "onnxruntime"]):
        code, out, err = run_predict(["--model", prefix, "--input", str(inputs), *flags], monkeypatch, capsys)
        assert code == 0, err
        outputs[tuple(flags)] = [json.loads(line) for line in out.splitlines()]
        backend = flags[1] if flags else "onnxruntime"
        assert f"({backend} fp32)" in err.strip().splitlines()[-1]
    paddle_probs = np.array([r["probs"] for r in outputs[("--backend", "paddle")]])
    assert np.abs(np.array([r["probs"] for r in outputs[()]]) - paddle_probs).max() <= TOL

    # An int8 export has nothing Paddle runs at int8: one line, exit status 2.
    export_model(directory, prefix, precision="int8")
    assert not os.path.exists(prefix + ".onnx")  # the fp32 ONNX model of the previous export is gone
    capsys.readouterr()  # the export's own output
    code, out, err = run_predict(
        ["--model", prefix, "--input", str(inputs), "--backend", "paddle"], monkeypatch, capsys
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {prefix + META_SUFFIX}: precision int8 runs on onnxruntime, not paddle (paddle runs fp32 and bf16)"
    )
    # A paddle fp32 export has no ONNX model: onnxruntime is refused, naming the export to make.
    export_model(directory, prefix)
    with pytest.raises(
        ServingError,
        match="no onnx_file for onnxruntime; export again with --precision fp32 --backend onnxruntime",
    ):
        Predictor(prefix, backend="onnxruntime")


def test_exports_from_before_precisions_serve_as_paddle_fp32(root, tmp_path):
    directory, _, _ = build_checkpoint(root, "cls", seed=2)
    prefix = export_model(directory, str(tmp_path / "old" / "inference")).prefix
    meta = read_meta(prefix)
    for key in ("precision", "backend", "int8_onnx_file", "calibration"):
        del meta[key]
    with open(prefix + META_SUFFIX, "w", encoding="utf-8") as f:
        json.dump(meta, f)
    predictor = Predictor(prefix, threads=1)
    assert (predictor.backend, predictor.precision) == ("paddle", "fp32")
    assert predictor.meta["precision"] == "fp32" and predictor.meta["calibration"] is None


def test_unservable_combinations_are_refused_before_any_work(root, tmp_path):
    directory, _, _ = build_checkpoint(root, "reg", seed=1)
    out = tmp_path / "out"
    with pytest.raises(ServingError, match="int8 runs on onnxruntime; paddle runs fp32 and bf16"):
        export_model(directory, str(out / "inference"), precision="int8", backend="paddle")
    with pytest.raises(ServingError, match="bf16 runs on paddle; onnxruntime runs fp32 and int8"):
        export_model(directory, str(out / "inference"), precision="bf16", backend="onnxruntime")
    with pytest.raises(ServingError, match="--precision: expected fp32, bf16, int8"):
        export_model(directory, str(out / "inference"), precision="fp16")
    # A calibration file is checked before the export too (a label the model does not have).
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text_a": "good", "label": "7"}) + "\n", encoding="utf-8")
    classifier, _, _ = build_checkpoint(root, "cls", seed=4)
    with pytest.raises(ServingError, match=f"{bad}: line 1: label '7' is not one of the model's labels"):
        export_model(classifier, str(out / "inference"), precision="int8", calibrate=str(bad))
    assert not out.exists()


# ------------------------------------------------------------------------------------------ optional packages
def test_missing_onnxruntime_is_one_line(root, tmp_path, monkeypatch, capsys):
    directory, _, _ = build_checkpoint(root, "cls", seed=5)
    prefix = export_model(directory, str(tmp_path / "ort" / "inference"), backend="onnxruntime").prefix
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(
        ServingError, match=r"needs the optional package onnxruntime .*: pip install onnxruntime$"
    ):
        export_model(directory, str(tmp_path / "int8" / "inference"), precision="int8")
    assert not (tmp_path / "int8").exists()
    with pytest.raises(ServingError, match="--backend onnxruntime needs the optional package onnxruntime"):
        export_model(directory, str(tmp_path / "int8" / "inference"), backend="onnxruntime")
    inputs = tmp_path / "in.txt"
    inputs.write_text("good\n", encoding="utf-8")
    capsys.readouterr()  # the exports' own output
    code, out, err = run_predict(["--model", prefix, "--input", str(inputs)], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        "error: --backend onnxruntime needs the optional package onnxruntime (onnxruntime is missing): "
        "pip install onnxruntime"
    )
    # Paddle still serves the same export.
    code, out, err = run_predict(
        ["--model", prefix, "--input", str(inputs), "--backend", "paddle"], monkeypatch, capsys
    )
    assert code == 0 and json.loads(out)["label"] in ("neg", "neu", "pos")


def test_missing_paddle2onnx_or_quantization_dependency_is_one_line(root, tmp_path, monkeypatch):
    directory, _, _ = build_checkpoint(root, "cls", seed=5)
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)
    with pytest.raises(
        ServingError, match="--precision int8 --backend onnxruntime needs the optional package paddle2onnx"
    ):
        export_model(directory, str(tmp_path / "out" / "inference"), precision="int8")
    monkeypatch.delitem(sys.modules, "paddle2onnx")
    # onnxruntime.quantization needs ml_dtypes, which onnxruntime does not declare: the line names both.
    for name in [name for name in sys.modules if name.startswith("onnxruntime.quantization")]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh below
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)
    with pytest.raises(ServingError, match=r"\(ml_dtypes is missing\): pip install onnxruntime ml_dtypes$"):
        export_model(directory, str(tmp_path / "out" / "inference"), precision="int8")
    assert not (tmp_path / "out").exists()
