"""Serving takes its defaults from what the model was fine-tuned with (``finetune_settings.json``).

The settings file itself (``ernie.finetune.settings_file``), its copy into the export metadata, the
predictor's defaults from there, and command-line flags that override them only when given.
"""

from __future__ import annotations

import json
import os

import pytest

from ernie.errors import UsageError
from ernie.finetune.settings_file import FINETUNE_SETTINGS_FILE, FinetuneSettings
from tests.serving.helpers import build_checkpoint, cmrc_slice, fine_tuned

SETTINGS = dict(
    benchmark="msra_ner",
    kind="ner",
    labels=["B-PER", "I-PER", "B-LOC", "I-LOC", "O"],
    max_seq_len=40,
    doc_stride=77,
    max_query_len=20,
    max_answer_len=9,
    n_best=7,
    ner_units="words",
)


# ------------------------------------------------------------------------------------------ the file
def test_settings_file_round_trip_and_absence(tmp_path):
    assert FinetuneSettings.read(str(tmp_path)) is None  # e.g. a PaddleNLP checkpoint
    path = FinetuneSettings(**SETTINGS).write(str(tmp_path))
    assert os.path.basename(path) == FINETUNE_SETTINGS_FILE
    assert json.loads(open(path, encoding="utf-8").read()) == SETTINGS
    assert FinetuneSettings.read(str(tmp_path)) == FinetuneSettings(**SETTINGS)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kind": "tagging"}, "key 'kind'"),
        ({"max_answer_len": 0}, "key 'max_answer_len' must be a positive integer"),
        ({"n_best": "20"}, "key 'n_best'"),
        ({"labels": "B-PER,O"}, "key 'labels'"),
        ({"ner_units": "pieces"}, "key 'ner_units'"),
        ({"doc_stride": None}, "key 'doc_stride'"),
    ],
)
def test_malformed_settings_name_the_file_and_key(tmp_path, change, message):
    path = tmp_path / FINETUNE_SETTINGS_FILE
    path.write_text(json.dumps({**SETTINGS, **change}), encoding="utf-8")
    with pytest.raises(UsageError, match=f"{path}: {message}"):
        FinetuneSettings.read(str(tmp_path))


def test_unreadable_settings_name_the_file(tmp_path):
    path = tmp_path / FINETUNE_SETTINGS_FILE
    path.write_text('{"benchmark": "sst2",\n}', encoding="utf-8")
    with pytest.raises(UsageError, match=f"{path}: line 2: invalid JSON"):
        FinetuneSettings.read(str(tmp_path))
    path.write_text(json.dumps({k: v for k, v in SETTINGS.items() if k != "n_best"}), encoding="utf-8")
    with pytest.raises(UsageError, match=f"{path}: missing key 'n_best'"):
        FinetuneSettings.read(str(tmp_path))
    path.write_text(json.dumps({**SETTINGS, "added_later": 1}), encoding="utf-8")  # newer keys are ignored
    assert FinetuneSettings.read(str(tmp_path)) == FinetuneSettings(**SETTINGS)


# ------------------------------------------------------------------------------------------ export and predictor
paddle = pytest.importorskip("paddle")

from ernie.serving import Predictor, ServingError, export_model  # noqa: E402
from ernie.serving.export_cli import main as export_main  # noqa: E402
from ernie.serving.predict_cli import main as predict_main  # noqa: E402


def test_export_metadata_records_the_settings_and_the_predictor_uses_them(tmp_path):
    directory, _, _ = build_checkpoint(str(tmp_path), "ner")
    FinetuneSettings(**SETTINGS).write(directory)
    result = export_model(directory, str(tmp_path / "out" / "inference"))
    meta = result.meta
    assert meta == json.loads((tmp_path / "out" / "inference.predictor.json").read_text(encoding="utf-8"))
    assert meta["finetune_settings"] is True and meta["benchmark"] == "msra_ner"
    for key in ("max_seq_len", "doc_stride", "max_query_len", "max_answer_len", "n_best", "ner_units"):
        assert meta[key] == SETTINGS[key], key

    predictor = Predictor(result.prefix, threads=1)
    assert (predictor.max_seq_len, predictor.ner_units, predictor.n_best) == (40, "words", 7)
    overridden = Predictor(result.prefix, threads=1, max_seq_len=30, ner_units="characters", n_best=3)
    assert (overridden.max_seq_len, overridden.ner_units, overridden.n_best) == (30, "characters", 3)
    # The export's own --max_seq_len wins over the settings file too.
    assert (
        export_model(directory, str(tmp_path / "out2" / "inference"), max_seq_len=24).meta["max_seq_len"]
        == 24
    )


def test_labels_come_from_the_settings_when_config_has_no_label_map(tmp_path):
    directory, _, _ = build_checkpoint(str(tmp_path), "ner")
    config_file = os.path.join(directory, "config.json")
    config = json.loads(open(config_file, encoding="utf-8").read())
    del config["id2label"]
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(ServingError, match="id2label"):
        export_model(directory, str(tmp_path / "out" / "inference"))
    FinetuneSettings(**SETTINGS).write(directory)
    assert export_model(directory, str(tmp_path / "out" / "inference")).meta["labels"] == SETTINGS["labels"]
    FinetuneSettings(**{**SETTINGS, "labels": ["B-PER", "O"]}).write(directory)
    with pytest.raises(ServingError, match=f"{FINETUNE_SETTINGS_FILE}: key 'labels': 2 labels given"):
        export_model(directory, str(tmp_path / "out" / "inference"))


def test_settings_of_another_kind_of_model_are_refused(tmp_path, capsys):
    directory, _, _ = build_checkpoint(str(tmp_path), "cls")
    FinetuneSettings(**SETTINGS).write(directory)  # says NER; the checkpoint is a sequence classifier
    with pytest.raises(ServingError, match=f"{FINETUNE_SETTINGS_FILE}: key 'kind' is 'ner'"):
        export_model(directory, str(tmp_path / "out" / "inference"))
    with open(os.path.join(directory, FINETUNE_SETTINGS_FILE), "w", encoding="utf-8") as f:
        json.dump({**SETTINGS, "kind": "classification", "n_best": -1}, f)
    with pytest.raises(SystemExit) as exit_info:
        export_main(["--model_dir", directory, "--output", str(tmp_path / "out") + "/"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {os.path.join(directory, FINETUNE_SETTINGS_FILE)}: key 'n_best'")
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def answer_tokens(tokenizer, context: str, answer: dict) -> int:
    """How many context tokens the answer span covers."""
    _, offsets = tokenizer.encode_texts([context], return_offsets=True)
    return sum(1 for start, end in offsets[0] if start >= answer["start"] and end <= answer["end"])


def test_max_answer_len_follows_the_settings_and_the_flag_overrides_it(
    encoders, shared_data, tmp_path, capsys
):
    from ernie.tokenizer import ErnieTokenizer

    source = cmrc_slice(shared_data, tmp_path)
    checkpoint, split, want = fine_tuned(
        encoders["zh"],
        "cmrc2018",
        source,
        str(tmp_path / "qa"),
        max_seq_len=128,
        doc_stride=64,
        max_answer_len=5,
    )
    export_model(checkpoint, str(tmp_path / "export" / "inference"))
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"id": e.qid, "question": e.question, "context": e.context}, ensure_ascii=False) + "\n"
            for e in split.examples
        ),
        encoding="utf-8",
    )
    tokenizer = ErnieTokenizer.from_pretrained(checkpoint)
    outputs = {}
    for name, flags in (("default", []), ("flag", ["--max_answer_len", "30"])):
        output = tmp_path / f"{name}.jsonl"
        argv = ["--model", str(tmp_path / "export"), "--input", str(questions), "--output", str(output)]
        with pytest.raises(SystemExit) as exit_info:
            predict_main([*argv, "--threads", "1", *flags])
        assert exit_info.value.code == 0, capsys.readouterr().err
        outputs[name] = [
            json.loads(line)["answer"] for line in output.read_text(encoding="utf-8").splitlines()
        ]
    lengths = {
        name: [answer_tokens(tokenizer, e.context, a) for e, a in zip(split.examples, answers)]
        for name, answers in outputs.items()
    }
    assert max(lengths["default"]) <= 5 and min(lengths["default"]) >= 1
    assert [a["text"] for a in outputs["default"]] == [w["text"] for w in want]  # fine-tuning's, at 5 tokens
    assert max(lengths["flag"]) > 5  # the flag really lifted the limit
