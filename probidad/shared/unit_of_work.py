"""One unit of work: a transaction that writes what the repositories changed, the outbox rows of the
events the handlers returned and (for a consumer) the ids of the events applied — and nothing else.

Handlers never see SQL nor the outbox: they load through repositories, call the domain and return the
events it recorded; the entry point (a route, a subscriber) hands them to ``uow.record(...)``. A
repository that batches its writes (so a consumer batch becomes a few multi-row statements instead of a
statement per record) registers them with ``uow.before_commit(...)``: the one write-behind mechanism,
run in registration order when the unit of work completes, before the outbox rows are inserted. No
process-wide session listener is involved: what a unit of work writes is what was handed to it.

    async with runtime.unit_of_work(correlation_id=...) as uow:
        graded = await handlers.grade(SqlAttendanceRepository.of(uow), ctx, ...)  # the handler sees the Protocol
        uow.record(graded.events)

Reads go through a unit of work too: a route opens one and hands it to a view, which reads through the
service's repository and records nothing, so completing it writes nothing. ``Database.transaction()``
is left to the plumbing's own bookkeeping (the outbox relay, the consumer's check of an event another
instance applied first, the health check) and to reporting's generation pointer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.base import Event
from contracts.envelope import Envelope
from probidad.shared import tracing
from probidad.shared.database import Database
from probidad.shared.outbox import OUTBOX, Outbox

Flush = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, session: AsyncSession, outbox: Outbox, *, correlation_id: str | None = None) -> None:
        self.session = session
        self.outbox = outbox
        self.correlation_id = correlation_id
        self._rows: list[dict[str, Any]] = []
        self._flushes: dict[object, Flush] = {}
        self._parts: dict[object, Any] = {}
        self._envelopes: dict[int, tuple[Event, Envelope]] = {}  # id(event) -> (event, its envelope)
        self.wrote_events = False  # whether completing wrote outbox rows (the relay is woken after the commit)

    def record(self, events: Iterable[Event], *, correlation_id: str | None = None,
               topic: str | None = None) -> list[Envelope]:
        """Have ``events`` published if, and only if, this unit of work commits (in this order)."""
        envelopes = []
        for event in events:
            row, envelope = self.outbox.row(event, correlation_id=correlation_id or self.correlation_id, topic=topic)
            self._rows.append(row)
            self._envelopes[id(event)] = (event, envelope)
            envelopes.append(envelope)
        return envelopes

    def recorded_as(self, event: Event) -> Envelope | None:
        """The envelope ``event`` was recorded in (its ``ce_id``, time), for a repository's batched write
        that stores which event published a row; None if it was not recorded in this unit of work."""
        found = self._envelopes.get(id(event))
        return found[1] if found is not None and found[0] is event else None

    @property
    def recorded(self) -> int:
        return len(self._rows)

    def before_commit(self, key: object, flush: Flush) -> None:
        """Run ``flush`` once when the unit of work completes (a repository's batched writes)."""
        self._flushes.setdefault(key, flush)

    def part(self, key: object, make: Callable[[], Any]) -> Any:
        """The object kept under ``key`` for this unit of work, made on first use (e.g. a repository
        holding what a consumer batch loaded, so the batch's records share one load and one write)."""
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = make()
        return found

    async def complete(self) -> None:
        """Write everything handed over so far; the transaction then commits."""
        while self._flushes:  # a flush may register another (written after it)
            key = next(iter(self._flushes))
            await self._flushes.pop(key)()
        if self._rows:
            rows, self._rows = self._rows, []
            await self.session.execute(insert(OUTBOX), rows)  # one multi-row INSERT, in recorded order
            self.wrote_events = True


@asynccontextmanager
async def unit_of_work(database: Database, outbox: Outbox, *, correlation_id: str | None = None,
                       traced: bool = True) -> AsyncIterator[UnitOfWork]:
    """A unit of work in one transaction: commits what it was handed on success, nothing on error.
    ``traced=False``: no span (a background loop's poll, which would otherwise start a trace every second)."""
    # With tracing on, one span from the transaction's start to its commit (see probidad.shared.tracing).
    with tracing.span("unit_of_work") if traced else nullcontext() as span:
        async with database.transaction() as session:
            uow = UnitOfWork(session, outbox, correlation_id=correlation_id)
            yield uow
            await uow.complete()
        if span is not None:
            span.set_attribute("probidad.events_recorded", len(uow._envelopes))
    if uow.wrote_events:  # the relay is woken by the commit, not before: before it there is nothing to read
        outbox.wake.set()
