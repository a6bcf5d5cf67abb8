"""What every CLI shares: YAML configs with ``--set key.sub=value`` overrides, and error exits.

Configs are plain nested dicts checked against a dict of defaults: a key the defaults do not
have is an error naming the key (typos must not silently fall back to a default), except under
the sections listed as free (``model.<key>`` overrides any model-config key and is validated by
``ErnieConfig`` instead).

Bad input ends with one line on stderr naming the file (and line or key), exit status 2.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import sys
from typing import Any, Callable, Iterable, Optional

import yaml

from .config import ConfigError

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad command-line or file input (exit 2)."""


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
    defaults: dict[str, Any], config: dict[str, Any], source: str, free_sections: Iterable[str] = ("model",)
) -> dict[str, Any]:
    """Deep-merge ``config`` over ``defaults``; unknown keys raise ``ConfigError`` naming them."""
    free = set(free_sections)

    def merge(base: dict, update: dict, prefix: str) -> dict:
        out = copy.deepcopy(base)
        for key, value in update.items():
            name = f"{prefix}{key}"
            in_free = any(name == f or name.startswith(f + ".") for f in free)
            if key not in base:
                if not in_free:
                    raise ConfigError(f"{source}: unknown key '{name}'")
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
) -> dict[str, Any]:
    """Defaults <- YAML file <- ``--set`` overrides, each checked for unknown keys."""
    config = merge_config(defaults, load_yaml(path) if path else {}, path or "defaults", free_sections)
    for text in overrides:
        keys, value = parse_override(text)
        partial: dict[str, Any] = {}
        set_path(partial, keys, value)
        config = merge_config(config, partial, f"--set {text}", free_sections)
    return config


def setup_logging(verbose: bool = True) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def bad_input_errors() -> tuple[type, ...]:
    """Error types that mean bad input (exit 2, one line), across the library."""
    from .config import ConfigError
    from .tokenizer import TokenizerError

    errors: list[type] = [ConfigError, TokenizerError, UsageError, FileNotFoundError]
    try:
        from .checkpoint import CheckpointError

        errors.append(CheckpointError)
    except ImportError:  # no paddle on this machine
        pass
    try:
        from data_tools.indexed import IndexedDatasetError
        from data_tools.shards import ShardError

        errors += [ShardError, IndexedDatasetError]
    except ImportError:
        pass
    return tuple(errors)


def run_cli(main: Callable[[], Optional[int]]) -> None:
    """Run ``main``; bad input becomes one line on stderr and exit status 2."""
    try:
        code = main()
    except bad_input_errors() as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror or 'no such file'}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def atomic_write_text(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
