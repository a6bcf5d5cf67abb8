"""YAML configs with ``--set key.sub=value`` overrides, checked key by key against defaults.

Configs are plain nested dicts checked against a dict of defaults: a key the defaults do not
have is an error naming the key (typos must not silently fall back to a default), except under
the sections listed as free (``model.<key>`` overrides any model-config key and is validated by
``ErnieConfig`` instead).
"""

from __future__ import annotations

import copy
import difflib
import re
import textwrap
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class Key:
    """One documented config key: its dotted name, default and what it means (shown by ``--help``)."""

    name: str
    default: Any
    doc: str


def defaults_of(keys: Iterable[Key]) -> dict[str, Any]:
    """The nested defaults dict of ``keys`` (a fresh copy each call)."""
    out: dict[str, Any] = {}
    for key in keys:
        node = out
        *sections, last = key.name.split(".")
        for part in sections:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(key.default)
    return out


def describe_keys(keys: Sequence[Key], width: int = 100) -> str:
    """``name (default: value)`` and the wrapped doc of every key, for an argparse epilog."""
    lines = []
    for key in keys:
        default = "null" if key.default is None else key.default
        lines.append(f"  {key.name} (default: {default})")
        lines.extend(textwrap.wrap(key.doc, width=width, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _unknown(source: str, name: str, known: Iterable[str]) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{source}: unknown key '{name}'{hint}")


def _dotted(tree: dict, prefix: str = "") -> list[str]:
    names = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        names.append(name)
        if isinstance(value, dict):
            names.extend(_dotted(value, name + "."))
    return names


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` and ``5E3`` as floats (YAML 1.1 wants a dot: ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_scalar(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_Loader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as a YAML scalar)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: bad key {key!r}")
    try:
        value = yaml_scalar(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def set_path(config: dict, path: list[str], value: Any) -> None:
    node = config
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: '{part}' is not a section")
        node = child
    node[path[-1]] = value


def merge_config(
    defaults: dict[str, Any],
    config: dict[str, Any],
    source: str,
    free_sections: Iterable[str] = ("model",),
    retired: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """Deep-merge ``config`` over ``defaults``; unknown keys raise ``ConfigError`` naming them (with the
    closest known key), and a ``retired`` key names what replaced it."""
    free = set(free_sections)
    retired = retired or {}
    known = _dotted(defaults)

    def merge(base: dict, update: dict, prefix: str) -> dict:
        out = copy.deepcopy(base)
        for key, value in update.items():
            name = f"{prefix}{key}"
            in_free = any(name == f or name.startswith(f + ".") for f in free)
            if name in retired:
                raise ConfigError(f"{source}: key '{name}' is retired; use {retired[name]}")
            if key not in base:
                if not in_free:
                    raise _unknown(source, name, known)
                out[key] = copy.deepcopy(value)
            elif isinstance(base[key], dict) and value is None:
                continue
            elif isinstance(base[key], dict) and isinstance(value, dict):
                out[key] = merge(base[key], value, f"{name}.")
            elif isinstance(base[key], dict) and not in_free:
                raise ConfigError(f"{source}: key '{name}' must be a mapping, got {type(value).__name__}")
            else:
                out[key] = copy.deepcopy(value)
        return out

    # Free sections (e.g. ``model``) take any key, and merge key by key like the rest.
    return merge(defaults, config, "")


def load_config(
    path: Optional[str],
    defaults: dict[str, Any],
    overrides: Iterable[str] = (),
    free_sections: Iterable[str] = ("model",),
    retired: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """Defaults <- YAML file <- ``--set`` overrides, each checked for unknown and retired keys.

    A ``--set`` into a free section changes that one key and keeps the rest of the section.
    """
    free = tuple(free_sections)
    config = merge_config(defaults, load_yaml(path) if path else {}, path or "defaults", free, retired)
    for text in overrides:
        keys, value = parse_override(text)
        if keys[0] in free:
            if len(keys) < 2:
                raise ConfigError(
                    f"--set {text}: '{keys[0]}' is a section; set one of its keys ({keys[0]}.<key>=value)"
                )
            set_path(config, keys, value)
            continue
        partial: dict[str, Any] = {}
        set_path(partial, keys, value)
        config = merge_config(config, partial, f"--set {text}", free, retired)
    return config


# ---------------------------------------------------------------------------------------------- value checks
def get_key(config: dict, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def check_int(config: dict, key: str, source: str, minimum: int, allow_none: bool = False) -> Optional[int]:
    """The integer at dotted ``key``, >= ``minimum``; anything else is a ConfigError naming the key."""
    value = get_key(config, key)
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{source}: key '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def check_number(
    config: dict, key: str, source: str, low: float, high: Optional[float] = None, allow_none: bool = False
) -> Optional[float]:
    value = get_key(config, key)
    if value is None and allow_none:
        return None
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or value != value  # NaN
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{source}: key '{key}' must be a number {bounds}, got {value!r}")
    return float(value)


def check_bool(config: dict, key: str, source: str) -> bool:
    value = get_key(config, key)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: key '{key}' must be true or false, got {value!r}")
    return value


def check_choice(config: dict, key: str, source: str, choices: Sequence[Any]) -> Any:
    value = get_key(config, key)
    if value not in choices:
        shown = ", ".join("null" if c is None else str(c) for c in choices)
        raise ConfigError(f"{source}: key '{key}' must be one of {shown}, got {value!r}")
    return value
