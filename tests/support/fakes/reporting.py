"""Reporting's storage and unit of work without a database, for handler tests: an in-memory store of facts
and publications satisfying ``services.reporting.ports.ReportingRepository`` (mypy checks it: ``_CHECK``),
and a unit of work that only keeps what it is handed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson

from contracts.base import Event
from services.reporting.bulletin import Publication
from services.reporting.ports import ReportingRepository
from services.reporting.domain.facts import Fact
from services.reporting.domain.ledger import Ledger


class FakeReportingRepository:
    """One generation of facts in sequence order, each event once (as the store keeps them), and the
    publications in the order published."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.published: list[Publication] = []
        self._event_ids: set[str] = set()

    async def add_fact(self, fact: Fact) -> None:
        if fact.event_id not in self._event_ids:
            self._event_ids.add(fact.event_id)
            self.facts.append(fact)

    async def add_publication(self, publication: Publication) -> None:
        self.published.append(publication)

    async def publication(self, report_id: str) -> Publication | None:
        return next((p for p in self.published if p.report_id == report_id), None)

    async def publications(self, kind: str, month: str | None = None) -> list[Publication]:
        return [p for p in reversed(self.published) if p.kind == kind and (month is None or p.month == month)]

    @property
    def is_postgres(self) -> bool:
        return False

    async def ensure_pointer(self) -> None:
        return None

    async def active_generation(self) -> int:
        return 1

    async def pointer(self) -> dict[str, Any]:
        return {"generation": 1, "swapped_at": None, "note": None, "facts": len(self.facts)}

    async def count_facts(self, generation: int) -> int:
        return len(self.facts) if generation == 1 else 0

    async def load_facts(self, ledger: Ledger, generation: int, after: int) -> int:
        for fact in self.facts[after:] if generation == 1 else ():
            ledger.apply(fact)
        return len(self.facts) if generation == 1 else after

    async def fact_rows(self, generation: int, after: int, upto: int | None = None,
                        batch: int = 20_000) -> AsyncIterator[list[tuple[Any, ...]]]:
        rows = [(seq, f.event_id, f.kind, f.known_at, f.subject, f.session_id, f.servant_id,
                 orjson.dumps(f.attributes).decode())
                for seq, f in enumerate(self.facts, start=1)
                if generation == 1 and seq > after and (upto is None or seq <= upto)]
        for start in range(0, len(rows), batch):
            yield rows[start:start + batch]

    async def count_range(self, generation: int, after: int, upto: int) -> int:
        return len(self.facts[after:upto]) if generation == 1 else 0


_CHECK: type[ReportingRepository] = FakeReportingRepository


class FakeUnitOfWork:
    """What reporting's subscribers use of a unit of work: its shared part (the repository, ``repo``) and
    ``record``, which keeps the events and the correlation id they were recorded under."""

    def __init__(self, repo: FakeReportingRepository | None = None) -> None:
        self.repo = repo if repo is not None else FakeReportingRepository()
        self.recorded: list[tuple[list[Event], str | None]] = []

    def part(self, key: object, make: Callable[[], object]) -> FakeReportingRepository:
        """A subscriber asks the unit of work for its repository: this one's is always ``repo``."""
        return self.repo

    def record(self, events: Iterable[Event], *, correlation_id: str | None = None,
               topic: str | None = None) -> list[object]:
        self.recorded.append((list(events), correlation_id))
        return []
