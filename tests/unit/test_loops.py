"""A loop beside a service says a failing pass once (then once a minute) and its recovery once, and keeps going."""

from __future__ import annotations

import asyncio

import pytest

from probidad.shared import loops


class Said:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def warning(self, event: str, **_fields: object) -> None:
        self.lines.append(("warning", event))

    def info(self, event: str, **_fields: object) -> None:
        self.lines.append(("info", event))


async def test_a_loop_says_an_outage_once_and_its_end_once_and_goes_on_passing(monkeypatch) -> None:
    said = Said()
    monkeypatch.setattr(loops, "log", said)
    outcomes = iter([None, RuntimeError("database away"), RuntimeError("still away"), RuntimeError("away"),
                     None, None])
    passes = 0
    finished = asyncio.Event()

    async def one_pass() -> float:
        nonlocal passes
        passes += 1
        outcome = next(outcomes, None)
        if passes == 6:
            finished.set()
        if outcome is not None:
            raise outcome
        return 0.0

    task = asyncio.create_task(loops.keep_running(one_pass, what="test pass", retry_in_s=0.0))
    await asyncio.wait_for(finished.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert said.lines == [("warning", "test pass failed; trying again"), ("info", "test pass recovered")]
