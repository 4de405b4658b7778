"""Storage of the xAPI projection: the statements to send (an outbox), what they name, and the facts waiting
for it. The only SQL of services/reporting/xapi."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from probidad.shared.unit_of_work import UnitOfWork
from services.reporting.tables import XapiHeld, XapiReference, XapiStatement
from services.reporting.xapi.domain import Reference, Statement
from services.reporting.xapi.ports import DueStatement, HeldFact, ParkedStatement

_statements, _references, _held = XapiStatement.__table__, XapiReference.__table__, XapiHeld.__table__
COMPLETION_ROLES = ("completed", "passed", "earned")


def _utc(moment: datetime) -> datetime:
    """SQLite hands moments back without their zone: they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class SqlXapiRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.db = uow.session

    @property
    def _dialect(self) -> str:
        return self.db.bind.dialect.name

    def _insert(self, table: Any) -> Any:
        return (postgresql_insert if self._dialect == "postgresql" else sqlite_insert)(table)

    # -------------------------------------------------------------- references and held facts

    async def reference(self, kind: str, ref_id: str) -> dict[str, Any] | None:
        found = (await self.db.execute(select(_references.c.attributes).where(
            _references.c.kind == kind, _references.c.ref_id == ref_id))).scalar_one_or_none()
        return None if found is None else dict(orjson.loads(found))

    async def put_reference(self, reference: Reference, *, stated_at: datetime, event_id: str) -> None:
        row = (await self.db.execute(select(_references.c.attributes, _references.c.stated_at,
                                            _references.c.event_id).where(
            _references.c.kind == reference.kind, _references.c.ref_id == reference.ref_id))).one_or_none()
        if row is None:
            if reference.merge:
                return  # a reschedule of a session not scheduled yet: its scheduling will say it all
            await self.db.execute(self._insert(_references).values(
                kind=reference.kind, ref_id=reference.ref_id, attributes=orjson.dumps(reference.attributes).decode(),
                stated_at=stated_at, event_id=event_id).on_conflict_do_nothing())
            return
        if (stated_at, event_id) <= (_utc(row.stated_at), row.event_id):
            return  # an earlier (or the same) statement: the later one holds
        attributes = {**orjson.loads(row.attributes), **reference.attributes} if reference.merge \
            else reference.attributes
        await self.db.execute(update(_references).where(
            _references.c.kind == reference.kind, _references.c.ref_id == reference.ref_id).values(
            attributes=orjson.dumps(attributes).decode(), stated_at=stated_at, event_id=event_id))

    async def lock(self, name: str) -> None:
        # SQLite needs nothing: a process's transactions take turns (Database.transaction).
        if self._dialect == "postgresql":
            await self.db.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                                  {"name": f"xapi:{name}"})

    async def hold(self, held: HeldFact, *, waiting_for: str) -> None:
        await self.db.execute(self._insert(_held).values(
            event_id=held.event_id, event_type=held.event_type, payload=held.payload, stated_at=held.stated_at,
            waiting_for=waiting_for).on_conflict_do_update(index_elements=["event_id"],
                                                           set_={"waiting_for": waiting_for}))

    async def held_waiting(self, waiting_for: str) -> list[HeldFact]:
        rows = await self.db.execute(select(_held).where(_held.c.waiting_for == waiting_for)
                                     .order_by(_held.c.stated_at, _held.c.event_id))
        return [HeldFact(r.event_id, r.event_type, r.payload, _utc(r.stated_at)) for r in rows]

    async def release(self, event_id: str) -> None:
        await self.db.execute(_held.delete().where(_held.c.event_id == event_id))

    async def is_held(self, event_id: str) -> bool:
        return (await self.db.execute(select(_held.c.event_id).where(_held.c.event_id == event_id))
                ).first() is not None

    # -------------------------------------------------------------- statements

    async def has_statements(self, event_id: str) -> bool:
        return (await self.db.execute(select(_statements.c.statement_id).where(
            _statements.c.event_id == event_id).limit(1))).first() is not None

    async def add_statements(self, statements: Sequence[Statement], *, event_id: str, stated_at: datetime,
                             now: datetime) -> None:
        if not statements:
            return
        rows = [{"statement_id": s.statement_id, "event_id": event_id, "role": s.role, "session_id": s.session_id,
                 "servant_id": s.servant_id, "certificate_id": s.certificate_id, "voids": s.voids,
                 "stated_at": stated_at, "body": orjson.dumps(s.body).decode(), "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now} for s in statements]
        await self.db.execute(self._insert(_statements).values(rows).on_conflict_do_nothing())

    async def requeue_event(self, event_id: str, *, now: datetime) -> int:
        done = await self.db.execute(update(_statements).where(
            _statements.c.event_id == event_id, _statements.c.status != "pending").values(
            status="pending", next_attempt_at=now, parked_at=None, created_at=now, attempts=0))
        return int(done.rowcount)  # type: ignore[attr-defined]

    def _not_voided(self) -> Any:
        voiding = select(_statements.c.voids).where(_statements.c.voids.is_not(None))
        return _statements.c.statement_id.not_in(voiding)

    async def latest_attended(self, session_id: str, servant_id: str, *, before: datetime,
                              event_id: str) -> str | None:
        return (await self.db.execute(select(_statements.c.statement_id).where(
            _statements.c.session_id == session_id, _statements.c.servant_id == servant_id,
            _statements.c.role == "attended", _statements.c.event_id != event_id,
            _statements.c.stated_at <= before, self._not_voided())
            .order_by(_statements.c.stated_at.desc(), _statements.c.event_id.desc()).limit(1))).scalar_one_or_none()

    async def completion_statements(self, certificate_id: str) -> tuple[str, ...]:
        rows = (await self.db.execute(select(_statements.c.statement_id, _statements.c.role).where(
            _statements.c.certificate_id == certificate_id, _statements.c.role.in_(COMPLETION_ROLES),
            self._not_voided()))).all()
        return tuple(r.statement_id for r in sorted(rows, key=lambda r: COMPLETION_ROLES.index(r.role)))

    # -------------------------------------------------------------- sending

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[DueStatement]:
        query = (select(_statements.c.statement_id, _statements.c.body, _statements.c.attempts,
                        _statements.c.created_at)
                 .where(_statements.c.status == "pending", _statements.c.next_attempt_at <= now)
                 # A voiding statement is queued after what it voids: the LRS hears them in that order.
                 .order_by(_statements.c.created_at, _statements.c.stated_at, _statements.c.voids.is_not(None),
                           _statements.c.statement_id)
                 .limit(limit))
        if self._dialect == "postgresql":
            # Another instance's claim holds its rows until it commits: skip them rather than wait.
            query = query.with_for_update(skip_locked=True)
        found = (await self.db.execute(query)).all()
        if not found:
            return []
        # The lease: until it ends no pass, here or in another instance, finds these statements due.
        await self.db.execute(update(_statements).where(
            _statements.c.statement_id.in_([r.statement_id for r in found])).values(next_attempt_at=lease_until))
        return [DueStatement(r.statement_id, r.body, r.attempts, _utc(r.created_at)) for r in found]

    async def next_due(self) -> datetime | None:
        found = (await self.db.execute(select(func.min(_statements.c.next_attempt_at)).where(
            _statements.c.status == "pending"))).scalar_one_or_none()
        return None if found is None else _utc(found)

    async def mark_sent(self, statement_ids: Sequence[str], *, at: datetime, status_code: int | None) -> None:
        await self.db.execute(update(_statements).where(_statements.c.statement_id.in_(list(statement_ids)),
                                                        _statements.c.status == "pending").values(
            status="sent", sent_at=at, attempts=_statements.c.attempts + 1, last_status_code=status_code,
            next_attempt_at=None))

    async def mark_failed(self, statement_id: str, *, attempts: int, status_code: int | None, error: str | None,
                          retry_at: datetime | None, at: datetime) -> None:
        values: dict[str, object] = {"attempts": attempts, "last_status_code": status_code,
                                     "last_error": (error or "")[:500] or None}
        if retry_at is None:
            values |= {"status": "parked", "parked_at": at, "next_attempt_at": None}
        else:
            values |= {"next_attempt_at": retry_at}
        await self.db.execute(update(_statements).where(_statements.c.statement_id == statement_id,
                                                        _statements.c.status == "pending").values(**values))

    async def parked(self, limit: int) -> list[ParkedStatement]:
        rows = await self.db.execute(select(_statements).where(_statements.c.status == "parked")
                                     .order_by(_statements.c.parked_at, _statements.c.statement_id).limit(limit))
        return [ParkedStatement(r.statement_id, r.event_id, r.role, r.attempts, r.last_status_code, r.last_error,
                                None if r.parked_at is None else _utc(r.parked_at)) for r in rows]

    async def replay_parked(self, statement_id: str | None, *, at: datetime) -> int:
        # Replayed statements start their retry time again: failing anew parks them after it, not at once.
        statement = update(_statements).where(_statements.c.status == "parked")
        if statement_id is not None:
            statement = statement.where(_statements.c.statement_id == statement_id)
        done = await self.db.execute(statement.values(status="pending", next_attempt_at=at, parked_at=None,
                                                      created_at=at, attempts=0))
        return int(done.rowcount)  # type: ignore[attr-defined]

    async def counts(self) -> dict[str, int]:
        out = {"pending": 0, "sent": 0, "parked": 0}
        for status, n in (await self.db.execute(select(_statements.c.status, func.count())
                                                .group_by(_statements.c.status))).all():
            out[status] = int(n)
        out["retrying"] = int((await self.db.execute(select(func.count()).select_from(_statements).where(
            _statements.c.status == "pending", _statements.c.attempts > 0))).scalar_one())
        out["held"] = int((await self.db.execute(select(func.count()).select_from(_held))).scalar_one())
        return out
