"""The completion rule, how facts supersede each other, and what a certificate is called."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.events import (
    AttendanceCorrected,
    AttendanceRecorded,
    CoursePublished,
    SessionRescheduled,
    SessionScheduled,
)
from contracts.attribution import Stamp
from services.certification.domain.certificates import certificate_terms, decide
from services.certification.domain.codes import certificate_identity, normalise_code
from services.certification.domain.facts import (
    Attendance,
    CORRECTION_RANK,
    CompletionFacts,
    CourseTerms,
    Enrolment,
    Grade,
    Outcome,
    RECORD_RANK,
    SessionPlan,
    attendance_stated,
    course_published,
    judge,
    may_change_decisions,
    session_closed,
    session_rescheduled,
    session_scheduled,
)

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
KEY = b"test-code-key"


def stamp(minutes: int, event_id: str = "e") -> Stamp:
    return Stamp.of(T0 + timedelta(minutes=minutes), f"{event_id}-{minutes}")


def course(*, share: float = 0.8, passing: float | None = 70.0, hours: float = 4) -> CourseTerms:
    event = CoursePublished(course_id="c-1", code="CE-01", title="Código de Ética", topic="Código de Ética",
                            hours=hours, minimum_attendance_share=share, passing_score=passing)
    return course_published(None, event, stamp(0))


def plan(starts_at: datetime = datetime(2026, 11, 5, 21, 0, tzinfo=CANCUN)) -> SessionPlan:
    event = SessionScheduled(session_id="s-1", course_id="c-1", modality="virtual", starts_at=starts_at,
                             ends_at=starts_at + timedelta(hours=4), timezone="America/Cancun", capacity=30)
    return session_scheduled(None, event, stamp(1))


def attendance(share: float, minutes: int = 2) -> Attendance:
    event = AttendanceRecorded(session_id="s-1", servant_id="sv-1", minutes_present=round(share * 240),
                               session_minutes=240, share=share, status="present", source_of_record="zoom")
    return attendance_stated(None, event, stamp(minutes))


def facts(**overrides) -> CompletionFacts:
    known = CompletionFacts(
        servant_id="sv-1", session_id="s-1", course=course(), session=plan(),
        enrolments=(Enrolment("en-1", "s-1", "sv-1", "inst-1", confirmed=True),),
        attendance=attendance(0.9), grade=Grade(85.0, stamp(3)),
    )
    return replace(known, **overrides)


def test_a_servant_present_enough_who_passes_the_evaluation_completes():
    assert judge(facts()).outcome is Outcome.completed


def test_attending_exactly_the_minimum_share_is_enough():
    assert judge(facts(attendance=attendance(0.8))).outcome is Outcome.completed


def test_attending_less_than_the_minimum_share_does_not_complete_and_says_why():
    verdict = judge(facts(attendance=attendance(0.79)))
    assert verdict.outcome is Outcome.not_completed
    assert "79%" in verdict.reason and "80%" in verdict.reason


def test_the_minimum_share_is_the_course_own():
    demanding = facts(course=course(share=0.95), attendance=attendance(0.9))
    assert judge(demanding).outcome is Outcome.not_completed
    lenient = facts(course=course(share=0.5), attendance=attendance(0.6))
    assert judge(lenient).outcome is Outcome.completed


def test_a_score_below_the_passing_score_does_not_complete():
    verdict = judge(facts(grade=Grade(69.5, stamp(3))))
    assert verdict.outcome is Outcome.not_completed
    assert "69.5" in verdict.reason


def test_a_course_without_evaluation_completes_on_attendance_alone():
    assert judge(facts(course=course(passing=None), grade=None)).outcome is Outcome.completed


def test_a_graded_course_waits_for_the_grade():
    verdict = judge(facts(grade=None))
    assert verdict.outcome is Outcome.pending
    assert "evaluation grade" in verdict.reason


@pytest.mark.parametrize("missing, named", [
    ({"course": None}, "course terms"),
    ({"session": None}, "session schedule"),
    ({"enrolments": ()}, "confirmed enrolment"),
    ({"attendance": None}, "attendance"),
])
def test_nothing_is_decided_before_every_fact_is_known(missing, named):
    verdict = judge(facts(**missing))
    assert verdict.outcome is Outcome.pending
    assert named in verdict.reason


def test_a_cancelled_enrolment_or_session_never_completes():
    cancelled_seat = (Enrolment("en-1", "s-1", "sv-1", confirmed=True, cancelled=True),)
    assert judge(facts(enrolments=cancelled_seat)).outcome is Outcome.not_completed
    assert judge(facts(session=replace(plan(), cancelled=True))).outcome is Outcome.not_completed


def test_a_new_confirmed_enrolment_outweighs_an_earlier_cancelled_one():
    seats = (Enrolment("en-1", "s-1", "sv-1", confirmed=True, cancelled=True),
             Enrolment("en-2", "s-1", "sv-1", confirmed=True))
    assert judge(facts(enrolments=seats)).outcome is Outcome.completed


def test_the_course_must_be_the_session_own():
    other = replace(course(), course_id="c-other")
    assert judge(facts(course=other)).outcome is Outcome.pending


def test_the_certificate_date_is_the_session_date_where_it_took_place():
    # 21:00 in Cancún on 5 November is already 6 November in UTC.
    terms = certificate_terms(facts(), certificate_identity("sv-1", "s-1", KEY), "Contraloría")
    assert terms.issued_on == date(2026, 11, 5)
    assert terms.hours == 4 and terms.score == 85.0 and terms.issuing_authority == "Contraloría"


def test_a_later_statement_supersedes_an_earlier_one_whatever_order_they_arrive_in():
    recorded = AttendanceRecorded(session_id="s-1", servant_id="sv-1", minutes_present=230, session_minutes=240,
                                  share=230 / 240, status="present", source_of_record="zoom")
    corrected = AttendanceCorrected(session_id="s-1", servant_id="sv-1", minutes_present=100, session_minutes=240,
                                    share=100 / 240, status="late", reason="duplicate join", corrected_by="instructor")
    first, later = stamp(10, "rec"), replace(stamp(20, "cor"), rank=CORRECTION_RANK)
    in_order = attendance_stated(attendance_stated(None, recorded, first), corrected, later)
    reversed_ = attendance_stated(attendance_stated(None, corrected, later), recorded, first)
    assert in_order == reversed_
    assert in_order.minutes_present == 100


def test_a_correction_outranks_a_record_stated_at_the_same_instant():
    recorded = AttendanceRecorded(session_id="s-1", servant_id="sv-1", minutes_present=230, session_minutes=240,
                                  share=230 / 240, status="present", source_of_record="zoom")
    corrected = AttendanceCorrected(session_id="s-1", servant_id="sv-1", minutes_present=10, session_minutes=240,
                                    share=10 / 240, status="absent", reason="wrong person", corrected_by="instructor")
    same = T0
    kept = attendance_stated(
        attendance_stated(None, corrected, Stamp.of(same, "zzz", CORRECTION_RANK)),
        recorded, Stamp.of(same, "aaa", RECORD_RANK))
    assert kept.minutes_present == 10


def test_a_reschedule_moves_the_date_even_when_heard_before_the_schedule():
    scheduled = SessionScheduled(session_id="s-1", course_id="c-1", modality="virtual",
                                 starts_at=datetime(2026, 11, 5, 9, 0, tzinfo=CANCUN),
                                 ends_at=datetime(2026, 11, 5, 13, 0, tzinfo=CANCUN),
                                 timezone="America/Cancun", capacity=30)
    moved = SessionRescheduled(session_id="s-1", starts_at=datetime(2026, 11, 12, 9, 0, tzinfo=CANCUN),
                               ends_at=datetime(2026, 11, 12, 13, 0, tzinfo=CANCUN), timezone="America/Cancun")
    late_first = session_scheduled(session_rescheduled(None, moved, stamp(5)), scheduled, stamp(1))
    assert late_first.local_date == date(2026, 11, 12)
    assert late_first.course_id == "c-1"


def test_closing_a_session_changes_no_decision_so_nobody_is_re_judged():
    open_plan = plan()
    closed = session_closed(open_plan, "s-1")
    for completion in (facts(), facts(attendance=attendance(0.5)), facts(grade=None)):
        assert decide(replace(completion, session=closed), None, KEY, "Contraloría") == \
            decide(replace(completion, session=open_plan), None, KEY, "Contraloría")
    assert not may_change_decisions(open_plan, closed)
    # Every other change to the plan may change a decision, and so does a plan heard for the first time.
    moved = replace(open_plan, starts_at=open_plan.starts_at + timedelta(days=7))
    assert may_change_decisions(open_plan, moved)
    assert may_change_decisions(closed, replace(closed, cancelled=True))
    assert may_change_decisions(None, closed)


def test_a_certificate_is_named_by_its_servant_and_session_alone():
    one = certificate_identity("sv-1", "s-1", KEY)
    assert one == certificate_identity("sv-1", "s-1", KEY)
    assert one.certificate_id != certificate_identity("sv-1", "s-2", KEY).certificate_id
    assert one.verification_code != certificate_identity("sv-2", "s-1", KEY).verification_code
    # Without the key, nobody can compute a servant's code from the ids.
    assert one.verification_code != certificate_identity("sv-1", "s-1", b"another key").verification_code


def test_verification_codes_are_short_and_readable_and_forgiving_to_type():
    code = certificate_identity("sv-1", "s-1", KEY).verification_code
    assert code.startswith("PRB-") and len(code) == 18
    assert all(ch not in "ILOU" for ch in code.removeprefix("PRB-"))
    assert normalise_code(code.lower()) == code
    assert normalise_code(code.replace("-", " ")) == code
    assert normalise_code(code.removeprefix("PRB-").replace("-", "")) == code
    assert normalise_code("PRB-0000-0000-000O") == "PRB-0000-0000-0000"
    assert normalise_code("not a code") is None
    assert normalise_code("PRB-UUUU-UUUU-UUUU") is None
