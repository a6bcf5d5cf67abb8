"""Mixed precision and recompute: how the engine runs the forward and backward passes.

``trainer.amp``: float16 (with dynamic loss scaling: a step whose gradients overflow is skipped and
the scale lowered) or bfloat16 (fp32's exponent range: no scaling); ``trainer.amp_level`` O1
autocasts the ops Paddle lists as safe, O2 keeps half-precision weights with fp32 master copies in
the optimizer. Both are GPU features: Paddle runs neither half-precision matmuls nor loss scaling
on the CPU, so on a machine without a GPU the setting is reported and the run stays in fp32.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Optional

logger = logging.getLogger("ernie.engine")


def usable_amp_dtype(requested: Optional[str]) -> Optional[str]:
    """The AMP dtype to run with: None when not asked for, or (with a warning) when there is no GPU."""
    if not requested:
        return None
    import paddle

    if not paddle.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
        logger.warning("trainer.amp=%s ignored: no GPU (mixed precision is a GPU option)", requested)
        return None
    return requested


def set_recompute(model: Any, enabled: bool) -> None:
    """Switch activation recompute on every sublayer that supports it (the encoder)."""
    for layer in model.sublayers(include_self=True):
        if hasattr(layer, "enable_recompute"):
            layer.enable_recompute = enabled


class Precision:
    """Autocast, loss scaling and the optimizer step under one roof.

    ``scaler`` may be given (tests drive the float16 path with a stand-in on the CPU).
    """

    def __init__(self, dtype: Optional[str], level: str = "O1", scaler: Any = None):
        self.dtype = dtype
        self.level = level
        self.scaler = scaler
        if scaler is None and dtype == "float16":
            import paddle

            self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15)

    def decorate(self, model: Any, optimizer: Any) -> tuple[Any, Any]:
        """O2: half-precision weights, fp32 master weights in the optimizer."""
        if self.dtype and self.level == "O2":
            import paddle

            return paddle.amp.decorate(model, optimizer, level="O2", dtype=self.dtype)
        return model, optimizer

    def autocast(self):
        if not self.dtype:
            return contextlib.nullcontext()
        import paddle

        return paddle.amp.auto_cast(level=self.level, dtype=self.dtype)

    def backward(self, loss: Any) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer: Any) -> None:
        """Bring the gradients back to their true scale (before measuring and clipping them)."""
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def update(self, optimizer: Any, scheduler: Any, finite: bool) -> bool:
        """The parameter update, then the LR schedule and clearing the gradients; False when the update
        was skipped: a step whose loss or gradient norm is not finite, or a float16 overflow.

        This is the one place in the project where parameters are updated.
        """
        applied = False
        if self.scaler:  # loss scaling skips a step with an overflow itself (and lowers the scale)
            self.scaler.step(optimizer)
            # Paddle's scaler records whether this step found an inf/NaN gradient (and so skipped it).
            applied = not bool(getattr(self.scaler, "_cache_found_inf", False))
            self.scaler.update()
        elif finite:
            optimizer.step()
            applied = True
        scheduler.step()
        # To None, not zero: parameters without a gradient next step (another task's head) then get
        # no Adam update and no weight decay.
        optimizer.clear_grad(set_to_zero=False)
        return applied

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
