"""HTTP API of reporting: figures, coverage and rosters (JSON and CSV), open data, the dashboard.

Figures, coverage and rosters are for the comptroller (bearer token); the open-data export and the
dashboard hold aggregates only and are public. Periods are local dates in the programme's zone;
``as_of`` accepts a date (its end, in the programme's zone) or a date-time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from probidad.shared.as_of import parse_as_of
from probidad.shared.dependencies import Comptroller, Provided, Runtime
from probidad.shared.errors import RuleViolation
from services.reporting import bulletin, bulletin_text, handlers, views
from services.reporting.domain.facts import DIMENSIONS
from services.reporting.domain.resolved import Period
from services.reporting.handlers import ReportingContext
from services.reporting.repository import SqlReportingRepository
from services.reporting.views import ProjectionReader

router = APIRouter(tags=["reporting"])
Reader = Provided(ProjectionReader)
Context = Provided(ReportingContext)


def period_of(ctx: ReportingContext, year: int | None, month: str | None, start: date | None,
              end: date | None) -> Period:
    if start or end:
        if not (start and end):
            raise RuleViolation("from/to", "give both ends of the period")
        if end < start:
            raise RuleViolation("to", "must not be before from")
        return Period(start, end)
    if month:
        try:
            y, m = (int(part) for part in month.split("-"))
            return Period.month(y, m)
        except ValueError as error:
            raise RuleViolation("month", f"expected YYYY-MM, got {month!r}") from error
    return Period.year(year or views.today(ctx).year)


def as_of_of(ctx: ReportingContext, as_of: str | None) -> datetime | None:
    return parse_as_of(as_of, ctx.zone)


class Query_:  # the query string every figure route accepts
    def __init__(self, ctx: Context, year: int | None = Query(None, ge=2000, le=2100),
                 month: str | None = Query(None, description="YYYY-MM"),
                 start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                 as_of: str | None = Query(None, description="Date or date-time: figures as known then."),
                 by: str | None = Query(None, description=f"One of {', '.join(DIMENSIONS)}."),
                 institution: str | None = Query(
                     None, min_length=1, max_length=64,
                     description="Only what concerns this institution's servants.")) -> None:
        if by is not None and by not in DIMENSIONS:
            raise RuleViolation("by", f"must be one of {', '.join(DIMENSIONS)}")
        self.period = period_of(ctx, year, month, start, end)
        self.as_of = as_of_of(ctx, as_of)
        self.by = by
        self.institution = institution


@router.get("/reports/figures")
async def figures(_comptroller: Comptroller, reader: Reader, ctx: Context,
                  q: Query_ = Depends()) -> dict[str, Any]:
    """Sessions and courses delivered, servants trained, participations, hours, certificates."""
    return await views.figures(reader, ctx, q.period, q.by, q.as_of, q.institution)


@router.get("/reports/figures.csv", response_class=PlainTextResponse)
async def figures_csv(_comptroller: Comptroller, reader: Reader, ctx: Context,
                      q: Query_ = Depends()) -> PlainTextResponse:
    body = await views.figures(reader, ctx, q.period, q.by, q.as_of, q.institution)
    return PlainTextResponse(views.figures_csv(body), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="figures-{body["period"]}.csv"'})


def month_param(month: str) -> tuple[int, int]:
    return bulletin.month_of(month)


def check_rendering(fmt: str, lang: str | None) -> None:
    if fmt not in views.BULLETIN_FORMATS:
        raise RuleViolation("format", f"one of {', '.join(views.BULLETIN_FORMATS)}, got {fmt!r}")
    if lang is not None and lang not in bulletin_text.LANGUAGES:
        raise RuleViolation("lang", f"one of {', '.join(bulletin_text.LANGUAGES)}, got {lang!r}")


async def bulletin_response(reader: ProjectionReader, figures: dict[str, Any], ctx: ReportingContext,
                            lang: str | None, fmt: str, headers: dict[str, str] | None = None, *,
                            published: bulletin.Publication | None = None, holds: bool = True) -> Response:
    """The bulletin rendered: every count of people as the public dashboard it links to shows it."""
    shown = await views.bulletin_as_shown(reader, ctx, figures)
    body, media_type = views.render_bulletin(shown, ctx, lang, fmt, published=published, holds=holds)
    extension = {"html": "html", "markdown": "md", "pdf": "pdf"}[fmt]
    disposition = "inline" if fmt == "html" else "attachment"
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'{disposition}; filename="boletin-{figures["month"]}.{extension}"', **(headers or {})})


@router.get("/reports/bulletin", response_class=Response, responses={200: {"content": {
    "text/html": {}, "text/markdown": {}, "application/pdf": {}}}})
async def bulletin_(_comptroller: Comptroller, reader: Reader, ctx: Context,
                    month: str = Query(..., description="YYYY-MM"),
                    format: str = Query("html", description="html, markdown or pdf"),  # noqa: A002
                    lang: str | None = Query(None, description="es or en; default: the programme's language"),
                    as_of: str | None = Query(None, description="Date or date-time: the bulletin as known then."),
                    published: str | None = Query(None, description="'latest': the month's bulletin as last "
                                                  "published, with the numbers it was published with.")) -> Response:
    """The month's bulletin: courses delivered and their titles, servants trained (through virtual
    platforms too), distinct servants January to the month, state/municipal split, topics, plan,
    compliance; every number linked to the public dashboard panel that shows it (absolute, under
    PROBIDAD_REPORTING_PUBLIC_URL), an issuer block; a month still in progress says so."""
    year, number = month_param(month)
    check_rendering(format, lang)
    if published is not None:
        if published != "latest":
            raise RuleViolation("published", f"'latest' or absent, got {published!r}")
        if as_of is not None:
            raise RuleViolation("as_of", "a published bulletin is as of the moment it was published")
        found = await views.publications(reader, month)
        if not found:
            raise bulletin.NotPublished("month", f"no bulletin of {month} has been published")
        return await published_response(reader, ctx, found[0], lang, format)
    moment = as_of_of(ctx, as_of)
    return await bulletin_response(reader, await views.bulletin_figures(reader, year, number, moment), ctx, lang,
                                   format)


async def published_response(reader: ProjectionReader, ctx: ReportingContext, published: bulletin.Publication,
                             lang: str | None, fmt: str) -> Response:
    """A published bulletin: its stored numbers, checked against those resolved again as of its moment."""
    holds = await views.publication_holds(reader, published)
    return await bulletin_response(reader, published.figures, ctx, lang, fmt, published=published, holds=holds,
                                   headers={
        "X-Report-Id": published.report_id, "X-Figures-Digest": published.figures_digest,
        "X-Figures-Verified": "true" if holds else "false"})


@router.post("/reports/bulletin/{month}/publish", status_code=201)
async def publish_bulletin(month: str, principal: Comptroller, runtime: Runtime, reader: Reader, ctx: Context,
                           as_of: str | None = Query(None, description="Date or date-time, not in the future; "
                                                     "default: now.")) -> dict[str, Any]:
    """Publish the month's bulletin as known now (or at ``as_of``): records ReportPublished with the
    moment, the numbers and their digest; the bulletin then re-renders with the same numbers. A month
    still in progress at that moment is refused (409): its figures are preliminary."""
    year, number = month_param(month)
    # To the microsecond: a moment cut to the second would leave out what was known within that second.
    now = datetime.now(UTC)
    moment = as_of_of(ctx, as_of) or now
    bulletin.ensure_publishable(month, moment, now, ctx.zone)
    figures = await views.bulletin_figures(reader, year, number, moment.astimezone(UTC))
    async with runtime.unit_of_work() as uow:
        published = await handlers.publish_bulletin(SqlReportingRepository.of(uow), ctx, figures,
                                                    published_by=f"comptroller:{principal.subject}")
        uow.record(published.events)
    return views.publication_body(published)


@router.get("/reports/bulletins")
async def bulletins(_comptroller: Comptroller, reader: Reader,
                    month: str | None = Query(None, description="YYYY-MM")) -> list[dict[str, Any]]:
    """The bulletins published (of ``month``, or all), newest first."""
    if month is not None:
        month_param(month)
    return [views.publication_body(p) for p in await views.publications(reader, month)]


@router.get("/reports/bulletins/{report_id}", response_class=Response)
async def published_bulletin(report_id: str, _comptroller: Comptroller, reader: Reader, ctx: Context,
                             format: str = Query("html", description="html, markdown or pdf"),  # noqa: A002
                             lang: str | None = Query(None, description="es or en")) -> Response:
    """A published bulletin, with the numbers it was published with (headers: digest, and whether the
    numbers resolved again as of its moment still match it)."""
    check_rendering(format, lang)
    found = await views.publication(reader, report_id)
    if found is None:
        raise bulletin.NotPublished("report_id", f"no bulletin {report_id!r} has been published")
    return await published_response(reader, ctx, found, lang, format)


@router.get("/reports/coverage")
async def coverage(_comptroller: Comptroller, reader: Reader, ctx: Context,
                   year: int | None = Query(None, ge=2000, le=2100),
                   as_of: str | None = None) -> dict[str, Any]:
    """Distinct servants trained in the year / declared headcount, per institution, lowest first."""
    return await views.coverage(reader, ctx, year, as_of_of(ctx, as_of), as_of)


@router.get("/reports/coverage.csv", response_class=PlainTextResponse)
async def coverage_csv(_comptroller: Comptroller, reader: Reader, ctx: Context,
                       year: int | None = Query(None, ge=2000, le=2100),
                       as_of: str | None = None) -> PlainTextResponse:
    body = await views.coverage(reader, ctx, year, as_of_of(ctx, as_of), as_of)
    return PlainTextResponse(views.coverage_csv(body), media_type="text/csv; charset=utf-8")


class PlanQuery:  # the query string of the plan report
    def __init__(self, ctx: Context, year: int | None = Query(None, ge=2000, le=2100),
                 through: int | None = Query(None, ge=1, le=12, description="Last month counted (1-12); "
                                             "default: the whole year."),
                 as_of: str | None = Query(None, description="Date or date-time: the plan in force and the "
                                           "figures as known then."),
                 institution: str | None = Query(None, min_length=1, max_length=64,
                                                 description="One institution only.")) -> None:
        self.year, self.through, self.institution = year, through, institution
        self.as_of = as_of_of(ctx, as_of)


@router.get("/reports/plan")
async def plan(_comptroller: Comptroller, reader: Reader, ctx: Context, q: PlanQuery = Depends()) -> dict[str, Any]:
    """Plan attainment: planned sessions, people and hours, sessions delivered, servants trained and
    training hours, and attainment (delivered / planned, null when nothing was planned) in the cells the
    annual plan names (month x institution x topic), the month, per institution x topic year to date and
    in total; delivery in the cells it does not name apart (``outside_plan``), never counted in it."""
    return await views.plan(reader, ctx, q.year, q.through, q.institution, q.as_of)


@router.get("/reports/plan.csv", response_class=PlainTextResponse)
async def plan_csv(_comptroller: Comptroller, reader: Reader, ctx: Context,
                   q: PlanQuery = Depends()) -> PlainTextResponse:
    body = await views.plan(reader, ctx, q.year, q.through, q.institution, q.as_of)
    return PlainTextResponse(views.plan_csv(body), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="plan-{body["year"]}.csv"'})


class ComplianceQuery:  # the query string of the compliance report
    def __init__(self, ctx: Context,
                 as_of: str | None = Query(None, description="Date or date-time: the requirements, exemptions, "
                                           "life-cycle facts and completions known then."),
                 on: date | None = Query(None, description="The date standings are evaluated on (programme "
                                         "time zone); default: the as-of date, or today."),
                 institution_id: str | None = Query(None, min_length=1, max_length=64,
                                                    description="Only the servants of this institution on that date."),
                 requirement_id: str | None = Query(None, min_length=1, max_length=64,
                                                    description="Only this requirement.")) -> None:
        self.as_of = as_of_of(ctx, as_of)
        self.on, self.institution, self.requirement = on, institution_id, requirement_id


@router.get("/reports/compliance")
async def compliance(_comptroller: Comptroller, reader: Reader, ctx: Context,
                     q: ComplianceQuery = Depends()) -> dict[str, Any]:
    """Compliance with the training requirements in force on a date: per requirement, and per
    requirement x institution, x government level, x position level and x position (its pseudonymous
    digest: what a requirement's scope names) the servants required, compliant, due, overdue and exempt,
    and the rate compliant / (required - exempt); and every servant's standing, by pseudonymous id
    (state, due date, the completion that satisfies it)."""
    return await views.compliance(reader, ctx, q.on, q.as_of, q.institution, q.requirement)


@router.get("/reports/compliance.csv", response_class=PlainTextResponse)
async def compliance_csv(_comptroller: Comptroller, reader: Reader, ctx: Context, q: ComplianceQuery = Depends(),
                         part: str = Query("aggregates", description="aggregates or standings")) -> PlainTextResponse:
    if part not in ("aggregates", "standings"):
        raise RuleViolation("part", f"aggregates or standings, got {part!r}")
    body = await views.compliance(reader, ctx, q.on, q.as_of, q.institution, q.requirement)
    return PlainTextResponse(views.compliance_csv(body, part), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="compliance-{body["on"]}-{part}.csv"'})


@router.get("/reports/sessions/{session_id}/roster")
async def roster(_comptroller: Comptroller, reader: Reader, ctx: Context, session_id: str,
                 as_of: str | None = None) -> dict[str, Any]:
    """Who was enrolled, present, graded and certified in a session — pseudonymous ids only."""
    found = await views.roster(reader, session_id, as_of_of(ctx, as_of))
    if found is None:
        raise RuleViolation("session_id", f"no session {session_id!r} is known", "not_found")
    return found


@router.get("/open-data/figures.csv", response_class=PlainTextResponse, tags=["open data"])
async def open_data_csv(reader: Reader, ctx: Context,
                        year: int | None = Query(None, ge=2000, le=2100)) -> PlainTextResponse:
    """For the transparency portal: aggregates only, small counts suppressed, unit and date on every row."""
    return PlainTextResponse(views.open_data_csv(await views.open_data_rows(reader, ctx, year)),
                             media_type="text/csv; charset=utf-8")


@router.get("/open-data/figures.json", tags=["open data"])
async def open_data_json(reader: Reader, ctx: Context,
                         year: int | None = Query(None, ge=2000, le=2100)) -> list[dict[str, Any]]:
    return await views.open_data_rows(reader, ctx, year)


@router.get("/reports/status", tags=["operations"])
async def status(reader: Reader) -> dict[str, Any]:
    """Which generation of the projection is served, how many facts it holds, and how fresh it is."""
    return await views.status(reader)


@router.get("/dashboard", response_class=HTMLResponse, tags=["dashboard"])
async def dashboard(reader: Reader, ctx: Context, year: int | None = Query(None, ge=2000, le=2100),
                    as_of: str | None = None,
                    period: str = Query("year", description="month, ytd (January to the month) or year"),
                    month: int | None = Query(None, ge=1, le=12, description="The month of a month or ytd period; "
                                              "default: the current month in the current year, else December."),
                    institution: str | None = Query(None, max_length=64,
                                                    description="One institution only.")) -> HTMLResponse:
    """The period at a glance for the comptroller; self-contained (no external assets). Without ``year``
    it opens on the current year, or on the latest year with figures while the current one has none.
    Panels: figures, months, state/municipal, compliance with the requirements in force, the annual
    plan against what was delivered, topic, modality and sex, coverage; small counts suppressed."""
    if period not in ("month", "ytd", "year"):
        raise RuleViolation("period", f"month, ytd or year, got {period!r}")
    return HTMLResponse(await views.dashboard(reader, ctx, year, as_of_of(ctx, as_of), period, month,
                                              institution or None))
