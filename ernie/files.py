"""Writing outputs so that an interrupted run never leaves a half-written file or folder behind.

Everything is written under a temporary name in the destination's own directory (same filesystem,
so the final ``os.replace`` is atomic) and renamed into place when complete.
"""

from __future__ import annotations

import os
import shutil


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
