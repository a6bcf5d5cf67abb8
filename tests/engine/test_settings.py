"""The engine's keys: batch geometry from two keys, one-line errors naming them, retired keys."""

from __future__ import annotations

import pytest

from ernie.engine.settings import ENGINE_KEYS, RETIRED_KEYS, batch_geometry, engine_keys, resolve_settings
from ernie.errors import ConfigError
from ernie.yaml_config import defaults_of, merge_config


def config_with(**trainer):
    config = defaults_of(ENGINE_KEYS)
    config["output_dir"] = "out"
    config["trainer"].update(trainer)
    return config


@pytest.mark.parametrize(
    "global_batch, micro, ranks, expected",
    [
        (32, None, 1, (32, 32, 1)),
        (32, None, 2, (32, 16, 1)),
        (32, 8, 2, (32, 8, 2)),  # 32 = 8 per rank x 2 ranks x 2 accumulation
        (32, 4, 1, (32, 4, 8)),
        (6, 3, 2, (6, 3, 1)),
    ],
)
def test_accumulation_is_derived_from_the_global_and_micro_batch(global_batch, micro, ranks, expected):
    config = config_with(global_batch_size=global_batch, micro_batch_size=micro)
    assert batch_geometry(config, ranks) == expected
    settings = resolve_settings(config, ranks)
    assert (settings.global_batch_size, settings.micro_batch_size, settings.accumulate_steps) == expected


@pytest.mark.parametrize(
    "global_batch, micro, ranks, message",
    [
        (
            30,
            8,
            1,
            "keys 'trainer.global_batch_size' (30) and 'trainer.micro_batch_size' (8) do not fit 1 rank",
        ),
        (32, 8, 3, "multiple of micro x ranks (24)"),
        (33, None, 2, "'trainer.global_batch_size' (33) does not divide over 2 ranks"),
        (None, 4, 1, "'trainer.global_batch_size' is not set"),
        (8, 0, 1, "'trainer.micro_batch_size' must be an integer >= 1, got 0"),
        ("8", None, 1, "'trainer.global_batch_size' must be an integer >= 1"),
    ],
)
def test_a_batch_that_does_not_divide_is_one_line_naming_the_keys(global_batch, micro, ranks, message):
    with pytest.raises(ConfigError) as error:
        resolve_settings(
            config_with(global_batch_size=global_batch, micro_batch_size=micro), ranks, "run.yaml"
        )
    text = str(error.value)
    assert text.startswith("run.yaml: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("trainer.amp", "fp8", "'trainer.amp' must be one of null, float16, bfloat16"),
        ("trainer.amp_level", "O3", "'trainer.amp_level' must be one of O1, O2"),
        ("trainer.recompute", "yes", "'trainer.recompute' must be true or false"),
        ("trainer.max_steps", -2, "'trainer.max_steps' must be -1"),
        ("optimizer.beta1", 1.5, "'optimizer.beta1' must be a number in [0.0, 1.0]"),
        ("optimizer.learning_rate", float("nan"), "'optimizer.learning_rate' must be a number >= 0.0"),
    ],
)
def test_bad_values_name_their_key(key, value, message):
    config = config_with(global_batch_size=8)
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        resolve_settings(config, 1)


def test_retired_keys_name_their_successor_and_defaults_can_differ_per_application():
    for key, successor in RETIRED_KEYS.items():
        section, name = key.split(".")
        with pytest.raises(ConfigError, match=f"key '{key}' is retired; use "):
            merge_config(defaults_of(ENGINE_KEYS), {section: {name: 1}}, "run.yaml", retired=RETIRED_KEYS)
        assert successor.startswith("trainer.")
    keys = {k.name: k.default for k in engine_keys(**{"trainer.keep_checkpoints": 1})}
    assert keys["trainer.keep_checkpoints"] == 1 and keys["trainer.logging_steps"] == 10
    with pytest.raises(KeyError):
        engine_keys(**{"trainer.batch_size": 1})
