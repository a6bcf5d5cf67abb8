"""``ernie-serve`` / ``tools/serve.py``: serve an export over HTTP (needs the optional fastapi and uvicorn)."""

from __future__ import annotations

import argparse
import socket
from typing import Optional

from ..cli import run_cli
from .errors import ServingError
from .metadata import check_positive
from .predictor_args import add_predictor_arguments, predictor_from_args

DESCRIPTION = """\
Serve an exported ERNIE model (tools/export.py) over HTTP with Paddle Inference or ONNX Runtime (the
same command as ernie-serve). Needs the optional packages fastapi and uvicorn.

POST /predict takes one JSON example object or a list of them, with the fields of tools/predict.py's
JSONL input (`text_a` + `text_b`, or `question` and `context`; `id` is copied), and answers one output
object or a list of them, with predict.py's fields. GET /health answers {"status": "ok", ...}. Errors
are {"error": message}: 400 for a bad body, 413 over a size limit, 500 when prediction fails.

Concurrent requests are micro-batched: the first waits up to --max_wait_ms for others, and up to
--max_batch examples run in one call of the model (a larger request runs alone).
"""

EXAMPLES = """\
examples:
  python tools/serve.py --model exported/sst2/inference --port 8000
  curl -s localhost:8000/predict -d '[{"text_a": "a fine film"}, {"text_a": "dull", "id": 7}]'
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_predictor_arguments(parser.add_argument_group("model"))
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    server.add_argument("--port", type=int, required=True)
    server.add_argument(
        "--max_batch", type=int, default=32, help="most examples per call of the model (default: %(default)s)"
    )
    server.add_argument(
        "--max_wait_ms",
        type=float,
        default=5.0,
        help="how long a batch waits for more requests, 0: never (default: %(default)s)",
    )
    server.add_argument(
        "--max_body_bytes",
        type=int,
        default=1 << 20,
        help="larger request bodies get 413 (default: %(default)s)",
    )
    server.add_argument(
        "--max_examples",
        type=int,
        default=128,
        help="more examples per request get 413 (default: %(default)s)",
    )
    server.add_argument("--quiet", action="store_true", help="warnings only, no access log")
    return parser


def require_server_packages() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServingError(
            f"serving needs the optional packages fastapi and uvicorn ({exc.name} is missing): "
            "pip install fastapi uvicorn"
        ) from None


def check_address(host: str, port: int) -> None:
    """Refuse an address nothing can listen on before the model loads (uvicorn would only say so later)."""
    if not 0 < port < 65536:
        raise ServingError(f"--port: expected 1..65535, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        raise ServingError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})"
        ) from None


def run(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("max_batch", "max_body_bytes", "max_examples"):
        check_positive(f"--{name}", getattr(args, name))
    if not args.max_wait_ms >= 0:  # (nan too)
        raise ServingError(f"--max_wait_ms: must be >= 0, got {args.max_wait_ms}")
    require_server_packages()
    check_address(args.host, args.port)
    import uvicorn

    from .http_app import Limits, create_app

    predictor = predictor_from_args(args)
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        max_examples=args.max_examples,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
    )
    uvicorn.run(
        create_app(predictor, limits),
        host=args.host,
        port=args.port,
        log_level="warning" if args.quiet else "info",
        access_log=not args.quiet,
    )
    return 0


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: bad input ends with one line on stderr and exit status 2."""
    run_cli(lambda: run(argv))


__all__ = ["build_parser", "check_address", "main", "require_server_packages", "run"]
