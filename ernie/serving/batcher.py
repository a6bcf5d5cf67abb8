"""Dynamic micro-batching: one worker thread owns the predictor and runs concurrent requests together.

Paddle Inference predictors are not thread-safe, and one batch of n examples costs much less than n
batches of one, so request handlers never call the predictor themselves: they ``submit`` their
examples and wait on the returned future. The worker takes the oldest waiting request, then every
request that arrives within ``max_wait`` seconds of it (and whatever is already queued), up to
``max_batch`` examples in all; runs one ``predict`` over them and hands each request its slice. A
request larger than ``max_batch`` runs alone; requests are never split, and are answered in order.

A batch that raises is run again request by request, so a request that breaks the predictor fails
only itself; the worker catches every error and keeps serving.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..errors import ErnieError
from .errors import ServingError

logger = logging.getLogger(__name__)

_STOP = object()  # queued by close(): the worker finishes what was queued before it, then exits


@dataclass
class BatchStats:
    requests: int = 0  # requests answered, with outputs or an error
    examples: int = 0  # examples answered with outputs
    batches: int = 0  # predict calls (a failed batch's request-by-request reruns count too)
    failed: int = 0  # requests answered with an error
    largest: int = 0  # most examples in one predict call


@dataclass
class _Job:
    examples: list
    future: Future


class MicroBatcher:
    """Runs ``predict(examples) -> outputs`` (one output per example, in order) on a worker thread,
    over batches gathered from concurrent ``submit`` calls. ``stats`` counts requests and batches."""

    def __init__(
        self, predict: Callable[[list], Sequence[Any]], max_batch: int = 32, max_wait: float = 0.005
    ) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ServingError(f"--max_batch: must be a positive integer, got {max_batch!r}")
        if max_wait < 0:
            raise ServingError(f"--max_wait_ms: must be >= 0, got {max_wait * 1000:g}")
        self.predict = predict  # called on the worker thread only
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="ernie-micro-batcher", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, examples: Sequence[Any]) -> Future:
        """A future of the outputs of ``examples`` (or of the error that prevented them)."""
        if self._closed:
            raise ServingError("the server is shutting down")
        future: Future = Future()
        self._queue.put(_Job(list(examples), future))
        return future

    def close(self, timeout: Optional[float] = None) -> None:
        """Answer what is queued, then stop the worker."""
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the worker thread
    def _serve(self) -> None:
        carried = None  # a request that did not fit the previous batch starts the next one
        stopping = False
        while not stopping:
            first = carried if carried is not None else self._queue.get()
            if first is _STOP:
                break
            batch: list[_Job] = []
            try:
                carried, stopping = self._gather(first, batch)
                self._run(batch)
            except Exception as exc:  # a bug here must not kill the worker: fail the batch, go on
                carried = None
                logger.exception("micro-batcher: unexpected error")
                for job in batch:
                    self._fail(job, exc)
        # A request submitted while close() ran may sit behind the stop mark: answer it too.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP and job.future.set_running_or_notify_cancel():
                self._fail(job, ServingError("the server is shutting down"))

    def _gather(self, first: _Job, batch: list[_Job]) -> tuple[Optional[_Job], bool]:
        """Fill ``batch`` from ``first`` on; (a request left for the next batch, whether close() was seen)."""
        size = 0
        job: Any = first
        deadline = time.monotonic() + self.max_wait
        while True:
            if job is _STOP:
                return None, True
            if batch and size + len(job.examples) > self.max_batch:
                return job, False
            # A request whose client went away (its future cancelled) is dropped unseen.
            if job.future.set_running_or_notify_cancel():
                batch.append(job)
                size += len(job.examples)
            if size >= self.max_batch:
                return None, False
            timeout = deadline - time.monotonic()
            try:
                # Past the deadline, still take what is already queued: that costs no waiting.
                job = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                return None, False

    def _run(self, batch: list[_Job]) -> None:
        if not batch:
            return
        examples = [example for job in batch for example in job.examples]
        self.stats.batches += 1
        self.stats.largest = max(self.stats.largest, len(examples))
        try:
            outputs = list(self.predict(examples))
            if len(outputs) != len(examples):
                raise RuntimeError(f"predict returned {len(outputs)} outputs for {len(examples)} examples")
        except Exception as exc:
            if len(batch) > 1:  # find the request(s) at fault: the others still get their answers
                for job in batch:
                    self._run([job])
                return
            if not isinstance(exc, ErnieError):
                logger.exception("prediction failed")
            self._fail(batch[0], exc)
            return
        begin = 0
        for job in batch:
            end = begin + len(job.examples)
            job.future.set_result(outputs[begin:end])
            begin = end
            self.stats.requests += 1
            self.stats.examples += len(job.examples)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(exc)
            self.stats.requests += 1
            self.stats.failed += 1


__all__ = ["BatchStats", "MicroBatcher"]
