"""CPU cost of answering a report "now": catching the ledger up with the store, then resolving a snapshot.

    python bench/reporting_snapshot.py [--servants 100000] [--sessions 400] [--batch 5000] [--repeat 3]

The reporting service answers ``/reports/figures`` and the dashboard from ``ProjectionReader.snapshot()``:
load the facts written since the last read into the in-memory ``Ledger``, then, since something new
arrived, resolve a ``Snapshot``. A programme is generated (probidad/ops/programme.py:
the bulletin's year scaled to about ``--servants`` servants and ``--sessions`` sessions delivered, with
enrolments, attendance, grades and certificates; absentees, partial attendance, attendance corrections,
failed evaluations, revoked certificates, rescheduled, cancelled and unattended sessions, servants who
move mid-year), reduced to facts as the consumer does, decoded from the store's JSON as a refresh decodes
it, and measured in the same run against a baseline kept in this file — the resolution and the row
loading as they were before the fast paths (the figures code is shared):

* refresh: ``--refresh-rows`` store rows (real SQLAlchemy rows, from an in-memory SQLite) into a fresh
  ledger as ``ProjectionReader._load`` does, against rows read by name through ``row_fact``;
* snapshot now from scratch: ``Ledger.snapshot(zone)`` + ``.figures(Period.year(2026))``;
* snapshot now as the reader builds it: after ``--batch`` new facts, given the previous snapshot;
  the baseline resolves everything again (it always did);
* snapshot as of mid-year + the same figures: past cut-offs must not get slower.

Both sides must give identical figures and views (checked before timing). Prints ratios (baseline time
/ new time: above 1 is faster), best of ``--repeat``, in process CPU time: on a shared machine the wall
clock mostly measures the neighbours. Runs on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probidad.ops.programme import bulletin_plan, generate, scaled_plan
from services.reporting.domain.facts import (
    FOREVER, PRESENT, UNKNOWN, Fact, fact_from, from_micros, micros,
)
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import CertificateEvent, CompletionView, Period, Who
from services.reporting.domain.snapshot import Snapshot
from services.reporting.repository import COLUMNS, FACTS, LOADED, apply_rows, fact_values, row_fact

ZONE = ZoneInfo("America/Mexico_City")
YEAR = 2026


def programme(servants: int, sessions: int) -> list[Fact]:
    """The facts of the generator's year (the bulletin's, scaled to ``servants`` and ``sessions``
    delivered), in the order the store would hold them (by envelope time)."""
    base = bulletin_plan()
    plan = scaled_plan(servants / base.servants, sessions_scale=sessions / base.sessions, correct_every=53)
    assert plan.year == YEAR and ZoneInfo(plan.timezone) == ZONE
    facts = [fact for envelope in generate(plan).envelopes if (fact := fact_from(envelope)) is not None]
    facts.sort(key=lambda f: (f.known_at, f.event_id))
    return facts


# ---------------------------------------------------------------- the baseline: the original resolution


def reference_latest(facts, cutoff: int) -> Fact | None:
    best = None
    for f in facts:
        if f.known_at <= cutoff and (best is None or (f.known_at, f.event_id) > (best.known_at, best.event_id)):
            best = f
    return best


class ReferenceLedger(Ledger):
    """The service's ledger (``apply`` is shared: the refresh baseline differs only in reading rows by
    name), resolving its snapshots the old way."""

    def snapshot(self, zone: ZoneInfo, as_of: datetime | None = None) -> Snapshot:
        return ReferenceSnapshot(self, zone, as_of)


class ReferenceSnapshot(Snapshot):
    """``Snapshot`` with its resolution as it was: the queries (figures, coverage, roster) are shared, and
    so is ``_session`` (one call per session, a few hundred: it weighs nothing beside the certificates)."""

    def __init__(self, ledger: Ledger, zone: ZoneInfo, as_of: datetime | None) -> None:  # noqa: PLR0912
        self.zone = zone
        self.as_of = as_of
        cutoff = micros(as_of) if as_of is not None else FOREVER
        self._cutoff = cutoff
        self._ledger = ledger
        self.institutions = {}
        self.headcounts = {}
        for iid, facts in ledger.institutions.items():
            known = [f for f in facts if f.known_at <= cutoff]
            if known:
                self.institutions[iid] = reference_latest(known, cutoff)
                self.headcounts[iid] = known
        self.courses = {cid: f for cid, fs in ledger.courses.items() if (f := reference_latest(fs, cutoff))}
        self.sessions = {}
        for sid, facts in ledger.sessions.items():
            view = self._session(sid, facts)
            if view is not None:
                self.sessions[sid] = view
        self.present = defaultdict(list)
        for (sid, servant), facts in ledger.attendance.items():
            latest = reference_latest(facts, cutoff)
            if latest is not None and latest.attributes["status"] in PRESENT:
                self.present[sid].append(servant)
        self.completions = []
        self.issued = []
        self.revoked = []
        for certificate_id, facts in ledger.certificates.items():
            self._certificate(certificate_id, facts)

    def who(self, servant_id: str, at: datetime | None) -> Who:
        known = [f for f in self._ledger.servants.get(servant_id, ()) if f.known_at <= self._cutoff]
        if not known:
            return Who(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
        moment = micros(at) if at is not None else self._cutoff
        before = [f for f in known if f.known_at <= moment]
        version = reference_latest(before, moment) if before else min(known, key=lambda f: (f.known_at, f.event_id))
        iid = version.attributes["institution_id"]
        institution = self.institutions.get(iid)
        return Who(iid, institution.attributes["name"] if institution else UNKNOWN,
                   institution.attributes["government_level"] if institution else UNKNOWN,
                   version.attributes["sex"])

    def _certificate(self, certificate_id: str, facts: list[Fact]) -> None:
        cutoff = self._cutoff
        issued = reference_latest((f for f in facts if f.kind == "certificate_issued"), cutoff)
        revoked = reference_latest((f for f in facts if f.kind == "certificate_revoked"), cutoff)
        reference = issued or revoked
        if reference is None:
            return
        session = self.sessions.get(reference.session_id)
        who = self.who(reference.servant_id, session.starts_at if session else None)
        course = self.courses.get(reference.attributes["course_id"])
        topic = session.topic if session else (course.attributes["topic"] if course else UNKNOWN)
        if issued is not None:
            day = date.fromisoformat(issued.attributes["issued_on"])
            self.issued.append(CertificateEvent(day, session, who, topic))
        if revoked is not None:
            day = from_micros(revoked.known_at).astimezone(self.zone).date()
            self.revoked.append(CertificateEvent(day, session, who, topic))
        if issued is not None and revoked is None and session is not None:
            self.completions.append(CompletionView(issued.servant_id, session, who, certificate_id,
                                                   float(issued.attributes["hours"])))


def reference_load(ledger: Ledger, rows, after: int) -> int:
    for row in rows:
        ledger.apply(row_fact(row))
        after = row.seq
    return after


# ---------------------------------------------------------------- measuring


def cpu_best(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def everything(snapshot: Snapshot) -> list:
    """Figures of the year, coverage, and the views every figure is computed from."""
    return [snapshot.figures(Period.year(YEAR), by) for by in (None, "institution")] + [
        snapshot.coverage(YEAR), snapshot.sessions, dict(snapshot.present), snapshot.completions, snapshot.issued,
        snapshot.revoked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servants", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--batch", type=int, default=5_000, help="Facts arriving between two snapshots.")
    parser.add_argument("--refresh-rows", type=int, default=50_000, help="Rows one refresh loads.")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    facts = programme(args.servants, args.sessions)
    stored = [fact_values(f, 1) for f in facts]  # as the consumer writes them
    print(f"facts: {len(facts):,} ({args.servants:,} servants, {args.sessions} sessions)")

    # The whole ledger, decoded from stored values as a refresh decodes rows (by ``apply_rows``): both
    # sides then resolve the same fact objects. ``earlier`` is the reader's snapshot before the batch.
    new, old = Ledger(), ReferenceLedger()
    loaded = [(seq, *values[1:]) for seq, values in enumerate(stored, 1)]
    apply_rows(new, loaded[:-args.batch], 0)
    earlier = new.snapshot(ZONE)
    apply_rows(new, loaded[-args.batch:], 0)
    old.apply_all(new.applied)
    expected = everything(old.snapshot(ZONE))
    assert everything(new.snapshot(ZONE)) == expected
    assert everything(new.snapshot(ZONE, previous=earlier)) == expected
    mid_year = datetime(YEAR, 7, 15, 12, tzinfo=ZONE)
    then, reference_then = new.snapshot(ZONE, mid_year), old.snapshot(ZONE, mid_year)
    for by in (None, "institution"):
        assert then.figures(Period.year(YEAR), by) == reference_then.figures(Period.year(YEAR), by)

    # A refresh's rows: real SQLAlchemy rows, as the reader selects them and as it used to.
    engine = create_engine("sqlite://")
    FACTS.metadata.create_all(engine, tables=[FACTS])
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT INTO {FACTS.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            stored[:args.refresh_rows])
        rows = connection.execute(select(*LOADED).order_by(FACTS.c.seq)).all()
        original_rows = connection.execute(select(FACTS).order_by(FACTS.c.seq)).all()
    reloaded, reference = Ledger(), ReferenceLedger()
    assert apply_rows(reloaded, rows, 0) == reference_load(reference, original_rows, 0) == len(rows)
    assert reloaded.certificates == reference.certificates and reloaded.attendance == reference.attendance

    def report(label: str, baseline: float, candidate: Callable[[], object]) -> None:
        print(f"{label}: {baseline / cpu_best(candidate, args.repeat):.2f}x faster than the baseline "
              f"(CPU time, best of {args.repeat})")

    report(f"refresh: {len(rows):,} store rows into a ledger",
           cpu_best(lambda: reference_load(ReferenceLedger(), original_rows, 0), args.repeat),
           lambda: apply_rows(Ledger(), rows, 0))
    year = Period.year(YEAR)
    now = cpu_best(lambda: old.snapshot(ZONE).figures(year), args.repeat)
    report("snapshot now from scratch + figures(year)", now, lambda: new.snapshot(ZONE).figures(year))
    report(f"snapshot now after {args.batch:,} new facts, reusing the last one (as the reader does) + figures(year)",
           now, lambda: new.snapshot(ZONE, previous=earlier).figures(year))
    report("snapshot as of mid-year + figures(year)",
           cpu_best(lambda: old.snapshot(ZONE, mid_year).figures(year), args.repeat),
           lambda: new.snapshot(ZONE, mid_year).figures(year))

if __name__ == "__main__":
    main()
