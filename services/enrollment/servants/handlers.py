"""Handlers of servants (registration, erasure, transfers, leaving): load through the repository, ask the domain,
save, and return the events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime

from contracts.base import Event
from probidad.shared.errors import Kind, RuleViolation
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import Done, EnrollmentContext, new_id
from services.enrollment.institutions.handlers import require_institution
from services.enrollment.servants.domain import (
    ServantDetails,
    TransferTerms,
    check_answerable,
    check_joining,
    check_may_accept,
    confine,
    decide_departure,
    decide_erasure,
    decide_servant,
    decide_transfer,
    decline_transfer,
    open_transfer,
)
from services.enrollment.servants.domain.curp import validate_curp
from services.enrollment.servants.domain.files import DepartureLine, parse_day
from services.enrollment.servants.ports import Servant, ServantsRepository, Transfer
from services.enrollment.servants.rows import record, transfer_terms


async def find_servant(repo: ServantsRepository, servant_id: str, acting_for: str | None,
                       field_name: str = "servant_id", kind: Kind = "not_found") -> Servant:
    """The servant, as long as the caller may see them (another institution's servant is "unknown")."""
    servant = await repo.servant(servant_id)
    if servant is None or (acting_for is not None and servant.institution_id != acting_for):
        raise RuleViolation(field_name, f"unknown servant {servant_id!r}", kind)
    return servant


async def find_transfer(repo: ServantsRepository, transfer_id: str, acting_for: str | None) -> Transfer:
    """A transfer its caller may see: the comptroller any, a liaison those from or to its institution."""
    transfer = await repo.transfer(transfer_id)
    if transfer is None or (acting_for is not None and acting_for not in (transfer.from_institution_id,
                                                                         transfer.to_institution_id)):
        raise RuleViolation("transfer_id", f"unknown transfer {transfer_id!r}", "not_found")
    return transfer


async def resolve_servant_id(repo: ServantsRepository, *, servant_id: str | None, curp: str | None,
                             acting_for: str | None) -> str:
    if servant_id:
        return servant_id
    if not curp:
        raise RuleViolation("servant_id", "give the servant_id or the curp of the servant to enrol")
    curp = validate_curp(curp)
    found = await repo.servant_ids_with_curp(curp, acting_for)
    if not found:
        raise RuleViolation("curp", "no registered servant has this CURP" +
                            (f" in institution {acting_for}" if acting_for else ""))
    if len(found) > 1:  # only the comptroller sees several: the person serves in more than one institution
        raise RuleViolation("curp", f"the CURP names servants of several institutions ({', '.join(found)}); "
                            "give the servant_id of the one to enrol", "conflict")
    return found[0]


# ------------------------------------------------------------------ servants


async def register_servant(repo: ServantsRepository, ctx: EnrollmentContext, details: ServantDetails, *,
                           acting_for: str | None, request_id: str | None = None, now: datetime) -> Done[Servant]:
    """Register a person in an institution under a new pseudonymous id, or update the servant that
    institution already has under the CURP. Another institution's servant with the CURP is never
    touched, nor looked at beyond the person id they share (see ``decide_servant``)."""
    confine(acting_for, details.institution_id)
    await require_institution(repo, details.institution_id)
    curp = validate_curp(details.curp)
    # Two transactions registering the same new CURP at once would both insert; one waits here instead.
    # (The unique index on institution and CURP refuses any late twin from another process on SQLite.)
    await repo.hold(curp)
    holders = await repo.servants_with_curp(curp)
    existing = next((s for s in holders if s.institution_id == details.institution_id), None)
    person_id = next((s.person_id for s in holders if s.person_id), None) or new_id(
        "pe", institution_id=details.institution_id, request_id=request_id)
    before = record(existing) if existing else None
    decision = decide_servant(before, details, new_servant_id=new_id(
        "sv", institution_id=details.institution_id, request_id=request_id),
                                     person_id=existing.person_id if existing and existing.person_id else person_id,
                                     digest_key=ctx.digest_key, today=ctx.today(now), request_id=request_id)
    servant = await repo.save_servant(existing, decision.servant, person_id=person_id)
    if decision.joined is not None:  # a new servant, or one coming back after leaving
        repo.add_life_event(servant_id=servant.servant_id, kind="joined", institution_id=servant.institution_id,
                            on=decision.joined, recorded_at=now, request_id=request_id)
    elif before is not None and before.joined_on != decision.servant.joined_on and before.left_on is None:
        await repo.correct_joining(servant.servant_id, decision.servant.joined_on)
    return Done(servant, decision.events, decision.created)


async def erase_servant(repo: ServantsRepository, ctx: EnrollmentContext, servant_id: str, *,
                        acting_for: str | None, now: datetime) -> Done[Servant]:
    servant = await find_servant(repo, servant_id, acting_for)
    decision = decide_erasure(record(servant))
    await repo.erase_servant(servant, at=now)
    return Done(servant, decision.events)


# ------------------------------------------------------------------ transfers


async def _complete(repo: ServantsRepository, servant: Servant, transfer: Transfer, *, approved_by: str,
                    now: datetime, today: date) -> list[Event]:
    asked = transfer_terms(transfer)
    # Asked only of whoever completes a transfer (the joining institution or the comptroller), never
    # of the institution asking: a person is one servant per institution.
    if servant.curp:
        check_joining(asked, await repo.servant_in(servant.curp, transfer.to_institution_id))
    moved, event = decide_transfer(record(servant), asked, approved_by=approved_by, approved_at=now,
                                          today=today)
    await repo.complete_transfer(transfer, servant, moved, by=approved_by, at=now)
    repo.add_life_event(servant_id=servant.servant_id, kind="transferred", institution_id=transfer.to_institution_id,
                        on=transfer.effective_on, recorded_at=now, recorded_by=approved_by)
    return [event]


async def request_transfer(repo: ServantsRepository, ctx: EnrollmentContext, servant_id: str, *, to_institution_id: str,
                           effective_on: date | None, acting_for: str | None, requested_by: str,
                           reason: str | None = None, request_id: str | None = None, now: datetime) -> Done[Transfer]:
    """Ask for a servant to move (from ``effective_on``, today when None). The comptroller's request takes
    effect at once; a liaison may ask only for its own servants (the institution they leave), and the
    joining institution's liaison accepts it."""
    today = ctx.today(now)
    servant = await find_servant(repo, servant_id, acting_for)  # another institution's servant is "unknown"
    await repo.lock_servant(servant_id)
    await require_institution(repo, to_institution_id, "to_institution_id")
    transfer_id = new_id("tr", institution_id=acting_for, request_id=request_id)
    asked = TransferTerms(transfer_id, servant_id, servant.institution_id, to_institution_id,
                                 effective_on or today, requested_by)
    opened = open_transfer(record(servant), asked, pending=await repo.pending_transfer(servant_id),
                                  today=today, requested_at=now, request_id=request_id)
    transfer = await repo.add_transfer(asked, requested_at=now, reason=reason)
    if acting_for is None:
        events = await _complete(repo, servant, transfer, approved_by=requested_by, now=now, today=today)
    else:  # the joining institution learns from this fact which transfer it is asked to answer
        events = [opened]
    return Done(transfer, events)


async def answer_transfer(repo: ServantsRepository, ctx: EnrollmentContext, transfer_id: str, *, accept: bool,
                          acting_for: str | None, answered_by: str, request_id: str | None = None,
                          now: datetime) -> Done[Transfer]:
    """Accept (the joining institution or the comptroller) or decline (either institution, or the
    comptroller) a requested transfer."""
    transfer = await find_transfer(repo, transfer_id, acting_for)
    await repo.lock_servant(transfer.servant_id)
    await repo.reload(transfer)
    check_answerable(transfer.status)
    asked = transfer_terms(transfer)
    if not accept:
        dropped = decline_transfer(asked, declined_by=answered_by, declined_at=now, request_id=request_id)
        await repo.decline_transfer(transfer, by=answered_by, at=now)
        return Done(transfer, [dropped])
    check_may_accept(acting_for, asked)
    servant = await repo.servant(transfer.servant_id, fresh=True)
    events = await _complete(repo, servant, transfer, approved_by=answered_by, now=now, today=ctx.today(now))
    return Done(transfer, events)


def institution_for(acting_for: str | None, given: str | None) -> str:
    """The institution a registration names: a liaison's own when it names none."""
    if given:
        return given
    if acting_for:
        return acting_for
    raise RuleViolation("institution_id", "required")


# ------------------------------------------------------------------ leaving ("baja")


async def record_departure(repo: ServantsRepository, ctx: EnrollmentContext, *, servant_id: str | None,
                           curp: str | None,
                           left_on: date, reason: str | None, acting_for: str | None, recorded_by: str,
                           request_id: str | None = None, now: datetime) -> Done[Servant]:
    """The servant left their institution from ``left_on``: their history stays, requirements stop."""
    if not servant_id and not curp:
        raise RuleViolation("servant_id", "give the servant_id or the curp of the servant who left")
    servant_id = await resolve_servant_id(repo, servant_id=servant_id, curp=curp, acting_for=acting_for)
    servant = await find_servant(repo, servant_id, acting_for)  # another institution's servant is "unknown"
    await repo.lock_servant(servant_id)
    await repo.reload(servant)
    left, event = decide_departure(record(servant), left_on=left_on, today=ctx.today(now),
                                          recorded_by=recorded_by, request_id=request_id)
    await repo.mark_left(servant, left.left_on)
    repo.add_life_event(servant_id=servant_id, kind="left", institution_id=servant.institution_id, on=left_on,
                        recorded_at=now, reason=reason, recorded_by=recorded_by, request_id=request_id)
    return Done(servant, [event])




# A unit of work of its own for each row of a file: one row's refusal leaves the others standing.
RowUnit = Callable[[], AbstractAsyncContextManager[tuple[ServantsRepository, UnitOfWork]]]


@dataclass(frozen=True)
class DepartureOutcome:
    """A row of a departures file: the leaving recorded, or the rule it broke."""

    line: int
    servant_id: str | None = None
    left_on: date | None = None
    refused: RuleViolation | None = None


async def record_departures(unit: RowUnit, ctx: EnrollmentContext, lines: Sequence[DepartureLine], *,
                            acting_for: str | None, recorded_by: str, now: datetime) -> list[DepartureOutcome]:
    """Record the leavings of a file, each row in its own unit of work (recording its events)."""
    outcomes = []
    for line in lines:
        try:
            left_on = parse_day(line.left_on, "left_on")
            async with unit() as (repo, uow):
                done = await record_departure(repo, ctx, servant_id=line.servant_id, curp=line.curp, left_on=left_on,
                                              reason=line.reason, acting_for=acting_for, recorded_by=recorded_by,
                                              now=now)
                uow.record(done.events)
        except RuleViolation as violation:
            outcomes.append(DepartureOutcome(line.line, refused=violation))
            continue
        outcomes.append(DepartureOutcome(line.line, done.row.servant_id, left_on))
    return outcomes
