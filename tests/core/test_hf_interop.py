"""HF transformers ERNIE folders, both ways.

Reading needs no torch: a transformers-written folder (``generated/hf_ernie_tiny`` in ERNIE_TEST_DATA, a random
``ErnieForSequenceClassification`` with task embeddings) must give transformers' own logits on real SST-2
sentences. That model's attention is nearly uniform (small random weights), so its logits hardly see the
query/key weights; a sharpened copy is checked against a numpy restatement of transformers' forward pass,
itself checked against the reference logits. Writing (``--to hf``) must reproduce the names, shapes and
dtypes of the transformers-written file; with transformers installed (requirements-dev.txt), transformers
loads what we write and gives the same outputs, for every head.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ernie import (
    ErnieForPretraining,
    ErnieForQuestionAnswering,
    ErnieForSequenceClassification,
    ErnieForTokenClassification,
    ErnieModel,
    ErnieTokenizer,
)
from ernie.checkpoint import is_hf_checkpoint
from ernie.conversion import convert_hf_checkpoint, convert_official_checkpoint, export_hf_checkpoint
from ernie.errors import CheckpointError
from ernie.weight_files import read_safetensors
from tests.core.test_checkpoint import (
    official_config_json,
    official_dygraph_names,
    run_converter,
    state_numpy,
    tiny,
)

TOL = 1e-4  # the bound; float32 noise here is ~3e-7


@pytest.fixture(scope="module")
def hf_dir(shared_data) -> str:
    return os.path.join(shared_data, "generated", "hf_ernie_tiny", "model")


@pytest.fixture(scope="module")
def examples(shared_data) -> list[dict]:
    with open(os.path.join(shared_data, "generated", "hf_ernie_tiny", "reference_logits.json")) as f:
        return json.load(f)["examples"]


def padded_batch(examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, token types and the 0/1 attention mask of all examples, padded with [PAD] (id 0)."""
    length = max(len(e["input_ids"]) for e in examples)
    ids, types, mask = (np.zeros((len(examples), length), "int64") for _ in range(3))
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n], types[row, :n], mask[row, :n] = e["input_ids"], e["token_type_ids"], 1
    return ids, types, mask


def our_logits(model, examples: list[dict]) -> np.ndarray:
    ids, types, mask = padded_batch(examples)
    with paddle.no_grad():
        return model(
            paddle.to_tensor(ids), paddle.to_tensor(types), attention_mask=paddle.to_tensor(mask)
        ).numpy()


def reference_logits(examples: list[dict]) -> np.ndarray:
    return np.array([e["logits"] for e in examples])


def writable_copy(source: str, target) -> None:
    """A copy of a (read-only) fixture folder whose files can be replaced."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    os.chmod(target, 0o755)


def summary_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- reading
def test_from_pretrained_reads_a_transformers_folder(hf_dir, examples):
    assert is_hf_checkpoint(hf_dir)
    model = ErnieForSequenceClassification.from_pretrained(hf_dir, verbose=False)
    report = model.load_report
    assert report.converted_from == "HF transformers" and report.errors == [] and report.new_head_keys == []
    config = model.config
    assert (config.use_task_id, config.task_type_vocab_size, config.type_vocab_size) == (True, 3, 4)
    assert config.layer_norm_eps == 1e-5 and config.id2label == {"0": "negative", "1": "positive"}

    tokenizer = ErnieTokenizer.from_pretrained(hf_dir)
    for example in examples:
        assert tokenizer(example["text"])["input_ids"] == example["input_ids"]
    # One padded batch: the mask must keep padding out, as transformers ran each sentence alone.
    assert np.abs(our_logits(model, examples) - reference_logits(examples)).max() <= TOL


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def transformers_math(w: dict, config: dict, ids: list[int], types: list[int]) -> np.ndarray:
    """transformers' ErnieForSequenceClassification forward in float64 numpy, on its own names and
    ``[out, in]`` Linear weights (eval mode, task id 0): the oracle for models without a torch reference."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]

    def dense(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def norm(x, name):
        centred = x - x.mean(-1, keepdims=True)
        scale = np.sqrt((centred**2).mean(-1, keepdims=True) + eps)
        return centred / scale * w[name + ".weight"] + w[name + ".bias"]

    emb = "ernie.embeddings."
    x = (
        w[emb + "word_embeddings.weight"][ids]
        + w[emb + "position_embeddings.weight"][np.arange(len(ids))]
        + w[emb + "token_type_embeddings.weight"][types]
        + w[emb + "task_type_embeddings.weight"][0]
    )
    x = norm(x, emb + "LayerNorm")
    for i in range(config["num_hidden_layers"]):
        layer = f"ernie.encoder.layer.{i}."
        q, k, v = (
            dense(x, layer + f"attention.self.{n}").reshape(len(ids), heads, -1).transpose(1, 0, 2)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(len(ids), -1)
        x = norm(dense(context, layer + "attention.output.dense") + x, layer + "attention.output.LayerNorm")
        hidden = _gelu(dense(x, layer + "intermediate.dense"))
        x = norm(dense(hidden, layer + "output.dense") + x, layer + "output.LayerNorm")
    pooled = np.tanh(dense(x[0], "ernie.pooler.dense"))
    return dense(pooled, "classifier")


def test_numpy_restatement_of_transformers_gives_the_reference_logits(hf_dir, examples):
    weights = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    with open(os.path.join(hf_dir, "config.json")) as f:
        config = json.load(f)
    got = np.array(
        [transformers_math(weights, config, e["input_ids"], e["token_type_ids"]) for e in examples]
    )
    assert np.abs(got - reference_logits(examples)).max() <= 1e-5


def test_sharpened_model_matches_transformers_math(hf_dir, examples, tmp_path):
    from safetensors.numpy import save_file

    weights = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    rng = np.random.RandomState(0)
    for key, value in weights.items():
        if value.ndim == 2 and "embeddings" not in key:  # every Linear: std 0.02 -> ~0.3
            weights[key] = (value * 15 + rng.randn(*value.shape) * 0.05).astype(np.float32)
    folder = tmp_path / "sharp"
    writable_copy(hf_dir, folder)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with open(folder / "config.json") as f:
        config = json.load(f)

    expected = np.array(
        [transformers_math(weights, config, e["input_ids"], e["token_type_ids"]) for e in examples]
    )
    # The check can fail: an untransposed query weight now moves the logits far beyond the tolerance.
    wrong = dict(weights)
    wrong["ernie.encoder.layer.0.attention.self.query.weight"] = weights[
        "ernie.encoder.layer.0.attention.self.query.weight"
    ].T
    e = examples[0]
    assert (
        np.abs(transformers_math(wrong, config, e["input_ids"], e["token_type_ids"]) - expected[0]).max()
        > 1e-2
    )

    model = ErnieForSequenceClassification.from_pretrained(str(folder), verbose=False)
    assert np.abs(our_logits(model, examples) - expected).max() <= TOL


def test_converter_writes_our_layout_with_the_tokenizer(hf_dir, examples, tmp_path):
    out = tmp_path / "ours"
    summary = summary_of(run_converter("--input", hf_dir, "--output", str(out)))
    assert (
        summary["style"] == "HF transformers" and summary["architecture"] == "ErnieForSequenceClassification"
    )
    assert summary["use_task_id"] is True and summary["tokenizer"] is True and summary["skipped"] == []
    assert sorted(os.listdir(out)) == [
        "config.json",
        "model_state.pdparams",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    assert not is_hf_checkpoint(str(out))
    model = ErnieForSequenceClassification.from_pretrained(str(out), verbose=False)
    assert model.load_report.converted_from is None and model.load_report.errors == []
    assert model.config.id2label == {"0": "negative", "1": "positive"}
    assert np.abs(our_logits(model, examples) - reference_logits(examples)).max() <= TOL
    tokenizer = ErnieTokenizer.from_pretrained(str(out))
    assert tokenizer.model_max_length == 64 and tokenizer.do_lower_case
    for example in examples:
        assert tokenizer(example["text"])["input_ids"] == example["input_ids"]


def test_tokenizer_json_alone_gives_the_vocabulary(hf_dir, examples, tmp_path):
    folder = tmp_path / "no_vocab"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(hf_dir, name), folder / name)
    convert_hf_checkpoint(str(folder), str(tmp_path / "ours"))
    with open(os.path.join(hf_dir, "vocab.txt"), encoding="utf-8") as f:
        expected = f.read().splitlines()
    assert (tmp_path / "ours" / "vocab.txt").read_text(encoding="utf-8").splitlines() == expected
    tokenizer = ErnieTokenizer.from_pretrained(str(tmp_path / "ours"))
    assert tokenizer(examples[0]["text"])["input_ids"] == examples[0]["input_ids"]


def test_bfloat16_safetensors_are_widened_exactly(tmp_path):
    values = np.array([[1.5, -2.0], [0.15625, 96.0]], np.float32)  # exact in bfloat16
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    top_halves = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + top_halves)
    got = read_safetensors(str(path))["x"]
    assert got.dtype == np.float32 and np.array_equal(got, values)


def test_paddlenlp_safetensors_in_our_names_read_as_they_are(tmp_path):
    from safetensors.numpy import save_file

    paddle.seed(3)
    source = ErnieForTokenClassification(tiny(num_labels=3))
    source.save_pretrained(str(tmp_path))
    os.remove(tmp_path / "model_state.pdparams")
    save_file(state_numpy(source), str(tmp_path / "model.safetensors"))
    assert not is_hf_checkpoint(str(tmp_path))
    loaded = ErnieForTokenClassification.from_pretrained(str(tmp_path), verbose=False)
    assert loaded.load_report.converted_from is None and loaded.config.type_vocab_size == 4
    for key, value in state_numpy(source).items():
        assert np.array_equal(loaded.state_dict()[key].numpy(), value), key


def test_pytorch_bin_without_torch_is_one_line(hf_dir, tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copyfile(os.path.join(hf_dir, "config.json"), folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"not read without torch")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(CheckpointError, match="pytorch_model.bin needs torch"):
        ErnieForSequenceClassification.from_pretrained(str(folder), verbose=False)

    no_torch = tmp_path / "no_torch"
    (no_torch / "torch").mkdir(parents=True)
    (no_torch / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    result = subprocess.run(
        [
            sys.executable,
            "tools/convert_checkpoint.py",
            "--input",
            str(folder),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(no_torch), os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "needs torch" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_hf_folders_fail_in_one_line_naming_the_problem(hf_dir, tmp_path):
    from safetensors.numpy import save_file

    folder = tmp_path / "extra"
    writable_copy(hf_dir, folder)
    weights = read_safetensors(str(folder / "model.safetensors"))
    weights["ernie.encoder.layer.0.crossattention.self.query.weight"] = np.zeros((32, 32), np.float32)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    result = run_converter("--input", str(folder), "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "crossattention" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()

    relative = tmp_path / "relative"
    writable_copy(hf_dir, relative)
    config = json.loads((relative / "config.json").read_text())
    (relative / "config.json").write_text(json.dumps(dict(config, position_embedding_type="relative_key")))
    result = run_converter("--input", str(relative), "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "position_embedding_type" in result.stderr

    result = run_converter("--input", hf_dir, "--output", str(tmp_path / "out"), "--head", "qa")
    assert result.returncode == 2 and "--head applies to official" in result.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- writing
def test_to_hf_writes_what_transformers_wrote(hf_dir, examples, tmp_path):
    convert_hf_checkpoint(hf_dir, str(tmp_path / "ours"))
    out = tmp_path / "hf"
    summary = summary_of(run_converter("--input", str(tmp_path / "ours"), "--to", "hf", "--output", str(out)))
    assert summary["architecture"] == "ErnieForSequenceClassification" and summary["tokenizer"] is True
    assert sorted(os.listdir(out)) == [
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    from safetensors import safe_open

    with (
        safe_open(str(out / "model.safetensors"), "np") as ours,
        safe_open(os.path.join(hf_dir, "model.safetensors"), "np") as theirs,
    ):
        assert ours.metadata() == {"format": "pt"}
        assert sorted(ours.keys()) == sorted(theirs.keys())
        for key in theirs.keys():
            mine, original = ours.get_tensor(key), theirs.get_tensor(key)
            assert mine.dtype == original.dtype and mine.shape == original.shape, key
            assert np.array_equal(mine, original), key  # HF -> ours -> HF is lossless

    with open(os.path.join(hf_dir, "config.json")) as f:
        original = json.load(f)
    written = json.loads((out / "config.json").read_text())
    for key in (
        "architectures",
        "model_type",
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "max_position_embeddings",
        "type_vocab_size",
        "task_type_vocab_size",
        "use_task_id",
        "layer_norm_eps",
        "pad_token_id",
        "id2label",
        "label2id",
    ):
        assert written[key] == original[key], key
    with open(os.path.join(hf_dir, "vocab.txt"), "rb") as f:
        assert (out / "vocab.txt").read_bytes() == f.read()
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert (
        tokenizer_config["tokenizer_class"] == "BertTokenizer" and tokenizer_config["do_lower_case"] is True
    )

    model = ErnieForSequenceClassification.from_pretrained(str(out), verbose=False)
    assert np.abs(our_logits(model, examples) - reference_logits(examples)).max() <= TOL


@pytest.mark.parametrize(
    "model_class, extra",
    [
        (ErnieModel, {}),
        (ErnieForTokenClassification, {"num_labels": 5, "use_task_id": True}),
        (ErnieForQuestionAnswering, {}),
        (ErnieForPretraining, {"use_task_id": True}),
        (ErnieForPretraining, {"tie_word_embeddings": False}),
    ],
)
def test_our_heads_survive_the_hf_round_trip(model_class, extra, tmp_path):
    paddle.seed(8)
    source = model_class(tiny(**extra))
    source.save_pretrained(str(tmp_path / "ours"))
    export_hf_checkpoint(str(tmp_path / "ours"), str(tmp_path / "hf"))
    assert is_hf_checkpoint(str(tmp_path / "hf"))
    summary = convert_hf_checkpoint(str(tmp_path / "hf"), str(tmp_path / "back"))
    assert summary["architecture"] == model_class.__name__
    back = model_class.from_pretrained(str(tmp_path / "back"), verbose=False)
    assert back.config.use_task_id == source.config.use_task_id
    assert back.config.tie_word_embeddings == source.config.tie_word_embeddings
    for key, value in state_numpy(source).items():
        if model_class in (ErnieForTokenClassification, ErnieForQuestionAnswering) and ".pooler." in key:
            continue  # transformers' token/QA models have no pooler: left out, read back as zeros
        assert np.array_equal(back.state_dict()[key].numpy(), value), key


def test_official_converter_carries_the_vocab_beside_the_weights(tmp_path):
    paddle.seed(5)
    config = tiny(intermediate_size=128)
    source = ErnieModel(config)
    names = official_dygraph_names(config)
    release = tmp_path / "release"
    release.mkdir()
    paddle.save(
        {names[k]: v for k, v in state_numpy(source).items()}, str(release / "saved_weights.pdparams")
    )
    (release / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    words = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + [f"w{i}" for i in range(55)]
    (release / "vocab.txt").write_text("\n".join(words) + "\n")

    summary = convert_official_checkpoint(str(release / "saved_weights.pdparams"), str(tmp_path / "ours"))
    assert summary["vocab"] == str(release / "vocab.txt")
    tokenizer = ErnieTokenizer.from_pretrained(str(tmp_path / "ours"))
    assert tokenizer("w3 w10")["input_ids"] == [1, 8, 15, 2]


# ---------------------------------------------------------------------------------------------- transformers
def transformers_or_skip():
    """transformers and torch (requirements-dev.txt) are the reference of the writing direction."""
    reason = "transformers on torch (requirements-dev.txt) is the reference of the writing direction"
    pytest.importorskip("torch", reason=reason)
    return pytest.importorskip("transformers", reason=reason)


def test_transformers_loads_our_hf_folder_with_the_same_logits(hf_dir, examples, tmp_path):
    transformers = transformers_or_skip()
    import torch

    convert_hf_checkpoint(hf_dir, str(tmp_path / "ours"))
    export_hf_checkpoint(str(tmp_path / "ours"), str(tmp_path / "hf"))
    model, info = transformers.ErnieForSequenceClassification.from_pretrained(
        str(tmp_path / "hf"), output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    model.eval()
    ids, types, mask = padded_batch(examples)
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask)
        ).logits.numpy()
    assert np.abs(logits - reference_logits(examples)).max() <= TOL
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    for example in examples:
        assert tokenizer(example["text"])["input_ids"] == example["input_ids"]


HEADS = [
    # (transformers class, our class, transformers config extras, safetensors?)
    ("ErnieModel", ErnieModel, {"use_task_id": True}, True),
    ("ErnieForTokenClassification", ErnieForTokenClassification, {"num_labels": 5}, True),
    ("ErnieForQuestionAnswering", ErnieForQuestionAnswering, {"use_task_id": True}, True),
    ("ErnieForMaskedLM", ErnieForPretraining, {"use_task_id": True}, True),
    ("ErnieForMaskedLM", ErnieForPretraining, {"tie_word_embeddings": False}, True),  # its own decoder
    ("ErnieForPreTraining", ErnieForPretraining, {}, False),  # pytorch_model.bin, NSP head skipped
    ("ErnieForSequenceClassification", ErnieForSequenceClassification, {"num_labels": 3}, False),
]


def hf_outputs(model, ids, types, mask) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask)
        )
    names = (
        "last_hidden_state",
        "pooler_output",
        "logits",
        "start_logits",
        "end_logits",
        "prediction_logits",
    )
    return [out[name].numpy() for name in names if name in out and out[name] is not None]


def ours_outputs(model, ids, types, mask) -> list[np.ndarray]:
    with paddle.no_grad():
        out = model(paddle.to_tensor(ids), paddle.to_tensor(types), attention_mask=paddle.to_tensor(mask))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def assert_same_at_real_tokens(got: list, expected: list, mask: np.ndarray) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        keep = mask.astype(bool) if a.ndim >= 2 and a.shape[:2] == mask.shape else slice(None)
        assert np.abs(a[keep] - b[keep]).max() <= TOL


@pytest.mark.parametrize(
    "hf_class, our_class, extra, safetensors",
    HEADS,
    ids=[h[0] + ("-untied" if h[2].get("tie_word_embeddings") is False else "") for h in HEADS],
)
def test_every_head_both_ways_with_transformers(hf_class, our_class, extra, safetensors, tmp_path):
    transformers = transformers_or_skip()
    import torch

    torch.manual_seed(0)
    config = transformers.ErnieConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=40,
        type_vocab_size=3,
        layer_norm_eps=1e-5,
        initializer_range=0.3,  # sharp attention, so that a wrong query/key shows
        **extra,
    )
    reference = getattr(transformers, hf_class)(config).eval()
    with torch.no_grad():  # biases and LayerNorms away from 0 and 1; the [PAD] row stays zero, as trained
        for name, param in reference.named_parameters():
            if "word_embeddings" not in name:
                param.add_(torch.randn_like(param) * 0.2)
    reference.save_pretrained(str(tmp_path / "hf"), safe_serialization=safetensors)

    rng = np.random.RandomState(1)
    ids = rng.randint(5, 99, size=(3, 11))
    types = rng.randint(0, 3, size=(3, 11))
    mask = np.ones((3, 11), "int64")
    mask[1, 7:], mask[2, 4:] = 0, 0
    ids[mask == 0] = 0
    expected = hf_outputs(reference, ids, types, mask)

    ours = our_class.from_pretrained(str(tmp_path / "hf"), verbose=False)
    assert ours.load_report.converted_from == "HF transformers" and ours.load_report.errors == []
    assert_same_at_real_tokens(ours_outputs(ours, ids, types, mask), expected, mask)

    ours.save_pretrained(str(tmp_path / "ours"))
    export_hf_checkpoint(str(tmp_path / "ours"), str(tmp_path / "back"))
    written = json.loads((tmp_path / "back" / "config.json").read_text())
    back_class = getattr(transformers, written["architectures"][0])
    back, info = back_class.from_pretrained(str(tmp_path / "back"), output_loading_info=True)
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    # Our pre-training model keeps its pooler for transformers' sequence classifiers (see hf_format).
    pooler = (
        ["ernie.pooler.dense.bias", "ernie.pooler.dense.weight"] if our_class is ErnieForPretraining else []
    )
    assert sorted(info["unexpected_keys"]) == pooler
    assert_same_at_real_tokens(hf_outputs(back.eval(), ids, types, mask), expected, mask)


def test_our_model_in_transformers(tmp_path):
    transformers = transformers_or_skip()
    import torch

    paddle.seed(9)
    source = ErnieForSequenceClassification(
        tiny(use_task_id=True, type_vocab_size=0, num_labels=3, initializer_range=0.3)
    )
    source.eval()
    source.save_pretrained(str(tmp_path / "ours"))
    export_hf_checkpoint(str(tmp_path / "ours"), str(tmp_path / "hf"))
    model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(tmp_path / "hf"), output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    ids = np.random.RandomState(2).randint(5, 60, size=(2, 9))
    with torch.no_grad():
        logits = model.eval()(input_ids=torch.tensor(ids)).logits.numpy()
    with paddle.no_grad():
        expected = source(paddle.to_tensor(ids)).numpy()
    assert np.abs(logits - expected).max() <= TOL
