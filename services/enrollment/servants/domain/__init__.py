"""Servants' rules: registration, erasure, transfers between institutions and leaving. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime

from contracts.base import Event
from contracts.events import (
    ServantLeft,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    Sex,
    TransferDropped,
    TransferOpened,
)
from contracts.holder import holder_digest, new_salt
from contracts.pseudonyms import email_digest, position_digest
from probidad.shared.errors import RuleViolation

from services.enrollment.servants.domain.curp import validate_curp


def confine(acting_for: str | None, institution_id: str, field_name: str = "institution_id") -> None:
    """``acting_for`` is the institution a caller is confined to (a liaison's, or the agency's that
    sent a request); ``None`` means the comptroller, who may act for any institution."""
    if acting_for is not None and acting_for != institution_id:
        raise RuleViolation(field_name, f"you act for institution {acting_for} only", "forbidden")


_EMAIL = re.compile(r"^[^@\s,;<>]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$")


def validate_email(raw: str | None, field_name: str = "email") -> str | None:
    if raw is None or not raw.strip():
        return None
    email = raw.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise RuleViolation(field_name, f"{email!r} is not an e-mail address")
    return email


@dataclass(frozen=True)
class ServantDetails:
    """What an institution submits about a person (personal data included)."""

    institution_id: str
    name: str
    curp: str
    sex: Sex
    email: str | None = None
    position: str | None = None
    position_level: str | None = None
    joined_on: date | None = None  # None: today for a new servant, unchanged for one already registered


@dataclass(frozen=True)
class ServantRecord:
    """A registered servant as enrollment knows them; personal fields are None after erasure."""

    servant_id: str
    institution_id: str
    sex: Sex
    position_level: str | None
    name: str | None
    curp: str | None
    email: str | None
    position: str | None
    erased: bool = False
    holder_salt: str | None = None  # secret (contracts.holder); None after erasure
    joined_on: date | None = None
    left_on: date | None = None  # set while the servant has left
    position_digest: str | None = None


@dataclass(frozen=True)
class ServantDecision:
    servant: ServantRecord
    created: bool
    events: list[Event]
    joined: date | None = None  # a stretch in the institution starts that day (registration or return)


def _digest(email: str | None, key: str) -> str | None:
    return email_digest(email, key) if email else None


def decide_servant(existing: ServantRecord | None, details: ServantDetails, *, new_servant_id: str,
                   person_id: str, digest_key: str, today: date, request_id: str | None = None) -> ServantDecision:
    """Register a person in an institution, or update the servant that institution already has under the CURP.

    A servant is a person *in one institution*: ``existing`` is only ever the caller's institution's own
    servant with this CURP. The same CURP registered by another institution becomes that institution's
    own servant (a second appointment, or a new job before the old one recorded the move), so nobody's
    record is taken over and the answer is the same whether or not the CURP is held elsewhere.
    ``person_id`` ties the servants one CURP names together, so the figures count the person once.
    """
    name = details.name.strip()
    if not name:
        raise RuleViolation("name", "must not be empty")
    curp = validate_curp(details.curp)
    if existing is not None and existing.institution_id != details.institution_id:
        raise ValueError("existing must be a servant of the institution registering")  # a handler's bug, not input
    email = validate_email(details.email)
    if details.joined_on is not None and details.joined_on > today:
        raise RuleViolation("joined_on", f"must not be after today ({today.isoformat()}); register the servant "
                            "on or after their first day")
    joined_on, left_on, joined = _joining(existing, details.joined_on, today)
    record = ServantRecord(
        servant_id=existing.servant_id if existing else new_servant_id,
        institution_id=details.institution_id, sex=Sex(details.sex), position_level=details.position_level,
        name=name, curp=curp, email=email, position=details.position, joined_on=joined_on, left_on=left_on,
        position_digest=position_digest(details.position, digest_key),
    )
    # Made once and kept: every certificate of the servant names the same holder.
    salt = (existing.holder_salt if existing else None) or new_salt()
    record = replace(record, holder_salt=salt)
    attributes = dict(servant_id=record.servant_id, institution_id=record.institution_id, sex=record.sex,
                      position_level=record.position_level, email_digest=_digest(email, digest_key),
                      person_id=person_id, request_id=request_id,
                      holder_digest=holder_digest(salt, curp), joined_on=record.joined_on,
                      position_digest=record.position_digest)
    if existing is None:
        return ServantDecision(record, True, [ServantRegistered(**attributes)], joined)
    seen_by_oversight_changed = (
        existing.institution_id != record.institution_id or existing.sex != record.sex
        or existing.position_level != record.position_level
        or _digest(existing.email, digest_key) != attributes["email_digest"]
        or existing.holder_salt is None  # registered before holders were bound: publish it once
        or existing.joined_on != record.joined_on or existing.position_digest != record.position_digest
    )
    # An agency always gets an outcome for its request, even when nothing oversight sees changed.
    events: list[Event] = [ServantUpdated(**attributes)] if seen_by_oversight_changed or request_id else []
    return ServantDecision(record, False, events, joined)


def _joining(existing: ServantRecord | None, given: date | None, today: date) -> tuple[date, date | None, date | None]:
    """(joined_on, left_on, the day a stretch starts if one does) for a registration.

    A new servant joins on the day given (today when none). One registered again after leaving comes
    back when the day given is on or after their leaving day; without a day they stay left. A day
    given for a servant still serving corrects their joining day.
    """
    if existing is None:
        return given or today, None, given or today
    current = existing.joined_on or today
    if existing.left_on is not None:
        if given is not None and given >= existing.left_on:
            return given, None, given
        return (given or current), existing.left_on, None
    return (given or current), None, None


def decide_erasure(servant: ServantRecord) -> ServantDecision:
    """ARCO cancellation: forget name, CURP, e-mail and position; the pseudonymous id and the
    attributes the figures need (institution, sex, level) stay, so past figures do not move."""
    if servant.erased:
        raise RuleViolation("servant_id", "personal data already erased", "conflict")
    # The position's keyed digest stays like the position level: requirements scoped to it still apply.
    erased = replace(servant, name=None, curp=None, email=None, position=None, erased=True, holder_salt=None)
    event = ServantUpdated(servant_id=servant.servant_id, institution_id=servant.institution_id, sex=servant.sex,
                           position_level=servant.position_level, email_digest=None, joined_on=servant.joined_on,
                           position_digest=servant.position_digest)
    return ServantDecision(erased, False, [event])


# ------------------------------------------------------------------ transfers


@dataclass(frozen=True)
class TransferTerms:
    """A transfer as asked: which servant, from and to which institution, from which day, asked by whom."""

    transfer_id: str
    servant_id: str
    from_institution_id: str
    to_institution_id: str
    effective_on: date
    requested_by: str


def check_transfer(servant: ServantRecord, to_institution_id: str, effective_on: date, today: date) -> None:
    """What a transfer must satisfy when it is asked for and again when it takes effect."""
    if servant.left_on is not None:
        raise RuleViolation("servant_id", f"the servant left {servant.institution_id} on "
                            f"{servant.left_on.isoformat()}; register them in the new institution instead", "conflict")
    if to_institution_id == servant.institution_id:
        raise RuleViolation("to_institution_id", f"the servant already belongs to {to_institution_id}", "conflict")
    if effective_on > today:
        # A transfer changes the servant's institution when it is recorded; one dated ahead would make
        # enrollment and the figures disagree about where the servant is until that day.
        raise RuleViolation("effective_on", f"must not be after today ({today.isoformat()}); record the transfer "
                            "on or after the day it takes effect")


def open_transfer(servant: ServantRecord, terms: TransferTerms, *, pending: str | None, today: date,
                  requested_at: datetime, request_id: str | None = None) -> TransferOpened:
    """A transfer asked for: checked as it will be when it takes effect, one waiting answer per servant.
    The fact is what the joining institution learns the transfer id from."""
    check_transfer(servant, terms.to_institution_id, terms.effective_on, today)
    if pending is not None:
        raise RuleViolation("servant_id", f"transfer {pending} of this servant is waiting for an answer", "conflict")
    return TransferOpened(transfer_id=terms.transfer_id, servant_id=terms.servant_id,
                          from_institution_id=terms.from_institution_id, to_institution_id=terms.to_institution_id,
                          effective_on=terms.effective_on, requested_by=terms.requested_by,
                          requested_at=requested_at, request_id=request_id)


def check_answerable(status: str) -> None:
    if status != "requested":
        raise RuleViolation("transfer_id", f"this transfer is already {status}", "conflict")


def decline_transfer(terms: TransferTerms, *, declined_by: str, declined_at: datetime,
                     request_id: str | None = None) -> TransferDropped:
    """Either institution (or the comptroller) declines or withdraws a requested transfer: nothing moves."""
    return TransferDropped(transfer_id=terms.transfer_id, servant_id=terms.servant_id,
                           from_institution_id=terms.from_institution_id, to_institution_id=terms.to_institution_id,
                           declined_by=declined_by, declined_at=declined_at, request_id=request_id)


def check_may_accept(acting_for: str | None, terms: TransferTerms) -> None:
    if acting_for is not None and acting_for != terms.to_institution_id:
        raise RuleViolation("transfer_id", "only the institution the servant joins (or the comptroller) accepts a "
                            "transfer", "forbidden")


def check_joining(terms: TransferTerms, twin: str | None) -> None:
    """A person is one servant per institution: ``twin`` is the servant the joining institution already
    has under the person's CURP. Asked only of whoever completes a transfer, never of the one asking."""
    if twin is not None:
        raise RuleViolation("servant_id", f"institution {terms.to_institution_id} already has this person as "
                            f"servant {twin}; decline this transfer (their record stays with "
                            f"{terms.from_institution_id})", "conflict")


def decide_transfer(servant: ServantRecord, terms: TransferTerms, *, approved_by: str, approved_at: datetime,
                    today: date) -> tuple[ServantRecord, ServantTransferred]:
    """The transfer takes effect: the servant belongs to the new institution, and the fact says since when."""
    if servant.institution_id != terms.from_institution_id:
        raise RuleViolation("transfer_id", f"the servant no longer belongs to {terms.from_institution_id}", "conflict")
    check_transfer(servant, terms.to_institution_id, terms.effective_on, today)
    # joined_on is the first day in the servant's institution: in the new one, the transfer's day.
    moved = replace(servant, institution_id=terms.to_institution_id, joined_on=terms.effective_on)
    return moved, ServantTransferred(
        servant_id=servant.servant_id, transfer_id=terms.transfer_id, from_institution_id=terms.from_institution_id,
        to_institution_id=terms.to_institution_id, effective_on=terms.effective_on, sex=servant.sex,
        position_level=servant.position_level, requested_by=terms.requested_by, approved_by=approved_by,
        approved_at=approved_at)


# ------------------------------------------------------------------ leaving ("baja")


def decide_departure(servant: ServantRecord, *, left_on: date, today: date, recorded_by: str,
                     request_id: str | None = None) -> tuple[ServantRecord, ServantLeft]:
    """The servant no longer serves in their institution from ``left_on`` (its first day away)."""
    if servant.left_on is not None:
        raise RuleViolation("servant_id", f"the servant already left {servant.institution_id} on "
                            f"{servant.left_on.isoformat()}", "conflict")
    if left_on > today:
        raise RuleViolation("left_on", f"must not be after today ({today.isoformat()}); record the leaving on or "
                            "after the day it takes effect")
    if servant.joined_on is not None and left_on <= servant.joined_on:
        raise RuleViolation("left_on", f"must be after the day the servant joined ({servant.joined_on.isoformat()})")
    return replace(servant, left_on=left_on), ServantLeft(
        servant_id=servant.servant_id, institution_id=servant.institution_id, left_on=left_on,
        recorded_by=recorded_by, request_id=request_id)

