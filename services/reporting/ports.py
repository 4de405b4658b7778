"""What reporting's handlers and views may ask of storage: the repository interface. ``repository.py``
answers it with SQL (``SqlReportingRepository``); handler tests answer it with lists
(``tests/support/fakes/reporting.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from services.reporting.bulletin import Publication
from services.reporting.domain.facts import Fact
from services.reporting.domain.ledger import Ledger


class ReportingRepository(Protocol):
    # ------------------------------------------------------------ the facts (the consumer's writes)

    async def add_fact(self, fact: Fact) -> None:
        """Keep a fact in the active generation of the store; a fact already held (by event id) changes nothing."""

    # ------------------------------------------------------------ publications

    async def add_publication(self, publication: Publication) -> None:
        """Keep a bulletin the comptroller published."""

    async def publication(self, report_id: str) -> Publication | None: ...

    async def publications(self, kind: str, month: str | None = None) -> list[Publication]:
        """Newest first."""

    # ------------------------------------------------------------ the reads a refresh of the figures makes

    @property
    def is_postgres(self) -> bool:
        """Whether writers may commit out of sequence order (several PostgreSQL writers)."""

    async def ensure_pointer(self) -> None: ...

    async def active_generation(self) -> int: ...

    async def pointer(self) -> dict[str, Any]: ...

    async def count_facts(self, generation: int) -> int: ...

    async def load_facts(self, ledger: Ledger, generation: int, after: int) -> int:
        """Apply to ``ledger`` the facts of ``generation`` after sequence number ``after``; the last one."""

    def fact_rows(self, generation: int, after: int, upto: int | None = None,
                  batch: int = 20_000) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The store rows of ``generation`` after ``after`` (up to ``upto``), in sequence order."""

    async def count_range(self, generation: int, after: int, upto: int) -> int:
        """How many facts of ``generation`` have a sequence number in (after, upto]."""
