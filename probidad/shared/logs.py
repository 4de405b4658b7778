"""structlog JSON logs; every line inside an event handler carries its event id, type and correlation id."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

__all__ = ["configure_logging", "get_logger", "bound_contextvars", "bind_contextvars", "clear_contextvars"]

_configured = False


def configure_logging(service: str, level: str = "INFO", *, cache: bool = False) -> None:
    """JSON lines on stdout. ``cache``: build each module's logger once (a service process does; tests
    that capture log lines cannot, since a cached logger no longer looks the configuration up)."""
    global _configured
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            # orjson and a bytes logger: a line per applied event is on the hot path of every consumer.
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=cache,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through stdlib; keep their noise at WARNING so the JSON stream stays readable.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _configured = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
