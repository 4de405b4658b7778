"""Agency requests (``probidad.agency.requests``) → the same handlers the HTTP API uses.

A request that breaks a rule is a normal outcome, not a broken message: it becomes a RequestRejected
event carrying the request id, the reason and the field at fault (the dead-letter topic is only for
records that are not valid events at all). An agency acts only for the institution it names.

Each request is decided once per institution and request id, whatever its event id: an agency that
sends it again (its own retry after a timeout) gets no second decision and no second outcome; a
request id reused for a request with other content is refused with RequestRejected, field request_id.

On a secure broker an agency cannot read probidad.enrollment.events: each decision is also written,
in the same transaction, as AgencyRequestDecided to ``probidad.agency.outcomes.<institution>`` — the
institution of the request topic it came on. Only then: a development broker has no per-institution
topics (its agencies read the outcome events themselves), and a request on the shared topic has no
outcome topic that ``probidad agency credentials`` made.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from contracts.envelope import Envelope
from contracts.events import (
    AgencyRequestDecided, EnrolmentConfirmed, EnrolmentRequested, EnrolmentWaitlisted, RequestRejected,
    ServantRegistered, ServantSubmitted, ServantTransferred, ServantUpdated, TransferAccepted, TransferDeclined,
    TransferDropped, TransferOpened, TransferRequested,
)
from probidad.shared.consumer import Rejected
from probidad.shared.kafka_security import agency_outcomes_topic
from probidad.shared.logs import get_logger
from probidad.shared.outbox import Outbox
from probidad.shared.settings import ServiceSettings
from services.enrollment import domain, handlers
from services.enrollment.domain import RuleViolation, ServantDetails
from services.enrollment.metrics import AGENCY_REJECTIONS, ENROLMENT_DECISIONS

log = get_logger(__name__)

# Secure mode: the institution whose topic a request arrived on (set by enrollment's app, never by
# the sender). A request naming another institution is refused before anything is decided.
TOPIC_INSTITUTION_HEADER = "probidad_topic_institution"


class Outcome(NamedTuple):
    type: str  # the type of the event that answered a request
    id: str | None = None  # its servant, enrolment or transfer
    reason: str | None = None  # a rejection's
    field: str | None = None


def agency_subscribers(outbox: Outbox, digest_key: str, *, outcome_topics: bool = False,
                       programme_timezone: str = ServiceSettings.model_fields["programme_timezone"].default,
                       ) -> dict[str, Callable[..., Awaitable[None]]]:
    """``outcome_topics``: secure mode, where the topic institution header is enrollment's own.
    ``programme_timezone`` decides "today" for a transfer's ``effective_on``, as over HTTP."""
    async def reject(db, envelope: Envelope, violation: RuleViolation) -> Outcome:  # noqa: ANN001
        request = envelope.event
        log.info("agency request rejected", request_id=request.request_id, field=violation.field,
                 reason=violation.message)
        AGENCY_REJECTIONS.labels(request.type.split(".")[2], violation.field or "none").inc()
        outbox.add(db, RequestRejected(request_id=request.request_id, institution_id=request.institution_id,
                                       reason=violation.message[:1000], field=violation.field),
                   correlation_id=envelope.correlation_id)
        return Outcome(RequestRejected.type, None, violation.message[:1000], violation.field)

    def answer(db, envelope: Envelope, outcome: Outcome) -> None:  # noqa: ANN001
        institution = envelope.extra_headers.get(TOPIC_INSTITUTION_HEADER) if outcome_topics else None
        if institution is None:
            return
        request = envelope.event
        outbox.add(db, AgencyRequestDecided(request_id=request.request_id, institution_id=institution,
                                            request_type=request.type, outcome=outcome.type,
                                            outcome_id=outcome.id, reason=outcome.reason, field=outcome.field),
                   correlation_id=envelope.correlation_id, topic=agency_outcomes_topic(institution))

    def once(decide: Callable[..., Awaitable[Outcome]]) -> Callable[..., Awaitable[None]]:
        """Decide a request unless this institution's request id was already decided."""
        async def handle(db, envelope: Envelope) -> None:  # noqa: ANN001
            request = envelope.event
            bound = envelope.extra_headers.get(TOPIC_INSTITUTION_HEADER)
            if bound is not None and bound != request.institution_id:
                # Dead-lettered, not answered: an answer would go to the institution the request names.
                raise Rejected(f"institution_id {request.institution_id!r} is not the institution of this topic "
                               f"({bound!r}): an agency acts only for its own institution")
            digest = domain.request_digest(request, digest_key)
            decided = await handlers.decided_agency_request(db, request.institution_id, request.request_id)
            try:
                if domain.is_repeat(decided, digest):
                    log.info("agency request already decided", request_id=request.request_id,
                             institution_id=request.institution_id, outcome=decided.outcome,
                             outcome_id=decided.outcome_id, decided_at=decided.decided_at.isoformat())
                    return
            except RuleViolation as violation:  # the request id names another request: refuse, remember nothing
                answer(db, envelope, await reject(db, envelope, violation))
                return
            outcome = await decide(db, envelope)
            await handlers.record_agency_request(db, institution_id=request.institution_id,
                                                 request_id=request.request_id, request_type=request.type,
                                                 digest=digest, outcome=outcome.type, outcome_id=outcome.id)
            answer(db, envelope, outcome)
        return handle

    async def on_servant_submitted(db, envelope: Envelope) -> Outcome:  # noqa: ANN001
        request: ServantSubmitted = envelope.event  # type: ignore[assignment]
        details = ServantDetails(institution_id=request.institution_id, name=request.name, curp=request.curp,
                                 sex=request.sex, email=request.email, position=request.position,
                                 position_level=request.position_level)
        try:
            servant, created = await handlers.register_servant(
                db, outbox, details, digest_key=digest_key, acting_for=request.institution_id,
                request_id=request.request_id, correlation_id=envelope.correlation_id)
        except RuleViolation as violation:
            return await reject(db, envelope, violation)
        return Outcome((ServantRegistered if created else ServantUpdated).type, servant.servant_id)

    async def on_enrolment_requested(db, envelope: Envelope) -> Outcome:  # noqa: ANN001
        request: EnrolmentRequested = envelope.event  # type: ignore[assignment]
        try:
            await handlers.require_institution(db, request.institution_id)
            enrolled = await handlers.enrol(db, outbox, session_id=request.session_id, servant_id=request.servant_id,
                                            curp=request.curp, acting_for=request.institution_id,
                                            request_id=request.request_id, correlation_id=envelope.correlation_id)
        except RuleViolation as violation:
            ENROLMENT_DECISIONS.labels("agency", "rejected").inc()
            return await reject(db, envelope, violation)
        ENROLMENT_DECISIONS.labels("agency", enrolled.enrolment.status).inc()
        confirmed = enrolled.enrolment.status == "confirmed"
        return Outcome((EnrolmentConfirmed if confirmed else EnrolmentWaitlisted).type,
                       enrolled.enrolment.enrolment_id)

    def today() -> datetime.date:
        return handlers.utcnow().astimezone(domain.zone(programme_timezone)).date()

    # Transfers: an agency acts as its institution's liaison would, through the same handlers, so a
    # servant or transfer of another institution is "unknown" in the very words of the HTTP 404.
    async def on_transfer_requested(db, envelope: Envelope) -> Outcome:  # noqa: ANN001
        request: TransferRequested = envelope.event  # type: ignore[assignment]
        day = today()
        try:
            transfer = await handlers.request_transfer(
                db, outbox, request.servant_id, to_institution_id=request.to_institution_id,
                effective_on=request.effective_on or day, acting_for=request.institution_id,
                requested_by=f"agency:{request.institution_id}", now=handlers.utcnow(), today=day,
                reason=request.reason, request_id=request.request_id, correlation_id=envelope.correlation_id)
        except RuleViolation as violation:
            return await reject(db, envelope, violation)
        return Outcome(TransferOpened.type, transfer.transfer_id)

    def on_transfer_answered(accept: bool) -> Callable[..., Awaitable[Outcome]]:
        async def decide(db, envelope: Envelope) -> Outcome:  # noqa: ANN001
            request: TransferAccepted | TransferDeclined = envelope.event  # type: ignore[assignment]
            try:
                transfer = await handlers.answer_transfer(
                    db, outbox, request.transfer_id, accept=accept, acting_for=request.institution_id,
                    answered_by=f"agency:{request.institution_id}", now=handlers.utcnow(), today=today(),
                    request_id=request.request_id, correlation_id=envelope.correlation_id)
            except RuleViolation as violation:
                return await reject(db, envelope, violation)
            return Outcome((ServantTransferred if accept else TransferDropped).type, transfer.transfer_id)
        return decide

    return {ServantSubmitted.type: once(on_servant_submitted), EnrolmentRequested.type: once(on_enrolment_requested),
            TransferRequested.type: once(on_transfer_requested),
            TransferAccepted.type: once(on_transfer_answered(accept=True)),
            TransferDeclined.type: once(on_transfer_answered(accept=False))}
