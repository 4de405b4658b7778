"""What the xAPI handlers and the dispatcher ask of storage; ``repository.py`` answers it with SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.reporting.xapi.domain import Reference, Statement


@dataclass(frozen=True)
class HeldFact:
    event_id: str
    event_type: str
    payload: str
    stated_at: datetime


@dataclass(frozen=True)
class DueStatement:
    statement_id: str
    body: str  # JSON, as stored and sent every time
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class ParkedStatement:
    statement_id: str
    event_id: str
    role: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    parked_at: datetime | None


class XapiRepository(Protocol):
    async def reference(self, kind: str, ref_id: str) -> dict[str, Any] | None: ...

    async def put_reference(self, reference: Reference, *, stated_at: datetime, event_id: str) -> None:
        """Keep what a fact says of a thing unless a later fact said otherwise (the later statement holds)."""

    async def lock(self, name: str) -> None:
        """Make another transaction naming ``name`` wait for this one (a hold and the reference it waits for)."""

    async def hold(self, held: HeldFact, *, waiting_for: str) -> None: ...

    async def held_waiting(self, waiting_for: str) -> list[HeldFact]:
        """Oldest stated first."""

    async def release(self, event_id: str) -> None: ...

    async def is_held(self, event_id: str) -> bool: ...

    async def has_statements(self, event_id: str) -> bool: ...

    async def add_statements(self, statements: Sequence[Statement], *, event_id: str, stated_at: datetime,
                             now: datetime) -> None:
        """Queue them to send; a statement already queued (by id) is left as it is."""

    async def requeue_event(self, event_id: str, *, now: datetime) -> int:
        """Send an event's statements again (a backfill): those sent or parked are pending again."""

    async def latest_attended(self, session_id: str, servant_id: str, *, before: datetime,
                              event_id: str) -> str | None:
        """The attended statement in force (not voided) stated last before ``before``, of another event."""

    async def completion_statements(self, certificate_id: str) -> tuple[str, ...]:
        """A certificate's completed, passed and earned statements not voided yet, in that order."""

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[DueStatement]: ...

    async def next_due(self) -> datetime | None: ...

    async def mark_sent(self, statement_ids: Sequence[str], *, at: datetime, status_code: int | None) -> None: ...

    async def mark_failed(self, statement_id: str, *, attempts: int, status_code: int | None, error: str | None,
                          retry_at: datetime | None, at: datetime) -> None:
        """Try again at ``retry_at``; None parks it in the dead-letter list."""

    async def parked(self, limit: int) -> list[ParkedStatement]: ...

    async def replay_parked(self, statement_id: str | None, *, at: datetime) -> int: ...

    async def counts(self) -> dict[str, int]:
        """Statements by status, plus ``retrying`` (pending after a failed attempt) and ``held`` (facts waiting)."""
