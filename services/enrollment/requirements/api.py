"""HTTP API of training requirements, exemptions and the named compliance list: translates requests into handler and
view calls, nothing more."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from contracts.events import DueRule, GovernmentLevel, Id, RequirementScope
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse
from probidad.shared.as_of import parse_as_of
from probidad.shared.auth import Principal
from probidad.shared.dependencies import Comptroller, Reader, Registrar, Runtime
from probidad.shared.errors import RuleViolation
from pydantic import BaseModel, Field

from services.enrollment.context import EnrollmentContext, new_id
from services.enrollment.http import Context, CorrelationId, acting_for, storage, who
from services.enrollment.requirements import handlers, views
from services.enrollment.requirements.domain import RequirementTerms
from services.enrollment.requirements.rows import requirement_event, requirement_positions
from services.enrollment.sessions.domain import zone
from services.enrollment.tables import ExemptionRow, RequirementRow

router = APIRouter()


# ------------------------------------------------------------------ training requirements


class ScopeIn(BaseModel):
    """Whom it is required of: every criterion given must match; none = every servant."""

    institution_ids: list[Id] | None = Field(None, max_length=2000)
    government_level: GovernmentLevel | None = None
    position_levels: list[str] | None = Field(None, max_length=100)
    positions: list[str] | None = Field(None, max_length=1000, description="Position titles (compared without "
                                        "accents, case or extra spaces); published as their keyed digests.")


class RequirementIn(BaseModel):
    requirement_id: Id | None = Field(None, description="Generated when omitted; an existing one gets version N+1.")
    title: str = Field(min_length=1, max_length=300)
    course_id: Id | None = Field(None, description="The course whose certificate satisfies it (or competency).")
    competency: str | None = Field(None, max_length=200, description="The competency whose attainment satisfies it.")
    scope: ScopeIn = Field(default_factory=ScopeIn)
    due: DueRule
    effective_from: date | None = Field(None, description="First day in force (programme time zone); today when "
                                        "omitted.")


class WithdrawIn(BaseModel):
    effective_from: date | None = Field(None, description="First day it requires nothing; today when omitted.")


class RequirementVersionOut(BaseModel):
    version: int
    effective_from: date
    title: str
    course_id: str | None
    competency: str | None
    scope: RequirementScope
    positions: list[str] = Field(description="The position titles the scope was declared with.")
    due: DueRule
    withdrawn: bool
    declared_at: datetime
    declared_by: str


class RequirementOut(BaseModel):
    requirement_id: str
    in_force: RequirementVersionOut | None = Field(description="The version in force on the day asked; null when "
                                                   "none is yet, or it is withdrawn.")
    versions: list[RequirementVersionOut]


def _version_out(row: RequirementRow) -> RequirementVersionOut:
    e = requirement_event(row)
    return RequirementVersionOut(version=e.version, effective_from=e.effective_from, title=e.title,
                                 course_id=e.course_id, competency=e.competency, scope=e.scope,
                                 positions=requirement_positions(row), due=e.due, withdrawn=e.withdrawn,
                                 declared_at=e.declared_at, declared_by=e.declared_by)


def _requirement_out(view: views.RequirementView) -> RequirementOut:
    return RequirementOut(requirement_id=view.requirement_id,
                          in_force=_version_out(view.in_force) if view.in_force else None,
                          versions=[_version_out(v) for v in view.versions])


def _moment(ctx: EnrollmentContext, as_of: str | None) -> tuple[date, datetime | None]:
    """``as_of`` (a date: its end in the programme's zone, or a date-time) as the day judged and the
    moment of knowledge; none: today, as known now."""
    programme_zone = zone(ctx.programme_timezone)
    moment = parse_as_of(as_of, programme_zone)
    return (ctx.today(), None) if moment is None else (moment.astimezone(programme_zone).date(), moment)


@router.post("/requirements", response_model=RequirementOut, status_code=201, tags=["requirements"],
             responses={200: {"description": "A new version of an existing requirement"}})
async def declare_requirement(body: RequirementIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                              response: Response, principal: Comptroller) -> RequirementOut:
    """Declare a training requirement ("capacitación obligatoria"), or its next version: which course or
    competency, of whom, by when. Published as TrainingRequirementDeclared."""
    scope = body.scope
    terms_ = RequirementTerms(title=body.title, course_id=body.course_id, competency=body.competency,
                              effective_from=body.effective_from or ctx.today(), due=body.due,
                              institution_ids=tuple(scope.institution_ids or ()),
                              government_level=scope.government_level,
                              position_levels=tuple(scope.position_levels or ()),
                              positions=tuple(scope.positions or ()))
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.declare_requirement(storage(uow), ctx, terms_,
                                                  requirement_id=body.requirement_id or new_id("rq"),
                                                  declared_by=f"comptroller:{principal.subject}", now=ctx.now())
        uow.record(done.events)
        (view,) = await views.requirements(storage(uow), on=ctx.today(), known_by=None,
                                           requirement_id=done.row.requirement_id)
    response.status_code = 201 if done.created else 200
    return _requirement_out(view)


@router.post("/requirements/{requirement_id}/withdraw", response_model=RequirementOut, tags=["requirements"])
async def withdraw_requirement(requirement_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                               principal: Comptroller, body: WithdrawIn | None = None) -> RequirementOut:
    """Withdraw a requirement from a date: a last version that requires nothing."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.withdraw_requirement(storage(uow), ctx, requirement_id,
                                                   effective_from=body.effective_from if body else None,
                                                   declared_by=f"comptroller:{principal.subject}", now=ctx.now())
        uow.record(done.events)
        (view,) = await views.requirements(storage(uow), on=ctx.today(), known_by=None, requirement_id=requirement_id)
    return _requirement_out(view)


@router.get("/requirements", response_model=list[RequirementOut], tags=["requirements"])
async def list_requirements(runtime: Runtime, ctx: Context, _: Reader,
                            as_of: str | None = Query(None, description="Date or date-time: the versions known "
                                                      "then, and the one in force that day."),
                            on: date | None = Query(None, description="The day whose version in force is shown "
                                                    "(default: the as-of day, or today).")) -> list[RequirementOut]:
    day, known_by = _moment(ctx, as_of)
    on = on or day
    async with runtime.unit_of_work() as uow:
        return [_requirement_out(v) for v in await views.requirements(storage(uow), on=on, known_by=known_by)]


@router.get("/requirements/{requirement_id}", response_model=RequirementOut, tags=["requirements"])
async def get_requirement(requirement_id: str, runtime: Runtime, ctx: Context, _: Reader,
                          as_of: str | None = Query(None, description="Date or date-time: the versions known then."),
                          on: date | None = Query(None, description="The day whose version in force is shown "
                                                  "(default: the as-of day, or today).")) -> RequirementOut:
    day, known_by = _moment(ctx, as_of)
    on = on or day
    async with runtime.unit_of_work() as uow:
        (view,) = await views.requirements(storage(uow), on=on, known_by=known_by, requirement_id=requirement_id)
    return _requirement_out(view)


# ------------------------------------------------------------------ exemptions


class ExemptionIn(BaseModel):
    requirement_id: Id
    reason: str = Field(min_length=1, max_length=500, description="Why (incapacidad médica, acreditado por otra "
                        "instancia…); no personal data beyond what the reason needs.")
    effective_from: date | None = Field(None, description="First day exempt; today when omitted.")
    until: date | None = Field(None, description="Last day exempt; null = until withdrawn.")


class ExemptionWithdrawIn(BaseModel):
    withdrawn_on: date | None = Field(None, description="First day no longer exempt; today when omitted.")


class ExemptionOut(BaseModel):
    exemption_id: str
    requirement_id: str
    servant_id: str
    reason: str
    effective_from: date
    until: date | None
    granted_by: str
    granted_at: datetime
    withdrawn_on: date | None
    withdrawn_by: str | None


def _exemption_out(row: ExemptionRow) -> ExemptionOut:
    return ExemptionOut.model_validate(row, from_attributes=True)


@router.post("/servants/{servant_id}/exemptions", response_model=ExemptionOut, status_code=201,
             tags=["requirements"])
async def grant_exemption(servant_id: str, body: ExemptionIn, runtime: Runtime, ctx: Context,
                          correlation_id: CorrelationId, principal: Registrar) -> ExemptionOut:
    """Exempt a servant from a requirement, for a reason (the comptroller, or the servant's liaison)."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.grant_exemption(storage(uow), ctx, servant_id, requirement_id=body.requirement_id,
                                              reason=body.reason, effective_from=body.effective_from,
                                              until=body.until, acting_for=acting_for(principal),
                                              granted_by=who(principal), now=ctx.now())
        uow.record(done.events)
        return _exemption_out(done.row)


@router.get("/servants/{servant_id}/exemptions", response_model=list[ExemptionOut], tags=["requirements"])
async def list_exemptions(servant_id: str, runtime: Runtime, principal: Registrar) -> list[ExemptionOut]:
    """The servant's exemptions, withdrawn ones included (the comptroller, or the servant's liaison)."""
    async with runtime.unit_of_work() as uow:
        return [_exemption_out(row) for row in await views.exemptions(storage(uow), servant_id,
                                                                      acting_for=acting_for(principal))]


@router.post("/exemptions/{exemption_id}/withdraw", response_model=ExemptionOut, tags=["requirements"])
async def withdraw_exemption(exemption_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                             principal: Registrar, body: ExemptionWithdrawIn | None = None) -> ExemptionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.withdraw_exemption(storage(uow), ctx, exemption_id,
                                                 withdrawn_on=body.withdrawn_on if body else None,
                                                 acting_for=acting_for(principal), withdrawn_by=who(principal),
                                                 now=ctx.now())
        uow.record(done.events)
        return _exemption_out(done.row)


# ------------------------------------------------------------------ the named compliance list


class ComplianceLineOut(BaseModel):
    servant_id: str
    name: str | None = Field(description="Null once the servant's personal data was erased.")
    curp: str | None
    position: str | None
    requirement_id: str
    requirement: str = Field(description="The title of the version in force.")
    version: int
    state: Literal["compliant", "due", "overdue", "exempt"]
    due_on: date | None = Field(description="Due and overdue: the last day to meet it; compliant with a renewal: "
                                "the last day the completion holds; else null.")


class ComplianceOut(BaseModel):
    institution_id: str
    on: date = Field(description="The day judged (programme time zone).")
    as_of: datetime | None = Field(description="The moment of knowledge; null: as known now.")
    state: str
    lines: list[ComplianceLineOut]


class ComplianceQuery:
    def __init__(self, ctx: Context, as_of: str | None = Query(None, description="Date or date-time: the standing "
                                                                "that day, as known then."),
                 on: date | None = Query(None, description="The day judged (programme time zone), as known at "
                                         "as_of; default: the as-of day, or today."),
                 requirement_id: str | None = Query(None, max_length=64),
                 state: str = Query("overdue", description=f"One of {', '.join(views.STATES)}.")) -> None:
        if state not in views.STATES:
            raise RuleViolation("state", f"must be one of {', '.join(views.STATES)}")
        self.on, self.known_by = _moment(ctx, as_of)
        if on is not None:
            self.on = on
        self.requirement_id, self.state = requirement_id, state


async def _compliance(runtime: Runtime, institution_id: str, principal: Principal,
                      q: ComplianceQuery) -> list[views.ComplianceLine]:
    async with runtime.unit_of_work() as uow:
        return await views.compliance_list(storage(uow), institution_id, acting_for=acting_for(principal), on=q.on,
                                           known_by=q.known_by, requirement_id=q.requirement_id, state=q.state)


@router.get("/institutions/{institution_id}/compliance", response_model=ComplianceOut, tags=["requirements"])
async def compliance_list(institution_id: str, runtime: Runtime, principal: Registrar,
                          q: ComplianceQuery = Depends()) -> ComplianceOut:
    """The institution's named list: each servant serving there on the day, with their standing on each
    requirement in force that applies to them (overdue ones by default). The comptroller and the
    institution's liaison only; to another institution's liaison the institution is unknown (404)."""
    lines = await _compliance(runtime, institution_id, principal, q)
    return ComplianceOut(institution_id=institution_id, on=q.on, as_of=q.known_by, state=q.state, lines=[
        ComplianceLineOut(servant_id=line.servant.servant_id, name=line.servant.name, curp=line.servant.curp,
                          position=line.servant.position, requirement_id=line.requirement.requirement_id,
                          requirement=line.requirement.title, version=line.requirement.version,
                          state=line.standing.state.value, due_on=line.standing.due_on) for line in lines])


@router.get("/institutions/{institution_id}/compliance.csv", response_class=PlainTextResponse,
            tags=["requirements"])
async def compliance_csv(institution_id: str, runtime: Runtime, principal: Registrar,
                         q: ComplianceQuery = Depends()) -> PlainTextResponse:
    """The same list as CSV (UTF-8) for the ethics committee: servant_id, name, curp, position,
    requirement_id, requirement, state, due_on."""
    lines = await _compliance(runtime, institution_id, principal, q)
    return PlainTextResponse(views.compliance_csv(lines), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="compliance-{institution_id}-{q.on.isoformat()}.csv"'})


