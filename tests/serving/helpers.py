"""Shared builders for the serving tests: tiny random-weight checkpoints of every head, and checkpoints
saved the way fine-tuning saves ``best/`` together with fine-tuning's own dev predictions.

Exports are slow-ish (a few seconds each), so each (head, vocabulary) pair is built and exported once
per test session and cached here; tests that change files work on copies.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
from typing import Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VOCAB_WORDS = (
    "the a of to and is in it that was for on with as his he film movie good bad great not "
    "john smith mary lives works in new york paris london city who where what when".split()
)
TEST_VOCAB = (
    ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
    + VOCAB_WORDS
    + ["##s", "##ing", "##ed", "##ly", ".", ",", "!", "?"]
    + list("abcdefghijklmnopqrstuvwxyz")
)
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
)

# name -> (model class, config keys)
HEADS = {
    "encoder": ("ErnieModel", {}),
    "cls": (
        "ErnieForSequenceClassification",
        {"num_labels": 3, "id2label": {"0": "neg", "1": "neu", "2": "pos"}},
    ),
    "reg": ("ErnieForSequenceClassification", {"num_labels": 1}),
    "ner": (
        "ErnieForTokenClassification",
        {"num_labels": 5, "id2label": {"0": "B-PER", "1": "I-PER", "2": "B-LOC", "3": "I-LOC", "4": "O"}},
    ),
    "qa": ("ErnieForQuestionAnswering", {}),
    "task": (
        "ErnieForSequenceClassification",
        {
            "num_labels": 2,
            "id2label": {"0": "no", "1": "yes"},
            "use_task_id": True,
            "task_type_vocab_size": 3,
            "task_id": 2,
        },
    ),
}

_CACHE: dict = {}


def write_vocab(path: str, tokens=TEST_VOCAB) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def build_checkpoint(root: str, head: str, vocab_file: Optional[str] = None, seed: int = 0, **overrides):
    """A random-weight checkpoint dir of ``head`` (save_pretrained + tokenizer files) and its eval model."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer, modeling

    vocab_file = vocab_file or write_vocab(os.path.join(root, "vocab", "vocab.txt"))
    tokenizer = ErnieTokenizer.from_pretrained(vocab_file)
    cls_name, keys = HEADS[head]
    vocab_size = max(tokenizer.vocab.values()) + 1
    config = ErnieConfig(vocab_size=vocab_size, **{**TINY, **keys, **overrides})
    paddle.seed(seed)
    model = getattr(modeling, cls_name)(config)
    # Larger classifier weights than the initialiser's make the outputs (labels, spans) vary with the input.
    if hasattr(model, "classifier"):
        with paddle.no_grad():
            model.classifier.weight.set_value(paddle.randn(model.classifier.weight.shape) * 2.0)
    model.eval()
    directory = os.path.join(root, f"ckpt-{head}-{seed}-{os.path.basename(vocab_file)}")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, model, tokenizer


def exported(root: str, head: str, vocab_file: Optional[str] = None, max_seq_len: int = 48):
    """(export prefix, dygraph model, tokenizer) for ``head``, built once per session under ``root``."""
    key = (root, head, vocab_file, max_seq_len)
    if key not in _CACHE:
        from ernie.serving import export_model

        directory, model, tokenizer = build_checkpoint(root, head, vocab_file)
        prefix = os.path.join(
            root, f"export-{head}-{os.path.basename(vocab_file or 'test')}-{max_seq_len}", "inference"
        )
        export_model(directory, prefix, max_seq_len=max_seq_len)
        _CACHE[key] = (prefix, model, tokenizer)
    return _CACHE[key]


def copy_export(prefix: str, destination: str) -> str:
    """A private copy of an export (for tests that damage it); returns the new prefix."""
    shutil.copytree(os.path.dirname(prefix), destination)
    return os.path.join(destination, os.path.basename(prefix))


# ------------------------------------------------------------------------------------------ fine-tuned
def head_lines(source: str, target, rows: int, header: bool = True) -> str:
    """The first ``rows`` data lines of a real file (and its header) written to ``target``."""
    with open(source, encoding="utf-8") as f:
        lines = f.read().split("\n")
    target.write_text("\n".join(lines[: rows + (1 if header else 0)]) + "\n", encoding="utf-8")
    return str(target)


def fine_tuned(encoder: str, benchmark: str, data_file: str, target: str, **data_overrides):
    """``fine_tuned_scored`` without the metrics."""
    return fine_tuned_scored(encoder, benchmark, data_file, target, **data_overrides)[:3]


def fine_tuned_scored(encoder: str, benchmark: str, data_file: str, target: str, **data_overrides):
    """(checkpoint dir as fine-tuning writes best/, read split, fine-tuning's dev predictions and metrics).

    The head is random (scaled up so that outputs vary with the input); fine-tuning's evaluation
    (``evaluate_splits`` with the benchmark's adapter) predicts ``data_file`` with it.
    """
    import paddle

    from ernie.finetune.adapters import make_adapter, model_class
    from ernie.finetune.benchmarks import get_benchmark
    from ernie.finetune.config import finetune_defaults
    from ernie.finetune.evaluation import evaluate_splits
    from ernie.finetune.readers import LabelSet, read_split
    from ernie.finetune.settings_file import FinetuneSettings
    from ernie.tokenizer import ErnieTokenizer

    spec = get_benchmark(benchmark)
    labels = LabelSet.for_task(spec) if spec.labels else None
    tokenizer = ErnieTokenizer.from_pretrained(encoder)
    data = {**finetune_defaults()["data"], **data_overrides}
    adapter = make_adapter(spec, labels, tokenizer, data)
    paddle.seed(7)
    model = model_class(adapter).from_pretrained(
        encoder, verbose=False, **adapter.model_overrides(), finetuning_task=spec.name
    )
    # Larger head weights than the initialiser's: labels, entities and spans then vary with the input.
    with paddle.no_grad():
        model.classifier.weight.set_value(paddle.randn(model.classifier.weight.shape) * 2.0)
    model.eval()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    FinetuneSettings.for_benchmark(spec, labels.labels if labels else None, data).write(target)
    split = read_split(spec, data_file, labels)
    features = adapter.features(split, training=False)
    metrics, predictions = evaluate_splits(model, adapter, {"dev": split}, {"dev": features}, 16)["dev"]
    return target, split, predictions, metrics


def run_predict(argv, monkeypatch, capsys):
    """tools/predict.py in this process (no paddle start-up per case): (exit code, stdout, stderr)."""
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", os.environ.get("MKL_DEBUG_CPU_TYPE", "5"))
    monkeypatch.setattr(sys, "argv", ["predict.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(os.path.join(REPO, "tools", "predict.py"), run_name="__main__")
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def cmrc_slice(shared_data, tmp_path, articles: int = 6) -> str:
    """The first ``articles`` articles of the real CMRC 2018 dev file, as a SQuAD file of their own."""
    with open(os.path.join(shared_data, "clue", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        data = json.load(f)
    path = tmp_path / "cmrc_dev.json"
    path.write_text(json.dumps({"data": data["data"][:articles]}, ensure_ascii=False), encoding="utf-8")
    return str(path)
