"""Application handlers of the xAPI projection: a learning fact becomes statements queued to send, once; a fact
about a course, session, servant or institution is kept, and releases the learning facts waiting for it.

No SQL: storage is the ``XapiRepository`` the caller hands in. A fact is decided once by event id (a
redelivery queues nothing); a backfill asks for the statements already queued to be sent again.
"""

from __future__ import annotations

from datetime import datetime

from contracts.base import Event
from contracts.events import EVENTS_BY_TYPE, AttendanceCorrected, CertificateRevoked, EnrolmentConfirmed
from services.reporting.xapi.domain import (
    Earlier, Known, Platform, key, reference_of, session_of, statements_of, waiting_for,
)
from services.reporting.xapi.ports import HeldFact, XapiRepository

MAX_LOCK_ROUNDS = 5  # a reference can appear between a look and the lock; a few looks settle it


async def _known(repo: XapiRepository, event: Event) -> Known:
    session = await repo.reference("session", session_of(event))
    course_id = getattr(event, "course_id", None) or (session or {}).get("course_id")
    course = await repo.reference("course", course_id) if course_id else None
    if isinstance(event, EnrolmentConfirmed):
        institution_id: str | None = event.institution_id  # the enrolling institution, as the fact says
    else:
        servant = await repo.reference("servant", str(getattr(event, "servant_id")))
        institution_id = servant["institution_id"] if servant else None
    institution = await repo.reference("institution", institution_id) if institution_id else None
    return Known(session, course, institution_id, institution)


async def _earlier(repo: XapiRepository, event: Event, event_id: str, at: datetime) -> Earlier:
    if isinstance(event, AttendanceCorrected):
        return Earlier(attended=await repo.latest_attended(event.session_id, event.servant_id, before=at,
                                                           event_id=event_id))
    if isinstance(event, CertificateRevoked):
        return Earlier(completion=await repo.completion_statements(event.certificate_id))
    return Earlier()


async def _queue(repo: XapiRepository, p: Platform, event: Event, event_id: str, at: datetime, known: Known,
                 now: datetime) -> None:
    statements = statements_of(p, event, event_id, at, known, await _earlier(repo, event, event_id, at))
    await repo.add_statements(statements, event_id=event_id, stated_at=at, now=now)


async def learning_fact(repo: XapiRepository, p: Platform, event: Event, event_id: str, at: datetime, *,
                        now: datetime, backfill: bool = False) -> None:
    """Queue the statements of ``event`` (stated at ``at``), or hold it until what it names is known."""
    if await repo.has_statements(event_id):
        if backfill:
            await repo.requeue_event(event_id, now=now)
        return
    if await repo.is_held(event_id):
        return
    for _ in range(MAX_LOCK_ROUNDS):
        known = await _known(repo, event)
        waiting = waiting_for(event, known)
        if waiting is None:
            await _queue(repo, p, event, event_id, at, known, now)
            return
        # Under the lock the reference's writer takes too: it either sees this hold, or this look sees it.
        await repo.lock(waiting)
        if waiting_for(event, await _known(repo, event)) == waiting:
            await repo.hold(HeldFact(event_id, event.type, event.model_dump_json(), at), waiting_for=waiting)
            return
    raise RuntimeError(f"what {event.type} {event_id} names kept changing while it was decided")


async def reference_fact(repo: XapiRepository, p: Platform, event: Event, event_id: str, at: datetime, *,
                         now: datetime) -> None:
    """Keep what ``event`` says of a course, session, servant or institution; release the facts waiting for it."""
    reference = reference_of(event)
    if reference is None:
        return
    name = key(reference.kind, reference.ref_id)
    await repo.lock(name)
    await repo.put_reference(reference, stated_at=at, event_id=event_id)
    for held in await repo.held_waiting(name):
        fact = EVENTS_BY_TYPE[held.event_type].model_validate_json(held.payload)
        known = await _known(repo, fact)
        waiting = waiting_for(fact, known)
        if waiting is not None:
            await repo.lock(waiting)
            if waiting_for(fact, await _known(repo, fact)) == waiting:
                await repo.hold(held, waiting_for=waiting)  # now waits for the next thing it names
                continue
            known = await _known(repo, fact)
        await repo.release(held.event_id)
        await _queue(repo, p, fact, held.event_id, held.stated_at, known, now)
