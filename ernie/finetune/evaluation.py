"""Model outputs for every feature of a split, computed across processes, and the split's metrics."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import paddle

from ..engine import distributed
from ..errors import TrainingError
from .adapters import Adapter


def model_outputs(model: Any, adapter: Adapter, features: list, batch_size: int) -> list:
    """Outputs for every feature; each process runs its share, longest first, and all are gathered."""
    mine = list(range(distributed.rank(), len(features), distributed.world_size()))
    mine.sort(key=lambda i: -len(features[i].input_ids))
    local = []
    was_training = model.training
    model.eval()
    with paddle.no_grad():
        for start in range(0, len(mine), batch_size):
            indices = mine[start : start + batch_size]
            batch = [features[i] for i in indices]
            local.extend(zip(indices, adapter.outputs(model, adapter.inputs(batch), batch)))
    if was_training:
        model.train()
    outputs: list = [None] * len(features)
    for index, output in distributed.all_gather_objects(local):
        outputs[index] = output
    return outputs


def evaluate_splits(
    model: Any, adapter: Adapter, splits: dict, features: dict, batch_size: int
) -> dict[str, tuple[Optional[dict], list]]:
    """``{split name: (metrics or None when unlabelled, per-example predictions)}``.

    Outputs that are not finite are an error naming the split: a NaN model must not be scored (its
    argmax is class 0, so it would "reach" the share of class 0)."""
    results = {}
    for name, split in splits.items():
        outputs = model_outputs(model, adapter, features[name], batch_size)
        bad = sum(not np.isfinite(np.asarray(output, dtype=np.float64)).all() for output in outputs)
        if bad:
            raise TrainingError(
                f"{split.path}: the model's outputs are not finite for {bad} of {len(outputs)} features "
                "(NaN or infinite weights?); nothing was scored"
            )
        results[name] = adapter.evaluate(split, features[name], outputs)
    return results
