"""structlog JSON logs; every line inside an event handler carries its event id, type and correlation id."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, BinaryIO

import orjson
import structlog
from opentelemetry.trace import get_current_span

__all__ = ["configure_logging", "get_logger", "bound_contextvars", "bind_contextvars", "clear_contextvars"]

_service_process: tuple[str, str] | None = None  # (service, level) of ``serve``'s configuration


# What every line written in this context carries (service, and inside a handler the event id, type
# and correlation id). One context variable holding a small dict: structlog's own contextvars helpers
# keep a variable per key and find them by scanning every variable of the context on every line,
# which in a service (asyncio, SQLAlchemy, FastStream all keep theirs) cost more than the line itself.
_bound: ContextVar[dict[str, Any]] = ContextVar("probidad_log_context", default={})  # noqa: B039 — never mutated


def bind_contextvars(**values: Any) -> None:
    _bound.set({**_bound.get(), **values})


@contextmanager
def bound_contextvars(**values: Any) -> Iterator[None]:
    token = _bound.set({**_bound.get(), **values})
    try:
        yield
    finally:
        _bound.reset(token)


def clear_contextvars() -> None:
    _bound.set({})


def _merge_bound(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    bound = _bound.get()
    return {**bound, **event} if bound else event


_trace_ids = False  # set while the process traces (probidad.shared.tracing): lines then name their span


def include_trace_ids(on: bool) -> None:
    global _trace_ids
    _trace_ids = on


def _add_trace_ids(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """``trace_id`` and ``span_id`` (hex, as trace backends show them) of the span the line is written in.
    Without tracing this is one test of a module variable per line."""
    if _trace_ids:
        context = get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
    return event


class _LinesInBatches:
    """Writes each line to stdout's buffer at once and flushes the buffer 50 ms after the first line
    waiting in it: one write to the file for many lines. A write per line (what structlog's
    ``BytesLogger`` does) was a tenth of a consumer's time at thousands of events per second. Outside
    an event loop every line is flushed at once; at exit Python flushes what is left."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._flush_due_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def msg(self, message: bytes) -> None:
        self._file.write(message + b"\n")  # a buffered writer: thread-safe
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a thread without an event loop, or start-up
            self._file.flush()
            return
        if self._flush_due_on is loop:
            return
        # A flush scheduled on a loop that has since closed never runs: schedule on this one.
        self._flush_due_on = loop
        loop.call_later(0.05, self._flush)

    def _flush(self) -> None:
        self._flush_due_on = None
        self._file.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


def configure_logging(service: str, level: str = "INFO", *, cache: bool = False) -> None:
    """JSON lines on stdout. ``cache``: a service process — build each module's logger once and write
    lines in batches (tests that capture log lines cannot cache, since a cached logger no longer
    looks the configuration up)."""
    global _service_process
    if not cache and _service_process == (service, level):
        return  # a service process configured its logging before building its runtime (``serve``)
    if cache:
        _service_process = (service, level)
    structlog.configure(
        processors=[
            _merge_bound,
            _add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            # orjson and a bytes logger: a line per applied event is on the hot path of every consumer.
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=(lambda *_args: _LinesInBatches(sys.stdout.buffer)) if cache
        else structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=cache,
    )
    bind_contextvars(service=service)
    # Libraries log through stdlib; keep their noise at WARNING so the JSON stream stays readable.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RateLimited) for f in handler.filters):
            handler.addFilter(RateLimited())


class RateLimited(logging.Filter):
    """At most one line a minute per message of the Kafka client library, with a count of the rest.

    While the brokers are away aiokafka logs every failed connection and metadata attempt — hundreds of
    lines a second per service, which would fill a disk in an hour's outage. The first line of each kind
    passes at once; then one a minute says how many like it were left out. The platform's own logs say,
    once, that Kafka is unreachable, how long for, and when it is back (``ServiceRuntime``)."""

    LIBRARIES = ("aiokafka", "kafka")

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, message) -> (last shown, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, str(record.msg))
        shown, left_out = self._seen.get(key, (float("-inf"), 0))
        if record.created - shown < self.interval_s:
            self._seen[key] = (shown, left_out + 1)
            return False
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like it in the last {record.created - shown:.0f} s)"
        if len(self._seen) > 1000:  # messages carry no ids, but never let the table grow without bound
            self._seen.clear()
        self._seen[key] = (record.created, 0)
        return True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
