"""What every command-line tool shares: logging, and bad input as one line and exit status 2."""

from __future__ import annotations

import logging
import sys
from typing import Callable, Optional

from .errors import ErnieError

EXIT_BAD_INPUT = 2


def setup_logging(verbose: bool = True) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
