"""HTTP API of institutions and the course catalogue: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

from contracts.events import CourseHours, GovernmentLevel, Id, Score, Share
from fastapi import APIRouter, Response
from probidad.shared.dependencies import Comptroller, Reader, Runtime
from pydantic import BaseModel, Field

from services.enrollment.context import new_id
from services.enrollment.http import MAX_HEADCOUNT, Context, CorrelationId, storage
from services.enrollment.institutions import handlers, views
from services.enrollment.tables import Course

router = APIRouter()


# ------------------------------------------------------------------ institutions


class InstitutionIn(BaseModel):
    institution_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    name: str = Field(min_length=1, max_length=300)
    government_level: GovernmentLevel
    municipality: str | None = Field(None, max_length=200)
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT, description="Public servants declared for headcount_year.")
    headcount_year: int = Field(ge=2000, le=2100)


class InstitutionOut(BaseModel):
    institution_id: str
    name: str
    government_level: GovernmentLevel
    municipality: str | None
    headcounts: dict[int, int] = Field(description="Declared headcount per year.")


def _institution_out(view: views.InstitutionView) -> InstitutionOut:
    institution = view.institution
    return InstitutionOut(institution_id=institution.institution_id, name=institution.name,
                          government_level=institution.government_level, municipality=institution.municipality,
                          headcounts=view.headcounts)


@router.post("/institutions", response_model=InstitutionOut, status_code=201, tags=["institutions"],
             responses={200: {"description": "Institution restated (e.g. a new year's headcount)"}})
async def register_institution(body: InstitutionIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                               response: Response, _: Comptroller) -> InstitutionOut:
    """Register a state or municipal institution with its headcount; again with the same id to restate it."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.register_institution(
            storage(uow), ctx, institution_id=body.institution_id or new_id("in"), name=body.name,
            government_level=body.government_level, municipality=body.municipality, headcount=body.headcount,
            headcount_year=body.headcount_year)
        uow.record(done.events)
        out = _institution_out(await views.institution(storage(uow), done.row))
    response.status_code = 201 if done.created else 200
    return out


@router.get("/institutions", response_model=list[InstitutionOut], tags=["institutions"])
async def list_institutions(runtime: Runtime, _: Reader) -> list[InstitutionOut]:
    async with runtime.unit_of_work() as uow:
        return [_institution_out(i) for i in await views.institutions(storage(uow))]


@router.get("/institutions/{institution_id}", response_model=InstitutionOut, tags=["institutions"])
async def get_institution(institution_id: str, runtime: Runtime, _: Reader) -> InstitutionOut:
    async with runtime.unit_of_work() as uow:
        return _institution_out(await views.institution_by_id(storage(uow), institution_id))


# ------------------------------------------------------------------ courses


class CourseIn(BaseModel):
    course_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    code: str = Field(min_length=1, max_length=40, description="Catalogue code, unique.")
    title: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=200, description="e.g. 'Código de Ética', 'Conflicto de Interés'.")
    competency: str | None = Field(None, max_length=200, description="Competency of the integrity model it builds.")
    hours: CourseHours = Field(description="Credited training hours, above 0 and at most 500: a whole number or a "
                               "decimal of at least 0.0001 without an exponent (the contract's bound, as "
                               "certificates sign it).")
    minimum_attendance_share: Share = Field(0.8, description="Share of a session to attend to complete it.")
    passing_score: Score | None = Field(None, description="Minimum evaluation score; null = no evaluation.")
    validity_months: int | None = Field(None, ge=1, le=240, description="How long a completion holds (the "
                                        "constancia's vigencia); its certificates carry valid_until. Null: "
                                        "it never expires.")


class CourseOut(CourseIn):
    course_id: str
    # As stored: a course published before the contract stated its plain-number bound still reads.
    hours: float
    passing_score: float | None


def _course_out(course: Course) -> CourseOut:
    return CourseOut.model_validate(course, from_attributes=True)


@router.post("/courses", response_model=CourseOut, status_code=201, tags=["catalogue"],
             responses={200: {"description": "Course re-published with new terms"}})
async def publish_course(body: CourseIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                         response: Response, _: Comptroller) -> CourseOut:
    """Publish a course of the integrity programme; again with the same id to change its terms."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.publish_course(storage(uow), ctx, **body.model_dump(exclude={"course_id"}),
                                             course_id=body.course_id or new_id("co"))
        uow.record(done.events)
        out = _course_out(done.row)
    response.status_code = 201 if done.created else 200
    return out


@router.get("/courses", response_model=list[CourseOut], tags=["catalogue"])
async def list_courses(runtime: Runtime, _: Reader) -> list[CourseOut]:
    async with runtime.unit_of_work() as uow:
        return [_course_out(c) for c in await views.courses(storage(uow))]


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["catalogue"])
async def get_course(course_id: str, runtime: Runtime, _: Reader) -> CourseOut:
    async with runtime.unit_of_work() as uow:
        return _course_out(await views.course(storage(uow), course_id))


