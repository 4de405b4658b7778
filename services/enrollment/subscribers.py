"""Agency requests (``probidad.agency.requests``) → the same handlers the HTTP API uses.

A request that breaks a rule is a normal outcome, not a broken message: it becomes a RequestRejected
event carrying the request id, the reason and the field at fault (the dead-letter topic is only for
records that are not valid events at all). An agency acts only for the institution it names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts.envelope import Envelope
from contracts.events import EnrolmentRequested, RequestRejected, ServantSubmitted
from probidad.shared.logs import get_logger
from probidad.shared.outbox import Outbox
from services.enrollment import handlers
from services.enrollment.domain import RuleViolation, ServantDetails
from services.enrollment.metrics import AGENCY_REJECTIONS, ENROLMENT_DECISIONS

log = get_logger(__name__)


def agency_subscribers(outbox: Outbox, digest_key: str) -> dict[str, Callable[..., Awaitable[None]]]:
    async def reject(db, envelope: Envelope, violation: RuleViolation) -> None:  # noqa: ANN001
        request = envelope.event
        log.info("agency request rejected", request_id=request.request_id, field=violation.field,
                 reason=violation.message)
        AGENCY_REJECTIONS.labels(request.type.split(".")[2], violation.field or "none").inc()
        outbox.add(db, RequestRejected(request_id=request.request_id, institution_id=request.institution_id,
                                       reason=violation.message[:1000], field=violation.field),
                   correlation_id=envelope.correlation_id)

    async def on_servant_submitted(db, envelope: Envelope) -> None:  # noqa: ANN001
        request: ServantSubmitted = envelope.event  # type: ignore[assignment]
        details = ServantDetails(institution_id=request.institution_id, name=request.name, curp=request.curp,
                                 sex=request.sex, email=request.email, position=request.position,
                                 position_level=request.position_level)
        try:
            await handlers.register_servant(db, outbox, details, digest_key=digest_key,
                                            acting_for=request.institution_id, request_id=request.request_id,
                                            correlation_id=envelope.correlation_id)
        except RuleViolation as violation:
            await reject(db, envelope, violation)

    async def on_enrolment_requested(db, envelope: Envelope) -> None:  # noqa: ANN001
        request: EnrolmentRequested = envelope.event  # type: ignore[assignment]
        try:
            await handlers.require_institution(db, request.institution_id)
            enrolled = await handlers.enrol(db, outbox, session_id=request.session_id, servant_id=request.servant_id,
                                            curp=request.curp, acting_for=request.institution_id,
                                            request_id=request.request_id, correlation_id=envelope.correlation_id)
            ENROLMENT_DECISIONS.labels("agency", enrolled.enrolment.status).inc()
        except RuleViolation as violation:
            ENROLMENT_DECISIONS.labels("agency", "rejected").inc()
            await reject(db, envelope, violation)

    return {ServantSubmitted.type: on_servant_submitted, EnrolmentRequested.type: on_enrolment_requested}
