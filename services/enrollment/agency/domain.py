"""Agency requests: one decision per institution and request id, and the answer to each. Pure."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from contracts.base import Event
from contracts.events import AgencyRequestDecided, RequestRejected
from probidad.shared.errors import RuleViolation


def request_digest(request: Event, key: str) -> str:
    """A stable digest of an agency request's content: HMAC-SHA256, under the platform's digest key, of
    the canonical JSON of its type and every field. Keyed, because a ServantSubmitted carries personal
    data; the digest stays when that data is erased and must not let anyone confirm a guess of it."""
    canonical = json.dumps({"type": request.type, "data": request.model_dump(mode="json")}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DecidedRequest:
    """An agency request enrollment already answered."""

    institution_id: str
    request_id: str
    digest: str
    outcome: str
    outcome_id: str | None
    decided_at: datetime


def is_repeat(decided: DecidedRequest | None, digest: str) -> bool:
    """Whether an agency request was already decided, so that sending it again changes nothing.

    A request id names one request of an institution: reusing it for a request with other content is
    the agency's mistake, refused without touching anything (the first request's outcome stands).
    """
    if decided is None:
        return False
    if decided.digest != digest:
        raise RuleViolation("request_id", f"{decided.request_id!r} was already used for a different request of "
                            f"institution {decided.institution_id}; give each request its own request_id",
                            "conflict")
    return True


def check_request_topic(request: Event, topic_institution: str | None) -> None:
    """Secure mode: a request names the institution of the topic it came on (the one fact the broker
    vouches for). Refused as a broken message, not answered: an answer would go to the institution
    the request names."""
    institution_id = getattr(request, "institution_id")
    if topic_institution is not None and topic_institution != institution_id:
        raise RuleViolation(None, f"institution_id {institution_id!r} is not the institution of this topic "
                            f"({topic_institution!r}): an agency acts only for its own institution", "forbidden")


@dataclass(frozen=True)
class RequestOutcome:
    """What an agency request led to: the type of the event that answered it and its servant, enrolment
    or transfer (a rejection's reason and field)."""

    type: str
    id: str | None = None
    reason: str | None = None
    field: str | None = None


def reject_request(request: Event, violation: RuleViolation) -> tuple[RequestOutcome, RequestRejected]:
    """A request that breaks a rule is a normal outcome, answered with its request id and the field at fault."""
    reason = violation.message[:1000]
    rejected = RequestRejected(request_id=getattr(request, "request_id"),
                               institution_id=getattr(request, "institution_id"), reason=reason,
                               field=violation.field)
    return RequestOutcome(RequestRejected.type, None, reason, violation.field), rejected


def request_decided(request: Event, outcome: RequestOutcome, topic_institution: str) -> AgencyRequestDecided:
    """The copy of a decision for the agency's own outcome topic (that of ``topic_institution``)."""
    return AgencyRequestDecided(request_id=getattr(request, "request_id"), institution_id=topic_institution,
                                request_type=request.type, outcome=outcome.type, outcome_id=outcome.id,
                                reason=outcome.reason, field=outcome.field)


