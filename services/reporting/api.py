"""HTTP API of reporting: figures, coverage and rosters (JSON and CSV), open data, the dashboard.

Figures, coverage and rosters are for the comptroller (bearer token); the open-data export and the
dashboard hold aggregates only and are public. Periods are local dates in the programme's zone;
``as_of`` accepts a date (its end, in the programme's zone) or a date-time.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from probidad.shared.auth import require
from services.reporting.dashboard import render_dashboard, year_to_open
from services.reporting.exports import OPEN_DATA_COLUMNS, open_data, to_csv
from services.reporting.projection import DIMENSIONS, MEASURES, Period
from services.reporting.store import ProjectionReader, pointer

router = APIRouter(tags=["reporting"])
comptroller = require("comptroller")


def _reader(request: Request) -> ProjectionReader:
    return request.app.state.reader


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.runtime.settings.programme_timezone)


def _today(request: Request) -> date:
    return datetime.now(_zone(request)).date()


def period_of(request: Request, year: int | None, month: str | None, start: date | None, end: date | None) -> Period:
    if start or end:
        if not (start and end):
            raise HTTPException(422, "from/to: give both ends of the period")
        if end < start:
            raise HTTPException(422, "to: must not be before from")
        return Period(start, end)
    if month:
        try:
            y, m = (int(part) for part in month.split("-"))
            return Period.month(y, m)
        except ValueError as error:
            raise HTTPException(422, f"month: expected YYYY-MM, got {month!r}") from error
    return Period.year(year or _today(request).year)


def as_of_of(request: Request, as_of: str | None) -> datetime | None:
    if not as_of:
        return None
    zone = _zone(request)
    try:
        if len(as_of) == 10:
            return datetime.combine(date.fromisoformat(as_of), time.max, zone)
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError as error:
        raise HTTPException(422, f"as_of: expected a date or an ISO date-time, got {as_of!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class Query_:  # the query string every figure route accepts
    def __init__(self, request: Request, year: int | None = Query(None, ge=2000, le=2100),
                 month: str | None = Query(None, description="YYYY-MM"),
                 start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                 as_of: str | None = Query(None, description="Date or date-time: figures as known then."),
                 by: str | None = Query(None, description=f"One of {', '.join(DIMENSIONS)}.")) -> None:
        if by is not None and by not in DIMENSIONS:
            raise HTTPException(422, f"by: must be one of {', '.join(DIMENSIONS)}")
        self.period = period_of(request, year, month, start, end)
        self.as_of = as_of_of(request, as_of)
        self.by = by


async def _figures(request: Request, q: Query_) -> dict[str, Any]:
    snapshot = await _reader(request).snapshot(q.as_of)
    return {"period": q.period.label, "from": q.period.start.isoformat(), "to": q.period.end.isoformat(),
            "as_of": q.as_of.isoformat() if q.as_of else None, "by": q.by,
            "timezone": str(_zone(request)), "rows": snapshot.figures(q.period, q.by)}


@router.get("/reports/figures", dependencies=[Depends(comptroller)])
async def figures(request: Request, q: Query_ = Depends()) -> dict[str, Any]:
    """Sessions and courses delivered, servants trained, participations, hours, certificates."""
    return await _figures(request, q)


@router.get("/reports/figures.csv", dependencies=[Depends(comptroller)], response_class=PlainTextResponse)
async def figures_csv(request: Request, q: Query_ = Depends()) -> PlainTextResponse:
    body = await _figures(request, q)
    columns = ["period", *([q.by] if q.by else []), *(["name"] if q.by == "institution" else []), *MEASURES]
    return PlainTextResponse(to_csv(body["rows"], columns), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="figures-{body["period"]}.csv"'})


@router.get("/reports/coverage", dependencies=[Depends(comptroller)])
async def coverage(request: Request, year: int | None = Query(None, ge=2000, le=2100),
                   as_of: str | None = None) -> dict[str, Any]:
    """Distinct servants trained in the year / declared headcount, per institution, lowest first."""
    year = year or _today(request).year
    snapshot = await _reader(request).snapshot(as_of_of(request, as_of))
    return {"year": year, "as_of": as_of, "rows": snapshot.coverage(year)}


@router.get("/reports/coverage.csv", dependencies=[Depends(comptroller)], response_class=PlainTextResponse)
async def coverage_csv(request: Request, year: int | None = Query(None, ge=2000, le=2100),
                       as_of: str | None = None) -> PlainTextResponse:
    body = await coverage(request, year, as_of)
    columns = ["year", "institution", "name", "government_level", "headcount", "headcount_year",
               "servants_trained", "coverage"]
    return PlainTextResponse(to_csv(body["rows"], columns), media_type="text/csv; charset=utf-8")


@router.get("/reports/sessions/{session_id}/roster", dependencies=[Depends(comptroller)])
async def roster(request: Request, session_id: str, as_of: str | None = None) -> dict[str, Any]:
    """Who was enrolled, present, graded and certified in a session — pseudonymous ids only."""
    found = (await _reader(request).snapshot(as_of_of(request, as_of))).roster(session_id)
    if found is None:
        raise HTTPException(404, f"session_id: no session {session_id!r} is known")
    return found


async def _open_data(request: Request, year: int | None) -> list[dict[str, Any]]:
    settings = request.app.state.runtime.settings
    snapshot = await _reader(request).snapshot()
    return open_data(snapshot, year or _today(request).year,
                     unit=settings.responsible_unit, updated_on=_today(request),
                     minimum=settings.open_data_minimum_count)


@router.get("/open-data/figures.csv", response_class=PlainTextResponse, tags=["open data"])
async def open_data_csv(request: Request, year: int | None = Query(None, ge=2000, le=2100)) -> PlainTextResponse:
    """For the transparency portal: aggregates only, small counts suppressed, unit and date on every row."""
    return PlainTextResponse(to_csv(await _open_data(request, year), OPEN_DATA_COLUMNS), media_type="text/csv; charset=utf-8")


@router.get("/open-data/figures.json", tags=["open data"])
async def open_data_json(request: Request, year: int | None = Query(None, ge=2000, le=2100)) -> list[dict[str, Any]]:
    return await _open_data(request, year)


@router.get("/reports/status", tags=["operations"])
async def status(request: Request) -> dict[str, Any]:
    """Which generation of the projection is served, how many facts it holds, and how fresh it is."""
    ledger = await _reader(request).refresh()
    newest = ledger.newest
    return {**await pointer(request.app.state.runtime.database), "newest_event_time": newest.isoformat() if newest else None}


@router.get("/dashboard", response_class=HTMLResponse, tags=["dashboard"])
async def dashboard(request: Request, year: int | None = Query(None, ge=2000, le=2100),
                    as_of: str | None = None) -> HTMLResponse:
    """The year at a glance for the comptroller; self-contained (no external assets). Without ``year``
    it opens on the current year, or on the latest year with figures while the current one has none."""
    moment = as_of_of(request, as_of)
    snapshot = await _reader(request).snapshot(moment)
    year = year or year_to_open(snapshot, _today(request))
    settings = request.app.state.runtime.settings
    return HTMLResponse(render_dashboard(snapshot, year, as_of=moment, unit=settings.responsible_unit,
                                         minimum=settings.open_data_minimum_count))
