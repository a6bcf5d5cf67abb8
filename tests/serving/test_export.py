"""Export: the static program answers like the dygraph model for every head; files, errors, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

import numpy as np
import pytest

from tests.conftest import paddlenlp_or_skip
from tests.serving.helpers import build_checkpoint, exported, write_vocab

paddle = pytest.importorskip("paddle")

from ernie.serving import META_SUFFIX, Example, Predictor, ServingError, export_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-4


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "inference-shared")


def padded_batch(tokenizer, texts, pairs=None):
    enc = tokenizer(texts, pairs, padding=True)
    return np.array(enc["input_ids"], dtype=np.int64), np.array(enc["token_type_ids"], dtype=np.int64)


TEXTS = ["the film was great !", "john smith lives in new york and works in paris", "bad", "what a movie"]
PAIRS = ["good", "mary lives in london", "not good at all", "the city"]


def dygraph_outputs(model, ids, types):
    with paddle.no_grad():
        out = model(paddle.to_tensor(ids), paddle.to_tensor(types))
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


@pytest.mark.parametrize("head", ["encoder", "cls", "reg", "ner", "qa", "task"])
@pytest.mark.parametrize("use_onednn", [True, False])
def test_predictor_outputs_equal_dygraph_on_padded_batches(root, head, use_onednn):
    prefix, model, tokenizer = exported(root, head)
    predictor = Predictor(prefix, threads=1, use_onednn=use_onednn)
    for pairs in (None, PAIRS):
        ids, types = padded_batch(tokenizer, TEXTS, pairs)
        assert (ids == tokenizer.pad_token_id).any()  # the batch really has padding
        got = predictor.run(ids, types)
        want = dygraph_outputs(model, ids, types)
        assert len(got) == len(want) == len(predictor.meta["outputs"])
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert np.abs(g - w).max() <= TOL


def test_meta_describes_the_export(root):
    prefix, model, tokenizer = exported(root, "task")
    with open(prefix + META_SUFFIX, encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["head"] == "sequence_classification"
    assert meta["inputs"] == ["input_ids", "token_type_ids", "task_type_ids"]
    assert meta["labels"] == ["no", "yes"]
    assert meta["task_id"] == 2 and meta["max_seq_len"] == 48 and meta["do_lower_case"] is True
    # No finetune_settings.json: fine-tuning's defaults are recorded for the predictor.
    assert meta["finetune_settings"] is False and meta["benchmark"] is None
    assert (meta["doc_stride"], meta["max_query_len"], meta["max_answer_len"], meta["n_best"]) == (
        128,
        64,
        100,
        20,
    )
    assert meta["ner_units"] is None
    directory = os.path.dirname(prefix)
    files = set(os.listdir(directory))
    assert {meta["program_file"], meta["params_file"], "vocab.txt", "tokenizer_config.json"} <= files
    assert meta["program_file"] in ("inference.json", "inference.pdmodel")
    assert not [name for name in files if name.startswith(".")]  # no temporary folder left behind
    # The task embedding matters: the default task id gives other logits than task 0.
    ids, types = padded_batch(tokenizer, TEXTS)
    got = Predictor(prefix, threads=1).run(ids, types)[0]
    with paddle.no_grad():
        task0 = model(
            paddle.to_tensor(ids),
            paddle.to_tensor(types),
            task_type_ids=paddle.zeros_like(paddle.to_tensor(ids)),
        )
    assert np.abs(got - task0.numpy()).max() > 1e-4

    for head, kind in (
        ("encoder", "encoder"),
        ("reg", "regression"),
        ("ner", "token_classification"),
        ("qa", "question_answering"),
    ):
        with open(exported(root, head)[0] + META_SUFFIX, encoding="utf-8") as f:
            meta = json.load(f)
        assert meta["head"] == kind
        assert meta["inputs"] == ["input_ids", "token_type_ids"]
        assert meta["ner_units"] == ("characters" if head == "ner" else None)


def paddlenlp_classifier(directory: str, vocab: str, num_labels: int, weight_std: Optional[float] = None):
    """A random tiny PaddleNLP 2.8.1 classifier saved with its tokenizer (as PaddleNLP users have them)."""
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieConfig as PConfig
    from paddlenlp.transformers import ErnieForSequenceClassification as PModel
    from paddlenlp.transformers import ErnieTokenizer as PTokenizer

    with open(vocab, encoding="utf-8") as f:
        vocab_size = len(f.read().splitlines())
    paddle.seed(3)
    config = PConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=num_labels,
    )
    model = PModel(config)
    if weight_std is not None:
        with paddle.no_grad():
            for parameter in model.parameters():
                if parameter.ndim == 2:
                    parameter.set_value(paddle.randn(parameter.shape) * weight_std)
    model.eval()
    model.save_pretrained(directory)
    PTokenizer(vocab).save_pretrained(directory)
    return model


@pytest.mark.parametrize("num_labels", [2, 3])
def test_paddlenlp_checkpoint_exports_and_predicts(tmp_path, num_labels):
    vocab = write_vocab(str(tmp_path / "v" / "vocab.txt"))
    directory = str(tmp_path / "pnlp")
    model = paddlenlp_classifier(directory, vocab, num_labels)
    prefix = str(tmp_path / "out" / "inference")
    if num_labels == 2:
        # PaddleNLP leaves out id2label when it equals its default (two labels); --labels still names them.
        result = export_model(directory, prefix, labels=["negative", "positive"])
        assert result.meta["labels"] == ["negative", "positive"]
        assert result.meta["labels_source"] == "--labels"
    else:
        result = export_model(directory, prefix)
        assert result.meta["labels"] == ["LABEL_0", "LABEL_1", "LABEL_2"]
        assert result.meta["labels_source"] == "config.json id2label"
    assert result.head == "sequence_classification"
    predictor = Predictor(result.prefix, threads=1)
    from paddlenlp.transformers import ErnieTokenizer as PTokenizer

    tokenizer = PTokenizer.from_pretrained(directory)
    enc = tokenizer(TEXTS, padding=True)
    ids, types = np.array(enc["input_ids"]), np.array(enc["token_type_ids"])
    assert (ids == 0).any()
    with paddle.no_grad():
        want = model(paddle.to_tensor(ids), paddle.to_tensor(types)).numpy()
    assert np.abs(predictor.run(ids, types)[0] - want).max() <= TOL


@pytest.mark.parametrize("num_labels", [2, 3])
def test_paddlenlp_classifier_without_id2label_exports_and_serves_with_no_flag(
    tmp_path, shared_data, num_labels
):
    # Before: tools/export.py refused it ("no label map") until --labels was given.
    vocab = os.path.join(shared_data, "ernie_official", "vocab_en.txt")
    directory = tmp_path / "pnlp"
    # Weights larger than the initialiser's (std 0.02), so that the labels vary with the text.
    model = paddlenlp_classifier(str(directory), vocab, num_labels, weight_std=0.2)
    saved = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if num_labels == 2:
        # PaddleNLP 2.8.1 leaves out the label map and num_labels when they are its defaults (two labels).
        assert not {"id2label", "label2id", "num_labels", "num_classes"} & set(saved)
    else:
        # It writes LABEL_0.. for other counts; a config without them (hand-made, or another PaddleNLP
        # version's) leaves only the weights to say there are three.
        assert saved["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
        del saved["id2label"], saved["label2id"]
        (directory / "config.json").write_text(json.dumps(saved), encoding="utf-8")
        assert not {"num_labels", "num_classes"} & set(saved)

    done = subprocess.run(
        [
            sys.executable,
            "tools/export.py",
            "--model_dir",
            str(directory),
            "--output",
            str(tmp_path / "out") + "/",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    names = [str(i) for i in range(num_labels)]
    assert (
        f"labels 0..{num_labels - 1} inferred from the classifier weights "
        f"(no id2label in {directory / 'config.json'})" in done.stderr
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["labels"] == names and summary["labels_source"] == "classifier weights"
    meta = json.loads((tmp_path / "out" / ("inference" + META_SUFFIX)).read_text(encoding="utf-8"))
    assert meta["labels"] == names and meta["labels_source"] == "classifier weights"
    assert meta["head"] == "sequence_classification"

    with open(os.path.join(shared_data, "glue", "SST-2", "dev.tsv"), encoding="utf-8") as f:
        sentences = [line.split("\t")[0] for line in f.read().splitlines()[1:21]]
    predictor = Predictor(summary["prefix"], threads=1, batch_size=8)
    served = predictor.predict([Example(line=k + 2, text_a=s) for k, s in enumerate(sentences)])
    from paddlenlp.transformers import ErnieTokenizer as PTokenizer

    tokenizer = PTokenizer.from_pretrained(str(directory))
    diffs = []
    for sentence, result in zip(sentences, served):
        enc = tokenizer(sentence)
        assert predictor.tokenizer(sentence)["input_ids"] == enc["input_ids"]  # the same ids go in
        with paddle.no_grad():
            logits = model(paddle.to_tensor([enc["input_ids"]]), paddle.to_tensor([enc["token_type_ids"]]))
        want = paddle.nn.functional.softmax(logits, axis=-1).numpy()[0]
        diffs.append(np.abs(np.array(result["probs"]) - want).max())
        assert result["label"] == names[int(np.argmax(want))]
    print(f"max probability difference vs PaddleNLP dygraph ({num_labels} labels): {max(diffs):.3g}")
    assert max(diffs) <= TOL
    assert len({r["label"] for r in served}) > 1  # the labels vary: the comparison is not of constants


def test_our_checkpoint_exports_through_the_cli(tmp_path):
    directory, model, tokenizer = build_checkpoint(str(tmp_path), "cls", seed=5)
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "export.py"),
            "--model_dir",
            directory,
            "--output",
            str(tmp_path / "out") + "/",
            "--max_seq_len",
            "32",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["prefix"] == str(tmp_path / "out" / "inference") and summary["max_seq_len"] == 32
    ids, types = padded_batch(tokenizer, TEXTS)
    got = Predictor(summary["prefix"], threads=1).run(ids, types)[0]
    assert np.abs(got - dygraph_outputs(model, ids, types)[0]).max() <= TOL


# ------------------------------------------------------------------------------------------ bad input
def test_classification_without_label_map_takes_labels_from_the_weights_or_from_labels(tmp_path, caplog):
    # Before: refused ("no label map") unless --labels was given.
    directory, model, tokenizer = build_checkpoint(str(tmp_path), "cls")
    config_file = os.path.join(directory, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    del config["id2label"], config["num_labels"]  # nothing in config.json says 3 (the default would be 2)
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="ernie"):
        result = export_model(directory, str(out / "inference"))
    assert result.meta["labels"] == ["0", "1", "2"]
    assert result.meta["labels_source"] == "classifier weights"
    assert f"labels 0..2 inferred from the classifier weights (no id2label in {config_file})" in caplog.text
    ids, types = padded_batch(tokenizer, TEXTS)
    got = Predictor(result.prefix, threads=1).run(ids, types)[0]
    assert np.abs(got - dygraph_outputs(model, ids, types)[0]).max() <= TOL
    # --labels still names them, and must count the weights' outputs.
    with pytest.raises(ServingError, match="2 labels given, the model has num_labels=3"):
        export_model(directory, str(out / "inference"), labels=["a", "b"])
    result = export_model(directory, str(out / "inference"), labels=["a", "b", "c"])
    assert result.meta["labels"] == ["a", "b", "c"] and result.meta["labels_source"] == "--labels"


def test_token_classification_without_label_map_is_still_refused(tmp_path):
    # Tags need their names (the predictor reads entities from B-/I-/O), so none are made up.
    directory, _, _ = build_checkpoint(str(tmp_path), "ner")
    config_file = os.path.join(directory, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    del config["id2label"]
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(ServingError, match="no label map"):
        export_model(directory, str(tmp_path / "out" / "inference"))


def test_label_map_with_wrong_ids_is_refused(tmp_path):
    directory, _, _ = build_checkpoint(str(tmp_path), "cls")
    config_file = os.path.join(directory, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    config["id2label"] = {"0": "neg", "1": "neu", "5": "pos"}
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(ServingError, match="id2label"):
        export_model(directory, str(tmp_path / "out" / "inference"))


def test_model_dir_without_tokenizer_exits_2_naming_it(tmp_path):
    directory, _, _ = build_checkpoint(str(tmp_path), "reg")
    os.remove(os.path.join(directory, "vocab.txt"))
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "export.py"),
            "--model_dir",
            directory,
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "vocab.txt" in done.stderr and directory in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_head_without_trained_weights_is_refused(tmp_path):
    # A bare encoder checkpoint relabelled as a classifier: the classifier would be random.
    directory, _, _ = build_checkpoint(str(tmp_path), "encoder")
    config_file = os.path.join(directory, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    config.update(
        architectures=["ErnieForSequenceClassification"], num_labels=2, id2label={"0": "a", "1": "b"}
    )
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(ServingError, match="no weights for .*classifier"):
        export_model(directory, str(tmp_path / "out" / "inference"))


def test_unknown_architecture_and_long_max_seq_len_are_refused(tmp_path):
    directory, _, _ = build_checkpoint(str(tmp_path), "reg")
    with pytest.raises(ServingError, match="max_position_embeddings"):
        export_model(directory, str(tmp_path / "out" / "inference"), max_seq_len=65)
    config_file = os.path.join(directory, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    config["architectures"] = ["BertForMaskedLM"]
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(ServingError, match="architectures.*BertForMaskedLM"):
        export_model(directory, str(tmp_path / "out" / "inference"))


def test_failed_export_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    directory, model, tokenizer = build_checkpoint(str(tmp_path), "cls")
    prefix = str(tmp_path / "out" / "inference")
    export_model(directory, prefix)
    before = {
        name: os.stat(os.path.join(tmp_path / "out", name)).st_mtime_ns
        for name in os.listdir(tmp_path / "out")
    }

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    # Fails after the program and parameters are written: they must not have replaced the old ones.
    from ernie.tokenizer import ErnieTokenizer

    monkeypatch.setattr(ErnieTokenizer, "save_pretrained", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(directory, prefix)
    after = {
        name: os.stat(os.path.join(tmp_path / "out", name)).st_mtime_ns
        for name in os.listdir(tmp_path / "out")
    }
    assert after == before  # same files, untouched, and no temporary folder
    ids, types = padded_batch(tokenizer, TEXTS)
    assert (
        np.abs(Predictor(prefix, threads=1).run(ids, types)[0] - dygraph_outputs(model, ids, types)[0]).max()
        <= TOL
    )


# ------------------------------------------------------------------------------------------ ONNX
def test_onnx_export_matches_dygraph(root, tmp_path):
    pytest.importorskip("paddle2onnx")
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    directory, model, tokenizer = build_checkpoint(str(tmp_path), "qa", seed=4)
    result = export_model(directory, str(tmp_path / "out" / "inference"), onnx=True)
    assert result.meta["onnx_file"] == "inference.onnx"
    graph = onnx.load(str(tmp_path / "out" / "inference.onnx"))
    assert [i.name for i in graph.graph.input] == ["input_ids", "token_type_ids"]
    ids, types = padded_batch(tokenizer, TEXTS, PAIRS)
    got = ReferenceEvaluator(graph).run(None, {"input_ids": ids, "token_type_ids": types})
    for g, w in zip(got, dygraph_outputs(model, ids, types)):
        assert np.abs(g - w).max() <= TOL


def test_onnx_without_paddle2onnx_says_so_and_writes_nothing(tmp_path, monkeypatch):
    directory, _, _ = build_checkpoint(str(tmp_path), "reg")
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)  # import now raises ImportError
    with pytest.raises(ServingError, match="pip install paddle2onnx"):
        export_model(directory, str(tmp_path / "out" / "inference"), onnx=True)
    assert not (tmp_path / "out").exists()
