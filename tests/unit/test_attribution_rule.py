"""The attribution rule (contracts/attribution.py): which statement holds and where a servant served when a
session started. Each case is one on which the four variants the services used to carry disagreed."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from contracts.attribution import Placement, Stamp, holding, in_force_from, institution_at, supersedes

ZONE = ZoneInfo("America/Mexico_City")


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def registered(institution: str, day: int, event_id: str = "r") -> Placement:
    return Placement(institution, Stamp.of(at(day), event_id))


def transferred(to: str, origin: str, effective: int, stated: int, event_id: str = "t") -> Placement:
    return Placement(to, Stamp.of(at(stated), event_id), date(2026, 3, effective), origin)


def test_a_statement_stated_later_supersedes_and_a_redelivery_changes_nothing() -> None:
    held = Stamp.of(at(2), "b")
    assert supersedes(Stamp.of(at(3), "a"), held)
    assert not supersedes(Stamp.of(at(1), "z"), held)
    assert not supersedes(held, held)
    assert supersedes(held, None)


def test_at_the_same_instant_the_larger_event_id_holds_whatever_order_they_arrived_in() -> None:
    # Attendance used ">=" (the one heard last held), certification ">" (the one heard first held when the
    # event ids were left out): two replicas hearing them in different orders disagreed.
    first, second = Stamp.of(at(2), "e-1"), Stamp.of(at(2), "e-2")
    assert supersedes(second, first) and not supersedes(first, second)


def test_a_correction_outranks_a_record_stated_at_the_same_instant() -> None:
    assert supersedes(Stamp.of(at(2), "a", rank=1), Stamp.of(at(2), "z"))


def test_a_transfer_recorded_late_but_effective_earlier_overrides_an_update_published_meanwhile() -> None:
    # The compliance memberships ordered by effective day and would keep the update; reporting kept the transfer.
    statements = [registered("A", 1), registered("B", 10, "u"), transferred("C", "A", effective=5, stated=12)]
    assert institution_at(statements, at(20), ZONE) == "C"
    # As known now, the servant was in C from the 5th: valid time, not the day it was recorded.
    assert institution_at(statements, at(11), ZONE) == "C"
    assert institution_at(statements, at(4), ZONE) == "A"


def test_a_transfer_is_in_force_from_local_midnight_of_its_effective_day_in_the_programme_zone() -> None:
    move = transferred("B", "A", effective=10, stated=20)
    assert in_force_from(move, ZONE) == datetime(2026, 3, 10, 6, tzinfo=UTC)  # midnight in Mexico City
    statements = [registered("A", 1), move]
    # A session starting at 23:30 on the 9th in Tijuana starts at 01:30 on the 10th in Mexico City's day... the
    # programme's zone decides, not the session's own (certification used the session's local date).
    assert institution_at(statements, datetime(2026, 3, 10, 5, 59, tzinfo=UTC), ZONE) == "A"
    assert institution_at(statements, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), ZONE) == "B"


def test_before_anything_is_in_force_the_earliest_registration_stands_in() -> None:
    # Attendance answered the first transfer's origin, certification the enrolling institution.
    statements = [registered("A", 5), transferred("B", "Z", effective=6, stated=6)]
    assert institution_at(statements, at(1), ZONE) == "A"


def test_with_no_registration_known_the_earliest_transfer_says_where_the_servant_came_from() -> None:
    statements = [transferred("C", "B", effective=8, stated=8, event_id="t2"),
                  transferred("B", "A", effective=4, stated=9, event_id="t1")]
    assert institution_at(statements, at(1), ZONE) == "A"
    held = holding(statements, at(1), ZONE)
    assert held is not None and held.source is None


def test_with_nothing_known_the_caller_decides() -> None:
    assert institution_at([], at(1), ZONE) is None


def test_the_placement_holding_carries_the_callers_record_back() -> None:
    version = object()
    statements = [Placement("A", Stamp.of(at(1), "r"), source=version)]
    held = holding(statements, at(2), ZONE)
    assert held is not None and held.source is version


def test_compliance_memberships_place_a_servant_where_the_attribution_rule_does() -> None:
    # The compliance rule ordered transfers by effective day only: a back-dated transfer stated after a later move
    # left the servant where the later move took them, while reporting's figures placed them where the
    # back-dated one did. Both now follow the attribution rule.
    from contracts.compliance import Joined, Transferred, memberships

    move_to_b = transferred("B", "A", effective=10, stated=10, event_id="t1")
    back_dated_to_c = transferred("C", "A", effective=5, stated=20, event_id="t2")
    steps = [Joined("A", "estatal", date(2026, 3, 1))] + [
        Transferred(p.institution_id, "estatal", p.effective_on, p.stamp)
        for p in (move_to_b, back_dated_to_c) if p.effective_on is not None]
    stretches = memberships(steps)
    statements = [registered("A", 1), move_to_b, back_dated_to_c]
    for day in (3, 7, 15, 25):
        on = date(2026, 3, day)
        serving = next(m.institution_id for m in stretches
                       if m.starts_on <= on and (m.ends_on is None or on < m.ends_on))
        assert serving == institution_at(statements, datetime(2026, 3, day, 12, tzinfo=UTC), ZONE), day
