"""Small-count suppression of a public output, decided with every identity its reader can see. Pure: no I/O.

A public output (one page of the dashboard, one month of open data) is a ``Publication``: named
numbers (cells), the sums a reader can see between them, and the rates it prints. Suppression blanks

* **primary**: every count from 1 to ``minimum`` − 1 (a zero identifies no one);
* **complementary**: more cells, as few and as small as practical, until no blank can be worked out.
  A blank is "worked out" when linear programming over what the output states — each blank an unknown
  at least 1 (a zero is printed as 0), every sum an equation, every printed rate a pair of
  inequalities (its value is rounded) — leaves it fewer possible values than the label "< minimum"
  already allows (1 to ``minimum`` − 1: a range narrower than that tells more than the page). The loop is
  greedy: while the audit finds an exposed blank, the smallest published non-zero count of a sum
  that blank is in is blanked too, and the audit runs again;
* **rates**: a rate is printed (rounded to 0.1 %, as the page shows it) unless, added to the audit,
  it would narrow a blank: a requirement's rate is not blanked merely because its exempt count is.

Counts of the programme's own activity (``ACTIVITY``: sessions and courses delivered, sessions planned)
are never blanked, neither as primary nor as complementary blanks: they identify no one, and the programme
publishes them in its calendar and its bulletin. No identity links them with a count of people, so
printing them narrows no blank.

Training hours follow the count they would give away (participations; in the plan, servants trained):
blanked with it, and no blank's hours narrowed below one hour.

How a figure splits is written once, in ``SPLITS`` (per measure, which dimensions partition it
exactly); a split that is not a partition (a person trained in two topics counts in both) gives the
reader the sum as a bound, or as an equation when it happens to hold — the audit assumes the worst.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

Key = Hashable

# Per measure, the dimensions that partition it: every unit counted falls in exactly one category
# (a participation, an hour or a certificate belongs to one servant's institution, sex, level and to
# one session's month, topic and modality; a session has one month, topic and modality; a course one
# topic). Elsewhere a unit may count in several categories (a session attended by two institutions,
# a person trained in two topics or, having moved, in two institutions), so the categories add up to
# at least the total.
SPLITS: dict[str, frozenset[str]] = {
    "participations": frozenset({"month", "institution", "government_level", "topic", "modality", "sex"}),
    "training_hours": frozenset({"month", "institution", "government_level", "topic", "modality", "sex"}),
    "certificates_issued": frozenset({"month", "institution", "government_level", "topic", "modality", "sex"}),
    "certificates_revoked": frozenset({"month", "institution", "government_level", "topic", "modality", "sex"}),
    "sessions_delivered": frozenset({"month", "topic", "modality"}),
    "courses_delivered": frozenset({"topic"}),
    "servants_trained": frozenset(),
}
# Counts of the programme's activity, not of people: the threshold does not apply (printed always).
ACTIVITY = frozenset({"sessions_delivered", "courses_delivered", "planned_sessions"})
# A compliance row: everyone required is in exactly one state.
COMPLIANCE_PARTS = ("compliant", "due", "overdue", "exempt")
RATE_PLACES = 3  # rates are printed to 0.1 %


def protected(measure: str) -> bool:
    """Whether the threshold applies to ``measure``: a count of people (or of their participations,
    certificates, compliance states), not of the programme's own activity (``ACTIVITY``)."""
    return measure not in ACTIVITY


def exact(measure: str, dimension: str) -> bool:
    """Whether ``dimension`` partitions ``measure`` (its categories add up to the total exactly)."""
    return dimension in SPLITS.get(measure, frozenset())


@dataclass(frozen=True, slots=True)
class Sum:
    """``whole`` = Σ ``parts`` when ``exact``; otherwise the parts may overlap (whole ≤ Σ parts, each ≤ whole)."""

    whole: Key
    parts: tuple[Key, ...]
    exact: bool = True


@dataclass(frozen=True, slots=True)
class Ratio:
    """A printed rate: Σ numerator / Σ denominator, each a list of (cell, coefficient)."""

    key: Key
    numerator: tuple[tuple[Key, float], ...]
    denominator: tuple[tuple[Key, float], ...]
    places: int = RATE_PLACES


@dataclass
class Publication:
    """What one public output states: its cells (true values), sums and rates."""

    values: dict[Key, float] = field(default_factory=dict)
    # Counts of people and their participations, certificates: the threshold applies. Any other cell
    # (hours, headcounts, targets, sessions and courses: ``ACTIVITY``) is never blanked on its own
    # account nor as a complement; hours only with the count they follow.
    counts: set[Key] = field(default_factory=set)
    sums: list[Sum] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    follows: dict[Key, Key] = field(default_factory=dict)  # cell -> the count it is blanked with

    def cell(self, key: Key, value: float, *, count: bool = True) -> Key:
        self.values[key] = value
        if count:
            self.counts.add(key)
        return key

    def total(self, whole: Key, parts: Iterable[Key], exact: bool = True) -> None:
        parts = tuple(p for p in parts if p in self.values)
        if whole in self.values and parts:
            self.sums.append(Sum(whole, parts, exact))

    def rate(self, key: Key, numerator: Sequence[tuple[Key, float]],
             denominator: Sequence[tuple[Key, float]]) -> None:
        self.ratios.append(Ratio(key, tuple(numerator), tuple(denominator)))

    def ratio_value(self, ratio: Ratio) -> float | None:
        """The rate as printed: rounded to its places; None when its denominator is 0."""
        den = sum(self.values[k] * c for k, c in ratio.denominator)
        if den <= 0:
            return None
        return round(sum(self.values[k] * c for k, c in ratio.numerator) / den, ratio.places)


@dataclass(frozen=True, slots=True)
class Decision:
    blanks: frozenset[Key]
    rates: dict[Key, float | None]  # every ratio's printed value, None when blanked or undefined
    exposed: dict[Key, tuple[float, float]]  # blanks the audit could still narrow (none, normally)


def _terms(terms: Iterable[tuple[Key, float]], blanks: set[Key], values: dict[Key, float]
           ) -> tuple[dict[Key, float], float]:
    unknown: dict[Key, float] = defaultdict(float)
    known = 0.0
    for k, c in terms:
        if k in blanks:
            unknown[k] += c
        else:
            known += values[k] * c
    return unknown, known


def constraints(pub: Publication, blanks: set[Key], rates: dict[Key, float | None]
                ) -> list[tuple[dict[Key, float], float, float]]:
    """Every identity the output states, as lo ≤ Σ coef·blank ≤ hi (the published cells moved to the
    bounds). A sum that is not a partition is an equation when the truth satisfies it (a reader may
    assume so, and be right) and otherwise the bounds the truth does satisfy."""
    rows = []
    for s in pub.sums:
        cells = (s.whole, *s.parts)
        if not any(k in blanks for k in cells):
            continue
        terms = [(s.whole, -1.0), *((p, 1.0) for p in s.parts)]
        unknown, known = _terms(terms, blanks, pub.values)
        gap = sum(pub.values[p] for p in s.parts) - pub.values[s.whole]
        # Hours are printed rounded to the hundredth: their sums hold to the rounding of each cell.
        slack = 0.0 if all(k in pub.counts for k in cells) else 0.005 * len(cells) + 1e-9
        if s.exact or abs(gap) <= slack:
            rows.append((unknown, -known - slack, -known + slack))
            continue
        if gap >= 0:  # the parts overlap: together at least the whole
            rows.append((unknown, -known, math.inf))
        for p in s.parts:
            if pub.values[p] <= pub.values[s.whole]:
                part, rest = _terms([(p, 1.0), (s.whole, -1.0)], blanks, pub.values)
                if part:
                    rows.append((part, -math.inf, -rest))
    for ratio in pub.ratios:
        value = rates.get(ratio.key)
        if value is None:
            continue
        num, num_known = _terms(ratio.numerator, blanks, pub.values)
        den, den_known = _terms(ratio.denominator, blanks, pub.values)
        if not num and not den:
            continue
        half = 0.5 * 10 ** -ratio.places + 1e-9
        for bound, sign in ((value - half, 1), (value + half, -1)):
            # sign·(num − bound·den) ≥ 0
            coefs: dict[Key, float] = defaultdict(float)
            for k, c in num.items():
                coefs[k] += sign * c
            for k, c in den.items():
                coefs[k] -= sign * bound * c
            rows.append((dict(coefs), -sign * (num_known - bound * den_known), math.inf))
    return rows


def ranges(pub: Publication, blanks: set[Key], rates: dict[Key, float | None],
           only: set[Key] | None = None) -> dict[Key, tuple[float, float]]:
    """Each blank's least and greatest value consistent with what the output states (linear
    programming, HiGHS), by connected groups of blanks; ``only``: the groups holding these."""
    rows = [r for r in constraints(pub, blanks, rates) if r[0]]
    parent = {k: k for k in blanks}

    def find(k: Key) -> Key:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for coefs, _, _ in rows:
        first, *rest = coefs
        for k in rest:
            parent[find(k)] = find(first)
    groups: dict[Key, list[Key]] = defaultdict(list)
    for k in blanks:
        groups[find(k)].append(k)
    group_rows: dict[Key, list] = defaultdict(list)
    for row in rows:
        group_rows[find(next(iter(row[0])))].append(row)
    wanted = None if only is None else {find(k) for k in only if k in blanks}
    out = {}
    for root, members in groups.items():
        if wanted is not None and root not in wanted:
            continue
        members.sort(key=repr)
        found = group_rows.get(root, [])
        if not found:
            for k in members:
                out[k] = (_floor(pub, k), math.inf)
            continue
        out.update(_extremes(members, found, [_floor(pub, k) for k in members]))
    return out


def _extremes(members: list[Key], rows: list[tuple[dict[Key, float], float, float]], floors: list[float]
              ) -> dict[Key, tuple[float, float]]:
    """Least and greatest value of each of ``members`` subject to ``rows`` (lo ≤ Σ coef·x ≤ hi) and
    x ≥ floor: one HiGHS model, re-solved from the last basis for each objective."""
    index = {k: i for i, k in enumerate(members)}
    n = len(members)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(rows)
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.array(floors, dtype=float)
    lp.col_upper_ = np.full(n, highspy.kHighsInf)
    lp.row_lower_ = np.array([lo if math.isfinite(lo) else -highspy.kHighsInf for _, lo, _ in rows])
    lp.row_upper_ = np.array([hi if math.isfinite(hi) else highspy.kHighsInf for _, _, hi in rows])
    starts, indices, values = [0], [], []
    for coefs, _, _ in rows:
        for k, c in coefs.items():
            indices.append(index[k])
            values.append(c)
        starts.append(len(indices))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(indices, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(values, dtype=float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, len(rows)
    solver = highspy._Highs()  # the bare solver highspy exports: no callbacks, nothing printed
    solver.setOptionValue("output_flag", False)
    # No presolve: the models are small, each solve starts from the last basis, and presolve can call
    # an unbounded maximum infeasible.
    solver.setOptionValue("presolve", "off")
    solver.passModel(lp)
    everything = np.arange(n, dtype=np.int32)
    out = {}
    for k, i in index.items():
        found = []
        for sign in (1.0, -1.0):
            cost = np.zeros(n)
            cost[i] = sign
            solver.changeColsCost(n, everything, cost)
            solver.run()
            status = solver.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                found.append(sign * solver.getInfo().objective_function_value)
            elif status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                found.append(floors[i] if sign > 0 else math.inf)  # nothing caps it
            else:  # the truth satisfies every constraint: anything else is the solver's fault; count the
                found.append(floors[i])  # blank as exposed, so that more is blanked rather than less
        out[k] = (found[0], found[1])
    return out


def _floor(pub: Publication, key: Key) -> float:
    """A blank count is at least 1: a zero is printed as 0."""
    return 1.0 if key in pub.counts else 0.0


def narrow(pub: Publication, key: Key, low: float, high: float, minimum: int) -> bool:
    """Whether a blank's feasible range gives it away: a count's holding fewer whole numbers than
    "< minimum" already allows (1 to minimum − 1), any other cell's (hours) narrower than one hour
    (courses last whole hours or halves: a range that narrow names the hours, and with them the
    participations)."""
    if key in pub.counts:
        return whole_numbers(low, high) < minimum - 1
    return high - low < 1.0


def whole_numbers(low: float, high: float) -> float:
    """How many whole numbers lie in [low, high] (infinitely many when unbounded)."""
    if math.isinf(high):
        return math.inf
    return math.floor(high + 1e-6) - math.ceil(low - 1e-6) + 1


def _exposed(pub: Publication, blanks: set[Key], rates: dict[Key, float | None], minimum: int,
             only: set[Key] | None = None) -> dict[Key, tuple[float, float]]:
    return {k: r for k, r in ranges(pub, blanks, rates, only).items() if narrow(pub, k, *r, minimum)}


def decide(pub: Publication, minimum: int, settled: dict[Key, bool] | None = None,
           settled_rates: dict[Key, float | None] | None = None) -> Decision:
    """The blanks and the printed rates of ``pub`` (see the module's docstring).

    ``settled``: cells another output prints too (the same table on another page), already decided
    there: blank (True) or printed (False), never changed here; ``settled_rates``: such rates, as printed
    there. Complementary blanks are then chosen among the other cells, and among settled ones only when
    nothing else can hide an exposed blank (that output then blanks more than the other)."""
    settled = settled or {}
    settled_rates = settled_rates or {}
    if minimum <= 1:
        return Decision(frozenset(), {r.key: pub.ratio_value(r) for r in pub.ratios}, {})
    blanks = {k for k in pub.counts if 0 < pub.values[k] < minimum} | {k for k, b in settled.items() if b}
    sums_of: dict[Key, list[Sum]] = defaultdict(list)
    for s in pub.sums:
        for k in (s.whole, *s.parts):
            sums_of[k].append(s)

    def with_followers(cells: set[Key]) -> set[Key]:
        return cells | {k for k, leader in pub.follows.items() if leader in cells and pub.values[k]}

    def lone(cell: Key, via: Sum) -> int:
        """In how many other sums ``cell`` would be the only blank."""
        return sum(1 for s in sums_of[cell] if s != via
                   and not any(k in blanks for k in (s.whole, *s.parts) if k != cell))

    blanks = with_followers(blanks)
    # Rates first left out wherever they touch a blank; each is put back below if it gives nothing away.
    rates = {r.key: settled_rates[r.key] if r.key in settled_rates else pub.ratio_value(r) for r in pub.ratios}
    touching = {r.key for r in pub.ratios if r.key not in settled_rates
                and any(k in blanks for k, _ in (*r.numerator, *r.denominator))}
    recheck: set[Key] | None = None  # the first time every blank; then the groups that changed
    last_resort = False  # settled cells too, when nothing else can hide an exposed blank
    for _ in range(200):
        leaks = _exposed(pub, blanks, {k: v for k, v in rates.items() if k not in touching}, minimum, recheck)
        added: set[Key] = set()
        touched: set[Sum] = set()
        for key in sorted(leaks, key=repr):
            # A sum the blank (or the count it follows) is in; blanking hours means blanking their count.
            options = [s for s in {*sums_of.get(key, ()), *sums_of.get(pub.follows.get(key, key), ())}
                       if s not in touched]
            # The cheapest: one that would not stand alone in another sum (it would need a complement of
            # its own), then the smallest.
            candidates = [(lone(c, s), pub.values[c], repr(c), c, s) for s in options
                          for c in {pub.follows.get(k, k) for k in (*s.parts, s.whole)}
                          if c in pub.counts and c not in blanks and c not in added and pub.values[c] > 0
                          and (last_resort or c not in settled)]
            if candidates:
                *_, chosen, via = min(candidates, key=lambda c: c[:3])
                added.add(chosen)
                touched.update(sums_of[chosen])
                touched.add(via)
        if not added:
            if leaks and not last_resort:
                last_resort, recheck = True, set(leaks)
                continue
            break
        last_resort = False
        before = blanks
        blanks = with_followers(blanks | added)
        recheck = (blanks - before) | set(leaks)
        # A settled rate goes with a settled count blanked here as a last resort.
        touching |= {r.key for r in pub.ratios
                     if any(k in blanks and (r.key not in settled_rates or settled.get(k) is False)
                            for k, _ in (*r.numerator, *r.denominator))}
    printed = {k: v for k, v in rates.items() if k not in touching}
    for ratio in sorted((r for r in pub.ratios if r.key in touching), key=lambda r: repr(r.key)):
        if rates[ratio.key] is None:
            continue
        trial = {**printed, ratio.key: rates[ratio.key]}
        involved = {k for k, _ in (*ratio.numerator, *ratio.denominator) if k in blanks}
        if not _exposed(pub, blanks, trial, minimum, only=involved):
            printed = trial
    exposed = _exposed(pub, blanks, printed, minimum)
    return Decision(frozenset(blanks), {r.key: printed.get(r.key) for r in pub.ratios}, exposed)
