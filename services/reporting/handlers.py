"""Application handlers of reporting: every platform event it keeps becomes one stored fact; a
bulletin the comptroller publishes is stored and recorded as ReportPublished.

An event handler is named after its event and takes the event and its ``stamp`` (when it was stated, and
by which event id): the fact is the event's pseudonymous attributes, known from that moment
(``domain.facts.fact_of``). Reporting records no event of its own for a fact, so an event handler's list
of events is always empty; it is returned all the same, for the caller to record as every service's
caller does. No SQL: storage is the ``ReportingRepository`` the caller hands in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CompetencyAttained, CoursePublished, EnrolmentCancelled, EnrolmentConfirmed, ExemptionGranted,
    ExemptionWithdrawn, InstitutionRegistered, ServantLeft, ServantRegistered, ServantTransferred, ServantUpdated,
    SessionCancelled, SessionRescheduled, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from services.reporting.bulletin import Publication, decide_publication
from services.reporting.domain.facts import fact_of
from services.reporting.ports import ReportingRepository


@dataclass(frozen=True)
class ReportingContext:
    """What reporting's handlers and views need besides the unit of work, built once at wiring."""

    zone: ZoneInfo  # the programme's: months, local dates and ``as_of`` dates are read in it
    responsible_unit: str
    open_data_minimum_count: int
    language: str = "es"  # the programme's: the bulletin's default language
    authority: str = "Secretaría de la Contraloría del Estado"  # the bulletin's subject
    authority_en: str = "State Comptroller's Office"
    public_url: str = ""  # the base of the bulletin's links: where the public reaches reporting
    signatory_name: str = ""  # the bulletin's issuer block; empty: unsigned
    signatory_position: str = ""


async def _keep(repo: ReportingRepository, event: Event, stamp: Stamp) -> list[Event]:
    """Keep the fact the event gives, idempotent by event id (the store keeps each once)."""
    fact = fact_of(event, stamp)
    if fact is not None:
        await repo.add_fact(fact)
    return []


async def institution_registered(repo: ReportingRepository, ctx: ReportingContext, event: InstitutionRegistered,
                                 stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def course_published(repo: ReportingRepository, ctx: ReportingContext, event: CoursePublished,
                           stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def session_scheduled(repo: ReportingRepository, ctx: ReportingContext, event: SessionScheduled,
                            stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def session_rescheduled(repo: ReportingRepository, ctx: ReportingContext, event: SessionRescheduled,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def session_cancelled(repo: ReportingRepository, ctx: ReportingContext, event: SessionCancelled,
                            stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def servant_registered(repo: ReportingRepository, ctx: ReportingContext, event: ServantRegistered,
                             stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def servant_updated(repo: ReportingRepository, ctx: ReportingContext, event: ServantUpdated,
                          stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def servant_transferred(repo: ReportingRepository, ctx: ReportingContext, event: ServantTransferred,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def enrolment_confirmed(repo: ReportingRepository, ctx: ReportingContext, event: EnrolmentConfirmed,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def enrolment_cancelled(repo: ReportingRepository, ctx: ReportingContext, event: EnrolmentCancelled,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def attendance_recorded(repo: ReportingRepository, ctx: ReportingContext, event: AttendanceRecorded,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def attendance_corrected(repo: ReportingRepository, ctx: ReportingContext, event: AttendanceCorrected,
                               stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def assessment_graded(repo: ReportingRepository, ctx: ReportingContext, event: AssessmentGraded,
                            stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def certificate_issued(repo: ReportingRepository, ctx: ReportingContext, event: CertificateIssued,
                             stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def certificate_revoked(repo: ReportingRepository, ctx: ReportingContext, event: CertificateRevoked,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def training_plan_declared(repo: ReportingRepository, ctx: ReportingContext, event: TrainingPlanDeclared,
                                 stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def training_requirement_declared(repo: ReportingRepository, ctx: ReportingContext,
                                        event: TrainingRequirementDeclared, stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def exemption_granted(repo: ReportingRepository, ctx: ReportingContext, event: ExemptionGranted,
                            stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def exemption_withdrawn(repo: ReportingRepository, ctx: ReportingContext, event: ExemptionWithdrawn,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def servant_left(repo: ReportingRepository, ctx: ReportingContext, event: ServantLeft,
                       stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def competency_attained(repo: ReportingRepository, ctx: ReportingContext, event: CompetencyAttained,
                              stamp: Stamp) -> list[Event]:
    return await _keep(repo, event, stamp)


async def publish_bulletin(repo: ReportingRepository, ctx: ReportingContext, figures: dict[str, Any], *,
                           published_by: str) -> Publication:
    """Publish the bulletin ``figures`` (resolved as of their ``as_of``): stored, and its event returned."""
    publication = decide_publication(figures, report_id=f"bulletin-{figures['month']}-{uuid.uuid4().hex[:12]}",
                                     published_by=published_by)
    await repo.add_publication(publication)
    return publication
