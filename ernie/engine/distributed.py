"""Data parallelism under ``fleetrun`` (collective mode): the engine's communication, nothing else.

``rank()`` and ``world_size()`` read the launcher's environment and need no paddle; the rest imports it on use.

We do not wrap the model in ``paddle.DataParallel``: gradients are all-reduced explicitly once per
optimizer step, after the last micro-batch. That gives gradient accumulation without extra
all-reduces, and a multi-task model whose heads are used one task at a time needs no
``find_unused_parameters`` bookkeeping (every rank trains the same task at a step, so the same
parameters have gradients everywhere).

Single process (plain ``python script.py``): every function here is a cheap no-op.
"""

from __future__ import annotations

import os
from typing import Any, Iterable


def world_size() -> int:
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))


def rank() -> int:
    return int(os.environ.get("PADDLE_TRAINER_ID", "0"))


def is_main_process() -> bool:
    return rank() == 0


_INITIALISED = False


def init_distributed(seed: int | None = None) -> tuple[int, int]:
    """``fleet.init(is_collective=True)`` when launched by fleetrun with more than one process.

    Returns ``(rank, world_size)``. CPU runs communicate through gloo (fleetrun sets it up).
    """
    global _INITIALISED
    if world_size() > 1 and not _INITIALISED:
        from paddle.distributed import fleet

        strategy = fleet.DistributedStrategy()
        strategy.hybrid_configs = {
            "dp_degree": world_size(),
            "mp_degree": 1,
            "pp_degree": 1,
            "sharding_degree": 1,
        }
        fleet.init(is_collective=True, strategy=strategy)
        _INITIALISED = True
    if seed is not None:
        import paddle

        paddle.seed(seed)
    return rank(), world_size()


def all_reduce_gradients(parameters: Iterable[Any]) -> None:
    """Sum the gradients over ranks (bucketed, one all-reduce per bucket).

    A sum, not a mean: callers divide each rank's loss by the count of the whole global batch, so
    the summed gradient is the global batch mean however the batch is split over ranks.
    """
    if world_size() <= 1:
        return
    from paddle.distributed.fleet.utils.hybrid_parallel_util import fused_allreduce_gradients_with_group

    fused_allreduce_gradients_with_group(list(parameters), None, scale=1.0)


def broadcast_parameters(model: Any) -> None:
    """Make every rank start from rank 0's weights (initialisation is seeded, this makes it certain)."""
    if world_size() <= 1:
        return
    import paddle

    with paddle.no_grad():
        for param in model.parameters():
            paddle.distributed.broadcast(param, src=0)


def barrier() -> None:
    if world_size() > 1:
        import paddle

        paddle.distributed.barrier()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a few floats over ranks (metrics, token counts)."""
    if world_size() <= 1:
        return list(values)
    import paddle

    tensor = paddle.to_tensor(values, dtype="float64")
    paddle.distributed.all_reduce(tensor)
    return tensor.numpy().tolist()


def all_gather_objects(local: list[Any]) -> list[Any]:
    """Every rank's list, concatenated in rank order (evaluation outputs)."""
    if world_size() <= 1:
        return list(local)
    import paddle

    gathered: list = []
    paddle.distributed.all_gather_object(gathered, local)
    return [item for part in gathered for item in part]
