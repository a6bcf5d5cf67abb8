"""Writing outputs: never a half-written file or folder after an interruption, never a bare NaN in JSON.

Everything is written under a temporary name in the destination's own directory (same filesystem,
so the final ``os.replace`` is atomic) and renamed into place when complete.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that writes a NaN or an infinity as ``null``: standard JSON, never a bare ``NaN``."""
    return json.dumps(_finite(value), allow_nan=False, **kwargs)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through ``path.tmpPID`` and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def replace_dir(tmp: str, target: str) -> None:
    """Move the complete folder ``tmp`` to ``target``, replacing what was there (two renames)."""
    parent = os.path.dirname(os.path.abspath(target))
    old = os.path.join(parent, f".{os.path.basename(target)}.old{os.getpid()}")
    if os.path.isdir(target):
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
