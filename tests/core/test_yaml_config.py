"""The shared config loader: defaults <- YAML <- --set, unknown keys named, free sections merged."""

import pytest

from ernie.errors import ConfigError
from ernie.yaml_config import load_config, load_yaml, yaml_scalar

DEFAULTS = {"seed": 1, "model": {}, "trainer": {"max_steps": -1, "save_steps": 100}}


def test_free_section_overrides_accumulate_key_by_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {hidden_size: 64}\ntrainer: {max_steps: 5}\n")
    config = load_config(
        str(path), DEFAULTS, ["model.hidden_dropout_prob=0", "model.attention_probs_dropout_prob=0"]
    )
    assert config["model"] == {"hidden_size": 64, "hidden_dropout_prob": 0, "attention_probs_dropout_prob": 0}
    assert config["trainer"] == {"max_steps": 5, "save_steps": 100}
    assert DEFAULTS["model"] == {}  # defaults are not mutated


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="unknown key 'trainer.max_step'"):
        load_config(None, DEFAULTS, ["trainer.max_step=3"])
    with pytest.raises(ConfigError, match="'trainer' must be a mapping"):
        load_config(None, DEFAULTS, ["trainer=3"])


@pytest.mark.parametrize(
    "text, expected",
    [("1e-4", 1e-4), ("5E3", 5000.0), ("-2.5e-05", -2.5e-5), ("3", 3), ("1e", "1e"), ("x", "x")],
)
def test_exponent_numbers_without_a_dot_are_floats(text, expected):
    value = yaml_scalar(text)
    assert value == expected and type(value) is type(expected)


def test_yaml_file_numbers_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optimizer:\n  learning_rate: 2e-5\n")
    assert load_yaml(str(path)) == {"optimizer": {"learning_rate": 2e-5}}
    path.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: line \d+: invalid YAML"):
        load_yaml(str(path))
