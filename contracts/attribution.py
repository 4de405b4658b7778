"""Which statement holds, and where a servant served when a session started: the attribution rule, written once.

Every service that stamps, counts or names a fact by institution asks these two questions, and before this
module each asked them its own way (four variants, with different fallbacks and tie rules). The rule:

**A later statement supersedes.** Facts arrive in any order and more than once. Of two statements of one
thing, the one stated later (its ``ce_time``) holds; at the same instant the higher ``rank`` (a correction
outranks a record), then the larger event id. A statement never supersedes itself, so a redelivery changes
nothing, and because the tie is broken by the event id (not by which arrived last) every replica picks the
same winner whatever order it heard them in.

**Institution at a session's start.** A servant is placed by registrations and updates (in force from when
they were stated) and by transfers (in force from local midnight of their ``effective_on`` in the
programme's time zone, and never later than they were stated). Of the placements in force when the session
started, the one stated last (by the rule above) says where the servant was: a transfer recorded late but
effective earlier overrides an update published meanwhile. Before any placement is in force, the earliest
registration stands in (a servant is where they were first registered); with no registration known, the
earliest transfer's origin (a transfer also says where the servant was). With nothing known the answer is
``None`` and the caller says what stands in (certification: the institution that enrolled the servant).

Reporting's figures are the reference: its projection applied this rule before it was moved here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True, order=True)
class Stamp:
    """When a fact was stated. A larger stamp supersedes a smaller one.

    ``rank`` orders kinds stated at the same instant (a correction outranks a record); the event id breaks
    any remaining tie, so two replicas always pick the same winner.
    """

    at: datetime
    rank: int = 0
    event_id: str = ""

    @classmethod
    def of(cls, at: datetime, event_id: str = "", rank: int = 0) -> Stamp:
        """A stamp in UTC; a naive moment (SQLite hands them back) is read as UTC, the only zone stored."""
        moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return cls(moment, rank, event_id)


def supersedes(new: Stamp, old: Stamp | None) -> bool:
    """Whether a statement stamped ``new`` replaces the one held (stamped ``old``; None: nothing held)."""
    return old is None or new > old


@dataclass(frozen=True)
class Placement:
    """A statement of where a servant serves: a registration or update (``effective_on`` None), or a transfer
    to ``institution_id`` from ``effective_on`` (a local day), leaving ``origin``.

    ``source`` carries the caller's own record of the statement back (reporting needs the whole version);
    it takes no part in the rule.
    """

    institution_id: str
    stamp: Stamp
    effective_on: date | None = None
    origin: str | None = None
    source: object = field(default=None, compare=False, repr=False)

    @property
    def is_transfer(self) -> bool:
        return self.effective_on is not None


def in_force_from(placement: Placement, zone: ZoneInfo) -> datetime:
    """The moment a placement starts to say where the servant is.

    A registration or update: when it was stated. A transfer: local midnight of its effective day in the
    programme's zone, or when it was stated if that was earlier (enrollment refuses transfers dated ahead,
    and a statement cannot be in force before anyone could know it).
    """
    if placement.effective_on is None:
        return placement.stamp.at
    midnight = datetime.combine(placement.effective_on, time.min, zone)
    return min(placement.stamp.at, midnight.astimezone(UTC))


def holding(placements: Iterable[Placement], moment: datetime, zone: ZoneInfo) -> Placement | None:
    """The placement that says where the servant was at ``moment`` (a session's start), by the rule above.

    With no registration known and no transfer in force, the answer is the earliest transfer read as where
    it took the servant from (``institution_id`` = its origin, no ``source``).
    """
    known = list(placements)
    if not known:
        return None
    in_force = [p for p in known if in_force_from(p, zone) <= moment]
    if in_force:
        return max(in_force, key=_stated)
    registrations = [p for p in known if not p.is_transfer]
    if registrations:
        return min(registrations, key=_stated)
    first = min(known, key=_first_effective)
    return Placement(first.origin, first.stamp) if first.origin is not None else None


def institution_at(placements: Iterable[Placement], moment: datetime, zone: ZoneInfo) -> str | None:
    """Where the servant served at ``moment``; None when nothing known places them."""
    held = holding(placements, moment, zone)
    return held.institution_id if held is not None else None


def _stated(placement: Placement) -> Stamp:
    return placement.stamp


def _first_effective(placement: Placement) -> tuple[date, Stamp]:
    assert placement.effective_on is not None  # only transfers reach here
    return placement.effective_on, placement.stamp
