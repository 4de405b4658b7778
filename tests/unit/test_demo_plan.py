"""The demo programme has already happened, whatever the date: planned on any day (the first days of a
month, 29 February, New Year's Eve at 23:59), every session has ended, nobody is booked into two
sessions at once, and each of the twelve months before the current one has sessions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from probidad.ops.demo import programme_for
from probidad.ops.programme import demo_months, expected_figures
from probidad.ops.programme import demo_programme as plan

ZONES = ("America/Mexico_City", "America/Cancun")
WALL_CLOCKS = (
    datetime(2027, 1, 1, 0, 0), datetime(2027, 1, 1, 23, 59),  # New Year's Day
    datetime(2026, 12, 1, 0, 0), datetime(2026, 6, 1, 9, 0),  # the 1st: the last evening session just ended
    datetime(2026, 12, 2, 8, 0), datetime(2026, 3, 2, 23, 59),  # the 2nd
    datetime(2027, 2, 28, 12, 0), datetime(2026, 11, 28, 18, 0),  # the 28th
    datetime(2026, 10, 31, 23, 59), datetime(2027, 3, 31, 0, 0),  # the 31st
    datetime(2028, 2, 29, 12, 0), datetime(2028, 3, 1, 0, 1),  # 29 February, and just after it
    datetime(2026, 12, 31, 23, 59),  # New Year's Eve
)
INSTANTS = [(zone, clock.replace(tzinfo=ZoneInfo(where)))
            for zone in ZONES for clock in WALL_CLOCKS for where in (zone, "UTC")]


def label(case) -> str:
    zone, now = case
    return f"{zone.split('/')[1]}@{now:%Y-%m-%dT%H:%M%z}"


@pytest.fixture(scope="module", params=INSTANTS, ids=label)
def planned(request):
    zone, now = request.param
    return now, plan(scale=0.05, now=now, timezone=zone)


def test_every_session_has_ended_before_the_month_the_plan_is_made_in(planned) -> None:
    now, programme = planned
    local = now.astimezone(ZoneInfo(programme.timezone))
    month_began = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    late = [s.session_id for s in programme.sessions if s.ends_at > month_began]
    assert not late, f"still running or to come on {now.isoformat()}: {late}"
    assert all(s.ends_at <= now for s in programme.sessions)


def test_the_programme_is_the_twelve_full_months_before_the_current_one(planned) -> None:
    now, programme = planned
    local = now.astimezone(ZoneInfo(programme.timezone))
    assert len(programme.months) == 12
    last_year, last_month = programme.months[-1]
    assert (last_year * 12 + last_month) == (local.year * 12 + local.month) - 1
    assert programme.last_day < local.date() and programme.first_day.day == 1
    assert programme.years == sorted({year for year, _month in programme.months})


def test_every_month_of_the_programme_has_sessions_delivered_and_the_bulletin_month_has_figures(planned) -> None:
    _now, programme = planned
    figures = expected_figures(programme)["months"]
    assert sorted(figures) == [f"{year}-{month:02d}" for year, month in programme.months]
    assert all(f["sessions_delivered"] >= 2 for f in figures.values())
    bulletin = figures[programme.bulletin_month]
    assert bulletin["servants_trained"] > 0 and bulletin["participations"] > 0


def test_nobody_is_booked_into_two_sessions_at_once(planned) -> None:
    _now, programme = planned
    booked: dict[str, list] = defaultdict(list)
    for session in programme.sessions:
        for key in session.enrolled:
            booked[key].append((session.starts_at, session.ends_at, session.session_id))
    for key, sessions in booked.items():
        sessions.sort()
        for (_s1, end, first), (start, _e2, second) in zip(sessions, sessions[1:]):
            assert end <= start, f"{key} is in {first} and {second} at once"


def test_session_ids_are_unique_and_one_session_is_cancelled(planned) -> None:
    _now, programme = planned
    ids = [s.session_id for s in programme.sessions]
    assert len(ids) == len(set(ids))
    assert sum(s.cancelled for s in programme.sessions) == 1


def test_the_evening_session_of_the_bulletin_months_last_day_counts_in_that_month_though_utc_is_in_the_next() -> None:
    programme = plan(scale=0.05, now=datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("America/Mexico_City")))
    evening = next(s for s in programme.sessions if s.session_id.endswith("-evening"))
    assert f"{evening.starts_at:%Y-%m}" == programme.bulletin_month == "2026-11"
    assert evening.starts_at.astimezone(UTC).month == 12
    assert evening.ends_at <= datetime(2026, 12, 1, tzinfo=ZoneInfo("America/Mexico_City"))


def test_a_full_scale_programme_books_nobody_twice_at_once_either() -> None:
    programme = plan(now=datetime(2027, 1, 1, 0, 0, tzinfo=ZoneInfo("America/Mexico_City")))
    seen: dict[str, set] = defaultdict(set)
    for session in programme.sessions:
        for key in session.enrolled:
            day = session.starts_at.date()
            assert day not in seen[key], f"{key} twice on {day}"
            seen[key].add(day)
    assert len(programme.servants) == 4200 and len(programme.sessions) > 12 * 9


def test_the_same_date_plans_the_same_programme_and_december_plans_the_year_to_november() -> None:
    now = datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    first, again = plan(scale=0.05, now=now), plan(scale=0.05, now=now + timedelta(days=20))
    assert [(s.session_id, s.starts_at, s.enrolled) for s in first.sessions] == \
        [(s.session_id, s.starts_at, s.enrolled) for s in again.sessions]
    assert demo_months(now, "America/Mexico_City")[0] == (2025, 12)
    assert demo_months(now, "America/Mexico_City")[-1] == (2026, 11)


def test_a_state_dir_keeps_the_programme_it_began_loading_in_a_later_month(tmp_path) -> None:
    november = datetime(2026, 11, 20, tzinfo=ZoneInfo("America/Mexico_City"))
    begun, note = programme_for(tmp_path, scale=0.05, now=november)
    assert note is None and begun.bulletin_month == "2026-10"
    later, note = programme_for(tmp_path, scale=0.1, now=november + timedelta(days=40))
    assert later.months == begun.months and len(later.servants) == len(begun.servants)
    assert note and "scale 0.05" in note


# ------------------------------------------------------------------ the oversight layer of the demo


def test_joiners_join_before_their_first_session_and_leavers_leave_after_their_last(planned) -> None:
    _now, programme = planned
    for session in programme.sessions:
        for key in session.enrolled:
            assert programme.joined_on[key] <= session.starts_at.date(), f"{key} trained before joining"
            left = programme.departures.get(key)
            assert left is None or session.ends_at.date() < left, f"{key} trained after leaving"
    joiners = [k for k, day in programme.joined_on.items() if day >= programme.first_day]
    assert joiners and programme.departures and programme.moves


def test_a_move_never_falls_on_a_day_the_servant_is_in_a_session_and_never_concerns_a_leaver(planned) -> None:
    _now, programme = planned
    for move in programme.moves:
        assert move.key not in programme.departures
        assert move.to_institution_id != programme.servant(move.key).institution_id
        assert all(s.starts_at.date() != move.effective_on for s in programme.sessions if move.key in s.enrolled)
        assert programme.institution_of(move.key, move.effective_on) == move.to_institution_id
        assert programme.institution_of(move.key, move.effective_on - timedelta(days=1)) != move.to_institution_id


def test_the_plan_targets_are_valid_contract_targets_of_topics_the_catalogue_has(planned) -> None:
    from contracts.events import MAX_PLAN_TARGETS, PlanTarget

    _now, programme = planned
    assert sorted(programme.plan_targets) == programme.years
    topics = {c.title for c in programme.courses}
    for targets in programme.plan_targets.values():
        assert 0 < len(targets) <= MAX_PLAN_TARGETS
        cells = [(t["month"], t["institution_id"], t["topic"]) for t in targets]
        assert len(cells) == len(set(cells)), "one target per month, institution and topic"
        assert all(PlanTarget(**t).topic in topics for t in targets)


def test_every_requirement_names_a_course_of_the_catalogue_and_compliance_counts_add_up(planned) -> None:
    from probidad.ops.programme import expected_compliance

    _now, programme = planned
    assert {r.course_code for r in programme.requirements} <= {c.code for c in programme.courses}
    counts = expected_compliance(programme, programme.last_day)["counts"]
    for row in counts.values():
        assert row["required"] == row["compliant"] + row["due"] + row["overdue"] + row["exempt"]
    everyone = counts[("requirement", "all", "req-codigo-etica")]
    assert everyone["exempt"] == 3 and everyone["compliant"] > 0 and everyone["overdue"] > 0


def test_a_servant_who_left_or_has_not_joined_yet_is_required_nothing() -> None:
    from probidad.ops.programme import expected_compliance

    programme = plan(scale=0.05, now=datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("America/Mexico_City")))
    on = programme.last_day
    standings = expected_compliance(programme, on)["standings"]
    left = [k for k, day in programme.departures.items() if day <= on]
    assert left and not any(key in left for key, _requirement in standings)
    joiner, joined = max(programme.joined_on.items(), key=lambda item: item[1])
    before = expected_compliance(programme, joined - timedelta(days=1))["standings"]
    assert not any(key == joiner for key, _requirement in before)


def test_the_plan_report_of_the_demo_adds_its_cells_up_to_its_total(planned) -> None:
    from probidad.ops.programme import completes, expected_plan

    _now, programme = planned
    year, through = programme.months[-1]
    report = expected_plan(programme, year, through)
    cells = report["cells"].values()
    # The total adds the planned cells, delivered figures as the targets: every cell on plan, the whole on plan.
    for figure in ("planned_people", "planned_sessions", "sessions_delivered", "servants_trained", "training_hours"):
        assert report["total"][figure] == sum(c[figure] for c in cells), figure
    # Delivery in cells the plan does not name is apart, and the two lines hold every hour delivered.
    outside = report["outside_plan"]
    assert not set(outside["cells"]) & set(report["cells"])
    delivered = sum(s.course.hours for s in programme.sessions if not s.cancelled and s.starts_at.year == year
                    and s.starts_at.month <= through for key in s.enrolled if completes(s, key))
    assert report["total"]["training_hours"] + outside["total"]["training_hours"] == delivered
