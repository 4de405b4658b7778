"""What a snapshot resolves facts into: periods, sessions, who a servant was, completions, certificates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.reporting.domain.facts import UNKNOWN


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive range of local dates in the programme's time zone."""

    start: date
    end: date

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(date(year, month, 1), following - timedelta(days=1))

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(date(year, 1, 1), date(year, 12, 31))

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def label(self) -> str:
        if self.start.day == 1 and self == Period.month(self.start.year, self.start.month):
            return f"{self.start:%Y-%m}"
        if self == Period.year(self.start.year):
            return str(self.start.year)
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str
    course_id: str
    course_title: str
    topic: str
    modality: str
    starts_at: datetime
    day: date  # local date in the programme's zone
    cancelled: bool
    organising_unit: str | None


@dataclass(frozen=True, slots=True)
class Who:
    institution_id: str
    institution: str
    government_level: str
    sex: str


NOBODY = Who(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)  # a servant reporting has no fact about (yet)


@dataclass(frozen=True, slots=True)
class CompletionView:
    servant_id: str
    session: SessionView
    who: Who
    certificate_id: str
    hours: float


@dataclass(frozen=True, slots=True)
class CertificateEvent:
    """A certificate issued or revoked on a local date; placed by the session/servant it is about."""

    day: date
    session: SessionView | None
    who: Who
    topic: str
