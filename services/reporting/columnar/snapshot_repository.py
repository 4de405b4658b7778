"""A columnar snapshot: the facts as known at a cut-off, resolved into tables every figure groups."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from services.reporting.domain.facts import DIMENSIONS, PRESENT, Fact, from_micros, latest_version
from services.reporting.domain.figures import checked_through, coverage_rows, empty_row, plan_report
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period, SessionView

if TYPE_CHECKING:
    from services.reporting.columnar.copy_repository import ColumnarLedger

VERSION_ORDER_SQL = "(known_at, event_id)"  # which of two versions is the later one, as facts.VERSION_ORDER

# Kinds the compliance projection reads (services/reporting/compliance.py), and a roster's.
COMPLIANCE_KINDS = ("institution", "servant", "servant_transferred", "departure", "requirement", "exemption_granted",
                    "exemption_withdrawn", "competency", "certificate_issued", "certificate_revoked")


# Keys of a figures row: by the session (its start's local month, its topic, its modality), by the
# servant's group when the session started, and a certificate event's by its own day.
_SESSION_KEYS = {None: "'total'", "month": "strftime({day}, '%Y-%m')", "topic": "topic", "modality": "modality"}
_WHO_KEYS = {"institution": "institution_id", "government_level": "government_level", "sex": "sex"}


class ColumnarSnapshot:
    """What the facts said at a cut-off: the sessions known, and per slice of years the servants present
    and the standing certificates, as tables the figures group; the API of ``domain.Snapshot``."""

    def __init__(self, columnar: ColumnarLedger, as_of: datetime | None, cutoff: int, prefix: str) -> None:
        self._columnar = columnar
        self.zone = columnar.zone
        self.as_of = as_of
        self._cutoff = cutoff
        self._p = prefix
        self._figures: dict[tuple, list[dict[str, Any]]] = {}
        self._slices: list[str] = []
        self.tables: list[str] = []  # every table it made, dropped when the snapshot is no longer held
        self._ledger: Ledger | None = None
        self.reports: dict[tuple, Any] = {}  # answers kept while the snapshot is (compliance.report)
        self._resolve()
        institution_facts = columnar.facts("kind = 'institution' AND known_at <= ?", [cutoff])
        self.headcounts: dict[str, list[Fact]] = defaultdict(list)
        for f in institution_facts:
            self.headcounts[f.subject].append(f)
        self.institutions: dict[str, Fact] = {iid: latest_version(fs, cutoff) for iid, fs in self.headcounts.items()}

    @property
    def cutoff(self) -> int:
        return self._cutoff

    def day_known(self, fact: Fact) -> date:
        return from_micros(fact.known_at).astimezone(self.zone).date()

    def _resolve(self) -> None:
        p, c = self._p, int(self._cutoff)
        for sql in (
            f"""CREATE TEMP TABLE {p}institutions AS
                SELECT institution_id, arg_max(government_level, {VERSION_ORDER_SQL}) AS government_level
                FROM institution_f WHERE known_at <= {c} GROUP BY institution_id""",
            f"""CREATE TEMP TABLE {p}courses AS
                SELECT course_id, arg_max({{'title': title, 'topic': topic}}, {VERSION_ORDER_SQL}) AS v
                FROM course_f WHERE known_at <= {c} GROUP BY course_id""",
            # A session: the latest scheduling known (course, modality, unit), the latest timing (scheduled or
            # rescheduled), cancelled once any cancellation is known; attributable once its course is known.
            f"""CREATE TEMP TABLE {p}sessions AS
                WITH known AS (SELECT * FROM session_f WHERE known_at <= {c}),
                scheduled AS (SELECT session_id, arg_max({{'course_id': course_id, 'modality': modality,
                                     'unit': organising_unit}}, {VERSION_ORDER_SQL}) AS v
                              FROM known WHERE kind = 'session_scheduled' GROUP BY session_id),
                timing AS (SELECT session_id, arg_max({{'starts_at': starts_at, 'starts_us': starts_us, 'day': day}},
                                  {VERSION_ORDER_SQL}) AS t
                           FROM known WHERE kind <> 'session_cancelled' GROUP BY session_id),
                cancelled AS (SELECT DISTINCT session_id FROM known WHERE kind = 'session_cancelled')
                SELECT s.session_id, s.v.course_id AS course_id, coalesce(c.v.title, 'unknown') AS course_title,
                       coalesce(c.v.topic, 'unknown') AS topic, s.v.modality AS modality, t.t.starts_at AS starts_at,
                       t.t.starts_us AS starts_us, t.t.day AS day, x.session_id IS NOT NULL AS cancelled,
                       s.v.unit AS organising_unit, c.course_id IS NOT NULL AS attributable
                FROM scheduled s JOIN timing t USING (session_id)
                LEFT JOIN {p}courses c ON c.course_id = s.v.course_id
                LEFT JOIN cancelled x ON x.session_id = s.session_id""",
        ):
            self._make(sql)

    def _slice(self, period: Period) -> str:
        """The prefix of the tables resolving the years ``period`` spans (resolved when first asked for): its
        sessions' attendance and certificates, and the certificates issued or revoked in those years. A
        question about one year reads that year's facts, not all history's."""
        first_year, last_year = period.start.year, period.end.year
        p = f"{self._p}y{first_year}_{last_year}_"
        if p in self._slices:
            return p
        P, c = self._p, int(self._cutoff)
        first, last = f"DATE '{first_year:04d}-01-01'", f"DATE '{last_year:04d}-12-31'"
        for sql in (
            f"""CREATE TEMP TABLE {p}attended AS
                SELECT session_id, servant_id FROM attendance_f
                WHERE known_at <= {c} AND known_until > {c} AND status IN ({", ".join(f"'{s}'" for s in PRESENT)})
                AND session_id IN (SELECT session_id FROM {P}sessions WHERE day BETWEEN {first} AND {last})""",
            # a slice's certificates: of its sessions (completions), issued in it, or revoked in it
            f"""CREATE TEMP TABLE {p}issued AS
                SELECT certificate_id, session_id, servant_id, hours, issued_on FROM certificate_f
                WHERE kind = 'certificate_issued' AND known_at <= {c} AND known_until > {c}
                AND (issued_on BETWEEN {first} AND {last}
                     OR session_id IN (SELECT session_id FROM {P}sessions WHERE day BETWEEN {first} AND {last})
                     OR certificate_id IN (SELECT certificate_id FROM certificate_f WHERE kind = 'certificate_revoked'
                                           AND known_at <= {c} AND known_until > {c}
                                           AND known_day BETWEEN {first} AND {last}))""",
            # Who the servant was when the session started: the SQL form of contracts.attribution.holding, the
            # rule domain.Snapshot.who calls (the differential test holds the two equal). Of their versions known
            # at the cut-off and in force then, the one known last; before any, the first registration; nobody
            # without a registration or while the institution it names is not known. Most servants have one
            # version, which is then in force at every moment: only the others are placed session by session.
            f"""CREATE TEMP TABLE {p}servants AS
                SELECT servant_id, count(*) AS versions,
                       arg_min({{'i': institution_id, 's': sex}}, {VERSION_ORDER_SQL})
                           FILTER (WHERE kind = 'servant') AS first
                FROM servant_f WHERE known_at <= {c}
                AND servant_id IN (SELECT servant_id FROM {p}attended UNION SELECT servant_id FROM {p}issued)
                GROUP BY servant_id HAVING bool_or(kind = 'servant')""",
            f"""CREATE TEMP TABLE {p}moved AS
                WITH pairs AS (
                    SELECT q.servant_id, q.session_id, s.starts_us
                    FROM (SELECT servant_id, session_id FROM {p}attended
                          UNION SELECT servant_id, session_id FROM {p}issued) q
                    JOIN {p}servants m ON m.servant_id = q.servant_id AND m.versions > 1
                    JOIN {P}sessions s ON s.session_id = q.session_id AND s.attributable)
                SELECT q.servant_id, q.session_id,
                       arg_max({{'i': v.institution_id, 's': v.sex}}, (v.known_at, v.event_id)) AS in_force
                FROM pairs q JOIN servant_f v ON v.servant_id = q.servant_id AND v.known_at <= {c}
                WHERE v.effective_us <= q.starts_us
                GROUP BY q.servant_id, q.session_id""",
            # the person "distinct servants" counts (domain.Snapshot.person): the first CURP-derived person id
            # recorded for the servant, whenever it became known
            f"""CREATE TEMP TABLE {p}persons AS
                SELECT servant_id, arg_min(person_id, seq) AS person FROM servant_f
                WHERE person_id IS NOT NULL AND person_id <> '' AND servant_id IN (SELECT servant_id FROM {p}servants)
                GROUP BY servant_id""",
            f"""CREATE TEMP TABLE {p}present AS
                WITH placed AS (
                    SELECT a.session_id, a.servant_id, coalesce(w.in_force, v.first) AS who
                    FROM {p}attended a
                    JOIN {P}sessions s ON s.session_id = a.session_id AND s.attributable
                    JOIN {p}servants v ON v.servant_id = a.servant_id
                    LEFT JOIN {p}moved w ON w.servant_id = a.servant_id AND w.session_id = a.session_id)
                SELECT q.session_id, q.servant_id, q.who.i AS institution_id, i.government_level, q.who.s AS sex,
                       coalesce(p.person, q.servant_id) AS person
                FROM placed q JOIN {P}institutions i ON i.institution_id = q.who.i
                LEFT JOIN {p}persons p ON p.servant_id = q.servant_id""",
            f"""CREATE TEMP TABLE {p}delivered AS
                SELECT * FROM {P}sessions
                WHERE NOT cancelled AND session_id IN (SELECT session_id FROM {p}present)
                ORDER BY day""",
            # Every certificate issued and placed: its issue, its revocation (counted on the day it became
            # known), and whether it stands as a completion (contracts.compliance.counted_on).
            f"""CREATE TEMP TABLE {p}certificates AS
                WITH revoked AS (
                    SELECT certificate_id, revoked_from, known_day FROM certificate_f
                    WHERE kind = 'certificate_revoked' AND known_at <= {c} AND known_until > {c}),
                placed AS (
                    SELECT i.*, s.day AS session_day, s.topic, s.modality, coalesce(w.in_force, v.first) AS who
                    FROM {p}issued i
                    JOIN {P}sessions s ON s.session_id = i.session_id AND s.attributable
                    JOIN {p}servants v ON v.servant_id = i.servant_id
                    LEFT JOIN {p}moved w ON w.servant_id = i.servant_id AND w.session_id = i.session_id)
                SELECT q.certificate_id, q.session_id, q.servant_id, q.who.i AS institution_id, n.government_level,
                       q.who.s AS sex, coalesce(p.person, q.servant_id) AS person, q.session_day, q.topic, q.modality,
                       q.issued_on, q.hours, r.certificate_id IS NOT NULL AS revoked, r.known_day AS revoked_day,
                       CASE WHEN r.certificate_id IS NULL THEN true
                            ELSE counted_on(r.revoked_from, q.issued_on) END AS completion
                FROM placed q
                JOIN {P}institutions n ON n.institution_id = q.who.i
                LEFT JOIN {p}persons p ON p.servant_id = q.servant_id
                LEFT JOIN revoked r ON r.certificate_id = q.certificate_id""",
        ):
            self._make(sql)
        self._slices.append(p)
        return p

    def _make(self, sql: str) -> None:
        """Run a ``CREATE TEMP TABLE name AS …``, noting the table for when the snapshot goes."""
        self.tables.append(sql.split()[3])
        self._columnar.execute(sql)

    def _rows(self, sql: str, params: Sequence[Any] = (), period: Period | None = None) -> list[tuple]:
        """Run ``sql``, its ``{p}`` the prefix of the slice resolving ``period``."""
        with self._columnar.lock:
            prefix = self._slice(period) if period is not None else self._p
            return self._columnar.query(sql.replace("{p}", prefix), params)

    # -- figures

    def years_delivered(self) -> list[int]:
        """The years with at least one session delivered, oldest first. A year where someone attended is
        delivered as soon as one attendee is placed: a servant with one version, a registration in a known
        institution, settles it without resolving the year; only the other years are resolved to be sure."""
        c = int(self._cutoff)
        candidates = self._rows(f"""
            SELECT year(s.day) AS y, bool_or(a.servant_id IN (
                       SELECT servant_id FROM servant_f WHERE known_at <= {c} GROUP BY servant_id
                       HAVING count(*) = 1 AND bool_and(kind = 'servant')
                       AND any_value(institution_id) IN (SELECT institution_id FROM {{p}}institutions))) AS settled
            FROM attendance_f a JOIN {{p}}sessions s ON s.session_id = a.session_id
            WHERE a.known_at <= {c} AND a.known_until > {c} AND a.status IN ({", ".join(f"'{x}'" for x in PRESENT)})
            AND s.attributable AND NOT s.cancelled
            GROUP BY ALL ORDER BY y""")
        return [year for year, settled in candidates
                if settled or self._rows("SELECT count(*) FROM {p}delivered", (), Period.year(year))[0][0]]

    def delivered(self, period: Period) -> list[SessionView]:
        rows = self._rows("SELECT session_id, course_id, course_title, topic, modality, starts_at, day, cancelled, "
                          "organising_unit FROM {p}delivered WHERE day BETWEEN ? AND ? ORDER BY starts_us, session_id",
                          [period.start, period.end], period)
        return [SessionView(sid, course, title, topic, modality, datetime.fromisoformat(starts), day, cancelled, unit)
                for sid, course, title, topic, modality, starts, day, cancelled, unit in rows]

    def figures(self, period: Period, by: str | None = None, institution: str | None = None) -> list[dict[str, Any]]:
        """As ``domain.Snapshot.figures``."""
        if by is not None and by not in DIMENSIONS:
            raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
        memo = (period, by, institution)
        if memo not in self._figures:
            self._figures[memo] = self._figures_of(period, by, institution)
        return [dict(row) for row in self._figures[memo]]

    def _figures_of(self, period: Period, by: str | None, institution: str | None) -> list[dict[str, Any]]:
        span = [period.start, period.end]
        only = [institution] if institution is not None else []
        if by in _WHO_KEYS:
            column = _WHO_KEYS[by]
            delivered = self._rows(
                f"SELECT p.{column}, count(DISTINCT d.session_id), count(DISTINCT d.course_id) "
                "FROM {p}delivered d JOIN {p}present p USING (session_id) WHERE d.day BETWEEN ? AND ? "
                + ("AND p.institution_id = ? " if institution is not None else "") + "GROUP BY ALL",
                span + only, period)
            trained_key = issued_key = revoked_key = column
        else:
            delivered = self._rows(
                f"SELECT {_SESSION_KEYS[by].format(day='day')} AS k, count(DISTINCT session_id), "
                "count(DISTINCT course_id) FROM {p}delivered WHERE day BETWEEN ? AND ? "
                + ("AND session_id IN (SELECT session_id FROM {p}present WHERE institution_id = ?) "
                   if institution is not None else "") + "GROUP BY ALL", span + only, period)
            trained_key = _SESSION_KEYS[by].format(day="session_day")
            issued_key = _SESSION_KEYS[by].format(day="issued_on")
            revoked_key = _SESSION_KEYS[by].format(day="revoked_day")
        where_institution = "AND institution_id = ? " if institution is not None else ""
        trained = self._rows(
            f"SELECT {trained_key} AS k, count(DISTINCT person), count(*), sum(hours) FROM {{p}}certificates "
            f"WHERE completion AND session_day BETWEEN ? AND ? {where_institution}GROUP BY ALL", span + only, period)
        issued = self._rows(
            f"SELECT {issued_key} AS k, count(*) FROM {{p}}certificates "
            f"WHERE issued_on BETWEEN ? AND ? {where_institution}GROUP BY ALL", span + only, period)
        revoked = self._rows(
            f"SELECT {revoked_key} AS k, count(*) FROM {{p}}certificates "
            f"WHERE revoked AND revoked_day BETWEEN ? AND ? {where_institution}GROUP BY ALL", span + only, period)
        rows: dict[str, dict[str, Any]] = defaultdict(empty_row)
        # A constant key ('total') makes GROUP BY ALL an aggregate over everything: one row even when none
        # matched, which is no row at all here.
        delivered, trained, issued, revoked = ([r for r in found if r[1]] for found in (delivered, trained, issued,
                                                                                         revoked))
        for key, sessions, courses in delivered:
            rows[key]["sessions_delivered"] = sessions
            rows[key]["courses_delivered"] = courses
        for key, persons, participations, hours in trained:
            rows[key].update(servants_trained=persons, participations=participations, training_hours=round(hours, 2))
        for key, count in issued:
            rows[key]["certificates_issued"] = count
        for key, count in revoked:
            rows[key]["certificates_revoked"] = count
        if by is None:
            total = rows["total"] if rows else empty_row()
            return [{"period": period.label, **total}]
        labels = ({iid: f.attributes["name"] for iid, f in self.institutions.items()} if by == "institution" else {})
        return [{"period": period.label, by: key, **({"name": labels[key]} if key in labels else {}), **rows[key]}
                for key in sorted(rows)]

    def coverage(self, year: int) -> list[dict[str, Any]]:
        period = Period.year(year)
        trained = dict(self._rows("SELECT institution_id, count(DISTINCT person) FROM {p}certificates "
                                  "WHERE completion AND session_day BETWEEN ? AND ? GROUP BY ALL",
                                  [period.start, period.end], period))
        return coverage_rows(year, self.institutions, self.headcounts, trained, self._cutoff)

    def plan_in_force(self, year: int) -> Fact | None:
        known = [f for f in self._columnar.facts("kind = 'plan' AND known_at <= ?", [self._cutoff])
                 if f.attributes["year"] == year]
        return max(known, key=lambda f: (f.attributes["version"], f.known_at, f.event_id), default=None)

    def plan_against_actual(self, year: int, through_month: int | None = None,
                            institution: str | None = None) -> dict[str, Any]:
        """As ``domain.Snapshot.plan_against_actual``."""
        period = Period(date(year, 1, 1), Period.month(year, checked_through(through_month)).end)
        span = [period.start, period.end]
        only = [institution] if institution is not None else []
        sessions = {(m, iid, topic): n for m, iid, topic, n in self._rows(
            "SELECT month(d.day), p.institution_id, d.topic, count(DISTINCT d.session_id) "
            "FROM {p}delivered d JOIN {p}present p USING (session_id) WHERE d.day BETWEEN ? AND ? "
            + ("AND p.institution_id = ? " if institution is not None else "") + "GROUP BY ALL", span + only, period)}
        trained, hours = {}, {}
        for m, iid, topic, persons, total in self._rows(
                "SELECT month(session_day), institution_id, topic, count(DISTINCT person), sum(hours) "
                "FROM {p}certificates WHERE completion AND session_day BETWEEN ? AND ? "
                + ("AND institution_id = ? " if institution is not None else "") + "GROUP BY ALL", span + only,
                period):
            trained[(m, iid, topic)] = persons
            hours[(m, iid, topic)] = total
        return plan_report(year, through_month, institution, self.plan_in_force(year), sessions, trained, hours,
                           {iid: f.attributes["name"] for iid, f in self.institutions.items()})

    # -- what is read as facts: a roster, compliance

    def roster(self, session_id: str) -> dict[str, Any] | None:
        """As ``domain.Snapshot.roster``, resolved by the reference over the facts the roster reads: the
        session's own, its course's, the institutions' and its participants' registrations and transfers."""
        columnar, c = self._columnar, self._cutoff
        own = columnar.facts("session_id = ? AND known_at <= ?", [session_id, c])
        if not any(f.kind == "session_scheduled" for f in own):
            return None
        courses = {f.attributes["course_id"] for f in own if f.kind == "session_scheduled"}
        servants = sorted({f.servant_id for f in own if f.servant_id})
        facts = [*own, *columnar.facts("kind = 'institution' AND known_at <= ?", [c]),
                 *columnar.facts("kind = 'course' AND subject IN (SELECT unnest(?::VARCHAR[])) AND known_at <= ?",
                                 [sorted(courses), c]),
                 *columnar.facts("kind IN ('servant', 'servant_transferred') AND servant_id IN "
                                 "(SELECT unnest(?::VARCHAR[])) AND known_at <= ?", [servants, c])]
        ledger = Ledger()
        ledger.apply_all(facts)
        return ledger.snapshot(self.zone, self.as_of).roster(session_id)

    @property
    def ledger(self) -> Ledger:
        """The requirements known at the cut-off: what the compliance projection reads of the snapshot itself.
        The facts about servants come a group of servants at a time (``compliance_parts``)."""
        if self._ledger is None:
            ledger = Ledger()
            ledger.apply_all(self._columnar.facts("kind = 'requirement' AND known_at <= ?", [self._cutoff]))
            self._ledger = ledger
        return self._ledger

    def compliance_parts(self, institution: str | None = None,
                         servants_per_part: int = 20_000) -> Iterator[CompliancePart]:
        """The compliance projection's facts, known at the cut-off, a group of servants at a time (in servant
        id order): each part holds the requirements and everything about its servants — registrations,
        transfers, leavings, exemptions, competencies, revocations and the certificates of the courses
        requirements name. With ``institution``, only servants some version of whom names it."""
        c = self._cutoff
        requirements = list(itertools.chain.from_iterable(self.ledger.requirements.values()))
        courses = sorted({f.attributes.get("course_id") for f in requirements} - {None})
        kinds = [k for k in COMPLIANCE_KINDS if k not in ("institution", "requirement", "certificate_issued")]
        sql = ("SELECT event_id, kind, known_at, subject, session_id, servant_id, attributes FROM fact_log "
               "WHERE known_at <= ? AND servant_id IS NOT NULL AND (kind IN (SELECT unnest(?::VARCHAR[])) OR "
               "(kind = 'certificate_issued' AND json_extract_string(attributes, '$.course_id') IN "
               "(SELECT unnest(?::VARCHAR[]))))")
        params: list[Any] = [c, kinds, courses]
        if institution is not None:
            sql += " AND servant_id IN (SELECT servant_id FROM servant_f WHERE institution_id = ? AND known_at <= ?)"
            params += [institution, c]
        reader = self._columnar.cursor()  # a connection of its own: appends may go on meanwhile
        try:
            result = reader.execute(sql + " ORDER BY servant_id, seq", params)
            part: list[Fact] = []
            servants, last = 0, None
            while rows := result.fetchmany(10_000):
                for e, k, t, subject, sid, vid, a in rows:
                    if vid != last:
                        if servants >= servants_per_part:
                            yield self._part(requirements, part)
                            part, servants = [], 0
                        servants, last = servants + 1, vid
                    part.append(Fact(e, k, t, subject, sid, vid, orjson.loads(a)))
            if part:
                yield self._part(requirements, part)
        finally:
            reader.close()

    def _part(self, requirements: list[Fact], facts: list[Fact]) -> CompliancePart:
        ledger = Ledger()
        ledger.apply_all(requirements)
        ledger.apply_all(facts)
        return CompliancePart(self.zone, self._cutoff, self.institutions, ledger)


@dataclass(frozen=True)
class CompliancePart:
    """What ``services/reporting/compliance.py`` reads of a snapshot, for one group of servants."""

    zone: ZoneInfo
    cutoff: int
    institutions: dict[str, Fact]
    ledger: Ledger

    def day_known(self, fact: Fact) -> date:
        return from_micros(fact.known_at).astimezone(self.zone).date()
