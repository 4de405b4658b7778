"""The xAPI statements of the platform's learning facts (services/reporting/xapi/domain.py): every verb, stable
ids, voiding on corrections and revocations, what a fact waits for, and no personal data in any statement."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CoursePublished, EnrolmentConfirmed, InstitutionRegistered, ServantRegistered, ServantTransferred,
    SessionRescheduled, SessionScheduled,
)
from services.reporting.xapi.domain import (
    VERBS, Earlier, Known, Platform, RetryPolicy, answer_outcome, iso_duration, next_attempt, reference_of,
    statement_id, statements_of, waiting_for,
)

P = Platform("https://probidad.example.gob.mx")
AT = datetime(2026, 11, 5, 16, 30, tzinfo=UTC)
STARTS = datetime(2026, 11, 5, 10, tzinfo=UTC)
COURSE = {"title": "Código de Ética", "code": "CE-01", "passing_score": 70.0}
SESSION = {"course_id": "co-1", "modality": "virtual", "platform": "Zoom", "starts_at": STARTS.isoformat(),
           "timezone": "America/Mexico_City"}
KNOWN = Known(session=SESSION, course=COURSE, institution_id="inst-1", institution={"government_level": "state"})
PERSONAL = ("Ana López", "ana@example.org", "LOPA800101MDFXXX01")


def made(event, event_id: str = "ev-1", earlier: Earlier = Earlier(), known: Known = KNOWN):
    return statements_of(P, event, event_id, AT, known, earlier)


def attended(**changes) -> AttendanceRecorded:
    return AttendanceRecorded(**{"session_id": "se-1", "servant_id": "sv-1", "minutes_present": 62,
                                 "session_minutes": 120, "share": 0.5179, "status": "present",
                                 "source_of_record": "zoom", "seconds_present": 3723, "session_seconds": 7200,
                                 **changes})


def issued(**changes) -> CertificateIssued:
    return CertificateIssued(**{"certificate_id": "ce-1", "verification_code": "ABCD1234", "servant_id": "sv-1",
                                "course_id": "co-1", "session_id": "se-1", "hours": 4, "score": 85,
                                "issued_on": date(2026, 11, 6), "issuing_authority": "Secretaría",
                                "holder_digest": "f" * 64, **changes})


def revoked(**changes) -> CertificateRevoked:
    return CertificateRevoked(**{"certificate_id": "ce-1", "verification_code": "ABCD1234", "servant_id": "sv-1",
                                 "course_id": "co-1", "session_id": "se-1", "reason": "corrected", **changes})


def test_an_enrolment_is_registered_for_the_session_whose_parent_is_the_course():
    [s] = made(EnrolmentConfirmed(enrolment_id="en-1", session_id="se-1", servant_id="sv-1",
                                  institution_id="inst-9"))
    body = s.body
    assert body["verb"]["id"] == VERBS["registered"] == "http://adlnet.gov/expapi/verbs/registered"
    assert body["object"]["id"] == "https://probidad.example.gob.mx/xapi/activities/session/se-1"
    assert body["object"]["definition"]["name"] == {"es-MX": "Código de Ética (2026-11-05)"}
    parent = body["context"]["contextActivities"]["parent"][0]
    assert parent["id"] == "https://probidad.example.gob.mx/xapi/activities/course/co-1"
    assert parent["definition"]["name"] == {"es-MX": "Código de Ética"}
    assert body["timestamp"] == "2026-11-05T16:30:00.000Z"
    extensions = body["context"]["extensions"]
    base = "https://probidad.example.gob.mx/xapi/extensions/"
    assert extensions == {base + "institution": "inst-1", base + "government-level": "state",
                          base + "modality": "virtual", base + "platform": "Zoom"}


def test_the_actor_is_the_pseudonymous_servant_account_under_the_platform_base():
    [s] = made(attended())
    assert s.body["actor"] == {"objectType": "Agent",
                               "account": {"homePage": "https://probidad.example.gob.mx", "name": "sv-1"}}


def test_attendance_is_attended_with_its_duration_to_the_second():
    [s] = made(attended())
    assert s.body["verb"]["id"] == VERBS["attended"]
    assert s.body["result"]["duration"] == "PT1H2M3S"
    assert s.body["result"]["completion"] is True
    [older] = made(attended(seconds_present=None, session_seconds=None, minutes_present=45))
    assert older.body["result"]["duration"] == "PT45M", "older events have minutes only"
    assert [iso_duration(n) for n in (0, 59, 3600, 86399)] == ["PT0S", "PT59S", "PT1H", "PT23H59M59S"]


def test_a_grade_is_scored_on_the_course_in_the_session_and_below_the_passing_score_also_failed():
    [scored] = made(AssessmentGraded(session_id="se-1", servant_id="sv-1", score=92.5))
    assert scored.body["verb"]["id"] == VERBS["scored"]
    assert scored.body["result"]["score"] == {"scaled": 0.925, "raw": 92.5, "min": 0, "max": 100}
    assert scored.body["object"]["id"].endswith("/course/co-1")
    assert scored.body["context"]["contextActivities"]["grouping"][0]["id"].endswith("/session/se-1")
    low = made(AssessmentGraded(session_id="se-1", servant_id="sv-1", score=40))
    assert [s.role for s in low] == ["scored", "failed"]
    assert low[1].body["result"]["success"] is False
    assert len({s.statement_id for s in low}) == 2
    ungraded = Known(session=SESSION, course=COURSE | {"passing_score": None}, institution_id="inst-1",
                     institution={"government_level": "state"})
    assert [s.role for s in made(AssessmentGraded(session_id="se-1", servant_id="sv-1", score=10),
                                 known=ungraded)] == ["scored"], "no passing score: no failing"


def test_a_certificate_is_completed_passed_and_earned_as_cmi5_says():
    completed, passed, earned = made(issued())
    assert [completed.role, passed.role, earned.role] == ["completed", "passed", "earned"]
    assert completed.body["result"] == {"completion": True}
    assert passed.body["result"]["success"] is True and passed.body["result"]["score"]["scaled"] == 0.85
    moveon = "https://w3id.org/xapi/cmi5/context/categories/moveon"
    assert completed.body["context"]["contextActivities"]["category"][0]["id"] == moveon
    assert earned.body["verb"]["id"] == "http://id.tincanapi.com/verb/earned"
    assert earned.body["object"]["id"].endswith("/xapi/activities/certificate/ce-1")
    assert {s.certificate_id for s in (completed, passed, earned)} == {"ce-1"}
    without_score = made(issued(score=None))[1]
    assert "score" not in without_score.body["result"]


def test_ids_are_uuid5_of_the_event_id_stable_and_distinct_per_role():
    first = made(issued(), "ev-7")
    again = made(issued(), "ev-7")
    assert [s.body for s in first] == [s.body for s in again], "a redelivery makes the very same statements"
    assert first[0].statement_id == statement_id("ev-7") == str(uuid.uuid5(uuid.UUID(
        "5b0c8a52-94a3-4f4e-9d55-3c1f2f7a0e61"), "ev-7"))
    assert first[1].statement_id == statement_id("ev-7", "passed")
    assert len({s.statement_id for s in first}) == 3
    assert {s.statement_id for s in made(issued(), "ev-8")}.isdisjoint(s.statement_id for s in first)
    assert all(uuid.UUID(s.statement_id).version == 5 for s in first)


def test_a_correction_voids_the_attended_statement_it_replaces_and_attends_again():
    replaced = made(attended(), "ev-rec")[0].statement_id
    correction = AttendanceCorrected(session_id="se-1", servant_id="sv-1", minutes_present=100,
                                     session_minutes=120, share=0.8333, status="present", reason="Zoom report",
                                     corrected_by="instructor:x", seconds_present=6000, session_seconds=7200)
    again, voiding = made(correction, "ev-cor", Earlier(attended=replaced))
    assert again.role == "attended" and again.body["result"]["duration"] == "PT1H40M"
    assert voiding.body["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"
    assert voiding.body["object"] == {"objectType": "StatementRef", "id": replaced}
    assert voiding.voids == replaced and "result" not in voiding.body and "context" not in voiding.body
    [alone] = made(correction, "ev-cor")
    assert alone.role == "attended", "nothing attended before: only the replacement"


def test_a_void_revocation_voids_the_completion_statements_and_one_from_a_date_is_a_revocation():
    completion = tuple(s.statement_id for s in made(issued(), "ev-iss"))
    for applies in (None, "void", "from_date"):  # from_date without a day reads as void
        voiding = made(revoked(applies=applies), "ev-rev", Earlier(completion=completion))
        assert [s.role for s in voiding] == ["voided"] * 3
        assert [s.voids for s in voiding] == list(completion)
        assert voiding[0].statement_id == statement_id("ev-rev")
        assert len({s.statement_id for s in voiding}) == 3
    [revocation] = made(revoked(applies="from_date", effective_on=date(2026, 12, 1)), "ev-rev",
                        Earlier(completion=completion))
    assert revocation.role == "revoked" and revocation.voids is None
    assert revocation.body["verb"]["id"] == "https://probidad.example.gob.mx/xapi/verbs/revoked"
    assert revocation.body["object"]["id"].endswith("/certificate/ce-1")
    assert list(revocation.body["result"]["extensions"].values()) == ["2026-12-01"]


def test_no_statement_carries_personal_data_nor_the_verification_code_or_holder_digest():
    events = [EnrolmentConfirmed(enrolment_id="en-1", session_id="se-1", servant_id="sv-1", institution_id="i"),
              attended(), AssessmentGraded(session_id="se-1", servant_id="sv-1", score=40), issued(),
              revoked(applies="from_date", effective_on=date(2026, 12, 1))]
    text = json.dumps([s.body for e in events for s in made(e)], ensure_ascii=False)
    for secret in (*PERSONAL, "ABCD1234", "f" * 64, "mbox", "email", "curp"):
        assert secret not in text
    keys = {k for e in events for s in made(e) for k in s.body["actor"]}
    assert keys == {"objectType", "account"}, "an account, never a name or mbox"


def test_a_fact_waits_for_the_first_thing_it_names_that_is_not_known_yet():
    event = attended()
    assert waiting_for(event, Known()) == "session:se-1"
    assert waiting_for(event, Known(session=SESSION)) == "course:co-1"
    assert waiting_for(event, Known(session=SESSION, course=COURSE)) == "servant:sv-1"
    assert waiting_for(event, Known(session=SESSION, course=COURSE, institution_id="inst-1")) == "institution:inst-1"
    assert waiting_for(event, KNOWN) is None


def test_the_references_are_what_the_latest_fact_says_of_a_course_session_servant_and_institution():
    course = reference_of(CoursePublished(course_id="co-1", code="CE-01", title="Código de Ética", topic="Ética",
                                          hours=4, passing_score=70))
    assert course is not None and (course.kind, course.ref_id, course.attributes["title"]) == (
        "course", "co-1", "Código de Ética")
    session = reference_of(SessionScheduled(session_id="se-1", course_id="co-1", modality="virtual",
                                            platform="Zoom", starts_at=STARTS, ends_at=STARTS + timedelta(hours=2),
                                            timezone="America/Mexico_City", capacity=30))
    assert session is not None and session.attributes["modality"] == "virtual" and not session.merge
    moved = reference_of(SessionRescheduled(session_id="se-1", starts_at=STARTS, ends_at=STARTS + timedelta(hours=1),
                                            timezone="America/Mexico_City"))
    assert moved is not None and moved.merge and set(moved.attributes) == {"starts_at", "timezone"}
    servant = reference_of(ServantRegistered(servant_id="sv-1", institution_id="inst-1", sex="female"))
    assert servant is not None and servant.attributes == {"institution_id": "inst-1"}
    moved_servant = reference_of(ServantTransferred(
        servant_id="sv-1", transfer_id="t", from_institution_id="inst-1", to_institution_id="inst-2",
        effective_on=date(2026, 1, 1), sex="female", requested_by="comptroller:c", approved_by="comptroller:c",
        approved_at=AT))
    assert moved_servant is not None and moved_servant.attributes == {"institution_id": "inst-2"}
    institution = reference_of(InstitutionRegistered(institution_id="inst-1", name="Salud", government_level="state",
                                                     headcount=10, headcount_year=2026))
    assert institution is not None and institution.attributes == {"government_level": "state"}


def test_a_statement_not_taken_is_tried_again_after_a_doubling_wait_then_parked():
    policy = RetryPolicy(base_s=10, max_s=60, retry_for_s=300, jitter=0)
    created = AT
    assert next_attempt(policy, created_at=created, attempts=1, now=AT) == AT + timedelta(seconds=10)
    assert next_attempt(policy, created_at=created, attempts=3, now=AT) == AT + timedelta(seconds=40)
    assert next_attempt(policy, created_at=created, attempts=9, now=AT) == AT + timedelta(seconds=60)
    assert next_attempt(policy, created_at=created, attempts=2, now=AT + timedelta(seconds=290)) is None
    assert [answer_outcome(c) for c in (200, 204, 409, 400, 401, 429, 500, None)] == [
        "sent", "sent", "conflict", "refused", "refused", "failed", "failed", "failed"]
