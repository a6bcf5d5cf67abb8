"""Writing outputs: never a half-written file or folder after an interruption, never a bare NaN in JSON.

Everything is written under a temporary name in the destination's own directory (same filesystem,
so the final ``os.replace`` is atomic) and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
from typing import Any, Iterator, Optional

from .errors import OutputError

# The OS errors that mean "this output cannot be written here": the user can fix them (another
# folder, free space, permissions), so they are one line and exit 2, not a traceback.
OUTPUT_ERRNOS = frozenset(
    {
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
    }
)


def output_error(exc: OSError, path: Optional[str]) -> OutputError:
    """``exc`` as one line naming ``path`` (the output being written) and the file the OS names, if other."""
    where = [str(p) for p in (path, exc.filename) if p]
    detail = f" ({where[1]})" if len(where) == 2 and where[1] != where[0] else ""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EEXIST and exc.filename and not os.path.isdir(exc.filename):
        reason = "Not a directory"  # makedirs meets a file where the folder should be
    return OutputError(f"{where[0] + ': ' if where else ''}{reason}{detail}")


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Turn an OS error that means "cannot write here" into an ``OutputError`` naming ``path``; the
    caller's own ``except``/``finally`` removes what it had started."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        raise output_error(exc, path) from None


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


class JsonTextError(ValueError):
    """JSON text Python cannot take although it is well-formed: a lone surrogate escape (``"\\ud800"``,
    no character of any text), nesting past the recursion limit, an integer past the digit limit."""


def json_loads(text: str) -> Any:
    """``json.loads`` for untrusted input: raises ``json.JSONDecodeError`` (malformed) or ``JsonTextError``
    (see there), both ``ValueError``, never another exception."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonTextError("invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # an integer of over sys.get_int_max_str_digits() digits
        raise JsonTextError(f"invalid JSON ({str(exc).partition(';')[0]})") from None
    if "\\ud" in text or "\\uD" in text:  # only an escape can make a lone surrogate; re-encode only then
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonTextError("a lone surrogate escape (invalid Unicode)") from None
    return value


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through ``path.tmpPID`` and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp{os.getpid()}"
    with writing(path):
        os.makedirs(directory, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise


def remove_quietly(path: str) -> None:
    """Remove a temporary file or folder if it is there (cleaning up must not hide the first error)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def replace_dir(tmp: str, target: str) -> None:
    """Move the complete folder ``tmp`` to ``target``, replacing what was there (two renames)."""
    parent = os.path.dirname(os.path.abspath(target))
    old = os.path.join(parent, f".{os.path.basename(target)}.old{os.getpid()}")
    if os.path.isdir(target):
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
