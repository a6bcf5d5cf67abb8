"""Which files a fine-tuning run reads, reading them, and reporting every row that was not used."""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

from ..errors import ConfigError, UsageError
from .benchmarks import BenchmarkSpec
from .readers import LabelSet, ReadResult, read_split

logger = logging.getLogger("ernie.finetune")

MAX_ISSUES_SHOWN = 5
GROUPS = ("train", "dev", "test")


def _candidates(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def split_files(value: Any, data_dir: str, key: str, required: bool) -> dict[str, str]:
    """``data.<split>`` -> ``{name: path}``; a list is alternatives, a mapping names several splits."""
    if value is None:
        return {}
    named = value if isinstance(value, dict) else {key.split(".")[-1]: value}
    out = {}
    for name, choice in named.items():
        if choice is None:
            continue
        if not isinstance(choice, (str, list)) or not choice:
            raise ConfigError(
                f"key '{key}': expected a file name, a list of alternatives or a mapping, got {choice!r}"
            )
        paths = [os.path.join(data_dir, c) for c in _candidates(choice)]
        found = next((p for p in paths if os.path.isfile(p)), None)
        if found is None:
            if required:
                raise UsageError(f"{' or '.join(paths)}: no such data file (key '{key}')")
            logger.warning("no %s file (%s): skipped", name, " or ".join(paths))
            continue
        out[name] = found
    return out


def read_splits(
    spec: BenchmarkSpec,
    data_config: dict,
    data_dir: str,
    labels: Optional[LabelSet],
    wanted: dict[str, bool],
    required: bool,
) -> dict[str, dict[str, ReadResult]]:
    """``{group: {split name: ReadResult}}`` for the groups in ``wanted`` (train, dev, test)."""
    files = {
        group: split_files(data_config[group], data_dir, f"data.{group}", required) if wanted[group] else {}
        for group in GROUPS
    }
    return {
        group: {name: read_split(spec, path, labels, data_config["columns"]) for name, path in paths.items()}
        for group, paths in files.items()
    }


def check_usable(splits: dict[str, dict[str, ReadResult]]) -> None:
    """A split without a single usable example is an error naming the file and its first bad row."""
    for group in splits.values():
        for result in group.values():
            if result.examples:
                continue
            issues = result.malformed + result.skipped
            first = f" (first: {issues[0]})" if issues else ""
            raise UsageError(f"{result.path}: no usable example in {result.rows} rows{first}")


def report_data(splits: dict[str, dict[str, ReadResult]], strict: bool) -> None:
    """Log what was read; every malformed or skipped row is counted, the first few shown."""
    malformed = [issue for group in splits.values() for r in group.values() for issue in r.malformed]
    for group in splits.values():
        for result in group.values():
            logger.info(
                "%s: %d rows, %d examples%s, %d malformed, %d skipped",
                result.path,
                result.rows,
                len(result.examples),
                "" if result.labelled else " (no labels)",
                len(result.malformed),
                len(result.skipped),
            )
            for kind, issues in (
                ("malformed", result.malformed),
                ("skipped", result.skipped),
                ("note", result.notes),
            ):
                for issue in issues[:MAX_ISSUES_SHOWN]:
                    logger.warning("%s: %s", kind, issue)
                if len(issues) > MAX_ISSUES_SHOWN:
                    logger.warning(
                        "%s: ... and %d more in %s", kind, len(issues) - MAX_ISSUES_SHOWN, result.path
                    )
    if strict and malformed:
        raise UsageError(f"{malformed[0]} ({len(malformed)} malformed rows in all; --strict)")
