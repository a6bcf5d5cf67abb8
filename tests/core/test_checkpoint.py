"""Checkpoint loading rules and the official-name converter (static params/ and dygraph files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ernie import (
    ErnieConfig,
    ErnieForPretraining,
    ErnieForQuestionAnswering,
    ErnieForSequenceClassification,
    ErnieForTokenClassification,
    ErnieModel,
)
from ernie.conversion import convert_official_checkpoint
from ernie.errors import CheckpointError
from ernie.official_format import read_fluid_tensor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny(**extra) -> ErnieConfig:
    base = dict(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=40,
        type_vocab_size=4,
        task_type_vocab_size=3,
    )
    base.update(extra)
    return ErnieConfig(**base)


def state_numpy(model) -> dict:
    return {k: v.numpy() for k, v in model.state_dict().items()}


def assert_same_weights(loaded, source) -> None:
    """Every tensor of ``source`` arrived in ``loaded`` bit for bit."""
    state = loaded.state_dict()
    for key, value in state_numpy(source).items():
        assert np.array_equal(state[key].numpy(), value), key


def test_base_checkpoint_into_head_model_reports_the_new_head(tmp_path):
    paddle.seed(0)
    base = ErnieModel(tiny())
    base.save_pretrained(str(tmp_path))
    model = ErnieForSequenceClassification.from_pretrained(str(tmp_path), num_labels=5, verbose=False)
    assert sorted(model.load_report.new_head_keys) == ["classifier.bias", "classifier.weight"]
    assert model.load_report.errors == []
    for key, value in state_numpy(base).items():
        assert np.array_equal(model.state_dict()["ernie." + key].numpy(), value)


def test_head_checkpoint_into_base_model_drops_the_head(tmp_path):
    paddle.seed(1)
    head = ErnieForPretraining(tiny())
    head.save_pretrained(str(tmp_path))
    base = ErnieModel.from_pretrained(str(tmp_path), verbose=False)
    assert set(base.load_report.dropped_keys) == {
        "cls.predictions.transform.weight",
        "cls.predictions.transform.bias",
        "cls.predictions.layer_norm.weight",
        "cls.predictions.layer_norm.bias",
        "cls.predictions.decoder_bias",
    }
    ids = paddle.to_tensor([[3, 4, 5, 0]])
    head.eval()
    assert np.array_equal(base(ids)[0].numpy(), head.ernie(ids)[0].numpy())


def test_wrong_shape_fails_naming_file_and_key(tmp_path):
    paddle.seed(2)
    ErnieForSequenceClassification(tiny(num_labels=2)).save_pretrained(str(tmp_path))
    with pytest.raises(CheckpointError) as info:
        ErnieForSequenceClassification.from_pretrained(str(tmp_path), num_labels=3, verbose=False)
    message = str(info.value)
    assert "model_state.pdparams" in message and "classifier.weight" in message and "\n" not in message
    # Opting into partial loading keeps everything else.
    model = ErnieForSequenceClassification.from_pretrained(
        str(tmp_path), num_labels=3, strict=False, verbose=False
    )
    assert [k for k, _, _ in model.load_report.mismatched_shapes] == ["classifier.weight", "classifier.bias"]


def test_encoder_keys_must_match_the_config(tmp_path):
    paddle.seed(3)
    ErnieModel(tiny(use_task_id=True)).save_pretrained(str(tmp_path / "with_task"))
    config_without_task = tiny(use_task_id=False)
    with pytest.raises(CheckpointError, match="unexpected embeddings.task_type_embeddings.weight"):
        ErnieModel.from_pretrained(str(tmp_path / "with_task"), config=config_without_task, verbose=False)
    ErnieModel(tiny()).save_pretrained(str(tmp_path / "without_task"))
    with pytest.raises(CheckpointError, match="missing embeddings.task_type_embeddings.weight"):
        ErnieModel.from_pretrained(str(tmp_path / "without_task"), use_task_id=True, verbose=False)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="no model_state.pdparams"):
        ErnieModel.from_pretrained(str(tmp_path), config=tiny(), verbose=False)
    (tmp_path / "model_state.pdparams").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot read the weights"):
        ErnieModel.from_pretrained(str(tmp_path), config=tiny(), verbose=False)


# ------------------------------------------------------------------ official names, written out by hand
def official_static_names(config: ErnieConfig) -> dict[str, str]:
    """Our key -> the 2019 static variable name, from the official model/ernie.py naming."""
    names = {
        "embeddings.word_embeddings.weight": "word_embedding",
        "embeddings.position_embeddings.weight": "pos_embedding",
        "embeddings.token_type_embeddings.weight": "sent_embedding",
        "embeddings.task_type_embeddings.weight": "task_embedding",
        "embeddings.layer_norm.weight": "pre_encoder_layer_norm_scale",
        "embeddings.layer_norm.bias": "pre_encoder_layer_norm_bias",
        "pooler.dense.weight": "pooled_fc.w_0",
        "pooler.dense.bias": "pooled_fc.b_0",
        "cls.predictions.transform.weight": "mask_lm_trans_fc.w_0",
        "cls.predictions.transform.bias": "mask_lm_trans_fc.b_0",
        "cls.predictions.layer_norm.weight": "mask_lm_trans_layer_norm_scale",
        "cls.predictions.layer_norm.bias": "mask_lm_trans_layer_norm_bias",
        "cls.predictions.decoder_bias": "mask_lm_out_fc.b_0",
    }
    for i in range(config.num_hidden_layers):
        for ours, theirs in [
            ("q_proj", "query"),
            ("k_proj", "key"),
            ("v_proj", "value"),
            ("out_proj", "output"),
        ]:
            names[f"encoder.layers.{i}.self_attn.{ours}.weight"] = (
                f"encoder_layer_{i}_multi_head_att_{theirs}_fc.w_0"
            )
            names[f"encoder.layers.{i}.self_attn.{ours}.bias"] = (
                f"encoder_layer_{i}_multi_head_att_{theirs}_fc.b_0"
            )
        names[f"encoder.layers.{i}.norm1.weight"] = f"encoder_layer_{i}_post_att_layer_norm_scale"
        names[f"encoder.layers.{i}.norm1.bias"] = f"encoder_layer_{i}_post_att_layer_norm_bias"
        names[f"encoder.layers.{i}.linear1.weight"] = f"encoder_layer_{i}_ffn_fc_0.w_0"
        names[f"encoder.layers.{i}.linear1.bias"] = f"encoder_layer_{i}_ffn_fc_0.b_0"
        names[f"encoder.layers.{i}.linear2.weight"] = f"encoder_layer_{i}_ffn_fc_1.w_0"
        names[f"encoder.layers.{i}.linear2.bias"] = f"encoder_layer_{i}_ffn_fc_1.b_0"
        names[f"encoder.layers.{i}.norm2.weight"] = f"encoder_layer_{i}_post_ffn_layer_norm_scale"
        names[f"encoder.layers.{i}.norm2.bias"] = f"encoder_layer_{i}_post_ffn_layer_norm_bias"
    return names


def official_dygraph_names(config: ErnieConfig) -> dict[str, str]:
    """Our key -> the develop-branch dygraph state-dict key (ernie/modeling_ernie.py)."""
    names = {
        "embeddings.word_embeddings.weight": "word_emb.weight",
        "embeddings.position_embeddings.weight": "pos_emb.weight",
        "embeddings.token_type_embeddings.weight": "sent_emb.weight",
        "embeddings.layer_norm.weight": "ln.weight",
        "embeddings.layer_norm.bias": "ln.bias",
        "pooler.dense.weight": "pooler.weight",
        "pooler.dense.bias": "pooler.bias",
        "cls.predictions.transform.weight": "mlm.weight",
        "cls.predictions.transform.bias": "mlm.bias",
        "cls.predictions.layer_norm.weight": "mlm_ln.weight",
        "cls.predictions.layer_norm.bias": "mlm_ln.bias",
        "cls.predictions.decoder_bias": "mlm_bias",
    }
    for i in range(config.num_hidden_layers):
        block = f"encoder_stack.block.{i}"
        for ours, theirs in [("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("out_proj", "o")]:
            for part in ("weight", "bias"):
                names[f"encoder.layers.{i}.self_attn.{ours}.{part}"] = f"{block}.attn.{theirs}.{part}"
        for ours, theirs in [("norm1", "ln1"), ("linear1", "ffn.i"), ("linear2", "ffn.o"), ("norm2", "ln2")]:
            for part in ("weight", "bias"):
                names[f"encoder.layers.{i}.{ours}.{part}"] = f"{block}.{theirs}.{part}"
    return names


def official_config_json(config: ErnieConfig) -> dict:
    return {
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": config.hidden_act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": config.hidden_size,
        "initializer_range": 0.02,
        "max_position_embeddings": config.max_position_embeddings,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "sent_type_vocab_size": config.type_vocab_size,
        "task_type_vocab_size": config.task_type_vocab_size,
        "vocab_size": config.vocab_size,
    }


def run_converter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "convert_checkpoint.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def write_fluid(path: str, array: np.ndarray) -> None:
    """Paddle's own dense-tensor writer (what save_persistables used), independent of our reader."""
    from paddle.base import core

    tensor = paddle.to_tensor(array)
    core.save_dense_tensor(tensor.value().get_tensor(), path)


def test_read_fluid_tensor_matches_paddle_writer(tmp_path):
    for dtype, shape in [("float32", (3, 5)), ("float32", (7,)), ("int64", (2, 2)), ("float16", (4, 1))]:
        array = (np.random.RandomState(0).randn(*shape) * 10).astype(dtype)
        write_fluid(str(tmp_path / "var"), array)
        got = read_fluid_tensor(str(tmp_path / "var"))
        assert got.dtype == array.dtype and got.shape == array.shape and np.array_equal(got, array)


def test_convert_official_static_params_dir(tmp_path):
    paddle.seed(4)
    config = tiny(use_task_id=True, hidden_act="gelu", intermediate_size=128)  # official FFN: 4 x hidden
    source = ErnieForPretraining(config)
    params = tmp_path / "release" / "params"
    params.mkdir(parents=True)
    names = official_static_names(config)
    for key, value in state_numpy(source).items():
        bare = key[len("ernie.") :] if key.startswith("ernie.") else key
        write_fluid(str(params / names[bare]), value)
    # Training checkpoints also hold optimizer state and the NSP head: skipped, not errors.
    write_fluid(str(params / "word_embedding_moment1_0"), np.zeros((2,), "float32"))
    write_fluid(str(params / "next_sent_fc.w_0"), np.zeros((32, 2), "float32"))
    (tmp_path / "release" / "ernie_config.json").write_text(json.dumps(official_config_json(config)))

    result = run_converter("--input", str(params), "--output", str(tmp_path / "ours"), "--use_task_id", "yes")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["architecture"] == "ErnieForPretraining" and summary["style"] == "official static"
    assert sorted(summary["skipped"]) == ["next_sent_fc.w_0", "word_embedding_moment1_0"]
    loaded = ErnieForPretraining.from_pretrained(str(tmp_path / "ours"), verbose=False)
    assert loaded.load_report.errors == [] and loaded.load_report.new_head_keys == []
    assert loaded.config.use_task_id and loaded.config.type_vocab_size == 4
    assert_same_weights(loaded, source)


def test_convert_official_dygraph_weights_drops_task_embedding_by_default(tmp_path):
    paddle.seed(5)
    config = tiny(intermediate_size=128)
    source = ErnieForPretraining(config)
    names = official_dygraph_names(config)
    state = {
        names[k[len("ernie.") :] if k.startswith("ernie.") else k]: v for k, v in state_numpy(source).items()
    }
    state["pooler_heads.0.nsp.weight"] = np.zeros((32, 2), "float32")
    state["task_emb.weight"] = np.ones((3, 32), "float32")  # released configs have no use_task_id: dropped
    folder = tmp_path / "dygraph"
    folder.mkdir()
    paddle.save(state, str(folder / "saved_weights.pdparams"))
    (folder / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + [f"w{i}" for i in range(55)]) + "\n"
    )

    result = run_converter("--input", str(folder), "--output", str(tmp_path / "ours"), "--vocab", str(vocab))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert "task_embedding (use_task_id is off)" in summary["skipped"] and summary["use_task_id"] is False
    assert sorted(os.listdir(tmp_path / "ours")) == [
        "config.json",
        "model_state.pdparams",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    loaded = ErnieForPretraining.from_pretrained(str(tmp_path / "ours"), verbose=False)
    assert loaded.config.use_task_id is False and loaded.config.layer_norm_eps == 1e-5
    assert_same_weights(loaded, source)


@pytest.mark.parametrize(
    "head, model_class, old_names",
    [
        ("qa", ErnieForQuestionAnswering, False),
        ("token", ErnieForTokenClassification, False),
        ("sequence", ErnieForSequenceClassification, True),
    ],
)
def test_convert_dygraph_finetuned_heads(tmp_path, head, model_class, old_names):
    # The dygraph demos name every head `classifier`: --head says which model it is. Checkpoints from
    # before the renames use `cls_fc` for the classifier (and `bias` for the MLM bias).
    paddle.seed(7)
    config = tiny(intermediate_size=128, num_labels=7)
    source = model_class(config)
    names = official_dygraph_names(config)
    state = {}
    for key, value in state_numpy(source).items():
        bare = key[len("ernie.") :] if key.startswith("ernie.") else key
        if bare.startswith("classifier."):
            state[bare.replace("classifier", "cls_fc") if old_names else bare] = value
        else:
            state[names[bare]] = value
    folder = tmp_path / "dygraph"
    folder.mkdir()
    paddle.save(state, str(folder / "saved_weights.pdparams"))
    (folder / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    summary = convert_official_checkpoint(str(folder), str(tmp_path / "ours"), head=head)
    assert summary["architecture"] == model_class.__name__
    loaded = model_class.from_pretrained(str(tmp_path / "ours"), verbose=False)
    assert loaded.load_report.errors == [] and loaded.load_report.new_head_keys == []
    assert_same_weights(loaded, source)


def test_convert_old_dygraph_mlm_bias_name(tmp_path):
    paddle.seed(8)
    config = tiny(intermediate_size=128)
    source = ErnieForPretraining(config)
    names = dict(official_dygraph_names(config), **{"cls.predictions.decoder_bias": "bias"})
    state = {
        names[k[len("ernie.") :] if k.startswith("ernie.") else k]: v for k, v in state_numpy(source).items()
    }
    paddle.save(state, str(tmp_path / "saved_weights.pdparams"))
    (tmp_path / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    convert_official_checkpoint(str(tmp_path / "saved_weights.pdparams"), str(tmp_path / "ours"))
    loaded = ErnieForPretraining.from_pretrained(str(tmp_path / "ours"), verbose=False)
    expected = source.cls.predictions.decoder_bias.numpy()
    assert np.array_equal(loaded.cls.predictions.decoder_bias.numpy(), expected)


def test_convert_static_untied_mlm_and_task_heads_are_reported_not_half_converted(tmp_path):
    paddle.seed(9)
    config = tiny(intermediate_size=128)
    source = ErnieForPretraining(config)
    params = tmp_path / "params"
    params.mkdir()
    names = official_static_names(config)
    for key, value in state_numpy(source).items():
        write_fluid(str(params / names[key[len("ernie.") :] if key.startswith("ernie.") else key]), value)
    write_fluid(str(params / "mask_lm_out_fc.w_0"), np.ones((32, 60), "float32"))  # weight_sharing=False
    write_fluid(str(params / "sentence_reorder_fc.w_0"), np.ones((32, 9), "float32"))  # get_task_output
    (tmp_path / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    summary = convert_official_checkpoint(str(params), str(tmp_path / "ours"))
    assert summary["architecture"] == "ErnieModel"
    assert "sentence_reorder_fc.w_0" in summary["skipped"]
    assert any(
        s.startswith("the MLM head (5 tensors): untied mask_lm_out_fc.w_0") for s in summary["skipped"]
    )
    loaded = ErnieModel.from_pretrained(str(tmp_path / "ours"), verbose=False)
    assert loaded.load_report.errors == [] and loaded.load_report.dropped_keys == []
    for key, value in state_numpy(source.ernie).items():
        assert np.array_equal(loaded.state_dict()[key].numpy(), value), key
    with pytest.raises(CheckpointError, match="no classifier weights"):
        convert_official_checkpoint(str(params), str(tmp_path / "again"), head="qa")


def test_from_pretrained_on_an_official_folder_follows_its_config_like_the_converter(tmp_path):
    paddle.seed(10)
    config = tiny(intermediate_size=128, layer_norm_eps=1e-5)  # the official configs' epsilon
    source = ErnieModel(config)
    names = official_dygraph_names(config)
    state = {names[k]: v for k, v in state_numpy(source).items()}
    state["task_emb.weight"] = np.ones((3, 32), "float32")
    paddle.save(state, str(tmp_path / "saved_weights.pdparams"))
    (tmp_path / "ernie_config.json").write_text(json.dumps(official_config_json(config)))
    loaded = ErnieModel.from_pretrained(str(tmp_path), verbose=False)
    assert loaded.config.use_task_id is False and loaded.load_report.converted_from == "official dygraph"
    assert loaded.load_report.dropped_keys == ["task_embedding (use_task_id is off in the config)"]
    ids = paddle.to_tensor([[1, 7, 9, 2, 0]])
    source.eval()
    np.testing.assert_array_equal(loaded(ids)[0].numpy(), source(ids)[0].numpy())


def test_converter_errors_exit_2_with_one_line(tmp_path):
    result = run_converter("--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert (
        result.stderr.strip().count("\n") == 0
        and "nothing" in result.stderr
        and "Traceback" not in result.stderr
    )

    folder = tmp_path / "bad"
    folder.mkdir()
    paddle.save(
        {"word_emb.weight": np.zeros((4, 2), "float32"), "mystery.weight": np.zeros(2, "float32")},
        str(folder / "saved_weights.pdparams"),
    )
    result = run_converter("--input", str(folder), "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "mystery.weight" in result.stderr
    assert not (tmp_path / "out").exists()

    paddle.seed(6)
    config = tiny(intermediate_size=128)
    names = official_dygraph_names(config)
    state = {names[k]: v for k, v in state_numpy(ErnieModel(config)).items()}
    paddle.save(state, str(folder / "saved_weights.pdparams"))
    wrong = dict(official_config_json(config), vocab_size=61)
    (folder / "ernie_config.json").write_text(json.dumps(wrong))
    result = run_converter("--input", str(folder), "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "word_embeddings" in result.stderr and "[61, 32]" in result.stderr
    assert not (tmp_path / "out").exists()
