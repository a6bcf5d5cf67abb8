"""AdamW with decoupled weight decay, linear warm-up then linear decay, global-norm clipping.

Weight decay applies to every parameter except biases and LayerNorm scales/shifts. Which
parameters those are is decided from the model's structure (the layer type and the structured
name), never from Paddle's auto-generated parameter names: matching ``.*b_0`` against generated
names is how the official dygraph pre-training demo ended up decaying exactly the wrong set.
"""

from __future__ import annotations

from typing import Optional

import paddle
import paddle.nn as nn


def no_decay_parameter_names(model: nn.Layer) -> set[str]:
    """Structured names of the parameters that get no weight decay: biases and LayerNorm."""
    names: set[str] = set()
    for layer_name, layer in model.named_sublayers(include_self=True):
        if isinstance(layer, nn.LayerNorm):
            for param_name, _ in layer.named_parameters(include_sublayers=False):
                names.add(f"{layer_name}.{param_name}" if layer_name else param_name)
    for name, _ in model.named_parameters():
        if name.rsplit(".", 1)[-1].endswith("bias"):
            names.add(name)
    return names


def decay_parameter_names(model: nn.Layer) -> list[str]:
    excluded = no_decay_parameter_names(model)
    return [name for name, _ in model.named_parameters() if name not in excluded]


class LinearWarmupDecay(paddle.optimizer.lr.LRScheduler):
    """``lr * step / warmup`` for ``step < warmup``, then linear decay to 0 at ``total_steps``."""

    def __init__(self, learning_rate: float, total_steps: int, warmup_steps: int = 0, last_epoch: int = -1):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps], got {warmup_steps}")
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        super().__init__(learning_rate, last_epoch)

    def get_lr(self) -> float:
        step = self.last_epoch
        if step < self.warmup_steps:
            return self.base_lr * step / max(1, self.warmup_steps)
        remaining = self.total_steps - step
        return self.base_lr * max(0.0, remaining / max(1, self.total_steps - self.warmup_steps))


def warmup_steps_from(total_steps: int, warmup: float) -> int:
    """``warmup`` < 1 is a proportion of ``total_steps``, otherwise a step count."""
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    return int(warmup * total_steps) if warmup < 1 else min(int(warmup), total_steps)


def build_optimizer(
    model: nn.Layer,
    learning_rate: float,
    total_steps: int,
    warmup: float = 0.0,
    weight_decay: float = 0.01,
    max_grad_norm: Optional[float] = 1.0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    multi_precision: bool = False,
) -> tuple[paddle.optimizer.AdamW, LinearWarmupDecay]:
    """AdamW over ``model``'s trainable parameters and its schedule (step it once per update)."""
    scheduler = LinearWarmupDecay(learning_rate, total_steps, warmup_steps_from(total_steps, warmup))
    excluded = no_decay_parameter_names(model)
    # Paddle hands apply_decay_param_fun the generated parameter name, so translate once here.
    decayed = {param.name for name, param in model.named_parameters() if name not in excluded}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler,
        parameters=[p for p in model.parameters() if not p.stop_gradient],
        beta1=beta1,
        beta2=beta2,
        epsilon=epsilon,
        weight_decay=weight_decay,
        apply_decay_param_fun=lambda name: name in decayed,
        grad_clip=nn.ClipGradByGlobalNorm(max_grad_norm) if max_grad_norm else None,
        multi_precision=multi_precision,
    )
    return optimizer, scheduler
