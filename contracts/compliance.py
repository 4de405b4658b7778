"""The compliance rule, written once: is a servant compliant with a training requirement on a day?

Pure (no I/O). Enrollment calls it for the named overdue lists, reporting for its pseudonymous
projection and aggregates, so the two can never disagree. Every date is a programme-time-zone day.
"As of" a moment (what was *known* then) is the caller's filter: it passes only the versions,
exemptions, life-cycle facts and completions recorded by that moment; ``on`` is the day judged.

The rule, exactly
-----------------
*Which version.* ``in_force(versions, on)``: of the versions of one requirement whose
``effective_from`` is on or before ``on``, the highest version number; None when there is none yet,
or when that version is a withdrawal. Each version is judged on its own: its ``effective_from`` is the
date "within N days" counts from for servants who joined before it.

*Who.* The servant's membership in force on ``on`` (``starts_on <= on < ends_on``; a leaving or a
transfer ends one, a transfer starts the next on its ``effective_on``). No membership: not required
(None) — a servant who left is out of scope from ``left_on``, one not yet joined is not in scope.
Every scope criterion given must match (none given: every servant): ``institution_ids`` and
``government_level`` against that membership's institution, ``position_levels`` and
``position_digests`` against the servant's *current* attributes (the profile the caller holds; an
empty list is no criterion).

*The start of the stretch* is the first day of the servant's uninterrupted run of memberships in the
membership's institution (a transfer into it, or the joining); the clock starts at the later of it
and the version's ``effective_from``.

*Which completions count.* A completion of the requirement's course (or an attainment of its
competency, compared without case or surrounding spaces) counts on ``on`` when
``completed_on <= on``, it is not revoked for that day (``counted_on``: ``revoked_on`` null or
after ``on``) and it has not expired: it holds until its ``valid_until`` (the constancia's vigencia) and,
for a ``renewal`` requirement, also no longer than ``completed_on`` plus the requirement's ``months``; it counts while
``on <= holds_until``. It may predate the joining (training in a former institution counts).

*The due rule* — ``due_on`` is the last day the requirement may still be met:

* ``within_days_of_joining``: ``due_on = start + days`` (days default 90). Compliant with a counting
  completion; else due while ``on <= due_on``; overdue from the day after.
* ``yearly_by``: the deadline of the calendar year of ``on`` is ``month``/``day`` of that year (a day
  past the month's end means its last day); only a completion within that calendar year counts.
  When the clock starts after this year's deadline, nothing is demanded this year: the servant is
  due by next year's deadline (and compliant if they completed it this year anyway).
* ``renewal``: compliant while a completion holds (``due_on`` = the last day it holds: renew by then).
  Never completed (no completion ever held, revoked ones ignored): due as ``within_days_of_joining``
  (``start + days``, days default 90). The last one expired: due on the last day it held, overdue from
  the day after — but never earlier than that first-time deadline, so a servant joining with an
  expired constancia has a newcomer's time.

*Exempt.* An exemption of this requirement holds on ``on`` when ``effective_from <= on``, ``on <=
until`` (if given) and it is not withdrawn by then (``withdrawn_on`` null or after ``on``). An
exempt servant is exempt whatever their completions, so compliant + due + overdue + exempt =
required, and the rate is ``compliant / (required - exempt)`` (None when nobody is left to count).

``due_on`` by state: due and overdue — the deadline; compliant — None, except for renewal (the last
day the satisfying completion holds); exempt — None.

*Revocations: two times.* A revocation is a fact of *knowledge* time (the caller passes it only once it
was recorded by the "as of" moment) about *valid* time (the days judged). ``revoked_from`` turns what
``CertificateRevoked`` says into the first day the completion no longer counts, ``revoked_on``:

* void (``applies`` void, or absent — certification's revocations after a correction, which say the
  training never happened as certified): ``NEVER_COUNTED``, before any day — it counted on no date;
* from a date (``applies`` from_date, a sanction, a fraud discovered): ``effective_on`` — it counted
  on the days before it and on none from it.

So a void-revoked completion leaves every past and future day as if it never existed, as known from
the revocation's recording on, while "as of" a moment before the recording still gives the old answer.
Reporting's training figures read the same two functions (a completion counts on its own day).

*An attainment rests on its certificates.* A competency attained (``CompetencyAttained``) lists the
certificates it was built from; it counts on a day only while every one of them counts on that day,
as known at the cut-off. ``attainment_revoked_on`` gives its ``revoked_on``: the earliest
``revoked_from`` of the revocations of its certificates known at the cut-off (a void one: never
counted; none revoked: None). No event withdraws an attainment: a revocation of one of its
certificates, recorded before or after the attainment, takes it away from that revocation's
recording on, and "as of" a moment before the recording still gives the old answer.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from contracts.attribution import Stamp, supersedes
from contracts.events import DueRule, DueRuleKind, RequirementScope, RevocationApplies

DEFAULT_DAYS = 90   # a first completion's delay when a rule gives no days (OGE 5 CFR 2638: 90 days)
NEVER_COUNTED = date.min  # the ``revoked_on`` of a void revocation: before every day judged

__all__ = [
    "DEFAULT_DAYS", "NEVER_COUNTED", "Completion", "Exemption", "Joined", "Left", "Membership",
    "RequirementVersion", "ServantProfile", "Standing", "State", "Transferred", "add_months",
    "attainment_revoked_on", "counted_on",
    "holds_until", "in_force", "memberships", "rate", "revoked_from", "standing",
]


@dataclass(frozen=True)
class RequirementVersion:
    """One version of a requirement, as TrainingRequirementDeclared says it."""

    requirement_id: str
    version: int
    effective_from: date
    title: str
    course_id: str | None
    competency: str | None
    scope: RequirementScope
    due: DueRule
    withdrawn: bool = False


@dataclass(frozen=True)
class Membership:
    """One stretch of a servant in one institution, from joining/transfer to leaving/transfer."""

    institution_id: str
    government_level: str
    starts_on: date
    ends_on: date | None = None    # exclusive: the leaving or transfer day


@dataclass(frozen=True)
class ServantProfile:
    servant_id: str
    position_level: str | None
    position_digest: str | None
    memberships: tuple[Membership, ...]   # in date order


@dataclass(frozen=True)
class Completion:
    """A certificate (course_id) or a competency attainment (competency)."""

    course_id: str | None
    competency: str | None
    completed_on: date
    valid_until: date | None = None
    revoked_on: date | None = None  # the first day it no longer counts (``revoked_from``); None: not revoked


@dataclass(frozen=True)
class Exemption:
    exemption_id: str
    requirement_id: str
    effective_from: date
    until: date | None
    withdrawn_on: date | None
    reason: str


class State(str, Enum):
    compliant = "compliant"
    due = "due"
    overdue = "overdue"
    exempt = "exempt"


@dataclass(frozen=True)
class Standing:
    requirement_id: str
    state: State
    due_on: date | None
    satisfied_by: Completion | None = None


# ---------------------------------------------------------------- life cycle -> memberships


@dataclass(frozen=True)
class Joined:
    """The servant serves in an institution from ``on`` (registration's joined_on, or a return)."""

    institution_id: str
    government_level: str
    on: date


@dataclass(frozen=True)
class Transferred:
    """A transfer to ``to_institution_id`` effective ``on``; ``stamp``: when it was stated (see ``memberships``)."""

    to_institution_id: str
    government_level: str
    on: date
    stamp: Stamp | None = None


@dataclass(frozen=True)
class Left:
    institution_id: str
    on: date


def memberships(steps: Iterable[Joined | Transferred | Left]) -> tuple[Membership, ...]:
    """The stretches a servant's life-cycle facts describe, in date order.

    Steps are taken by date (the given order on one day). A Joined while serving in the same
    institution changes nothing; in another one it starts a new stretch there; a Transferred ends the
    open stretch and starts one in the new institution; a Left ends the open stretch if it is in that
    institution (a leaving of an institution the servant no longer serves in changes nothing).
    Empty stretches (left the day they began) are dropped.

    Transfers follow the attribution rule (``contracts.attribution``): of the transfers in force on a day,
    the one stated last says where the servant was. So a transfer stated later than another and effective
    on or before its day supersedes it (a back-dated correction is not undone by the move it corrects);
    transfers given without a stamp are taken as stated in date order.
    """
    steps = _unsuperseded(list(steps))
    out: list[Membership] = []
    open_: Membership | None = None

    def close(on: date) -> None:
        nonlocal open_
        if open_ is not None and on > open_.starts_on:
            out.append(Membership(open_.institution_id, open_.government_level, open_.starts_on, on))
        open_ = None

    for step in sorted(steps, key=lambda s: s.on):
        if isinstance(step, Joined):
            if open_ is not None and open_.institution_id == step.institution_id:
                continue
            close(step.on)
            open_ = Membership(step.institution_id, step.government_level, step.on)
        elif isinstance(step, Transferred):
            close(step.on)
            open_ = Membership(step.to_institution_id, step.government_level, step.on)
        elif isinstance(step, Left):
            if open_ is not None and open_.institution_id == step.institution_id:
                close(step.on)
    if open_ is not None:
        out.append(open_)
    return tuple(out)


def _unsuperseded(steps: list[Joined | Transferred | Left]) -> list[Joined | Transferred | Left]:
    stamped = [(s, s.stamp) for s in steps if isinstance(s, Transferred) and s.stamp is not None]
    superseded = {id(t) for t, stamp in stamped for other, other_stamp in stamped
                  if other is not t and other.on <= t.on and supersedes(other_stamp, stamp)}
    return [s for s in steps if id(s) not in superseded]


# ---------------------------------------------------------------- revocations in valid time


def revoked_from(applies: RevocationApplies | str | None, effective_on: date | None) -> date:
    """The first day a revoked completion no longer counts (see "Revocations: two times" above):
    ``effective_on`` for a revocation from a date; ``NEVER_COUNTED`` for a void one, for one that says
    neither (older events: certification's revocations after a correction) and for a from-date one
    missing its date (nothing says it ever held)."""
    if _level(applies) == RevocationApplies.from_date.value and effective_on is not None:
        return effective_on
    return NEVER_COUNTED


def counted_on(revoked_on: date | None, on: date) -> bool:
    """Whether a completion revoked from ``revoked_on`` (None: not revoked) still counts on ``on``."""
    return revoked_on is None or on < revoked_on


def attainment_revoked_on(certificates_revoked_on: Iterable[date | None]) -> date | None:
    """The ``revoked_on`` of a competency attainment, from the ``revoked_on`` of each certificate it lists
    (None: not revoked as known at the cut-off): the earliest of them, so it counts only while every one
    of its certificates does; None when none is revoked."""
    return min((day for day in certificates_revoked_on if day is not None), default=None)


# ---------------------------------------------------------------- the rule


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; a day past the month's end becomes its last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def in_force(versions: Iterable[RequirementVersion], on: date) -> RequirementVersion | None:
    """The version of ONE requirement in force on ``on``: the highest version effective by then.

    None when no version is effective yet or the one in force is a withdrawal.
    """
    effective = [v for v in versions if v.effective_from <= on]
    if not effective:
        return None
    current = max(effective, key=lambda v: (v.version, v.effective_from))
    return None if current.withdrawn else current


def membership_on(servant: ServantProfile, on: date) -> Membership | None:
    for m in servant.memberships:
        if m.starts_on <= on and (m.ends_on is None or on < m.ends_on):
            return m
    return None


def stretch_start(servant: ServantProfile, membership: Membership) -> date:
    """First day of the uninterrupted run of memberships in ``membership``'s institution ending with it."""
    start = membership.starts_on
    for m in sorted(servant.memberships, key=lambda m: m.starts_on, reverse=True):
        if m.starts_on >= membership.starts_on:
            continue
        if m.institution_id == membership.institution_id and m.ends_on == start:
            start = m.starts_on
        elif m.ends_on is not None and m.ends_on <= start:
            break
    return start


def in_scope(scope: RequirementScope, servant: ServantProfile, membership: Membership) -> bool:
    if scope.institution_ids and membership.institution_id not in scope.institution_ids:
        return False
    if scope.government_level is not None and _level(scope.government_level) != _level(membership.government_level):
        return False
    if scope.position_levels and servant.position_level not in scope.position_levels:
        return False
    if scope.position_digests and servant.position_digest not in scope.position_digests:
        return False
    return True


def holds_until(completion: Completion, requirement: RequirementVersion) -> date | None:
    """The last day ``completion`` holds for ``requirement`` (None: it never expires)."""
    ends = [completion.valid_until] if completion.valid_until is not None else []
    if requirement.due.kind == DueRuleKind.renewal and requirement.due.months:
        ends.append(add_months(completion.completed_on, requirement.due.months))
    return min(ends) if ends else None


def standing(requirement: RequirementVersion, servant: ServantProfile, completions: Iterable[Completion],
             exemptions: Iterable[Exemption], on: date) -> Standing | None:
    """The servant's standing with ``requirement`` (the version in force) on ``on``.

    None: not required of this servant that day (withdrawn, not yet effective, out of scope, left,
    not yet joined).
    """
    if requirement.withdrawn or requirement.effective_from > on:
        return None
    membership = membership_on(servant, on)
    if membership is None or not in_scope(requirement.scope, servant, membership):
        return None
    rid = requirement.requirement_id
    if any(_exempts(e, rid, on) for e in exemptions):
        return Standing(rid, State.exempt, None)

    start = max(stretch_start(servant, membership), requirement.effective_from)
    mine = [c for c in completions if _satisfies(c, requirement)
            and c.completed_on <= on and counted_on(c.revoked_on, on)]
    kind = requirement.due.kind
    days = requirement.due.days if requirement.due.days is not None else DEFAULT_DAYS

    if kind == DueRuleKind.yearly_by:
        deadline = _yearly_deadline(requirement.due, on.year)
        if start > deadline:
            deadline = _yearly_deadline(requirement.due, on.year + 1)
        this_year = [c for c in mine if c.completed_on.year == on.year and _holds(c, requirement, on)]
        if this_year:
            return Standing(rid, State.compliant, None, max(this_year, key=lambda c: c.completed_on))
        return _judged(rid, deadline, on)

    holding = [c for c in mine if _holds(c, requirement, on)]
    if kind == DueRuleKind.renewal:
        if holding:
            best = max(holding, key=lambda c: (holds_until(c, requirement) or date.max, c.completed_on))
            return Standing(rid, State.compliant, holds_until(best, requirement), best)
        first_time = start + timedelta(days=days)
        expiries = [holds_until(c, requirement) for c in mine]
        last_expiry = max((e for e in expiries if e is not None), default=None)
        return _judged(rid, max(first_time, last_expiry) if last_expiry else first_time, on)

    # within_days_of_joining
    if holding:
        return Standing(rid, State.compliant, None, max(holding, key=lambda c: c.completed_on))
    return _judged(rid, start + timedelta(days=days), on)


def rate(compliant: int, required: int, exempt: int) -> float | None:
    """Compliance rate of a group: compliant / (required - exempt); None when nobody is counted."""
    counted = required - exempt
    return compliant / counted if counted > 0 else None


# ---------------------------------------------------------------- helpers


def _judged(requirement_id: str, deadline: date, on: date) -> Standing:
    return Standing(requirement_id, State.due if on <= deadline else State.overdue, deadline)


def _yearly_deadline(due: DueRule, year: int) -> date:
    month = due.month or 12
    day = due.day or calendar.monthrange(year, month)[1]
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _holds(completion: Completion, requirement: RequirementVersion, on: date) -> bool:
    until = holds_until(completion, requirement)
    return until is None or on <= until


def _satisfies(completion: Completion, requirement: RequirementVersion) -> bool:
    if requirement.course_id is not None:
        return completion.course_id == requirement.course_id
    if requirement.competency is not None and completion.competency is not None:
        return _norm(completion.competency) == _norm(requirement.competency)
    return False


def _exempts(exemption: Exemption, requirement_id: str, on: date) -> bool:
    return (exemption.requirement_id == requirement_id and exemption.effective_from <= on
            and (exemption.until is None or on <= exemption.until)
            and (exemption.withdrawn_on is None or on < exemption.withdrawn_on))


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _level(level: object) -> str:
    return str(getattr(level, "value", level))
