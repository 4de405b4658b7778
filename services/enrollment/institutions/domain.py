"""Institutions and the course catalogue: what registering or publishing one must satisfy. Pure."""

from __future__ import annotations

from contracts.base import Event
from contracts.events import CoursePublished, GovernmentLevel, InstitutionRegistered
from probidad.shared.errors import RuleViolation


def decide_institution(*, institution_id: str, name: str, government_level: GovernmentLevel | str,
                       municipality: str | None, headcount: int, headcount_year: int) -> list[Event]:
    """Register an institution, or restate it (a new year's headcount supersedes nothing older)."""
    level = GovernmentLevel(government_level)
    if level is GovernmentLevel.municipal and not (municipality or "").strip():
        raise RuleViolation("municipality", "a municipal institution needs its municipality")
    return [InstitutionRegistered(institution_id=institution_id, name=name, government_level=level,
                                  municipality=municipality, headcount=headcount, headcount_year=headcount_year)]


def decide_course(*, course_id: str, code_used_by: str | None, code: str, title: str, topic: str,
                  competency: str | None, hours: float, minimum_attendance_share: float,
                  passing_score: float | None, validity_months: int | None = None) -> list[Event]:
    """Publish a course, or re-publish it with new terms; ``code_used_by`` is another course holding
    the code, if any (a code stays unique in the catalogue)."""
    if code_used_by is not None:
        raise RuleViolation("code", f"course {code_used_by} already uses code {code!r}", "conflict")
    if minimum_attendance_share <= 0:
        raise RuleViolation("minimum_attendance_share", "must be above 0 (0.8 = 80 % of the session)")
    return [CoursePublished(course_id=course_id, code=code, title=title, topic=topic, competency=competency,
                            hours=hours, minimum_attendance_share=minimum_attendance_share,
                            passing_score=passing_score, validity_months=validity_months)]

