"""Handlers of agency requests: load through the repository, ask the domain, save, and return the events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from contracts.base import Event
from contracts.events import (
    DepartureReported,
    EnrolmentConfirmed,
    EnrolmentRequested,
    EnrolmentWaitlisted,
    ServantLeft,
    ServantRegistered,
    ServantSubmitted,
    ServantTransferred,
    ServantUpdated,
    TransferAccepted,
    TransferDeclined,
    TransferDropped,
    TransferOpened,
    TransferRequested,
)
from probidad.shared.errors import RuleViolation
from probidad.shared.kafka_security import SecurityError, check_institution
from probidad.shared.logs import get_logger

from services.enrollment.agency.domain import (
    RequestOutcome,
    check_request_topic,
    is_repeat,
    reject_request,
    request_decided,
    request_digest,
)
from services.enrollment.agency.ports import AgencyRepository
from services.enrollment.context import EnrollmentContext
from services.enrollment.enrolments.handlers import enrol
from services.enrollment.institutions.handlers import require_institution
from services.enrollment.metrics import AGENCY_REJECTIONS, ENROLMENT_DECISIONS
from services.enrollment.servants.domain import ServantDetails
from services.enrollment.servants.handlers import answer_transfer, record_departure, register_servant, request_transfer

log = get_logger(__name__)


# ------------------------------------------------------------------ agency requests

# A request decided: what it led to, and the events recording it.
Decided = tuple[RequestOutcome, list[Event]]


async def _servant_submitted(repo: AgencyRepository, ctx: EnrollmentContext, request: ServantSubmitted, *,
                             now: datetime) -> Decided:
    details = ServantDetails(institution_id=request.institution_id, name=request.name, curp=request.curp,
                             sex=request.sex, email=request.email, position=request.position,
                             position_level=request.position_level, joined_on=request.joined_on)
    done = await register_servant(repo, ctx, details, acting_for=request.institution_id, request_id=request.request_id,
                                  now=now)
    return RequestOutcome((ServantRegistered if done.created else ServantUpdated).type,
                          done.row.servant_id), done.events


async def _enrolment_requested(repo: AgencyRepository, ctx: EnrollmentContext, request: EnrolmentRequested, *,
                               now: datetime) -> Decided:
    try:
        await require_institution(repo, request.institution_id)
    except RuleViolation:
        ENROLMENT_DECISIONS.labels("agency", "rejected").inc()
        raise
    enrolled = await enrol(repo, ctx, session_id=request.session_id, servant_id=request.servant_id, curp=request.curp,
                           acting_for=request.institution_id, request_id=request.request_id, channel="agency", now=now)
    confirmed = enrolled.enrolment.status == "confirmed"
    return (RequestOutcome((EnrolmentConfirmed if confirmed else EnrolmentWaitlisted).type,
                           enrolled.enrolment.enrolment_id), enrolled.events)


# Transfers: an agency acts as its institution's liaison would, through the same handlers, so a
# servant or transfer of another institution is "unknown" in the very words of the HTTP 404.
async def _transfer_requested(repo: AgencyRepository, ctx: EnrollmentContext, request: TransferRequested, *,
                              now: datetime) -> Decided:
    done = await request_transfer(repo, ctx, request.servant_id, to_institution_id=request.to_institution_id,
                                  effective_on=request.effective_on, acting_for=request.institution_id,
                                  requested_by=f"agency:{request.institution_id}", reason=request.reason,
                                  request_id=request.request_id, now=now)
    return RequestOutcome(TransferOpened.type, done.row.transfer_id), done.events


async def _transfer_answered(repo: AgencyRepository, ctx: EnrollmentContext,
                             request: TransferAccepted | TransferDeclined, *, now: datetime) -> Decided:
    accept = isinstance(request, TransferAccepted)
    done = await answer_transfer(repo, ctx, request.transfer_id, accept=accept, acting_for=request.institution_id,
                                 answered_by=f"agency:{request.institution_id}", request_id=request.request_id, now=now)
    return RequestOutcome((ServantTransferred if accept else TransferDropped).type, done.row.transfer_id), done.events


async def _departure_reported(repo: AgencyRepository, ctx: EnrollmentContext, request: DepartureReported, *,
                              now: datetime) -> Decided:
    done = await record_departure(repo, ctx, servant_id=request.servant_id, curp=request.curp, left_on=request.left_on,
                                  reason=request.reason, acting_for=request.institution_id,
                                  recorded_by=f"agency:{request.institution_id}", request_id=request.request_id,
                                  now=now)
    return RequestOutcome(ServantLeft.type, done.row.servant_id), done.events


_AGENCY_REQUESTS: dict[type, Callable[..., Awaitable[Decided]]] = {
    ServantSubmitted: _servant_submitted, EnrolmentRequested: _enrolment_requested,
    TransferRequested: _transfer_requested, TransferAccepted: _transfer_answered, TransferDeclined: _transfer_answered,
    DepartureReported: _departure_reported,
}
AGENCY_REQUEST_TYPES = tuple(kind.type for kind in _AGENCY_REQUESTS)


def _rejected(request: Event, violation: RuleViolation) -> Decided:
    log.info("agency request rejected", request_id=getattr(request, "request_id"), field=violation.field,
             reason=violation.message)
    AGENCY_REJECTIONS.labels(request.type.split(".")[2], violation.field or "none").inc()
    outcome, rejection = reject_request(request, violation)
    return outcome, [rejection]


async def decide_agency_request(repo: AgencyRepository, ctx: EnrollmentContext, request: Event, *,
                                topic_institution: str | None = None, now: datetime) -> list[Event]:
    """Decide an agency request once per institution and request id, whatever its event id.

    A request that breaks a rule is answered with RequestRejected (and remembered as decided); one sent
    again gets no second decision and no event; a request id reused for other content is refused with
    RequestRejected, field request_id, and nothing is remembered. ``topic_institution`` is the
    institution of the topic the request came on (secure mode): a request naming another raises
    RuleViolation, a broken message rather than an answer. Each answer is also written as
    AgencyRequestDecided for the agency's outcome topic (``ctx.outcome_topics``, see ``_answer``).
    """
    check_request_topic(request, topic_institution)
    institution_id, request_id = getattr(request, "institution_id"), getattr(request, "request_id")
    digest = request_digest(request, ctx.digest_key)
    decided = await repo.decided_agency_request(institution_id, request_id)
    try:
        repeat = is_repeat(decided, digest)
    except RuleViolation as violation:  # the request id names another request: refuse, remember nothing
        outcome, events = _rejected(request, violation)
        return events + await _answer(repo, ctx, request, outcome, topic_institution)
    if repeat:
        log.info("agency request already decided", request_id=request_id, institution_id=institution_id,
                 outcome=decided.outcome, outcome_id=decided.outcome_id, decided_at=decided.decided_at.isoformat())
        return []
    try:
        outcome, events = await _AGENCY_REQUESTS[type(request)](repo, ctx, request, now=now)
    except RuleViolation as violation:
        outcome, events = _rejected(request, violation)
    await repo.record_agency_request(institution_id=institution_id, request_id=request_id, request_type=request.type,
                                     digest=digest, outcome=outcome.type, outcome_id=outcome.id, decided_at=now)
    return events + await _answer(repo, ctx, request, outcome, topic_institution)


async def _answer(repo: AgencyRepository, ctx: EnrollmentContext, request: Event, outcome: RequestOutcome,
                  topic_institution: str | None) -> list[Event]:
    """The decision for the agency's outcome topic. In secure mode a request on the shared topic (which
    only the comptroller's operator may write) has none; in development every request is on the shared
    topic and is answered to the institution it names, when that institution is registered (a request
    naming no real institution makes no topic)."""
    if not ctx.outcome_topics:
        return []
    institution = topic_institution
    if ctx.outcomes_to_named_institution:
        institution = getattr(request, "institution_id")
        try:
            check_institution(institution)
        except SecurityError:  # an id no topic can be named after (a ':' or '.'): no such institution either
            return []
        if await repo.institution(institution) is None:
            return []
    if institution is None:
        return []
    return [request_decided(request, outcome, institution)]


