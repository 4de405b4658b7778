"""Rescheduling a session keeps the enrolment rule: nobody ends up in two sessions at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import SessionRescheduled
from probidad.shared.errors import RuleViolation
from services.enrollment.sessions import domain
from services.enrollment.sessions.domain import Commitment, RescheduleConflict, SessionTerms

NINE = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)  # 09:00 in America/Mexico_City
ZONE = "America/Mexico_City"


def session(session_id: str, start: datetime, hours: float = 2, cancelled: bool = False) -> SessionTerms:
    return SessionTerms(session_id, start, start + timedelta(hours=hours), 30, cancelled)


MOVED = session("se-moved", NINE + timedelta(days=1))


def test_a_move_onto_the_time_of_an_enrolled_servants_other_session_is_refused_naming_both() -> None:
    other = session("se-other", NINE)
    with pytest.raises(RescheduleConflict) as refused:
        domain.decide_reschedule(MOVED, NINE + timedelta(hours=1), NINE + timedelta(hours=3), ZONE, None, None,
                                 [Commitment("srv-ana", other)])
    assert refused.value.kind == "conflict" and refused.value.field == "starts_at"
    assert [(c.servant_id, c.session.session_id) for c in refused.value.conflicts] == [("srv-ana", "se-other")]
    assert "servant srv-ana in session se-other" in str(refused.value)


def test_every_conflict_is_named_not_only_the_first() -> None:
    early, late = session("se-early", NINE), session("se-late", NINE + timedelta(hours=2))
    with pytest.raises(RescheduleConflict) as refused:
        domain.decide_reschedule(MOVED, NINE + timedelta(hours=1), NINE + timedelta(hours=3), ZONE, None, None,
                                 [Commitment("srv-ben", late), Commitment("srv-ana", early),
                                  Commitment("srv-ana", late)])
    assert [(c.servant_id, c.session.session_id) for c in refused.value.conflicts] == \
        [("srv-ana", "se-early"), ("srv-ana", "se-late"), ("srv-ben", "se-late")]


def test_sessions_that_only_touch_the_new_time_do_not_conflict() -> None:
    before, after = session("se-before", NINE - timedelta(hours=2)), session("se-after", NINE + timedelta(hours=2))
    (moved,) = domain.decide_reschedule(MOVED, NINE, NINE + timedelta(hours=2), ZONE, None, "huracán",
                                        [Commitment("srv-ana", before), Commitment("srv-ana", after)])
    assert isinstance(moved, SessionRescheduled)
    assert (moved.session_id, moved.starts_at, moved.ends_at) == ("se-moved", NINE, NINE + timedelta(hours=2))


def test_a_cancelled_session_and_the_session_itself_are_no_conflict() -> None:
    cancelled = session("se-cancelled", NINE, cancelled=True)
    (moved,) = domain.decide_reschedule(MOVED, NINE, NINE + timedelta(hours=2), ZONE, None, None,
                                        [Commitment("srv-ana", cancelled), Commitment("srv-ana", MOVED)])
    assert moved.starts_at == NINE


def test_a_naive_new_time_is_read_in_the_sessions_zone_before_the_overlap_is_judged() -> None:
    other = session("se-other", NINE)  # 09:00–11:00 local
    with pytest.raises(RescheduleConflict):
        domain.decide_reschedule(MOVED, datetime(2026, 11, 5, 10, 0), datetime(2026, 11, 5, 12, 0), ZONE, None, None,
                                 [Commitment("srv-ana", other)])
    (moved,) = domain.decide_reschedule(MOVED, datetime(2026, 11, 5, 11, 0), datetime(2026, 11, 5, 13, 0), ZONE,
                                        None, None, [Commitment("srv-ana", other)])
    assert moved.starts_at == NINE + timedelta(hours=2)


def test_bad_times_are_refused_before_any_overlap_is_looked_at() -> None:
    with pytest.raises(RuleViolation) as refused:
        domain.decide_reschedule(MOVED, NINE, NINE, ZONE, None, None, [Commitment("srv-ana", session("x", NINE))])
    assert not isinstance(refused.value, RescheduleConflict) and str(refused.value).startswith("ends_at:")
