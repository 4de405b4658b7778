"""When digests and reminders are owed and how their messages are named: the pure rules of notifications/domain.py."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from services.enrollment.notifications.domain import (
    REMINDER_KINDS,
    Expiring,
    Reminder,
    Standing,
    content_digest,
    digest_period,
    due_soon,
    expiring_soon,
    mail_domain,
    message_id,
    overdue,
    reminders_due,
    requirement_counts,
    unsubscribe_token,
    unsubscribed_digest,
)

TODAY = date(2026, 12, 8)


def standing(servant: str = "s1", state: str = "due", days: int | None = 10, *, requirement: str = "r1",
             title: str = "Ética pública", name: str | None = "Ana Pérez", course: str | None = "c1") -> Standing:
    due_on = None if days is None else TODAY + timedelta(days=days)
    return Standing(servant, name, "Directora", requirement, title, course, state, due_on)


def constancia(certificate: str = "k1", days: int = 20, *, servant: str = "s1", course: str | None = "c1",
               name: str | None = "Ana Pérez") -> Expiring:
    return Expiring(servant, name, certificate, course, "Ética pública", TODAY + timedelta(days=days))


# ------------------------------------------------------------------------------------------------ periods


@pytest.mark.parametrize(("cadence", "today", "period"), [
    ("daily", date(2026, 12, 8), "2026-12-08"),
    ("weekly", date(2026, 12, 8), "2026-W50"),
    ("monthly", date(2026, 12, 8), "2026-12"),
    ("monthly", date(2027, 1, 31), "2027-01"),
    # ISO weeks at the year's edges: 1 January 2027 is a Friday of 2026's week 53; 31 December 2024 a Tuesday of
    # 2025's week 1.
    ("weekly", date(2027, 1, 1), "2026-W53"),
    ("weekly", date(2027, 1, 4), "2027-W01"),
    ("weekly", date(2024, 12, 31), "2025-W01"),
    ("weekly", date(2026, 1, 5), "2026-W02"),
])
def test_a_digest_belongs_to_its_day_iso_week_or_month(cadence: str, today: date, period: str) -> None:
    assert digest_period(cadence, today) == period


def test_a_contact_who_wants_no_digest_has_no_period_and_an_unknown_cadence_is_refused() -> None:
    assert digest_period("off", TODAY) is None
    with pytest.raises(ValueError, match="cadence"):
        digest_period("fortnightly", TODAY)


def test_every_day_of_an_iso_week_shares_its_period() -> None:
    monday = date(2026, 12, 28)
    assert {digest_period("weekly", monday + timedelta(days=d)) for d in range(7)} == {"2026-W53"}
    assert digest_period("weekly", monday + timedelta(days=7)) == "2027-W01"


# ------------------------------------------------------------------------------------------------ counts and lists


def test_counts_per_requirement_add_up_to_everyone_required_and_are_sorted_by_title() -> None:
    standings = [
        standing("s1", "compliant", None), standing("s2", "due", 30), standing("s3", "due", 31),
        standing("s4", "overdue", -1), standing("s5", "exempt", None), standing("s6", "due", 0),
        standing("s1", "overdue", -40, requirement="r2", title="Conflicto de interés"),
    ]
    counts = requirement_counts(standings, TODAY)
    assert [c.title for c in counts] == ["Conflicto de interés", "Ética pública"]
    ethics = counts[1]
    assert (ethics.compliant, ethics.due_soon, ethics.due_later, ethics.overdue, ethics.exempt) == (1, 2, 1, 1, 1)
    assert ethics.required == 6 == sum(1 for s in standings if s.requirement_id == "r1")
    assert counts[0].required == counts[0].overdue == 1


def test_counts_refuse_a_state_the_compliance_rule_does_not_know() -> None:
    with pytest.raises(ValueError, match="state"):
        requirement_counts([standing(state="pending")], TODAY)


def test_the_overdue_list_holds_only_the_overdue_earliest_deadline_first_then_by_name() -> None:
    standings = [standing("s1", "overdue", -3, name="Zoe"), standing("s2", "overdue", -10, name="Berta"),
                 standing("s3", "overdue", -3, name="Ana"), standing("s4", "due", 5), standing("s5", "compliant")]
    assert [s.servant_id for s in overdue(standings)] == ["s2", "s3", "s1"]


def test_due_soon_is_due_within_30_days_today_included() -> None:
    standings = [standing(f"s{d}", "due", d) for d in (31, 30, 8, 7, 0)] + [standing("x", "overdue", -1)]
    assert [s.servant_id for s in due_soon(standings, TODAY)] == ["s0", "s7", "s8", "s30"]


def test_an_erased_servant_sorts_after_the_named_ones_of_the_same_day() -> None:
    standings = [standing("s9", "overdue", -1, name=None), standing("s1", "overdue", -1, name="Zoe")]
    assert [s.servant_id for s in overdue(standings)] == ["s1", "s9"]


def test_constancias_expiring_from_today_to_60_days_are_listed_soonest_first() -> None:
    held = [constancia(f"k{d}", d, servant=f"s{d}") for d in (61, 60, 30, 0)] + [constancia("old", -1, servant="x")]
    assert [c.certificate_id for c in expiring_soon(held, TODAY)] == ["k0", "k30", "k60"]


def test_a_renewed_constancia_is_not_listed_as_expiring() -> None:
    held = [constancia("old", 20), constancia("new", 400), constancia("other", 20, servant="s2")]
    assert [c.certificate_id for c in expiring_soon(held, TODAY)] == ["other"]


# ------------------------------------------------------------------------------------------------ reminders


@pytest.mark.parametrize(("days", "kind"), [
    (31, None), (30, "due_30"), (8, "due_30"), (7, "due_7"), (0, "due_7"),
])
def test_a_requirement_due_is_reminded_30_and_7_days_ahead(days: int, kind: str | None) -> None:
    found = reminders_due([standing("s1", "due", days)], [], TODAY)
    assert [r.kind for r in found] == ([kind] if kind else [])


def test_a_reminder_names_its_deadline_so_it_is_sent_once_per_deadline() -> None:
    (reminder,) = reminders_due([standing("s1", "due", 30, course="c1")], [], TODAY)
    assert reminder == Reminder("due_30", "s1", "r1", "2027-01-07", date(2027, 1, 7), "Ética pública", "c1")
    # Every day of the window yields the same reminder, so the ledger of sent messages keeps it to one.
    later = [reminders_due([standing("s1", "due", 30)], [], TODAY + timedelta(days=d)) for d in range(1, 23)]
    assert {(r.kind, r.period) for found in later for r in found} == {("due_30", "2027-01-07")}


def test_an_overdue_requirement_is_reminded_with_its_deadline_as_period() -> None:
    (reminder,) = reminders_due([standing("s1", "overdue", -1)], [], TODAY)
    assert (reminder.kind, reminder.period, reminder.about) == ("overdue", "2026-12-07", "r1")
    (long_ago,) = reminders_due([standing("s1", "overdue", -400)], [], TODAY)
    assert long_ago.period == (TODAY - timedelta(days=400)).isoformat()


def test_compliant_and_exempt_servants_get_no_reminder() -> None:
    assert reminders_due([standing("s1", "compliant", 10), standing("s2", "exempt", None)], [], TODAY) == []


@pytest.mark.parametrize(("days", "kind"), [
    (31, None), (30, "expiry_30"), (8, "expiry_30"), (7, "expiry_7"), (0, "expiry_7"), (-1, None),
])
def test_a_constancia_is_reminded_30_and_7_days_before_its_last_valid_day(days: int, kind: str | None) -> None:
    found = reminders_due([], [constancia("k1", days)], TODAY)
    assert [(r.kind, r.about, r.period) for r in found] == (
        [(kind, "k1", (TODAY + timedelta(days=days)).isoformat())] if kind else [])


def test_a_constancia_superseded_by_a_later_one_of_the_same_course_gets_no_reminder() -> None:
    held = [constancia("old", 7), constancia("new", 372),
            constancia("other-course", 7, course="c2"), constancia("other-servant", 7, servant="s2")]
    assert sorted(r.about for r in reminders_due([], held, TODAY)) == ["other-course", "other-servant"]


def test_reminders_come_in_a_deterministic_order_whatever_the_input_order() -> None:
    standings = [standing("s2", "due", 7), standing("s1", "overdue", -2), standing("s1", "due", 20, requirement="r2")]
    held = [constancia("k1", 7, servant="s1"), constancia("k2", 20, servant="s2")]
    first = reminders_due(standings, held, TODAY)
    assert reminders_due(list(reversed(standings)), list(reversed(held)), TODAY) == first
    assert [(r.servant_id, r.kind) for r in first] == [
        ("s1", "overdue"), ("s1", "expiry_7"), ("s1", "due_30"), ("s2", "due_7"), ("s2", "expiry_30")]
    assert {r.kind for r in first} <= set(REMINDER_KINDS)


# ------------------------------------------------------------------------------------------------ message ids


ID_LEFT_RIGHT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                           r"@[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def test_a_message_id_is_stable_and_well_formed() -> None:
    first = message_id("due_30", "2027-01-08", "req-7", "servant-42", "probidad.example")
    assert first == message_id("due_30", "2027-01-08", "req-7", "servant-42", "probidad.example")
    assert ID_LEFT_RIGHT.fullmatch(first)
    assert re.fullmatch(r"probidad\.due_30\.2027-01-08\.[0-9a-f]{24}@probidad\.example", first)


def test_message_ids_differ_per_kind_period_subject_and_recipient() -> None:
    base = ("due_30", "2027-01-08", "req-7", "servant-42", "probidad.example")
    variants = [base, ("due_7", *base[1:]), (base[0], "2027-01-09", *base[2:]), (*base[:2], "req-8", *base[3:]),
                (*base[:3], "servant-43", base[4]), (*base[:2], None, *base[3:])]
    assert len({message_id(*v) for v in variants}) == len(variants)


def test_a_message_id_names_neither_the_recipient_nor_the_subject() -> None:
    made = message_id("digest", "2026-W50", "institution-ab12", "contact-cd34", "probidad.example")
    assert "institution-ab12" not in made and "contact-cd34" not in made


def test_a_message_id_refuses_parts_that_would_break_the_header() -> None:
    with pytest.raises(ValueError):
        message_id("due 30", "2027-01-08", "r", "s", "probidad.example")
    with pytest.raises(ValueError):
        message_id("due_30", "2027-01-08", "r", "s", "probidad.example>\r\nBcc: x@y")


@pytest.mark.parametrize(("sender", "domain"), [
    ("Probidad <no-reply@probidad.example>", "probidad.example"),
    ("no-reply@Mail.Gob.MX", "mail.gob.mx"),
    ('"Probidad, avisos" <avisos@sfp.gob.mx>', "sfp.gob.mx"),
])
def test_the_mail_domain_is_the_senders(sender: str, domain: str) -> None:
    assert mail_domain(sender) == domain


@pytest.mark.parametrize("sender", ["Probidad", "no-reply@", "<@probidad.example>", ""])
def test_a_sender_without_a_domain_is_refused(sender: str) -> None:
    with pytest.raises(ValueError):
        mail_domain(sender)


def test_the_content_digest_tells_apart_messages_that_only_move_text_between_parts() -> None:
    assert content_digest("a", "b", "c") == content_digest("a", "b", "c")
    assert len(content_digest("a", "b", "c")) == 64
    assert content_digest("ab", "", "c") != content_digest("a", "b", "c")
    assert content_digest("a", "bc", "") != content_digest("a", "b", "c")


# ------------------------------------------------------------------------------------------------ unsubscribe


ADDRESS = "3f" * 32  # an e-mail digest (contracts.pseudonyms) is 64 hex
KEY = "unsubscribe-key-for-tests"


def test_an_unsubscribe_token_gives_back_its_address_digest() -> None:
    token = unsubscribe_token(ADDRESS, KEY)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)  # safe in a URL as is
    assert unsubscribed_digest(token, KEY) == ADDRESS
    assert unsubscribe_token(ADDRESS, KEY) == token


def test_a_token_under_another_key_is_refused() -> None:
    assert unsubscribed_digest(unsubscribe_token(ADDRESS, "another-key"), KEY) is None


def test_a_token_for_another_address_with_a_borrowed_signature_is_refused() -> None:
    mine, theirs = unsubscribe_token(ADDRESS, KEY), unsubscribe_token("ab" * 32, KEY)
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    assert unsubscribed_digest(forged, KEY) is None


def test_every_single_character_change_of_a_token_is_refused() -> None:
    token = unsubscribe_token(ADDRESS, KEY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(token):
        if char == ".":
            continue
        changed = token[:i] + alphabet[(alphabet.index(char) + 1) % len(alphabet)] + token[i + 1:]
        assert unsubscribed_digest(changed, KEY) is None, f"position {i}"


@pytest.mark.parametrize("garbled", ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???", "YWJj.YWJj=", "é.é"])
def test_a_garbled_token_is_refused_without_an_error(garbled: str) -> None:
    assert unsubscribed_digest(garbled, KEY) is None


def test_no_token_is_made_or_accepted_without_a_key() -> None:
    with pytest.raises(ValueError):
        unsubscribe_token(ADDRESS, "")
    assert unsubscribed_digest(unsubscribe_token(ADDRESS, KEY), "") is None
