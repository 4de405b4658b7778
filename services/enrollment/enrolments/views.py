"""Reads of enrolments for the HTTP API, through the repository."""

from __future__ import annotations

from dataclasses import dataclass

from services.enrollment.enrolments.handlers import find_enrolment
from services.enrollment.enrolments.ports import Enrolment, EnrolmentsRepository


@dataclass(frozen=True)
class EnrolmentView:
    enrolment: Enrolment
    position: int | None  # on the waitlist, 1 = next


# ------------------------------------------------------------------ enrolments


async def enrolments(repo: EnrolmentsRepository, *, acting_for: str | None, session_id: str | None,
                     servant_id: str | None,
                     include_cancelled: bool, limit: int, offset: int) -> list[EnrolmentView]:
    rows = await repo.enrolments(session_id=session_id, servant_id=servant_id, include_cancelled=include_cancelled,
                                 institution_id=acting_for, limit=limit, offset=offset)
    waiting = sorted({e.session_id for e in rows if e.status == "waitlisted"})
    positions = await repo.waitlist_positions(waiting)
    return [EnrolmentView(e, positions.get(e.enrolment_id)) for e in rows]


async def enrolment(repo: EnrolmentsRepository, enrolment_id: str, *, acting_for: str | None) -> EnrolmentView:
    found = await find_enrolment(repo, enrolment_id, acting_for)
    if found.status != "waitlisted":
        return EnrolmentView(found, None)
    return EnrolmentView(found, (await repo.waitlist_positions([found.session_id])).get(found.enrolment_id))


