"""Enrollment's events -> attendance's handlers. Each runs in the consumer's transaction, with the event
id recorded beside its effect, so a redelivery changes nothing; arrival order does not matter either
(handlers keep the newest schedule and servant attributes, a transfer included, and a cancellation is final)."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.events import (
    EnrolmentCancelled, EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled,
)
from services.attendance import handlers


async def on_session_scheduled(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.session_scheduled(db, envelope.event, handlers.envelope_time(envelope))


async def on_session_rescheduled(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.session_rescheduled(db, envelope.event, handlers.envelope_time(envelope))


async def on_session_cancelled(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.session_cancelled(db, envelope.event)


async def on_servant(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.servant_known(db, envelope.event, handlers.envelope_time(envelope))


async def on_servant_transferred(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.servant_transferred(db, envelope.event, handlers.envelope_time(envelope), envelope.id)


async def on_enrolment_confirmed(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.enrolment_confirmed(db, envelope.event)


async def on_enrolment_cancelled(db, envelope: Envelope) -> None:  # noqa: ANN001
    await handlers.enrolment_cancelled(db, envelope.event)


ENROLLMENT_HANDLERS = {
    SessionScheduled.type: on_session_scheduled,
    SessionRescheduled.type: on_session_rescheduled,
    SessionCancelled.type: on_session_cancelled,
    ServantRegistered.type: on_servant,
    ServantUpdated.type: on_servant,
    ServantTransferred.type: on_servant_transferred,
    EnrolmentConfirmed.type: on_enrolment_confirmed,
    EnrolmentCancelled.type: on_enrolment_cancelled,
}
