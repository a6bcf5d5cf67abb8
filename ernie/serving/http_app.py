"""The HTTP JSON endpoint over a predictor (a FastAPI app; ``serve_cli`` runs it with uvicorn).

* ``POST /predict``: one example object (``text_a`` + optional ``text_b``, or ``question`` and
  ``context`` for question answering, optional ``id``), answered with one output object; or a list of
  them, answered with a list in the same order. The fields are ``tools/predict.py``'s (see
  ``predictor``). Examples of concurrent requests run together (``batcher``).
* ``GET /health``: ``{"status": "ok", "model", "head", "backend", "precision", "batching": {counts}}``;
  503 if the worker stopped.

Every error is ``{"error": message}``: 400 for a body that is not UTF-8 JSON or not examples (the
message names the example and key), 413 for a body over ``max_body_bytes`` or a list over
``max_examples``, 500 when prediction itself fails (that request only; the worker keeps serving).
This module imports fastapi; ``ernie.serving`` does not import it.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ..errors import ErnieError
from ..files import JsonTextError, json_dumps, json_loads
from .batcher import MicroBatcher
from .errors import ServingError
from .inputs import Example, _example_from_fields
from .metadata import QUESTION_ANSWERING
from .predictor import Predictor

BODY = "request body"


@dataclass(frozen=True)
class Limits:
    """The server's settings (the defaults are those of ``ernie-serve``'s flags)."""

    max_body_bytes: int
    max_examples: int
    max_batch: int  # examples per predict call, gathered from concurrent requests
    max_wait_ms: float  # how long the first request of a batch waits for others


class RequestError(ServingError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_big = RequestError(f"{BODY}: over {limit} bytes (--max_body_bytes)", 413)
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body has no length to check up front
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def parse_examples(body: bytes, qa: bool, max_examples: int) -> tuple[list[Example], bool]:
    """(the examples of a request body, whether it was one object rather than a list)."""
    try:
        value = json_loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError(f"{BODY}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"{BODY}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except JsonTextError as exc:
        raise RequestError(f"{BODY}: {exc}") from None
    single = isinstance(value, dict)
    items = [value] if single else value
    if not isinstance(items, list):
        raise RequestError(
            f"{BODY}: expected an example object or a list of them, got {type(value).__name__}"
        )
    if not items:
        raise RequestError(f"{BODY}: an empty list, no examples")
    if len(items) > max_examples:
        raise RequestError(
            f"{BODY}: {len(items)} examples, at most {max_examples} per request (--max_examples)", 413
        )
    examples = []
    for number, item in enumerate(items, 1):
        where = f"{BODY}: example {number}" if not single else BODY
        if not isinstance(item, dict):
            raise RequestError(f"{where}: expected a JSON object, got {type(item).__name__}")
        try:
            # The predictor's own field rules; its messages say "NAME: line N: ...", here N is the example.
            examples.append(_example_from_fields(item, qa, BODY, number))
        except ServingError as exc:
            raise RequestError(f"{where}: {str(exc).removeprefix(f'{BODY}: line {number}: ')}") from None
    return examples, single


def json_response(value: Any, status: int = 200) -> Response:
    # ernie.files.json_dumps writes a NaN score as null (standard JSON), as predict.py does.
    return Response(json_dumps(value, ensure_ascii=False), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def create_app(predictor: Predictor, limits: Limits) -> FastAPI:
    """The app serving ``predictor``; its micro-batcher (started here) is ``app.state.batcher``."""
    batcher = MicroBatcher(predictor.predict, limits.max_batch, limits.max_wait_ms / 1000)
    qa = predictor.head == QUESTION_ANSWERING

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()  # answer what is queued before the process exits

    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Unknown routes and methods answer in the same {"error": ...} form as ours.
        return error_response(exc.status_code, str(exc.detail))

    app = FastAPI(
        title="ERNIE predictor",
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        openapi_url=None,  # the body is parsed by hand (for its limits and messages): no schema to show
    )
    app.state.batcher = batcher

    @app.get("/health")
    async def health() -> Response:
        if not batcher.alive:
            return error_response(503, "the prediction worker has stopped")
        stats = asdict(batcher.stats)
        return json_response(
            {
                "status": "ok",
                "model": predictor.prefix,
                "head": predictor.head,
                "backend": predictor.backend,
                "precision": predictor.precision,
                "batching": stats,
            }
        )

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        try:
            body = await read_body(request, limits.max_body_bytes)
            examples, single = parse_examples(body, qa, limits.max_examples)
            outputs = await asyncio.wrap_future(batcher.submit(examples))
        except RequestError as exc:
            return error_response(exc.status, str(exc))
        except ClientDisconnect:
            return error_response(400, f"{BODY}: the client disconnected")
        except ErnieError as exc:
            return error_response(400, str(exc))
        except Exception as exc:  # logged with its traceback by the batcher
            return error_response(500, f"prediction failed: {type(exc).__name__}: {exc}")
        try:
            return json_response(outputs[0] if single else outputs)
        except RecursionError:  # an "id" (copied as is) that parsed but nests too deeply to write back
            return error_response(400, f"{BODY}: key 'id' is nested too deeply")

    return app


__all__ = ["Limits", "RequestError", "create_app", "parse_examples", "read_body"]
