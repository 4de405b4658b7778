"""Agency requests (``probidad.agency.requests``) → the handler that decides them, the one the HTTP API's
rules go through.

A request that breaks a rule is a normal outcome, not a broken message: the handler answers it with a
RequestRejected event carrying the request id, the reason and the field at fault, and decides each
request once per institution and request id (see ``handlers.decide_agency_request``). The dead-letter
topic is for records that are not valid events at all, and for a request naming an institution other
than that of the topic it came on (secure mode), whose answer would go to the institution it names.

On a secure broker an agency cannot read probidad.enrollment.events: each decision is also written,
in the same transaction, as AgencyRequestDecided to ``probidad.agency.outcomes.<institution>`` — the
institution of the request topic it came on.
"""

from __future__ import annotations

from functools import partial

from contracts.envelope import Envelope
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.agency import handlers
from services.enrollment.context import EnrollmentContext
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.webhooks import handlers as webhooks

# Secure mode: the institution whose topic a request arrived on (set by enrollment's app, never by
# the sender). A request naming another institution is refused before anything is decided.
TOPIC_INSTITUTION_HEADER = "probidad_topic_institution"


async def on_agency_request(ctx: EnrollmentContext, uow: UnitOfWork, envelope: Envelope) -> None:
    # A RuleViolation here is not answerable (a request naming another institution than its topic's): the
    # consumer dead-letters it as rejected.
    events = await handlers.decide_agency_request(
        SqlEnrollmentRepository.of(uow), ctx, envelope.event,
        topic_institution=envelope.extra_headers.get(TOPIC_INSTITUTION_HEADER), now=ctx.now())
    envelopes = uow.record(events, correlation_id=envelope.correlation_id)
    # Each answer also goes to the institution's webhooks, written with it (webhooks.handlers).
    await webhooks.agency_requests_decided(SqlEnrollmentRepository.of(uow), envelopes, now=ctx.now())


def subscriptions(ctx: EnrollmentContext) -> dict[str, Handler]:
    return {request_type: partial(on_agency_request, ctx) for request_type in handlers.AGENCY_REQUEST_TYPES}
