"""Enrollment's events -> attendance's handlers. Each runs in the consumer's unit of work, with the event
id recorded beside its effect, so a redelivery changes nothing; arrival order does not matter either
(handlers keep the newest schedule and servant attributes, a transfer included, and a cancellation is final).
A fact breaking an attendance rule (a schedule ending before it starts) raises its RuleViolation, which the
consumer dead-letters for good."""

from __future__ import annotations

from functools import partial
from typing import TypeVar

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.events import (
    EnrolmentCancelled, EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled,
)
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork
from services.attendance import handlers
from services.attendance.handlers import AttendanceContext
from services.attendance.repository import SqlAttendanceRepository

E = TypeVar("E", bound=Event)


def _event(envelope: Envelope, kind: type[E]) -> E:
    """The envelope's event, as the type its subscription was chosen by."""
    event = envelope.event
    if not isinstance(event, kind):  # the consumer picks the subscriber by the event's type: never taken
        raise TypeError(f"{type(event).__name__} handed to the subscriber of {kind.__name__}")
    return event


def _repository(uow: UnitOfWork) -> SqlAttendanceRepository:
    return SqlAttendanceRepository.of(uow)  # one per unit of work: a consumer batch shares it


async def on_session_scheduled(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, SessionScheduled)
    uow.record(await handlers.session_scheduled(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_session_rescheduled(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, SessionRescheduled)
    uow.record(await handlers.session_rescheduled(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_session_cancelled(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, SessionCancelled)
    uow.record(await handlers.session_cancelled(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_registered(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, ServantRegistered)
    uow.record(await handlers.servant_registered(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_updated(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, ServantUpdated)
    uow.record(await handlers.servant_updated(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_transferred(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, ServantTransferred)
    uow.record(await handlers.servant_transferred(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_enrolment_confirmed(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, EnrolmentConfirmed)
    uow.record(await handlers.enrolment_confirmed(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_enrolment_cancelled(ctx: AttendanceContext, uow: UnitOfWork, envelope: Envelope) -> None:
    event = _event(envelope, EnrolmentCancelled)
    uow.record(await handlers.enrolment_cancelled(_repository(uow), ctx, event, envelope.stamp),
               correlation_id=envelope.correlation_id)


def subscriptions(ctx: AttendanceContext) -> dict[str, Handler]:
    return {
        SessionScheduled.type: partial(on_session_scheduled, ctx),
        SessionRescheduled.type: partial(on_session_rescheduled, ctx),
        SessionCancelled.type: partial(on_session_cancelled, ctx),
        ServantRegistered.type: partial(on_servant_registered, ctx),
        ServantUpdated.type: partial(on_servant_updated, ctx),
        ServantTransferred.type: partial(on_servant_transferred, ctx),
        EnrolmentConfirmed.type: partial(on_enrolment_confirmed, ctx),
        EnrolmentCancelled.type: partial(on_enrolment_cancelled, ctx),
    }
