"""Weight files from outside Paddle: safetensors (read with numpy alone) and torch's ``pytorch_model.bin``.

A safetensors file is an 8-byte little-endian header length, a JSON header (``name -> {dtype, shape,
data_offsets}``, plus ``__metadata__``) and the raw little-endian tensor bytes. We parse it ourselves
because the ``safetensors`` package's numpy reader refuses bfloat16, the dtype many hub uploads use;
bfloat16 is widened to float32 (exactly: its bits are the top half of a float32). Writing goes through
the ``safetensors`` package (Paddle requires it). ``pytorch_model.bin`` is a torch pickle: it needs torch,
and without torch reading it is a one-line error saying so.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from .errors import CheckpointError

SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_safetensors_header(path: str) -> dict:
    """The JSON header of a safetensors file: ``name -> {dtype, shape, data_offsets}`` (no tensor bytes read)."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
    except (struct.error, ValueError) as exc:  # short file, bad JSON or bad UTF-8
        raise CheckpointError(f"{path}: not a safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (the header is not a JSON object)")
    header.pop("__metadata__", None)
    return header


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a numpy array (bfloat16 widened to float32)."""
    header = read_safetensors_header(path)
    with open(path, "rb") as f:
        data = f.read()
    start = 8 + struct.unpack_from("<Q", data)[0]
    state = {}
    for name, info in header.items():
        try:
            begin, end = (start + offset for offset in info["data_offsets"])
            shape, code = info["shape"], info["dtype"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: tensor {name}: malformed safetensors header entry") from None
        if end > len(data):
            raise CheckpointError(f"{path}: tensor {name} runs past the end of the file (truncated?)")
        raw = data[begin:end]
        if code == "BF16":
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif code in SAFETENSORS_DTYPES:
            array = np.frombuffer(raw, SAFETENSORS_DTYPES[code])
        else:
            raise CheckpointError(f"{path}: tensor {name} has dtype {code}, which we do not read")
        if array.size != int(np.prod(shape)):
            raise CheckpointError(f"{path}: tensor {name}: {array.size} values for shape {shape}")
        state[name] = array.reshape(shape).astype(array.dtype.newbyteorder("="), copy=True)
    return state


def write_safetensors(state: dict[str, np.ndarray], path: str) -> None:
    """Write ``state`` as safetensors with the ``format: pt`` metadata that transformers requires."""
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, path, metadata={"format": "pt"})


def read_torch_bin(path: str) -> dict[str, np.ndarray]:
    """The tensors of a torch state-dict pickle (``pytorch_model.bin``); needs torch."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path}: reading pytorch_model.bin needs torch (pip install torch); "
            "a model.safetensors of the same model reads without it"
        ) from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointError(f"{path}: cannot read the weights ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(raw).__name__}")
    state = {}
    for name, tensor in raw.items():
        if isinstance(tensor, torch.Tensor):
            if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
                tensor = tensor.float()
            state[name] = tensor.detach().cpu().numpy()
    return state
