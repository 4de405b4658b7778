"""What every handler of the service shares: the context built at wiring, ids, and what a handler returns."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from contracts.base import Event
from probidad.shared.printing import SigningAuthority
from probidad.shared.settings import ServiceSettings

from services.enrollment.sessions.domain import zone

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str, *, institution_id: str | None = None, request_id: str | None = None) -> str:
    """A fresh id; for what an agency's request creates, an id drawn from the request (its id is unique within
    its institution): deciding the request again — restored from a backup, enrollment reads again the requests
    that came after — creates it under the id it had, so no service learns of it under two ids."""
    if request_id is not None:
        drawn = uuid.uuid5(uuid.NAMESPACE_URL, f"probidad:{prefix}:{institution_id}:{request_id}")
        return f"{prefix}-{drawn.hex[:20]}"
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class EnrollmentContext:
    """What handlers need besides the unit of work, built once at wiring."""

    digest_key: str  # the platform's e-mail and request digest key
    programme_timezone: str = ServiceSettings.model_fields["programme_timezone"].default  # decides "today"
    bulk_max_rows: int = 1000
    # Each agency decision is also answered on the agency's own outcome topic (probidad.agency.outcomes.<it>):
    # in secure mode that of the institution whose topic the request came on; in development
    # (``outcomes_to_named_institution``: one shared request topic, no broker vouching for anyone) that of the
    # institution the request names, so an agency reads its answers there too.
    outcome_topics: bool = False
    outcomes_to_named_institution: bool = False
    clock: Callable[[], datetime] = utcnow
    verify_base_url: str = "http://127.0.0.1:8003/verify"  # certification's public verification page
    signing_authority: SigningAuthority = SigningAuthority()  # who signs the constancias printed

    def now(self) -> datetime:
        return self.clock()

    def today(self, now: datetime | None = None) -> date:
        """The programme's date (its time zone), as a transfer's ``effective_on`` is read."""
        return (now or self.now()).astimezone(zone(self.programme_timezone)).date()


@dataclass(frozen=True)
class Done(Generic[T]):
    """What a handler changed (the row the API answers with), whether it is new, and the events it recorded."""

    row: T
    events: list[Event]
    created: bool = False
