"""The serving layer's error type."""

from __future__ import annotations

from ..errors import UsageError


class ServingError(UsageError):
    """Bad export or prediction input; the message names the file (and line or key).

    A ``UsageError``, so the command-line tools report it as one line and exit status 2.
    """


__all__ = ["ServingError"]
