"""The ledger: every fact reporting holds, indexed for resolution into snapshots."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from services.reporting.domain.facts import Fact, from_micros

if TYPE_CHECKING:
    from services.reporting.domain.snapshot import Snapshot


class Ledger:
    """Every fact reporting holds, indexed for resolution; ``apply`` is idempotent and order-free."""

    def __init__(self) -> None:
        self.event_ids: set[str] = set()
        self.institutions: dict[str, list[Fact]] = defaultdict(list)
        self.courses: dict[str, list[Fact]] = defaultdict(list)
        self.sessions: dict[str, list[Fact]] = defaultdict(list)
        self.servants: dict[str, list[Fact]] = defaultdict(list)
        self.participants: dict[str, set[str]] = defaultdict(set)  # session -> servants it has facts about
        self.enrolments: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.attendance: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.assessments: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.certificates: dict[str, list[Fact]] = defaultdict(list)
        self.plans: dict[int, list[Fact]] = defaultdict(list)  # year -> the versions of its training programme
        # The compliance projection's facts: a requirement's versions, an exemption's grant and withdrawal,
        # a servant's leavings and competencies attained.
        self.requirements: dict[str, list[Fact]] = defaultdict(list)
        self.exemptions: dict[str, list[Fact]] = defaultdict(list)
        self.departures: dict[str, list[Fact]] = defaultdict(list)
        self.competencies: dict[str, list[Fact]] = defaultdict(list)
        self.applied: list[Fact] = []  # in the order applied: ``applied[r:]`` came after revision r
        self.revision = 0

    def __len__(self) -> int:
        return len(self.event_ids)

    def apply(self, fact: Fact) -> bool:
        if fact.event_id in self.event_ids:
            return False
        self.event_ids.add(fact.event_id)
        self.applied.append(fact)
        self.revision += 1
        kind = fact.kind
        # the kind says which of the two a fact names: those it names are set
        session_id, servant_id = cast(str, fact.session_id), cast(str, fact.servant_id)
        if kind == "institution":
            self.institutions[fact.subject].append(fact)
        elif kind == "course":
            self.courses[fact.subject].append(fact)
        elif kind.startswith("session_"):
            self.sessions[session_id].append(fact)
        elif kind.startswith("servant"):
            self.servants[servant_id].append(fact)
        elif kind.startswith("certificate_"):
            self.certificates[fact.subject].append(fact)
            self.participants[session_id].add(servant_id)
        elif kind == "plan":
            self.plans[fact.attributes["year"]].append(fact)
        elif kind == "requirement":
            self.requirements[fact.subject].append(fact)
        elif kind.startswith("exemption_"):
            self.exemptions[fact.subject].append(fact)
        elif kind == "departure":
            self.departures[servant_id].append(fact)
        elif kind == "competency":
            self.competencies[servant_id].append(fact)
        else:
            self.participants[session_id].add(servant_id)
            target = (self.attendance if kind == "attendance" else
                      self.assessments if kind == "assessment" else self.enrolments)
            target[(session_id, servant_id)].append(fact)
        return True

    def apply_all(self, facts: Iterable[Fact]) -> int:
        return sum(self.apply(f) for f in facts)

    @property
    def newest(self) -> datetime | None:
        """Envelope time of the newest fact held (how fresh the projection is)."""
        latest = max((f.known_at for fs in self._all() for f in fs), default=None)
        return from_micros(latest) if latest is not None else None

    def _all(self) -> Iterator[list[Fact]]:
        for index in (self.institutions, self.courses, self.sessions, self.servants, self.enrolments,
                      self.attendance, self.assessments, self.certificates, self.plans, self.requirements,
                      self.exemptions, self.departures, self.competencies):
            yield from index.values()

    def snapshot(self, zone: ZoneInfo, as_of: datetime | None = None, *,
                 previous: Snapshot | None = None) -> Snapshot:
        """Resolve the ledger as of ``as_of`` (None = now); see ``Snapshot`` for what ``previous`` saves."""
        from services.reporting.domain.snapshot import Snapshot  # the snapshot reads the ledger's indexes

        return Snapshot(self, zone, as_of, previous)
