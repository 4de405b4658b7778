"""Handlers of institutions and the course catalogue: load through the repository, ask the domain, save, and return
the events."""

from __future__ import annotations

from contracts.events import GovernmentLevel
from probidad.shared.errors import Kind, RuleViolation

from services.enrollment.context import Done, EnrollmentContext
from services.enrollment.institutions.domain import decide_course, decide_institution
from services.enrollment.institutions.ports import Course, Institution, InstitutionsRepository


async def require_institution(repo: InstitutionsRepository, institution_id: str, field_name: str = "institution_id",
                              kind: Kind = "invalid") -> Institution:
    institution = await repo.institution(institution_id)
    if institution is None:
        raise RuleViolation(field_name, f"unknown institution {institution_id!r}", kind)
    return institution


async def find_institution(repo: InstitutionsRepository, institution_id: str, acting_for: str | None) -> Institution:
    """The institution, as long as the caller may see it: to another institution's liaison it is as
    unknown as one that does not exist (404 either way)."""
    if acting_for is not None and acting_for != institution_id:
        raise RuleViolation("institution_id", f"unknown institution {institution_id!r}", "not_found")
    return await require_institution(repo, institution_id, kind="not_found")


# ------------------------------------------------------------------ institutions and courses


async def register_institution(repo: InstitutionsRepository, ctx: EnrollmentContext, *, institution_id: str, name: str,
                               government_level: GovernmentLevel | str, municipality: str | None, headcount: int,
                               headcount_year: int) -> Done[Institution]:
    """Register an institution, or restate it (a new year's headcount supersedes nothing older)."""
    events = decide_institution(institution_id=institution_id, name=name, government_level=government_level,
                                       municipality=municipality, headcount=headcount, headcount_year=headcount_year)
    institution, created = await repo.save_institution(
        institution_id=institution_id, name=name, government_level=GovernmentLevel(government_level).value,
        municipality=municipality, headcount=headcount, headcount_year=headcount_year)
    return Done(institution, events, created)


async def publish_course(repo: InstitutionsRepository, ctx: EnrollmentContext, *, course_id: str, code: str, title: str,
                         topic: str, competency: str | None, hours: float, minimum_attendance_share: float,
                         passing_score: float | None, validity_months: int | None = None) -> Done[Course]:
    """Publish a course, or re-publish it with new terms (its code stays unique in the catalogue)."""
    values = dict(code=code, title=title, topic=topic, competency=competency, hours=hours,
                  minimum_attendance_share=minimum_attendance_share, passing_score=passing_score,
                  validity_months=validity_months)
    events = decide_course(course_id=course_id, code_used_by=await repo.course_using_code(code, course_id),
                                  **values)
    course, created = await repo.save_course(course_id, values)
    return Done(course, events, created)

