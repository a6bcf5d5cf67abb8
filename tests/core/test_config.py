"""ErnieConfig reads the official and PaddleNLP config forms, writes every key, validates by key."""

from __future__ import annotations

import json
import os

import pytest

from ernie.config import ErnieConfig
from ernie.errors import ConfigError
from tests.conftest import paddlenlp_or_skip

OFFICIAL = "ernie_official"


def test_official_ernie_1_0_config(shared_data):
    config = ErnieConfig.from_json_file(os.path.join(shared_data, OFFICIAL, "ernie_1.0_base_zh_config.json"))
    # Values from the file, and the official code's implicit ones: FFN 4 x hidden, no task embedding,
    # fluid's LayerNorm epsilon.
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (18000, 768, 12)
    assert config.hidden_act == "relu"
    assert config.max_position_embeddings == 513
    assert config.type_vocab_size == 2
    assert config.intermediate_size == 3072
    assert config.use_task_id is False
    assert config.layer_norm_eps == 1e-5


@pytest.mark.parametrize(
    "name, hidden, layers, heads",
    [("ernie_2.0_base_en_config.json", 768, 12, 12), ("ernie_2.0_large_en_config.json", 1024, 24, 16)],
)
def test_official_ernie_2_0_configs(shared_data, name, hidden, layers, heads):
    config = ErnieConfig.from_json_file(os.path.join(shared_data, OFFICIAL, name))
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (
        hidden,
        layers,
        heads,
    )
    assert config.type_vocab_size == 4  # from sent_type_vocab_size
    assert config.task_type_vocab_size == 16
    assert config.use_task_id is False  # absent in the release files: fine-tuning ran without it
    assert config.intermediate_size == 4 * hidden
    assert config.hidden_act == "gelu"
    assert config.vocab_size == 30522


def test_official_config_in_directory_is_found(shared_data, tmp_path):
    with open(os.path.join(shared_data, OFFICIAL, "ernie_2.0_base_en_config.json")) as f:
        (tmp_path / "ernie_config.json").write_text(f.read())
    assert ErnieConfig.from_pretrained(str(tmp_path)).type_vocab_size == 4


def test_written_config_has_every_key_and_paddlenlp_reads_the_same_values(tmp_path):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieConfig as PaddleNLPConfig

    ours = ErnieConfig(
        vocab_size=100,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        type_vocab_size=4,
        use_task_id=True,
        task_type_vocab_size=16,
        task_id=3,
        layer_norm_eps=1e-5,
        hidden_act="relu",
    )
    ours.save(str(tmp_path))
    written = json.loads((tmp_path / "config.json").read_text())
    # Every PaddleNLP constructor key is written explicitly (PaddleNLP drops keys equal to its defaults).
    import inspect

    reference_keys = set(inspect.signature(PaddleNLPConfig.__init__).parameters) - {
        "self",
        "kwargs",
        "fuse",
        "use_cache",
    }
    assert reference_keys <= set(written)
    theirs = PaddleNLPConfig.from_pretrained(str(tmp_path))
    for key in reference_keys:
        assert getattr(theirs, key) == getattr(ours, key), key


def test_paddlenlp_config_json_with_keys_missing_takes_paddlenlp_defaults(tmp_path):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieConfig as PaddleNLPConfig

    # A diff-saved PaddleNLP file: only the non-default keys and the markers.
    data = {
        "architectures": ["ErnieModel"],
        "model_type": "ernie",
        "hidden_size": 312,
        "num_attention_heads": 12,
        "intermediate_size": 1248,
        "num_hidden_layers": 4,
        "vocab_size": 40000,
    }
    (tmp_path / "config.json").write_text(json.dumps(data))
    ours = ErnieConfig.from_pretrained(str(tmp_path))
    theirs = PaddleNLPConfig.from_pretrained(str(tmp_path))
    for key in (
        "type_vocab_size",
        "task_type_vocab_size",
        "use_task_id",
        "layer_norm_eps",
        "hidden_act",
        "max_position_embeddings",
        "pad_token_id",
        "hidden_dropout_prob",
        "initializer_range",
    ):
        assert getattr(ours, key) == getattr(theirs, key), key


def test_legacy_model_config_json_matches_paddlenlp_reading(tmp_path):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieConfig as PaddleNLPConfig

    encoder = {
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "relu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "max_position_embeddings": 513,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "type_vocab_size": 2,
        "vocab_size": 18000,
        "pad_token_id": 0,
        "init_class": "ErnieModel",
    }
    legacy = {"init_args": [encoder], "init_class": "ErnieForSequenceClassification", "num_classes": 3}
    (tmp_path / "model_config.json").write_text(json.dumps(legacy))
    ours = ErnieConfig.from_pretrained(str(tmp_path))
    theirs = PaddleNLPConfig.from_pretrained(str(tmp_path))
    assert ours.num_labels == 3 == theirs.num_labels
    for key in (
        "hidden_act",
        "hidden_size",
        "max_position_embeddings",
        "type_vocab_size",
        "vocab_size",
        "num_hidden_layers",
        "intermediate_size",
        "use_task_id",
    ):
        assert getattr(ours, key) == getattr(theirs, key), key
    assert ours.extra["architectures"] == ["ErnieForSequenceClassification"]


def test_round_trip_keeps_labels_and_extra_keys(tmp_path):
    config = ErnieConfig(num_labels=3, id2label={"0": "contradiction", "1": "entailment", "2": "neutral"})
    config = config.replace(my_note="kept")
    config.save(str(tmp_path))
    again = ErnieConfig.from_pretrained(str(tmp_path))
    assert again == config
    assert again.extra["my_note"] == "kept"


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"hidden_size": 100, "num_attention_heads": 12}, "num_attention_heads"),
        ({"hidden_act": "swish2"}, "hidden_act"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"pad_token_id": 30522}, "pad_token_id"),
        ({"use_task_id": True, "task_type_vocab_size": 3, "task_id": 3}, "task_id"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
    ],
)
def test_invalid_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        ErnieConfig.from_dict({"model_type": "ernie", **overrides}, source="x.json")


def test_bad_files_name_the_file_and_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 768,\n "vocab_size": }')
    with pytest.raises(ConfigError, match=r"config.json: line 2"):
        ErnieConfig.from_json_file(str(path))
    with pytest.raises(ConfigError, match="no such config file"):
        ErnieConfig.from_pretrained(str(tmp_path / "missing"))
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no config.json, model_config.json or ernie_config.json"):
        ErnieConfig.from_pretrained(str(empty))
