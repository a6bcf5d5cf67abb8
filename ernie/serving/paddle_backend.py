"""Paddle Inference under the predictor: the exported program with oneDNN on the CPU (fp32, or bf16 where
the CPU has avx512_bf16), or on a CUDA GPU."""

from __future__ import annotations

import logging

import numpy as np

from .errors import ServingError
from .metadata import BF16, FP32, PADDLE

logger = logging.getLogger("ernie")


def fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX), where oneDNN's bf16 kernels pay off."""
    from paddle.base import core

    return bool(core.supports_bfloat16_fast_performance())


class PaddleBackend:
    """A Paddle Inference predictor over ``program`` and ``params`` at ``precision`` (fp32 or bf16)."""

    name = PADDLE

    def __init__(
        self,
        program: str,
        params: str,
        precision: str,
        device: str,
        threads: int,
        use_onednn: bool,
        onednn_cache: int,
    ):
        import paddle
        from paddle import inference

        if precision == BF16 and not (device == "cpu" and use_onednn and fast_bf16()):
            # fp32 rather than an error: its outputs are the more exact ones, and an export keeps serving on
            # a machine without bf16 (where Paddle would run fp32 anyway, silently).
            reason = "this CPU has none"
            if device != "cpu":
                reason = "--device gpu"
            elif not use_onednn:
                reason = "--no_onednn"
            logger.warning("precision bf16 needs oneDNN on a CPU with avx512_bf16 (%s): running fp32", reason)
            precision = FP32
        self.precision = precision
        config = inference.Config(program, params)
        if device == "gpu":
            if not paddle.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
                raise ServingError(
                    "--device gpu: this Paddle build or machine has no CUDA GPU; use --device cpu"
                )
            config.enable_use_gpu(256, 0)
        elif device == "cpu":
            config.disable_gpu()
            if use_onednn:
                config.enable_onednn()
                # Each distinct input shape builds its own oneDNN primitives (memory and time): bound them.
                config.set_onednn_cache_capacity(onednn_cache)
                if precision == BF16:
                    config.enable_onednn_bfloat16()
            config.set_cpu_math_library_num_threads(threads)
        else:
            raise ServingError(f"--device: expected cpu or gpu, got {device!r}")
        config.switch_ir_optim(True)
        config.disable_glog_info()
        self._predictor = inference.create_predictor(config)
        self.input_names = list(self._predictor.get_input_names())
        self.output_names = list(self._predictor.get_output_names())

    def run(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name in self.input_names:
            handle = self._predictor.get_input_handle(name)
            handle.reshape(list(arrays[name].shape))
            handle.copy_from_cpu(arrays[name])
        self._predictor.run()
        return [self._predictor.get_output_handle(name).copy_to_cpu() for name in self.output_names]


__all__ = ["PaddleBackend", "fast_bf16"]
