"""The columnar read side answers every reporting question exactly as the in-memory reference does.

The reference is ``services.reporting.domain`` (``Ledger`` + ``Snapshot``); the columnar engine is
``services.reporting.columnar.ColumnarLedger``. Both are given the same facts — the generator's
programmes (tests/support/reporting_programmes.py), as they are and perturbed: shuffled, redelivered,
known late, corrected, revoked both ways, transferred after the fact, naming entities never known,
people with two posts, plans revised — and asked the same questions now and as of several past
moments: every figure and breakdown, coverage, delivery, the plan and plan against actual, rosters,
compliance, the bulletin, open data and the dashboard. Any answer that differs fails the test with the
first differing item, so the difference can be found.

The larger programmes are marked ``larger`` in their ids (``-k "not larger"`` leaves them out); CI
runs them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

import pytest

from services.reporting import bulletin, compliance, dashboard, exports
from services.reporting.columnar.copy_repository import ColumnarLedger
from services.reporting.domain.facts import DIMENSIONS, Fact, from_micros
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period
from services.reporting.domain.snapshot import Snapshot
from tests.support.reporting_programmes import (
    PERTURBATIONS, ZONE, demo_facts, generated_facts, perturbed, redelivered, shuffled,
)

UNIT = "Unidad de Ética, Integridad y Prevención de Conflictos de Interés"
MINIMUM = 3  # small counts blanked on the public pages, so suppression runs over both engines' figures


# ---------------------------------------------------------------- finding the first difference


def plain(value: Any) -> Any:
    """An answer as comparable data: views as dicts, facts by event id, sets sorted."""
    if isinstance(value, Fact):
        return {"event_id": value.event_id, "known_at": value.known_at}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Where two answers first differ, with both values there; None when they are equal. Equal means
    equal as Python compares them (a str enum equals its text) and of the same kind of number."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                return f"{path or '.'}: key {key!r} missing (expected {expected[key]!r})"
        for key in actual:
            if key not in expected:
                return f"{path or '.'}: unexpected key {key!r} = {actual[key]!r}"
        for key in expected:
            found = first_difference(expected[key], actual[key], f"{path}[{key!r}]")
            if found:
                return found
        if list(expected) != list(actual):
            return f"{path or '.'}: keys in another order: {list(expected)} != {list(actual)}"
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for n, (e, a) in enumerate(zip(expected, actual)):
            found = first_difference(e, a, f"{path}[{n}]")
            if found:
                return found
        if len(expected) != len(actual):
            longer, which = (expected, "expected") if len(expected) > len(actual) else (actual, "actual")
            extra = longer[min(len(expected), len(actual))]
            return f"{path or '.'}: length {len(expected)} != {len(actual)}; first extra item ({which}): {extra!r}"
        return None
    if isinstance(expected, str) and isinstance(actual, str) and expected != actual and len(expected) > 200:
        at = next((n for n, (e, a) in enumerate(zip(expected, actual)) if e != a), min(len(expected), len(actual)))
        return (f"{path or '.'}: texts differ at character {at}: expected …{expected[max(0, at - 80):at + 80]!r}… "
                f"actual …{actual[max(0, at - 80):at + 80]!r}…")
    numbers = (int, float)
    if (isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool)
            and isinstance(expected, float) != isinstance(actual, float) and expected == actual):
        return f"{path or '.'}: {expected!r} ({type(expected).__name__}) != {actual!r} ({type(actual).__name__})"
    if expected != actual or (expected is None) != (actual is None):
        return f"{path or '.'}: expected {expected!r}, got {actual!r}"
    return None


def test_the_difference_finder_names_the_first_differing_item():
    expected = {"rows": [{"a": 1, "b": [1, 2]}, {"a": 2}], "n": 1.5}
    assert first_difference(expected, plain(expected)) is None
    assert first_difference(expected, {"rows": [{"a": 1, "b": [1, 3]}, {"a": 2}], "n": 1.5}) == (
        "['rows'][0]['b'][1]: expected 2, got 3")
    assert "length 2 != 1" in first_difference(expected, {"rows": [{"a": 1, "b": [1, 2]}], "n": 1.5})
    assert "missing" in first_difference(expected, {"rows": expected["rows"]})
    assert "(int) != 1.0 (float)" in first_difference({"x": 1}, {"x": 1.0})
    assert "character 300" in first_difference("x" * 300 + "a", "x" * 300 + "b")


# ---------------------------------------------------------------- the questions


@dataclass(frozen=True)
class Scope:
    """What to ask of a programme's facts: its years and months, institutions, sessions, days."""

    years: tuple[int, ...]
    months: tuple[tuple[int, int], ...]
    institutions: tuple[str, ...]
    sessions: tuple[str, ...]
    days: tuple[date, ...]
    facts: tuple[Fact, ...]  # a few, for day_known

    @classmethod
    def of(cls, facts: list[Fact]) -> "Scope":
        starts = sorted({datetime.fromisoformat(f.attributes["starts_at"]).astimezone(ZONE).date()
                         for f in facts if f.kind in ("session_scheduled", "session_rescheduled")})
        issued = {date.fromisoformat(f.attributes["issued_on"]) for f in facts if f.kind == "certificate_issued"}
        months = sorted({(d.year, d.month) for d in (*starts, *issued)})
        years = sorted({y for y, _ in months} | {months[0][0] - 1, months[-1][0] + 1})
        # The largest institutions (most facts name them), a small one, and one never known.
        named: dict[str, int] = {}
        for f in facts:
            if f.kind == "servant":
                named[f.attributes["institution_id"]] = named.get(f.attributes["institution_id"], 0) + 1
        ranked = sorted(named, key=lambda iid: (-named[iid], iid))
        institutions = (*ranked[:2], *ranked[-1:], "inst-never-known")
        sessions = sorted({f.session_id for f in facts if f.kind == "session_scheduled"})
        sample = (*sessions[:: max(1, len(sessions) // 8)], "S-ghost-course", "S-never-known", "no-such-session")
        first, last = starts[0], starts[-1]
        days = (first - timedelta(days=1), first + (last - first) / 2, last, last + timedelta(days=200))
        ordered = sorted(facts, key=lambda f: (f.known_at, f.event_id))
        return cls(tuple(years), tuple(months), tuple(dict.fromkeys(institutions)), tuple(sample), days,
                   tuple(ordered[:: max(1, len(ordered) // 5)]))


def questions(scope: Scope, as_of: datetime | None, *, pages: int = 2,
              ) -> Iterator[tuple[str, Callable[[Snapshot], Any]]]:
    """Every question the harness asks of a snapshot, named so a failure says which one differed.

    ``pages``: how much of the public pages built from the figures to ask for — they suppress small
    counts, so they cost most: 2, open data, the bulletin and the dashboard for three selections; 1,
    the bulletin and the year's dashboard; 0, none (and three months instead of every month)."""
    yield "cutoff", lambda s: (s.cutoff, s.as_of, s.zone.key)
    # The order institutions were first heard of is no answer: compared by id.
    yield "institutions", lambda s: plain(dict(sorted(s.institutions.items())))
    yield "years_delivered", lambda s: s.years_delivered()
    for f in scope.facts:
        yield f"day_known({f.event_id})", lambda s, f=f: s.day_known(f)
    months = scope.months if pages else tuple(dict.fromkeys(scope.months[n] for n in (0, len(scope.months) // 2, -1)))
    with_facts = scope.years[1:-1]  # the years around them are asked only for their totals
    periods = [Period.year(y) for y in scope.years] + [Period.month(y, m) for y, m in months]
    periods.append(Period(date(with_facts[0], 2, 10), date(with_facts[0], 7, 20)))  # neither month nor year
    for period in periods:
        yield f"delivered({period.label})", lambda s, p=period: sorted(plain(s.delivered(p)),
                                                                      key=lambda v: v["session_id"])
        whole_year = len(period.label) == 4 and int(period.label) in with_facts
        for by in (None, *DIMENSIONS) if whole_year or len(period.label) > 4 else (None, "month"):
            yield f"figures({period.label}, {by})", lambda s, p=period, by=by: s.figures(p, by)
        for institution in scope.institutions if whole_year else scope.institutions[:1]:
            for by in (None, *DIMENSIONS) if whole_year else (None,):
                yield (f"figures({period.label}, {by}, {institution})",
                       lambda s, p=period, by=by, i=institution: s.figures(p, by, i))
    for year in scope.years:
        yield f"coverage({year})", lambda s, y=year: s.coverage(y)
        yield f"plan_in_force({year})", lambda s, y=year: plain(s.plan_in_force(y))
    for year in with_facts:
        for through, institution in ((None, None), (6, None), (11, None), (None, scope.institutions[0]),
                                     (6, scope.institutions[1]), (3, "inst-never-known")):
            yield (f"plan_against_actual({year}, {through}, {institution})",
                   lambda s, y=year, t=through, i=institution: s.plan_against_actual(y, t, i))
    for session in scope.sessions:
        yield f"roster({session})", lambda s, sid=session: s.roster(sid)
    for day in scope.days:
        yield f"compliance.report({day})", lambda s, d=day: compliance.report(s, d)
    yield (f"compliance.report({scope.days[2]}, institution)",
           lambda s: compliance.report(s, scope.days[2], institution=scope.institutions[0]))
    if not pages:
        return
    today = scope.days[2] + timedelta(days=20)
    for year, month in (scope.months[len(scope.months) // 2], scope.months[-1]):
        yield (f"bulletin_figures({year}-{month:02d})",
               lambda s, y=year, m=month: bulletin.bulletin_figures(s, y, m, as_of=as_of, today=today))
    yield "year_to_open", lambda s: dashboard.year_to_open(s, today)
    year = scope.months[-1][0]
    options = dict(as_of=as_of, unit=UNIT, minimum=MINIMUM, today=today)
    yield (f"render_dashboard({year})",
           lambda s: dashboard.render_dashboard(s, year, **options))
    if pages < 2:
        return
    yield (f"open_data({year})",
           lambda s: exports.open_data(s, year, unit=UNIT, updated_on=date(2026, 12, 1), minimum=MINIMUM))
    for period, month, institution in (("month", scope.months[-1][1], None), ("ytd", 6, scope.institutions[0])):
        yield (f"dashboard_data({year}, {period}, {month}, {institution})",
               lambda s, p=period, m=month, i=institution: dashboard.dashboard_data(
                   s, year, period=p, month=m, institution=i, **options))


def cutoffs(facts: list[Fact], scope: Scope) -> list[datetime | None]:
    """Now; mid-year; before most facts; exactly when a fact became known, and the instant before."""
    ordered = sorted(f.known_at for f in facts)
    middle = from_micros(ordered[len(ordered) // 2])
    year = scope.months[-1][0]
    return [None, datetime.combine(date(year, 6, 30), time(23, 59, 59), ZONE),
            from_micros(ordered[len(ordered) // 10]), middle, middle - timedelta(microseconds=1)]


def differences(expected: Snapshot, actual: Snapshot, scope: Scope, as_of: datetime | None, *,
                pages: int = 2) -> list[str]:
    found = []
    for name, ask in questions(scope, as_of, pages=pages):
        try:
            wanted = plain(ask(expected))
        except Exception as error:  # noqa: BLE001 - the reference's refusal is an answer too
            wanted = f"raised {type(error).__name__}: {error}"
        try:
            got = plain(ask(actual))
        except Exception as error:  # noqa: BLE001
            got = f"raised {type(error).__name__}: {error}"
        difference = first_difference(wanted, got)
        if difference:
            found.append(f"{name} as of {as_of}: {difference}")
    return found


def report(found: list[str], limit: int = 12) -> str:
    shown = "\n".join(found[:limit])
    return f"{len(found)} answers differ; the first {min(limit, len(found))}:\n{shown}"


def reference(facts: list[Fact], as_of: datetime | None) -> Snapshot:
    ledger = Ledger()
    ledger.apply_all(facts)
    return ledger.snapshot(ZONE, as_of)


# ---------------------------------------------------------------- the programmes

PROGRAMMES = {
    "generated-2026-small": lambda: generated_facts(0.04, seed=2026),
    "generated-7-corrections": lambda: generated_facts(0.12, seed=7, correct_every=9),
    "demo-11-small": lambda: demo_facts(11, 0.03),
    "demo-5": lambda: demo_facts(5, 0.07),
    "larger-generated-3": lambda: generated_facts(0.5, seed=3, correct_every=13),
    "larger-demo-2026": lambda: demo_facts(2026, 0.2),
}


@cache
def programme(name: str) -> tuple[Fact, ...]:
    return tuple(PROGRAMMES[name]())


@cache
def perturbed_programme(name: str, seed: int) -> tuple[Fact, ...]:
    return tuple(perturbed(list(programme(name)), seed))


# ---------------------------------------------------------------- the reference agrees with itself


@pytest.mark.parametrize("name", ["generated-7-corrections", "demo-5"])
def test_the_reference_answers_every_question_the_same_whatever_the_order_and_redelivery(name: str) -> None:
    """The harness's own check: the reference is order-free and idempotent, so any difference found
    between the engines is the columnar engine's."""
    facts = list(perturbed_programme(name, 1))
    scope = Scope.of(facts)
    again = redelivered(shuffled(facts, 99), 98)
    for n, as_of in enumerate(cutoffs(facts, scope)[:3]):
        found = differences(reference(facts, as_of), reference(again, as_of), scope, as_of, pages=max(0, 2 - n))
        assert not found, report(found)


def test_the_perturbations_change_the_answers_so_the_comparison_has_something_to_find() -> None:
    facts = list(programme("demo-5"))
    scope = Scope.of(facts)
    plain_snapshot = reference(facts, None)
    for name, perturbation in PERTURBATIONS.items():
        if name == "redelivered":
            continue
        changed = differences(plain_snapshot, reference(perturbation(facts, 3), None), scope, None, pages=0)
        assert changed, f"{name} changed no answer"


# ---------------------------------------------------------------- the columnar engine against the reference


def columnar(facts: list[Fact], path: str | None = None) -> ColumnarLedger:
    engine = ColumnarLedger(ZONE, path)
    engine.append(facts)
    return engine


def facts_of(name: str, variant: str) -> list[Fact]:
    return list(programme(name) if variant == "as-generated" else perturbed_programme(name, int(variant[-1])))


CASES = [("generated-2026-small", "as-generated"), ("demo-11-small", "perturbed-1"),
         ("generated-7-corrections", "perturbed-1"), ("demo-5", "perturbed-1"), ("larger-demo-2026", "perturbed-1"),
         ("larger-generated-3", "perturbed-2")]


@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_the_columnar_engine_answers_every_question_as_the_reference_does(name: str, variant: str) -> None:
    facts = facts_of(name, variant)
    scope = Scope.of(facts)
    ledger = Ledger()
    ledger.apply_all(facts)
    engine = columnar(facts)
    try:
        assert len(engine) == len(ledger)
        found = []
        for n, as_of in enumerate(cutoffs(facts, scope)):
            found += differences(ledger.snapshot(ZONE, as_of), engine.snapshot(as_of), scope, as_of,
                                 pages=max(0, 2 - n))
        assert not found, report(found)
    finally:
        engine.close()


def test_facts_appended_in_batches_out_of_order_and_twice_are_held_once_and_answer_the_same() -> None:
    facts = list(perturbed_programme("demo-11-small", 4))
    scope = Scope.of(facts)
    stream = redelivered(shuffled(facts, 5), 6)
    distinct = len({f.event_id for f in facts})
    whole, batched = columnar(facts), ColumnarLedger(ZONE)
    try:
        third = len(stream) // 3
        added = [batched.append(stream[:third]), batched.append(stream[third:2 * third]),
                 batched.append(stream[2 * third:]), batched.append(facts)]
        assert sum(added) == len(batched) == len(whole) == distinct
        assert added[-1] == 0
        for as_of in cutoffs(facts, scope)[1:3]:
            found = differences(whole.snapshot(as_of), batched.snapshot(as_of), scope, as_of, pages=0)
            assert not found, report(found)
    finally:
        whole.close()
        batched.close()


def test_snapshots_of_one_engine_at_different_moments_keep_their_own_answers() -> None:
    facts = list(perturbed_programme("generated-2026-small", 5))
    scope = Scope.of(facts)
    engine = columnar(facts)
    try:
        moments = cutoffs(facts, scope)
        snapshots = [engine.snapshot(as_of) for as_of in moments]  # all alive at once
        for as_of, snapshot in reversed(list(zip(moments, snapshots))):
            found = differences(reference(facts, as_of), snapshot, scope, as_of, pages=0)
            assert not found, report(found)
    finally:
        engine.close()


def test_an_engine_kept_in_a_file_answers_the_same_after_it_is_reopened(tmp_path) -> None:
    facts = list(perturbed_programme("demo-11-small", 6))
    scope = Scope.of(facts)
    path = str(tmp_path / "reporting.duckdb")
    columnar(facts, path).close()
    reopened = ColumnarLedger(ZONE, path)
    try:
        assert len(reopened) == len({f.event_id for f in facts})
        assert reopened.append(facts[:50]) == 0
        for as_of in cutoffs(facts, scope)[:2]:
            found = differences(reference(facts, as_of), reopened.snapshot(as_of), scope, as_of, pages=0)
            assert not found, report(found)
    finally:
        reopened.close()


def test_compliance_read_a_few_servants_at_a_time_gives_the_report_read_all_at_once(monkeypatch) -> None:
    facts = facts_of("demo-5", "perturbed-1")
    ledger = Ledger()
    ledger.apply_all(facts)
    engine = columnar(facts)
    whole = engine.snapshot().compliance_parts
    monkeypatch.setattr(type(engine.snapshot()), "compliance_parts",
                        lambda self, institution=None: whole.__func__(self, institution, servants_per_part=5))
    try:
        snapshot = engine.snapshot()
        assert sum(1 for _ in snapshot.compliance_parts()) > 10
        reference_snapshot = ledger.snapshot(ZONE)
        for on in (date(2026, 3, 31), date(2026, 11, 30)):
            for institution in (None, *sorted(reference_snapshot.institutions)[:2]):
                expected = compliance.report(reference_snapshot, on, institution=institution)
                found = first_difference(plain(expected),
                                         plain(compliance.report(snapshot, on, institution=institution)))
                assert found is None, found
                assert expected["standings"], "the programme has servants under requirements on that day"
    finally:
        engine.close()
