"""The institution a certificate is stamped with is the one the attribution rule (contracts.attribution) names
for the session's start, where certification used to have its own variant: by the session's local date
instead of the moment it started in the programme's zone, and with the enrolment standing in whenever no
transfer was in force. The enrolling institution now stands in only when the rule knows nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.attribution import Placement, Stamp, institution_at
from contracts.events import AttendanceRecorded, CoursePublished, ServantTransferred, SessionScheduled
from services.certification.domain.decisions import Completion, Rules, ServantState, decide_attendance
from services.certification.domain.facts import (
    CompletionFacts,
    Enrolment,
    SessionPlan,
    Transfer,
    course_published,
    institution_at_start,
    servant_transferred,
    session_scheduled,
)

PROGRAMME_ZONE = "America/Mexico_City"
RULES = Rules(b"test-code-key", "Secretaría Anticorrupción", {}, programme_timezone=PROGRAMME_ZONE)
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def scheduled(starts_at: datetime, zone: str) -> SessionPlan:
    event = SessionScheduled(session_id="s-1", course_id="c-1", modality="virtual", starts_at=starts_at,
                             ends_at=starts_at + timedelta(hours=2), timezone=zone, capacity=30)
    return session_scheduled(None, event, Stamp.of(T0, "e-plan"))


def moved(effective_on: date, stated_at: datetime, *, origin: str = "inst-0", to: str = "inst-2") -> Transfer:
    event = ServantTransferred(transfer_id="tr-1", servant_id="sv-1", from_institution_id=origin, to_institution_id=to,
                               effective_on=effective_on, sex="female", requested_by="liaison:inst-0:rh",
                               approved_by="liaison:inst-2:rh", approved_at=stated_at)
    return servant_transferred(None, event, Stamp.of(stated_at, "e-moved"))


def completed(session: SessionPlan) -> Completion:
    """Everything but the attendance that completes the session; the servant enrolled by inst-1."""
    course = course_published(None, CoursePublished(
        course_id="c-1", code="CE-01", title="Código de Ética", topic="Ética", hours=2, minimum_attendance_share=0.8,
        passing_score=None), Stamp.of(T0, "e-course"))
    enrolment = Enrolment("en-1", "s-1", "sv-1", "inst-1", confirmed=True)
    return Completion(CompletionFacts("sv-1", "s-1", course, session, (enrolment,)))


def stamped(session: SessionPlan, transfer: Transfer) -> str | None:
    """The institution the certificate the attendance completes is stamped with."""
    present = AttendanceRecorded(session_id="s-1", servant_id="sv-1", minutes_present=120, session_minutes=120,
                                 share=1.0, status="present", source_of_record="zoom")
    decision = decide_attendance(completed(session), present, Stamp.of(T0 + timedelta(days=60), "e-present"),
                                        ServantState("sv-1", transfers=(transfer,)), RULES)
    (change,) = decision.consequences.certificates
    return change.institution_id


def by_the_contract(session: SessionPlan, transfer: Transfer) -> str | None:
    placement = Placement(transfer.to_institution_id, transfer.stamp, transfer.effective_on, transfer.origin)
    assert session.starts_at is not None
    return institution_at([placement], session.starts_at, ZoneInfo(PROGRAMME_ZONE))


def test_a_session_starting_late_at_night_further_west_is_stamped_by_the_programme_zones_midnight():
    # 23:00 on 5 November in Tijuana is already 6 November in Mexico City: a transfer effective on the 6th
    # (recorded that afternoon) is in force when the session starts; the session's own local date said not.
    session = scheduled(datetime(2026, 11, 5, 23, 0, tzinfo=ZoneInfo("America/Tijuana")), "America/Tijuana")
    transfer = moved(date(2026, 11, 6), datetime(2026, 11, 6, 20, 0, tzinfo=UTC))

    assert stamped(session, transfer) == by_the_contract(session, transfer) == "inst-2"


def test_with_transfers_known_but_none_in_force_the_first_transfers_origin_stands_in_not_the_enrolment():
    session = scheduled(datetime(2026, 11, 5, 10, 0, tzinfo=ZoneInfo(PROGRAMME_ZONE)), PROGRAMME_ZONE)
    transfer = moved(date(2026, 11, 9), datetime(2026, 11, 9, 18, 0, tzinfo=UTC))  # effective after the session

    assert stamped(session, transfer) == by_the_contract(session, transfer) == "inst-0"


def test_with_nothing_the_rule_knows_the_enrolling_institution_stands_in():
    session = scheduled(datetime(2026, 11, 5, 10, 0, tzinfo=ZoneInfo(PROGRAMME_ZONE)), PROGRAMME_ZONE)
    enrolments = (Enrolment("en-1", "s-1", "sv-1", "inst-1", confirmed=True),)

    assert institution_at_start(session, enrolments, (), ZoneInfo(PROGRAMME_ZONE)) == "inst-1"
