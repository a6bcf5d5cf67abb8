"""The library's error types. Every one of them means bad input that the user can fix.

A command-line tool turns any ``ErnieError`` into one line on stderr and exit status 2
(``ernie.cli.run_cli``); the message names the file (and line or key). Anything else is a bug
and keeps its traceback. ``data_tools`` derives its shard errors from ``ErnieError`` too, so the
CLIs need not know them.
"""

from __future__ import annotations

from typing import Iterable


class ErnieError(ValueError):
    """Bad input (a file, a key, a value); the message says which and why."""


class ConfigError(ErnieError):
    """A config value or file is invalid; the message names the file and key."""


class UsageError(ErnieError):
    """Bad command-line or data-file input."""


class TokenizerError(ErnieError):
    """Bad vocabulary or tokenizer files; the message names the file (and line)."""


class CheckpointError(ErnieError):
    """A checkpoint cannot be loaded as asked; the message names the file and the offending keys."""


class TrainingError(ErnieError):
    """A run cannot continue as configured (e.g. a checkpoint that does not fit the run)."""


class OutputError(ErnieError):
    """An output cannot be written: a read-only or full disk, no permission, a file where a folder
    should be. The message names the path; what was being written is removed, never left half done."""


def shorten(items: Iterable, limit: int = 8) -> str:
    """The first ``limit`` items, comma-separated, and how many there are in all (for one-line messages)."""
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f", ... ({len(items)} in all)" if len(items) > limit else "")
