"""Checkpoint folders of a run: written atomically, found again, pruned, and read back for an exact resume.

Layout under ``output_dir/checkpoints``::

    step_N/                     the model in PaddleNLP's layout (config.json, model_state.pdparams; the
                                objective adds its files, e.g. the tokenizer): from_pretrained loads it
        trainer_state.pdparams  optimizer moments (keyed by structured parameter names), LR schedule,
                                loss scaler, the engine's counters and log window, the objective's state
        rng_state_rank{r}.pkl   each rank's RNG states (dropout)
        trainer_state.json      written last: the checkpoint is complete
    latest                      name of the newest complete checkpoint

A checkpoint is written as ``.step_N.tmp`` and renamed when complete, then ``latest`` is replaced
(also by a rename): a run killed while saving leaves the previous checkpoint and pointer intact.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
import shutil
import time
from typing import Any, Callable, Optional

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..files import atomic_write_text, json_dumps, remove_quietly, replace_dir, writing
from . import distributed

logger = logging.getLogger("ernie.engine")

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pdparams"
META_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"step_(\d+)")


def is_complete(path: str) -> bool:
    return os.path.isfile(os.path.join(path, META_FILE))


def find_checkpoint(output_dir: str) -> Optional[str]:
    """The checkpoint ``latest`` names, else the newest complete ``step_N``; None when there is none."""
    root = os.path.join(output_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return None
    pointer = os.path.join(root, LATEST)
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as f:
            path = os.path.join(root, f.read().strip())
        if _STEP_DIR.fullmatch(os.path.basename(path)) and is_complete(path):
            return path
    steps = sorted(
        (int(match.group(1)), name)
        for name in os.listdir(root)
        if (match := _STEP_DIR.fullmatch(name)) and is_complete(os.path.join(root, name))
    )
    return os.path.join(root, steps[-1][1]) if steps else None


def older_checkpoint(checkpoint: str) -> Optional[str]:
    """The newest complete checkpoint beside ``checkpoint`` with a smaller step, if any."""
    root, name = os.path.split(os.path.abspath(checkpoint))
    match = _STEP_DIR.fullmatch(name)
    if not match or not os.path.isdir(root):
        return None
    steps = sorted(
        int(m.group(1))
        for other in os.listdir(root)
        if (m := _STEP_DIR.fullmatch(other))
        and int(m.group(1)) < int(match.group(1))
        and is_complete(os.path.join(root, other))
    )
    return os.path.join(root, f"step_{steps[-1]}") if steps else None


def locate_resume(output_dir: str, resume: Optional[str], source: str = "config") -> Optional[str]:
    """The checkpoint to continue from: ``resume`` None (a new run; refused over an earlier run's
    checkpoints), ``"auto"`` (the newest, if any) or a checkpoint directory."""
    if resume == "auto":
        return find_checkpoint(output_dir)
    if resume:
        if not is_complete(resume):
            raise ConfigError(f"--resume {resume}: not a complete checkpoint (no {META_FILE})")
        return resume
    if find_checkpoint(output_dir):
        raise ConfigError(
            f"{source}: key 'output_dir' ({output_dir}) holds checkpoints of an earlier run: "
            "pass --resume auto to continue it, or choose another output_dir"
        )
    return None


# ---------------------------------------------------------------------------------------------- RNG
def rng_state() -> dict[str, Any]:
    import paddle

    return {"paddle": paddle.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng(checkpoint: str, rank: int) -> None:
    import paddle

    path = os.path.join(checkpoint, f"rng_state_rank{rank}.pkl")
    if not os.path.isfile(path):  # resumed on more ranks than saved: dropout continues from a new stream
        logger.warning(
            "%s: no RNG state for rank %d; dropout will differ from an uninterrupted run", checkpoint, rank
        )
        return
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
        paddle.set_rng_state(state["paddle"])
        np.random.set_state(state["numpy"])
        random.setstate(state["python"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged RNG state ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------- optimizer
def _longest_prefix(key: str, names) -> str:
    """The longest name such that ``key`` is that name or that name + "_..." (moment keys)."""
    best = ""
    for name in names:
        if len(name) > len(best) and (key == name or key.startswith(name + "_")):
            best = name
    if not best:
        raise KeyError(f"optimizer state key {key!r} matches no parameter")
    return best


def optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """The optimizer's state keyed by structured parameter names.

    Paddle keys the moments by generated parameter names (``linear_12.w_0_moment1_0``) that differ in
    another process; structured names (``ernie.encoder.layers.0.linear1.weight_moment1_0``) do not.
    The LR schedule is saved apart.
    """
    structured = {param.name: name for name, param in model.named_parameters()}
    out = {}
    for key, value in optimizer.state_dict().items():
        if key == "LR_Scheduler":
            continue
        if key == "master_weights":
            out[key] = {structured[k]: v for k, v in value.items()}
            continue
        generated = _longest_prefix(key, structured)
        out[structured[generated] + key[len(generated) :]] = value
    return out


def load_optimizer_state(model: Any, optimizer: Any, state: dict[str, Any], scheduler_state: dict) -> None:
    generated = {name: param.name for name, param in model.named_parameters()}
    out = {}
    for key, value in state.items():
        if key == "master_weights":
            out[key] = {generated[k]: v for k, v in value.items()}
            continue
        name = _longest_prefix(key, generated)
        out[generated[name] + key[len(name) :]] = value
    out["LR_Scheduler"] = scheduler_state
    optimizer.set_state_dict(out)


def create_optimizer_state(model: Any, optimizer: Any) -> None:
    """Create every parameter's Adam moments now rather than at its first gradient.

    Paddle creates them lazily, so a head that has not trained yet has none, and a state saved then
    cannot be loaded once it has (``set_state_dict`` requires every moment it knows of). Created now
    they hold the same initial values Paddle would give them later.
    """
    from paddle.base import framework

    params = [p for p in model.parameters() if not p.stop_gradient]
    optimizer._create_accumulators(framework.default_main_program().global_block(), params)


# ---------------------------------------------------------------------------------------------- save / load
def save_checkpoint(
    output_dir: str,
    step: int,
    write_model: Callable[[str], None],
    state: dict[str, Any],
    meta: dict[str, Any],
    keep: int,
) -> str:
    """Write ``checkpoints/step_{step}`` (see the module docstring); every rank calls it.

    ``write_model(dir)`` writes the weights and the objective's files (rank 0 only); ``state`` goes
    into ``trainer_state.pdparams`` and ``meta`` into ``trainer_state.json``.
    """
    import paddle

    rank = distributed.rank()
    root = os.path.join(output_dir, CHECKPOINTS)
    name = f"step_{step}"
    tmp, final = os.path.join(root, f".{name}.tmp"), os.path.join(root, name)
    try:
        with writing(final):
            if rank == 0:
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp)
            distributed.barrier()
            with open(os.path.join(tmp, f"rng_state_rank{rank}.pkl"), "wb") as f:
                pickle.dump(rng_state(), f)
            if rank == 0:
                write_model(tmp)
                paddle.save(state, os.path.join(tmp, STATE_FILE))
            distributed.barrier()
            if rank == 0:
                meta = {"step": step, **meta, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
                atomic_write_text(os.path.join(tmp, META_FILE), json_dumps(meta, indent=2) + "\n")
                if os.path.isdir(final):  # the same step again (a run resumed from an older checkpoint)
                    shutil.rmtree(final)
                os.replace(tmp, final)
                atomic_write_text(os.path.join(root, LATEST), name + "\n")
                _prune(root, keep, name)
    except BaseException:
        if rank == 0:  # a failed save leaves the earlier checkpoints as they were, and no partial one
            remove_quietly(tmp)
        raise
    distributed.barrier()
    return final


def _prune(root: str, keep: int, current: str) -> None:
    """Keep the newest ``keep`` checkpoints (0: all); remove leftovers of interrupted saves."""
    for name in os.listdir(root):
        if name.startswith(".step_") and name.endswith(".tmp"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    if keep <= 0:
        return
    steps = sorted(int(m.group(1)) for name in os.listdir(root) if (m := _STEP_DIR.fullmatch(name)))
    for step in steps[:-keep]:
        if f"step_{step}" != current:
            shutil.rmtree(os.path.join(root, f"step_{step}"), ignore_errors=True)


def read_meta(checkpoint: str) -> dict[str, Any]:
    """``trainer_state.json`` of a complete checkpoint."""
    path = os.path.join(checkpoint, META_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return meta


def load_trainer_state(checkpoint: str) -> dict[str, Any]:
    import paddle

    path = os.path.join(checkpoint, STATE_FILE)
    try:
        return paddle.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (the checkpoint is incomplete)") from None
    except Exception as exc:  # paddle.load raises assorted errors on a truncated or foreign file
        raise CheckpointError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def save_model_dir(write_model: Callable[[str], None], target: str) -> None:
    """Write a model folder (e.g. ``best/``) through a temporary folder, replacing ``target`` in one rename."""
    parent = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp{os.getpid()}")
    with writing(target):
        os.makedirs(parent, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write_model(tmp)
            replace_dir(tmp, target)
        finally:
            remove_quietly(tmp)
