"""Reads for reporting's HTTP API: the copy of the facts kept up with the store (columnar, or the in-memory
ledger), and the figures, coverage, rosters, open data and dashboard shaped from its snapshots.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any

from probidad.shared.unit_of_work import UnitOfWork
from services.reporting import bulletin, bulletin_text
from services.reporting.bulletin_pdf import render_pdf
from services.reporting.columnar.copy_repository import ColumnarLedger
from services.reporting.columnar.snapshot_repository import ColumnarSnapshot
from services.reporting.compliance import report as compliance_report
from services.reporting.dashboard import render_dashboard, year_to_open
from services.reporting.domain.facts import MEASURES
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period
from services.reporting.domain.snapshot import Snapshot
from services.reporting.exports import OPEN_DATA_COLUMNS, open_data, to_csv
from services.reporting.handlers import ReportingContext
from services.reporting.ports import ReportingRepository

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
BULLETIN_FORMATS = {"html": "text/html; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
                    "pdf": "application/pdf"}
COVERAGE_COLUMNS = ("year", "institution", "name", "government_level", "headcount", "headcount_year",
                    "servants_trained", "coverage")


class ProjectionReader:
    """The service's copy of the facts, caught up with the store before each read, and its snapshots.

    ``engine`` "columnar" (the default): a DuckDB file (``services/reporting/columnar/``) appended from the
    store by sequence number; history stays on disk and memory is bounded by ``memory_mb``. "ledger": every
    fact in this process's memory (``domain.Ledger``), the reference the columnar engine is tested against.
    Either reloads everything when the pointer moved (a rebuild was swapped in).
    """

    def __init__(self, unit_of_work: UnitOfWorkFactory, ctx: ReportingContext, *,
                 repository: Callable[[UnitOfWork], ReportingRepository], engine: str = "columnar",
                 path: str | None = None, memory_mb: int = 512) -> None:
        self.unit_of_work = unit_of_work
        self.repository = repository  # the store of a unit of work (app.py: the SQL one)
        self.ctx = ctx
        self.zone = ctx.zone
        self.engine = engine
        self._lock = asyncio.Lock()
        self._pointer_made = False
        # the ledger engine's state
        self.ledger = Ledger()
        self.generation: int | None = None
        self.last_seq = 0
        self._snapshot: tuple[tuple[int | None, int], Snapshot] | None = None
        # the columnar engine's: the copy, and when the whole store was last counted against it
        self.columnar = ColumnarLedger(ctx.zone, path or None, memory_mb) if engine == "columnar" else None
        self._counted_at = 0.0
        self._settled = 0  # rows up to this sequence number were read more than SETTLE_S ago
        self._reads: deque[tuple[float, int]] = deque()  # (when, last sequence number) of recent reads

    def close(self) -> None:
        if self.columnar is not None:
            self.columnar.close()

    async def refresh(self) -> Ledger | ColumnarLedger:
        """The engine caught up with the store's active generation, read again from the start if a rebuild
        was swapped in meanwhile."""
        async with self._lock:
            while True:
                async with self.unit_of_work() as uow:
                    repo = self.repository(uow)
                    if not self._pointer_made:
                        await repo.ensure_pointer()
                        self._pointer_made = True
                    generation = await repo.active_generation()
                    if self.columnar is not None:
                        await self._copy(repo, self.columnar, generation)
                        found, last = self.columnar, self.columnar.last_seq
                    else:
                        found, last = await self._load(repo, generation)
                    moved = await repo.active_generation() != generation
                if not moved:
                    if isinstance(found, Ledger):
                        self.ledger, self.generation, self.last_seq = found, generation, last
                    return found

    async def _load(self, repo: ReportingRepository, generation: int) -> tuple[Ledger, int]:
        """The in-memory ledger with the store's new facts, and the last sequence number read."""
        if generation != self.generation:
            ledger, last = Ledger(), 0
        else:
            ledger, last = self.ledger, self.last_seq
        last = await repo.load_facts(ledger, generation, last)
        # Several PostgreSQL writers may commit a lower sequence number after a higher one was read. SQLite
        # has one writer at a time, so its sequence numbers appear in commit order.
        if repo.is_postgres and await repo.count_facts(generation) != len(ledger):
            ledger = Ledger()
            last = await repo.load_facts(ledger, generation, 0)
        return ledger, last

    async def _copy(self, repo: ReportingRepository, columnar: ColumnarLedger, generation: int) -> None:
        """Append the store's new rows to the copy, batch by batch (history is never all in Python).

        Several PostgreSQL writers may commit a lower sequence number after a higher one was read: every
        read counts the rows read in the last ``SETTLE_S`` (a writer's unit of work is far shorter) and,
        after a whole count, the top ``SETTLE_ROWS``; the whole store is counted every ``WHOLE_COUNT_S``
        for a writer slower than that; where a range of sequence numbers holds fewer rows here than in the
        store, it is halved until the missing rows are found and added. SQLite has one writer at a time, so
        its sequence numbers appear in commit order.
        """
        if generation != columnar.generation:
            await asyncio.to_thread(columnar.reset, generation)
            self._settled, self._counted_at = 0, 0.0
            self._reads.clear()
        last = columnar.last_seq
        async for rows in repo.fact_rows(generation, last, batch=APPEND_BATCH):
            last = rows[-1][0]
            await asyncio.to_thread(columnar.append_rows, rows, mark=(generation, last))
        if repo.is_postgres:
            now = time.monotonic()
            whole = now - self._counted_at >= WHOLE_COUNT_S
            await self._fill_gaps(repo, columnar, generation, 0 if whole else self._settled, last)
            if whole:
                # Counted whole: only rows near the top can still have a writer in flight below them.
                self._counted_at, self._settled = now, max(self._settled, last - SETTLE_ROWS)
            self._reads.append((now, last))
            while self._reads and self._reads[0][0] <= now - SETTLE_S:
                self._settled = max(self._settled, self._reads.popleft()[1])

    async def _fill_gaps(self, repo: ReportingRepository, columnar: ColumnarLedger, generation: int,
                         after: int, upto: int) -> None:
        ranges = [(after, upto)]
        while ranges:
            low, high = ranges.pop()
            if high <= low:
                continue
            held = await asyncio.to_thread(columnar.count_range, low, high)
            if held == await repo.count_range(generation, low, high):
                continue
            if high - low <= GAP_READ:
                async for rows in repo.fact_rows(generation, low, high):
                    await asyncio.to_thread(columnar.append_rows, rows, deduplicate=True)
                continue
            middle = (low + high) // 2
            ranges += [(low, middle), (middle, high)]

    async def snapshot(self, as_of: datetime | None = None) -> Snapshot | ColumnarSnapshot:
        found = await self.refresh()
        if isinstance(found, ColumnarLedger):
            return await asyncio.to_thread(found.snapshot, as_of)
        ledger = found
        if as_of is not None:
            return ledger.snapshot(self.zone, as_of)
        key = (self.generation, ledger.revision)
        if self._snapshot is None or self._snapshot[0] != key:
            # The last snapshot lets the new one reuse whatever the facts since could not change.
            previous = self._snapshot[1] if self._snapshot is not None else None
            self._snapshot = (key, ledger.snapshot(self.zone, previous=previous))
        return self._snapshot[1]

    async def pointer(self) -> dict[str, Any]:
        async with self.unit_of_work() as uow:
            return await self.repository(uow).pointer()


SETTLE_S = 60.0  # rows read longer ago than this are not counted again on every read
SETTLE_ROWS = 50_000  # after a whole count, rows this far below the top are not counted again on every read
WHOLE_COUNT_S = 300.0  # how often the columnar copy is counted against the whole store (several writers):
# a count of 10 M rows takes about half a second, so not on every read; a row committed below the last whole
# count (a writer that took its sequence number more than one count earlier) is found by the next one
APPEND_BATCH = 50_000  # store rows appended to the copy at once: fewer, larger appends catch up faster
GAP_READ = 10_000  # a range of sequence numbers this small is read again whole to find what it misses


def today(ctx: ReportingContext) -> date:
    return datetime.now(ctx.zone).date()


async def figures(reader: ProjectionReader, ctx: ReportingContext, period: Period, by: str | None,
                  as_of: datetime | None, institution: str | None = None) -> dict[str, Any]:
    snapshot = await reader.snapshot(as_of)
    return {"period": period.label, "from": period.start.isoformat(), "to": period.end.isoformat(),
            "as_of": as_of.isoformat() if as_of else None, "by": by, "institution": institution,
            "timezone": str(ctx.zone), "rows": snapshot.figures(period, by, institution)}


def figures_csv(body: dict[str, Any]) -> str:
    by = body["by"]
    columns = ["period", *([by] if by else []), *(["name"] if by == "institution" else []), *MEASURES]
    return to_csv(body["rows"], columns)


async def coverage(reader: ProjectionReader, ctx: ReportingContext, year: int | None, as_of: datetime | None,
                   as_of_text: str | None) -> dict[str, Any]:
    year = year or today(ctx).year
    snapshot = await reader.snapshot(as_of)
    return {"year": year, "as_of": as_of_text, "rows": snapshot.coverage(year)}


def coverage_csv(body: dict[str, Any]) -> str:
    return to_csv(body["rows"], COVERAGE_COLUMNS)


PLAN_COLUMNS = ("part", "period", "institution", "name", "topic", "planned_sessions", "planned_people",
                "planned_hours", "sessions_delivered", "servants_trained", "training_hours", "sessions_attainment",
                "people_attainment", "hours_attainment")


async def plan(reader: ProjectionReader, ctx: ReportingContext, year: int | None, through: int | None,
               institution: str | None, as_of: datetime | None) -> dict[str, Any]:
    """The year's training programme (the version in force at ``as_of``) against what was delivered."""
    snapshot = await reader.snapshot(as_of)
    report = snapshot.plan_against_actual(year or today(ctx).year, through, institution)
    return {**report, "as_of": as_of.isoformat() if as_of else None, "institution": institution,
            "timezone": str(ctx.zone)}


def plan_csv(body: dict[str, Any]) -> str:
    """Every row of the report, ``part`` saying which: the planned cells (month, month_total,
    year_to_date, total), then delivery outside the plan (outside_plan, outside_plan_month_total,
    outside_plan_total: planned and attainment columns empty)."""
    outside = body["outside_plan"]
    rows = [*({"part": "month", **r} for r in body["months"]), {"part": "month_total", **body["month_total"]},
            *({"part": "year_to_date", **r} for r in body["year_to_date"]), {"part": "total", **body["total"]},
            *({"part": "outside_plan", **r} for r in outside["months"]),
            {"part": "outside_plan_month_total", **outside["month_total"]},
            {"part": "outside_plan_total", **outside["total"]}]
    return to_csv(rows, PLAN_COLUMNS)


COMPLIANCE_COLUMNS = ("part", "on", "requirement_id", "title", "institution", "name", "government_level",
                      "position_level", "position_digest", "required", "compliant", "due", "overdue", "exempt", "rate")
STANDING_COLUMNS = ("on", "servant_id", "institution", "government_level", "requirement_id", "version", "state",
                    "due_on", "completed_on", "valid_until")


def compliance_on(ctx: ReportingContext, on: date | None, as_of: datetime | None) -> date:
    """The date standings are evaluated on: ``on``, else the as-of moment's local date, else today."""
    if on is not None:
        return on
    return as_of.astimezone(ctx.zone).date() if as_of is not None else today(ctx)


async def compliance(reader: ProjectionReader, ctx: ReportingContext, on: date | None, as_of: datetime | None,
                     institution: str | None, requirement: str | None) -> dict[str, Any]:
    """Standings and aggregates of the requirements in force on ``on``, from the facts known at ``as_of``."""
    snapshot = await reader.snapshot(as_of)
    day = compliance_on(ctx, on, as_of)
    body = compliance_report(snapshot, day, institution=institution, requirement=requirement)
    return {**body, "as_of": as_of.isoformat() if as_of else None, "timezone": str(ctx.zone)}


def compliance_csv(body: dict[str, Any], part: str) -> str:
    """``part`` aggregates: every aggregate row, ``part`` saying which; standings: one row per servant."""
    if part == "standings":
        rows = [{"on": body["on"], **s, **(s["satisfied_by"] or {})} for s in body["standings"]]
        return to_csv(rows, STANDING_COLUMNS)
    rows = [*({"part": "requirement", "on": body["on"], **r} for r in body["by_requirement"]),
            *({"part": "institution", "on": body["on"], **r} for r in body["by_institution"]),
            *({"part": "government_level", "on": body["on"], **r} for r in body["by_government_level"]),
            *({"part": "position_level", "on": body["on"], **r} for r in body["by_position_level"]),
            *({"part": "position", "on": body["on"], **r} for r in body["by_position"])]
    return to_csv(rows, COMPLIANCE_COLUMNS)


async def roster(reader: ProjectionReader, session_id: str, as_of: datetime | None) -> dict[str, Any] | None:
    """None when no session of that id is known (as of then)."""
    return (await reader.snapshot(as_of)).roster(session_id)


async def open_data_rows(reader: ProjectionReader, ctx: ReportingContext, year: int | None) -> list[dict[str, Any]]:
    snapshot = await reader.snapshot()
    return open_data(snapshot, year or today(ctx).year, unit=ctx.responsible_unit, updated_on=today(ctx),
                     minimum=ctx.open_data_minimum_count)


def open_data_csv(rows: list[dict[str, Any]]) -> str:
    return to_csv(rows, OPEN_DATA_COLUMNS)


async def status(reader: ProjectionReader) -> dict[str, Any]:
    """Which generation is served, how many facts it holds, and the newest event time."""
    ledger = await reader.refresh()
    newest = ledger.newest
    return {**await reader.pointer(), "newest_event_time": newest.isoformat() if newest else None}


async def dashboard(reader: ProjectionReader, ctx: ReportingContext, year: int | None,
                    as_of: datetime | None, period: str = "year", month: int | None = None,
                    institution: str | None = None) -> str:
    """Without ``year``: the current year, or the latest year with figures while the current one has none."""
    snapshot = await reader.snapshot(as_of)
    year = year or year_to_open(snapshot, today(ctx))
    return render_dashboard(snapshot, year, as_of=as_of, unit=ctx.responsible_unit,
                            minimum=ctx.open_data_minimum_count, period=period, month=month,
                            institution=institution, today=today(ctx))


async def bulletin_figures(reader: ProjectionReader, year: int, month: int, as_of: datetime | None) -> dict[str, Any]:
    """The numbers of the month's bulletin as known at ``as_of`` (None: now)."""
    return bulletin.bulletin_figures(await reader.snapshot(as_of), year, month, as_of=as_of, today=today(reader.ctx))


async def bulletin_as_shown(reader: ProjectionReader, ctx: ReportingContext, figures: dict[str, Any]) -> dict[str, Any]:
    """The bulletin's numbers as the public dashboard shows them at the figures' moment (what is printed;
    the published numbers and their digest stay as they are)."""
    as_of = datetime.fromisoformat(figures["as_of"]) if figures["as_of"] else None
    return bulletin.shown_figures(await reader.snapshot(as_of), figures, minimum=ctx.open_data_minimum_count,
                                  unit=ctx.responsible_unit, today=today(ctx))


def render_bulletin(figures: dict[str, Any], ctx: ReportingContext, lang: str | None, fmt: str, *,
                    published: bulletin.Publication | None = None, holds: bool = True) -> tuple[bytes, str]:
    """The bulletin in ``fmt`` (html, markdown, pdf) and ``lang`` (default: the programme's): body, media type."""
    language = lang or ctx.language
    doc = bulletin_text.document(figures, unit=ctx.responsible_unit, zone=ctx.zone, lang=language, published=published,
                            holds=holds, public_url=ctx.public_url, authority=ctx.authority,
                            authority_en=ctx.authority_en, signatory=(ctx.signatory_name, ctx.signatory_position))
    if fmt == "pdf":
        return render_pdf(doc, author=ctx.authority), BULLETIN_FORMATS[fmt]
    text = bulletin_text.render_markdown(doc) if fmt == "markdown" else bulletin_text.render_html(doc, lang=language)
    return text.encode(), BULLETIN_FORMATS[fmt]


async def publications(reader: ProjectionReader, month: str | None) -> list[bulletin.Publication]:
    """The bulletins published (of ``month``, or all), newest first."""
    async with reader.unit_of_work() as uow:
        return await reader.repository(uow).publications(bulletin.KIND, month)


async def publication(reader: ProjectionReader, report_id: str) -> bulletin.Publication | None:
    async with reader.unit_of_work() as uow:
        return await reader.repository(uow).publication(report_id)


async def publication_holds(reader: ProjectionReader, published: bulletin.Publication) -> bool:
    """Whether the figures resolved again as of the published moment are still the published ones."""
    year, month = bulletin.month_of(published.month)
    return published.holds(await bulletin_figures(reader, year, month, published.as_of))


def publication_body(published: bulletin.Publication) -> dict[str, Any]:
    return {"report_id": published.report_id, "kind": published.kind, "month": published.month,
            "as_of": published.as_of.isoformat(), "figures_digest": published.figures_digest,
            "published_by": published.published_by, "figures": published.figures}
