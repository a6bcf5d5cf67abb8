"""What every command-line tool shares: logging, and bad input as one line and exit status 2."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Optional, Sequence

from .errors import ErnieError
from .files import OUTPUT_ERRNOS, output_error
from .yaml_config import Key, describe_keys

EXIT_BAD_INPUT = 2


def setup_logging(verbose: bool = True) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def run_parser(prog: str, usage: str, keys: Sequence[Key], config_help: str) -> argparse.ArgumentParser:
    """The arguments every config-driven run takes (``--config``, ``--set``, ``--resume``, ``--quiet``),
    with ``usage`` above and every config key with its default below."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=usage,
        epilog="config keys (set in the YAML or with --set key=value):\n" + describe_keys(keys),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (listed below)"
    )
    parser.add_argument(
        "--resume",
        metavar="auto|DIR",
        help="auto: continue from the output dir's newest checkpoint; or a checkpoint dir",
    )
    parser.add_argument("--quiet", action="store_true", help="warnings only, no progress bar")
    return parser


def run_cli(main: Callable[[], Optional[int]]) -> None:
    """Run ``main``; bad input (``ErnieError``, a missing file) becomes one line on stderr and exit 2."""
    try:
        code = main()
    except (ErnieError, FileNotFoundError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror or 'no such file'}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:  # an output that cannot be written where no code site named it
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        print(f"error: {output_error(exc, None)}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
