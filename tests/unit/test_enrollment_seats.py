"""Seats, waitlists and the people in them: the enrollment rules without any database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.events import (
    EnrolmentCancelled, EnrolmentConfirmed, EnrolmentWaitlisted, ServantRegistered, ServantTransferred, ServantUpdated,
    Sex,
)
from contracts.pseudonyms import email_digest
from probidad.shared.errors import RuleViolation
from services.enrollment.enrolments.domain import (
    Occupancy, Seat, decide_cancellation, decide_enrolment, waitlist_positions,
)
from services.enrollment.servants.domain.curp import curp_check_digit
from services.enrollment.servants.domain import (
    ServantDetails, TransferTerms, check_transfer, decide_erasure, decide_servant, decide_transfer,
)
from services.enrollment.sessions.domain import SessionTerms, check_delivery, session_times

CANCUN = ZoneInfo("America/Cancun")
NINE = datetime(2026, 11, 5, 9, 0, tzinfo=CANCUN)
KEY = "digest-key"
TODAY = date(2026, 11, 1)  # registrations in these tests happen on this day


def session(session_id="se-1", capacity=2, start=NINE, hours=2, cancelled=False) -> SessionTerms:
    return SessionTerms(session_id, start, start + timedelta(hours=hours), capacity, cancelled)


def seat(n: int, status="confirmed", servant=None) -> Seat:
    return Seat(f"en-{n}", servant or f"sv-{n}", "in-1", status, n)


def enrol(terms: SessionTerms, servant_id: str, seats, commitments=(), n=99):
    return decide_enrolment(terms, servant_id, "in-1", Occupancy.of(seats, servant_id), commitments,
                            enrolment_id=f"en-{n}", request_id="rq-1")


def test_a_session_with_free_seats_confirms_the_enrolment():
    decision = enrol(session(capacity=2), "sv-new", [seat(1)])
    assert decision.status == "confirmed"
    (event,) = decision.events
    assert isinstance(event, EnrolmentConfirmed)
    assert (event.servant_id, event.session_id, event.request_id) == ("sv-new", "se-1", "rq-1")


def test_a_full_session_puts_the_next_enrolment_on_the_waitlist_behind_those_already_waiting():
    seats = [seat(1), seat(2), seat(3, "waitlisted")]
    decision = enrol(session(capacity=2), "sv-new", seats)
    assert (decision.status, decision.position) == ("waitlisted", 2)
    (event,) = decision.events
    assert isinstance(event, EnrolmentWaitlisted) and event.position == 2


def test_cancelled_enrolments_do_not_hold_seats():
    # The handler passes only active seats; a cancelled one in the list still must not count.
    decision = enrol(session(capacity=1), "sv-new", [seat(1, "cancelled")])
    assert decision.status == "confirmed"


def test_no_servant_is_enrolled_twice_in_one_session_even_from_the_waitlist():
    for status in ("confirmed", "waitlisted"):
        with pytest.raises(RuleViolation, match="already enrolled in this session") as refused:
            enrol(session(capacity=1), "sv-1", [seat(1, status)])
        assert (refused.value.field, refused.value.kind) == ("servant_id", "conflict")


def test_a_servant_cannot_hold_seats_in_two_overlapping_sessions():
    morning = session("se-morning", start=NINE, hours=3)
    late_morning = session("se-late", start=NINE + timedelta(hours=2), hours=2)
    with pytest.raises(RuleViolation, match="se-morning") as refused:
        enrol(late_morning, "sv-1", [], commitments=[morning])
    assert refused.value.kind == "conflict"


def test_back_to_back_sessions_and_cancelled_sessions_do_not_overlap():
    morning = session("se-morning", start=NINE, hours=2)
    right_after = session("se-after", start=NINE + timedelta(hours=2), hours=2)
    assert enrol(right_after, "sv-1", [], commitments=[morning]).status == "confirmed"
    cancelled_clash = session("se-off", start=NINE, hours=4, cancelled=True)
    assert enrol(right_after, "sv-1", [], commitments=[cancelled_clash]).status == "confirmed"


def test_overlap_is_judged_in_absolute_time_whatever_the_zones():
    mexico_city = ZoneInfo("America/Mexico_City")  # one hour behind Cancún in November
    cancun_nine = session("se-cancun", start=NINE, hours=1)
    city_eight = session("se-city", start=datetime(2026, 11, 5, 8, 0, tzinfo=mexico_city), hours=1)
    with pytest.raises(RuleViolation, match="overlaps"):
        enrol(city_eight, "sv-1", [], commitments=[cancun_nine])


def test_a_cancelled_session_takes_no_enrolments():
    with pytest.raises(RuleViolation, match="cancelled"):
        enrol(session(cancelled=True), "sv-1", [])


def test_cancelling_a_confirmed_seat_promotes_the_earliest_waitlisted():
    seats = [seat(1), seat(2), seat(5, "waitlisted"), seat(4, "waitlisted")]
    decision = decide_cancellation(session(capacity=2), seats, "en-2", "sick")
    assert [s.enrolment_id for s in decision.promoted] == ["en-4"]
    cancelled, promoted = decision.events
    assert isinstance(cancelled, EnrolmentCancelled) and cancelled.reason == "sick"
    assert isinstance(promoted, EnrolmentConfirmed)
    assert (promoted.enrolment_id, promoted.promoted_from_waitlist) == ("en-4", True)


def test_cancelling_a_waitlisted_enrolment_promotes_nobody_and_closes_the_gap():
    seats = [seat(1), seat(2), seat(3, "waitlisted"), seat(4, "waitlisted")]
    decision = decide_cancellation(session(capacity=2), seats, "en-3", None)
    assert decision.promoted == []
    assert waitlist_positions([s for s in seats if s.enrolment_id != "en-3"]) == {"en-4": 1}


def test_no_one_is_promoted_into_a_cancelled_session():
    seats = [seat(1), seat(2, "waitlisted")]
    assert decide_cancellation(session(capacity=1, cancelled=True), seats, "en-1", None).promoted == []


def test_an_enrolment_is_cancelled_only_once():
    with pytest.raises(RuleViolation, match="already cancelled"):
        decide_cancellation(session(), [seat(1, "cancelled")], "en-1", None)


def test_naive_times_are_read_in_the_sessions_zone_and_the_end_must_follow_the_start():
    start, end = session_times(datetime(2026, 11, 5, 9), datetime(2026, 11, 5, 11), "America/Cancun")
    assert start.utcoffset() == timedelta(hours=-5) and (end - start) == timedelta(hours=2)
    with pytest.raises(RuleViolation) as refused:
        session_times(datetime(2026, 11, 5, 9), datetime(2026, 11, 5, 9), "America/Cancun")
    assert refused.value.field == "ends_at"
    with pytest.raises(RuleViolation) as refused:
        session_times(datetime(2026, 11, 5, 9), datetime(2026, 11, 5, 10), "Mars/Olympus")
    assert refused.value.field == "timezone"


def test_a_virtual_session_needs_a_platform_and_an_in_person_one_a_venue():
    check_delivery("virtual", "Zoom", None)
    check_delivery("in_person", None, "Auditorio")
    for modality, platform, venue, field in [("virtual", None, "Aula", "platform"),
                                             ("in_person", "Teams", None, "venue"),
                                             ("hybrid", "Meet", "", "venue")]:
        with pytest.raises(RuleViolation) as refused:
            check_delivery(modality, platform, venue)
        assert refused.value.field == field


def _curp() -> str:
    body = "GOMA850412MYNRRN0"
    return body + curp_check_digit(body)


def test_registering_a_servant_publishes_only_pseudonymous_attributes_and_the_email_digest():
    details = ServantDetails("in-1", "Ana Gómez", _curp(), Sex.female, "Ana.Gomez@Qroo.gob.mx", "Jefa", "mando medio")
    decision = decide_servant(None, details, new_servant_id="sv-9", person_id="pe-1", digest_key=KEY, today=TODAY,
                              request_id="rq-7")
    assert decision.created and decision.servant.servant_id == "sv-9"
    (event,) = decision.events
    assert isinstance(event, ServantRegistered)
    assert event.email_digest == email_digest("ana.gomez@qroo.gob.mx", KEY)
    assert event.request_id == "rq-7"
    published = event.model_dump_json()
    for personal in ("Ana", "Gómez", _curp(), "Qroo", "Jefa"):
        assert personal not in published


def test_the_same_curp_keeps_its_servant_id_and_a_change_oversight_sees_is_published_as_an_update():
    details = ServantDetails("in-1", "Ana", _curp(), Sex.female)
    first = decide_servant(None, details, new_servant_id="sv-1", person_id="pe-1", digest_key=KEY, today=TODAY).servant
    promoted = decide_servant(first, ServantDetails("in-1", "Ana", _curp(), Sex.female, position_level="directivo"),
                              new_servant_id="sv-2", person_id="pe-1", digest_key=KEY, today=TODAY)
    assert not promoted.created and promoted.servant.servant_id == "sv-1"
    (event,) = promoted.events
    assert isinstance(event, ServantUpdated) and event.position_level == "directivo"
    # A correction of the name alone is personal data: nothing for oversight to hear about.
    renamed = decide_servant(first, ServantDetails("in-1", "Ana María", _curp(), Sex.female), new_servant_id="x",
                             person_id="pe-1",
                             digest_key=KEY, today=TODAY)
    assert renamed.events == [] and renamed.servant.name == "Ana María"


def test_a_curp_another_institution_holds_makes_a_servant_of_the_callers_own_and_takes_no_one_over():
    """The decision sees only the caller's institution's servant; the one elsewhere lends its person id."""
    theirs = decide_servant(None, ServantDetails("in-1", "Ana", _curp(), Sex.female, "ana@example.org"),
                            new_servant_id="sv-1", person_id="pe-ana", digest_key=KEY, today=TODAY)
    ours = decide_servant(None, ServantDetails("in-2", "Ana Ruiz", _curp(), Sex.female), new_servant_id="sv-2",
                          person_id="pe-ana", digest_key=KEY, today=TODAY)
    assert ours.created and ours.servant.servant_id == "sv-2" and ours.servant.institution_id == "in-2"
    (registered,) = ours.events
    assert (registered.servant_id, registered.person_id, registered.institution_id) == ("sv-2", "pe-ana", "in-2")
    assert theirs.servant.name == "Ana" and theirs.servant.email == "ana@example.org"
    with pytest.raises(ValueError):  # handing it another institution's servant is a bug, not an input
        decide_servant(theirs.servant, ServantDetails("in-2", "X", _curp(), Sex.male), new_servant_id="sv-3",
                       person_id="pe-ana", digest_key=KEY, today=TODAY)


def test_a_transfer_moves_the_servant_from_its_effective_day_and_says_who_asked_and_who_approved():
    ana = decide_servant(None, ServantDetails("in-1", "Ana", _curp(), Sex.female, position_level="operativo"),
                         new_servant_id="sv-1", person_id="pe-1", digest_key=KEY, today=TODAY).servant
    terms = TransferTerms("tr-1", "sv-1", "in-1", "in-2", date(2026, 11, 16), "liaison:in-1:rh")
    approved_at = datetime(2026, 11, 20, 15, 0, tzinfo=ZoneInfo("UTC"))
    moved, event = decide_transfer(ana, terms, approved_by="liaison:in-2:rh", approved_at=approved_at,
                                   today=date(2026, 11, 20))
    assert (moved.servant_id, moved.institution_id, moved.name) == ("sv-1", "in-2", "Ana")
    assert isinstance(event, ServantTransferred)
    assert (event.from_institution_id, event.to_institution_id, event.effective_on, event.sex,
            event.position_level, event.requested_by, event.approved_by, event.approved_at) == (
        "in-1", "in-2", date(2026, 11, 16), "female", "operativo", "liaison:in-1:rh", "liaison:in-2:rh", approved_at)
    assert _curp() not in event.model_dump_json() and "Ana" not in event.model_dump_json()


@pytest.mark.parametrize("to, effective_on, field", [
    ("in-1", date(2026, 11, 16), "to_institution_id"),   # already there
    ("in-2", date(2026, 11, 21), "effective_on"),        # dated after the day it is recorded
])
def test_a_transfer_to_where_the_servant_is_or_dated_ahead_is_refused(to, effective_on, field):
    ana = decide_servant(None, ServantDetails("in-1", "Ana", _curp(), Sex.female), new_servant_id="sv-1",
                         person_id="pe-1",
                         digest_key=KEY, today=TODAY).servant
    with pytest.raises(RuleViolation) as refused:
        check_transfer(ana, to, effective_on, today=date(2026, 11, 20))
    assert refused.value.field == field


def test_a_transfer_of_a_servant_who_has_moved_since_it_was_asked_is_refused():
    ana = decide_servant(None, ServantDetails("in-3", "Ana", _curp(), Sex.female), new_servant_id="sv-1",
                         person_id="pe-1",
                         digest_key=KEY, today=TODAY).servant
    with pytest.raises(RuleViolation, match="no longer belongs to in-1"):
        decide_transfer(ana, TransferTerms("tr-1", "sv-1", "in-1", "in-2", date(2026, 11, 16), "comptroller:x"),
                        approved_by="comptroller:x", approved_at=datetime(2026, 11, 20, tzinfo=ZoneInfo("UTC")),
                        today=date(2026, 11, 20))


def test_erasure_forgets_the_person_but_keeps_what_the_figures_need():
    details = ServantDetails("in-1", "Ana", _curp(), Sex.female, "ana@example.org", "Jefa", "directivo")
    servant = decide_servant(None, details, new_servant_id="sv-1", person_id="pe-1", digest_key=KEY,
                             today=TODAY).servant
    erased = decide_erasure(servant)
    assert (erased.servant.name, erased.servant.curp, erased.servant.email, erased.servant.position) == (None,) * 4
    (event,) = erased.events
    assert isinstance(event, ServantUpdated)
    assert (event.servant_id, event.institution_id, event.sex, event.email_digest) == ("sv-1", "in-1", "female", None)
    with pytest.raises(RuleViolation, match="already erased"):
        decide_erasure(erased.servant)


def test_an_email_that_is_not_an_address_is_refused_naming_the_field():
    with pytest.raises(RuleViolation) as refused:
        decide_servant(None, ServantDetails("in-1", "Ana", _curp(), Sex.female, "ana at home"), new_servant_id="s",
                       person_id="pe-1",
                       digest_key=KEY, today=TODAY)
    assert refused.value.field == "email"
