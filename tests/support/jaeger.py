"""A real Jaeger for the tests that follow traces: the one already answering on this machine's standard ports,
else one the fixture starts (``probidad.ops.jaegerctl``) for the session and stops afterwards.

Use it by importing the fixture into the test module (``from tests.support.jaeger import jaeger_fixture``, which
pytest knows as ``jaeger``) and marking the tests ``pytest.mark.go_program("jaeger")``, so they run last, once
the binary is built. With
``PROBIDAD_REQUIRE_REAL=1`` (CI) a Jaeger that cannot be started fails the run instead of skipping.

Jaeger keeps every trace of the session in memory: a test finds its own by a trace id it chose (a
``traceparent`` it sent), never by taking the latest trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from probidad.ops.jaegerctl import JaegerCtlError, JaegerServer, jaeger_answers, start_jaeger, stop_jaeger

__all__ = ["jaeger_fixture", "jaeger_trace", "JaegerServer"]


def _unavailable(what: str) -> None:
    if os.environ.get("PROBIDAD_REQUIRE_REAL") == "1":
        pytest.fail(f"{what} is required (PROBIDAD_REQUIRE_REAL=1) but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session", name="jaeger")
def jaeger_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    if jaeger_answers():
        yield JaegerServer(None, None, reused=True)
        return
    state = tmp_path_factory.mktemp("jaeger-state")
    try:
        server = start_jaeger(state, timeout=90)
    except JaegerCtlError as error:
        _unavailable(f"Jaeger (could not start: {error})")
    try:
        yield server
    finally:
        stop_jaeger(state)


async def jaeger_trace(http: httpx.AsyncClient, server: JaegerServer, trace_id: str) -> dict[str, Any] | None:
    """The trace ``trace_id`` as Jaeger's query API gives it (``spans``, ``processes``), None until it has one."""
    response = await http.get(f"{server.query_url}/api/traces/{trace_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    traces = response.json().get("data") or []
    return traces[0] if traces else None
