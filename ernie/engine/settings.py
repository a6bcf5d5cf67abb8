"""The keys every training run understands, pre-training and fine-tuning alike, and their checks.

Applications add their own keys (``data.*``, ``tasks``, ``stages``; ``trainer.epochs``, ...) and may
change a default here (fine-tuning keeps one checkpoint, pre-training three), but a key means the
same thing everywhere. The batch geometry is fixed by two keys: ``trainer.global_batch_size``
(samples per optimizer step over all ranks) and ``trainer.micro_batch_size`` (per rank and forward
pass); the gradient accumulation is derived and must come out whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import ConfigError
from ..yaml_config import Key, check_bool, check_choice, check_int, check_number

ENGINE_KEYS: tuple[Key, ...] = (
    Key("output_dir", None, "where checkpoints/, log.jsonl and the run's other outputs go"),
    Key("seed", 1, "seeds weights, dropout and the data order; the same seed gives the same run"),
    Key(
        "trainer.max_steps",
        -1,
        "stop after this many optimizer steps even if the stages or epochs hold more; -1: run them all",
    ),
    Key(
        "trainer.global_batch_size",
        None,
        "samples per optimizer step over all ranks (fine-tuning recipes hold the official scripts' global batch)",
    ),
    Key(
        "trainer.micro_batch_size",
        None,
        "samples per rank per forward pass; null: global_batch_size / ranks. Accumulation = global / (micro x ranks)",
    ),
    Key("trainer.logging_steps", 10, "write a log.jsonl record (means over the window) every N steps"),
    Key(
        "trainer.eval_steps",
        0,
        "evaluate every N steps; 0: only at the end (pre-training also evaluates at the end of every stage)",
    ),
    Key("trainer.eval_batch_size", 32, "samples per forward pass in evaluation"),
    Key(
        "trainer.save_steps",
        0,
        "write a resumable checkpoint (checkpoints/step_N, latest) every N steps; 0: only at the end",
    ),
    Key("trainer.keep_checkpoints", 3, "keep the newest K checkpoints; 0: keep all"),
    Key(
        "trainer.max_nonfinite_steps",
        3,
        "a step whose loss or gradient norm is NaN or infinite is skipped (no update); this many in a row stop the run",
    ),
    Key(
        "trainer.amp",
        None,
        "mixed precision: null, float16 (with loss scaling) or bfloat16; GPU only (off on CPU)",
    ),
    Key(
        "trainer.amp_level",
        "O1",
        "O1: autocast listed ops; O2: half-precision weights with fp32 master copies",
    ),
    Key(
        "trainer.recompute",
        False,
        "recompute each layer's activations in the backward pass (memory for time)",
    ),
    Key(
        "trainer.visualdl",
        True,
        "also write the scalars under output_dir/visualdl when VisualDL is installed",
    ),
    Key("optimizer.learning_rate", 1e-4, "peak learning rate of AdamW"),
    Key("optimizer.weight_decay", 0.01, "decoupled weight decay (not on biases and LayerNorm)"),
    Key(
        "optimizer.warmup",
        0.0,
        "linear warm-up: < 1 a share of the steps, >= 1 a number of steps; then linear decay",
    ),
    Key("optimizer.max_grad_norm", 1.0, "clip the global gradient norm to this; 0: no clipping"),
    Key("optimizer.beta1", 0.9, "AdamW beta1"),
    Key("optimizer.beta2", 0.999, "AdamW beta2"),
    Key("optimizer.epsilon", 1e-8, "AdamW epsilon"),
)

# Old key -> what replaced it (a config that sets one stops with this message).
RETIRED_KEYS = {
    "trainer.batch_size": "trainer.global_batch_size (samples per optimizer step over all ranks)",
    "trainer.accumulate_steps": (
        "trainer.global_batch_size and trainer.micro_batch_size (accumulation is derived from them)"
    ),
    "trainer.save_checkpoints": "trainer.save_steps (checkpoints are always written; keep_checkpoints bounds them)",
}


def engine_keys(**defaults: Any) -> tuple[Key, ...]:
    """``ENGINE_KEYS`` with some defaults changed, e.g. ``engine_keys(**{"trainer.keep_checkpoints": 1})``."""
    unknown = set(defaults) - {k.name for k in ENGINE_KEYS}
    if unknown:
        raise KeyError(f"not engine keys: {sorted(unknown)}")
    return tuple(dataclasses.replace(k, default=defaults.get(k.name, k.default)) for k in ENGINE_KEYS)


@dataclass(frozen=True)
class OptimizerSettings:
    learning_rate: float
    weight_decay: float
    warmup: float
    max_grad_norm: float
    beta1: float
    beta2: float
    epsilon: float


@dataclass(frozen=True)
class TrainerSettings:
    """The resolved engine keys of one run (see ``ENGINE_KEYS`` for what each means)."""

    output_dir: str
    seed: int
    max_steps: int
    global_batch_size: int
    micro_batch_size: int
    accumulate_steps: int
    world_size: int
    logging_steps: int
    eval_steps: int
    eval_batch_size: int
    save_steps: int
    keep_checkpoints: int
    max_nonfinite_steps: int
    amp: Optional[str]
    amp_level: str
    recompute: bool
    visualdl: bool
    optimizer: OptimizerSettings
    # Where the engine keeps the model of the best evaluation (None: no best/ folder).
    best_dir: Optional[str] = None

    def replace(self, **changes: Any) -> TrainerSettings:
        return dataclasses.replace(self, **changes)


def batch_geometry(config: dict, world_size: int, source: str = "config") -> tuple[int, int, int]:
    """``(global batch, micro batch per rank, accumulation steps)`` from the two batch keys."""
    global_batch = check_int(config, "trainer.global_batch_size", source, 1, allow_none=True)
    if global_batch is None:
        raise ConfigError(
            f"{source}: key 'trainer.global_batch_size' is not set (samples per optimizer step over all ranks)"
        )
    micro = check_int(config, "trainer.micro_batch_size", source, 1, allow_none=True)
    if micro is None:
        micro, rest = divmod(global_batch, world_size)
        if rest or micro == 0:
            raise ConfigError(
                f"{source}: key 'trainer.global_batch_size' ({global_batch}) does not divide over {world_size} "
                "ranks; set trainer.micro_batch_size"
            )
        return global_batch, micro, 1
    accumulate, rest = divmod(global_batch, micro * world_size)
    if rest or accumulate == 0:
        raise ConfigError(
            f"{source}: keys 'trainer.global_batch_size' ({global_batch}) and 'trainer.micro_batch_size' ({micro}) "
            f"do not fit {world_size} rank(s): the global batch must be a multiple of micro x ranks ({micro * world_size})"
        )
    return global_batch, micro, accumulate


def resolve_settings(config: dict, world_size: int, source: str = "config") -> TrainerSettings:
    """Check the engine keys of ``config`` (every bad value a one-line ConfigError naming its key)."""
    if not config.get("output_dir") or not isinstance(config["output_dir"], str):
        raise ConfigError(f"{source}: key 'output_dir' is not set")
    global_batch, micro, accumulate = batch_geometry(config, world_size, source)
    max_steps = config["trainer"]["max_steps"]
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < -1:
        raise ConfigError(
            f"{source}: key 'trainer.max_steps' must be -1 (run everything) or a non-negative integer, "
            f"got {max_steps!r}"
        )
    optimizer = OptimizerSettings(
        learning_rate=check_number(config, "optimizer.learning_rate", source, 0.0),
        weight_decay=check_number(config, "optimizer.weight_decay", source, 0.0),
        warmup=check_number(config, "optimizer.warmup", source, 0.0),
        max_grad_norm=check_number(config, "optimizer.max_grad_norm", source, 0.0),
        beta1=check_number(config, "optimizer.beta1", source, 0.0, 1.0),
        beta2=check_number(config, "optimizer.beta2", source, 0.0, 1.0),
        epsilon=check_number(config, "optimizer.epsilon", source, 0.0),
    )
    amp = None  # false reads as null (off)
    if config["trainer"]["amp"] is not False:
        amp = check_choice(config, "trainer.amp", source, (None, "float16", "bfloat16"))
    return TrainerSettings(
        output_dir=config["output_dir"],
        seed=check_int(config, "seed", source, 0),
        max_steps=max_steps,
        global_batch_size=global_batch,
        micro_batch_size=micro,
        accumulate_steps=accumulate,
        world_size=world_size,
        logging_steps=check_int(config, "trainer.logging_steps", source, 1),
        eval_steps=check_int(config, "trainer.eval_steps", source, 0, allow_none=True),
        eval_batch_size=check_int(config, "trainer.eval_batch_size", source, 1),
        save_steps=check_int(config, "trainer.save_steps", source, 0, allow_none=True),
        keep_checkpoints=check_int(config, "trainer.keep_checkpoints", source, 0),
        max_nonfinite_steps=check_int(config, "trainer.max_nonfinite_steps", source, 1),
        amp=amp,
        amp_level=check_choice(config, "trainer.amp_level", source, ("O1", "O2")),
        recompute=check_bool(config, "trainer.recompute", source),
        visualdl=check_bool(config, "trainer.visualdl", source),
        optimizer=optimizer,
    )
