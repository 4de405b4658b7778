"""Compliance with training requirements, projected from reporting's facts. Pure: no I/O.

The rule — who a requirement applies to on a date, by when, and what satisfies it — is written
once, in ``contracts.compliance``; enrollment's named overdue lists call the same functions, so
the two never disagree. This module only turns the facts reporting keeps into that module's
inputs and counts its answers:

* **requirements**: every version of a requirement known at the snapshot's cut-off; the one in
  force on the date asked (``contracts.compliance.in_force``) is the one evaluated;
* **a servant's memberships** (``ServantProfile``): one stretch per institution, from joining to
  leaving or a transfer (``ends_on`` exclusive). Registrations and updates start a stretch on their
  ``joined_on`` (the day the event was recorded when they carry none), in the institution they name;
  one naming another institution than the current stretch's ends it there and starts the next;
  ``ServantTransferred`` ends the stretch on ``effective_on`` and starts one in ``to_institution_id``
  on that day (the transfer's ``effective_on`` is the joining day there); ``ServantLeft`` ends the
  stretch in the institution it names on ``left_on``, and only a registration or update with a
  ``joined_on`` brings the servant back (one without, e.g. a correction of the sex, does not).
  Same-day steps apply in the order they were recorded. A stretch in an institution reporting has
  no fact about yet is held (the servant is not counted there until it is known);
* **position level and position digest**: the servant's latest known ones (a requirement scoped to
  a position applies by the servant's current attributes);
* **completions**: every certificate issued and known at the cut-off (its ``issued_on``, its
  ``valid_until``), revoked in valid time by a revocation known at the cut-off: a void one (every
  revocation after a correction) on every day, one from a date from that date
  (``contracts.compliance.revoked_from``, the rule the training figures read too); every competency attained
  (``attained_on``, never expiring), counted only while every certificate it lists counts: revoked from
  the earliest day one of them is, by the revocations known at the cut-off
  (``contracts.compliance.attainment_revoked_on``). A certificate counts for the requirement of its course whether
  or not reporting knows the session yet: the course is named on the certificate itself;
* **exemptions**: each grant known at the cut-off, withdrawn from ``withdrawn_on`` when its
  withdrawal is known. The reason stays in enrollment.

A servant's group (institution, government level) is the stretch in force on the date asked; their
position level and position (the pseudonymous ``position_digest``; the title stays in enrollment) are
their current ones, the attributes a requirement's scope is matched against. Aggregates per
requirement, and per requirement x institution, x government level, x position level and x position
count the servants the requirement applies to (``required``, exempt ones included), and of them
``compliant``, ``due``, ``overdue`` and ``exempt``; ``rate`` = compliant / (required − exempt)
(``contracts.compliance.rate``: None when no one is left to comply).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts import compliance as rule
from contracts.attribution import Stamp
from contracts.events import DueRule, RequirementScope
from services.reporting.domain.facts import UNKNOWN, VERSION_ORDER, Fact, from_micros, latest_version, revoked_on
from services.reporting.domain.snapshot import Snapshot

STATES = ("compliant", "due", "overdue", "exempt")
COUNTS = ("required", *STATES)


@dataclass(frozen=True, slots=True)
class ServantStanding:
    """One servant's standing with one requirement on a date, placed in their group then."""

    servant_id: str
    institution_id: str
    government_level: str
    requirement: rule.RequirementVersion
    standing: rule.Standing
    position_level: str = UNKNOWN  # the servant's current one, as the requirement's scope matched it
    position_digest: str = UNKNOWN


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def requirement_versions(snapshot: Snapshot) -> dict[str, list[rule.RequirementVersion]]:
    """Every version known at the cut-off, per requirement (a version re-declared: the latest known)."""
    cutoff, out = snapshot.cutoff, {}
    for requirement_id, facts in snapshot.ledger.requirements.items():
        by_version: dict[int, list[Fact]] = defaultdict(list)
        for f in facts:
            if f.known_at <= cutoff:
                by_version[f.attributes["version"]].append(f)
        versions = []
        for facts_of_version in by_version.values():
            a = latest_version(facts_of_version, cutoff).attributes
            versions.append(rule.RequirementVersion(
                requirement_id=requirement_id, version=a["version"],
                effective_from=date.fromisoformat(a["effective_from"]),
                title=a["title"], course_id=a.get("course_id"), competency=a.get("competency"),
                scope=RequirementScope.model_validate(a["scope"]), due=DueRule.model_validate(a["due"]),
                withdrawn=bool(a.get("withdrawn"))))
        if versions:
            out[requirement_id] = sorted(versions, key=lambda v: (v.effective_from, v.version))
    return out


def profile(snapshot: Snapshot, servant_id: str, levels: dict[str, str] | None = None) -> rule.ServantProfile | None:
    """The servant's memberships and current attributes as known at the cut-off (see the module's
    docstring); None while no registration of the servant is known. ``levels``: the institutions' government
    levels, when the caller has them (``government_levels``)."""
    cutoff, ledger = snapshot.cutoff, snapshot.ledger
    known = [f for f in ledger.servants.get(servant_id, ()) if f.known_at <= cutoff]
    described = [f for f in known if f.kind == "servant"]
    if not described:
        return None
    steps: list[tuple[date, int, str, str, str, bool]] = []  # day, known_at, event id, what, institution, explicit
    for f in known:
        a = f.attributes
        if f.kind == "servant":
            joined = _day(a.get("joined_on"))
            steps.append((joined or snapshot.day_known(f), f.known_at, f.event_id, "join", a["institution_id"],
                          joined is not None))
        else:
            steps.append((date.fromisoformat(a["effective_on"]), f.known_at, f.event_id, "transfer",
                          a["to_institution_id"], True))
    for f in ledger.departures.get(servant_id, ()):
        if f.known_at <= cutoff:
            steps.append((date.fromisoformat(f.attributes["left_on"]), f.known_at, f.event_id, "leave",
                          f.attributes["institution_id"], True))
    steps.sort()  # by day, then in the order they were recorded (contracts.compliance keeps a day's order)
    levels = government_levels(snapshot) if levels is None else levels
    life: list[rule.Joined | rule.Transferred | rule.Left] = []
    serving, left = None, False
    for day, known_at, event_id, what, institution, explicit in steps:
        level = levels.get(institution, UNKNOWN)
        if what == "leave":
            life.append(rule.Left(institution, day))
            if serving == institution:
                serving, left = None, True
        elif what == "transfer":
            # Stamped, so a back-dated transfer supersedes the move it corrects (contracts.attribution)
            life.append(rule.Transferred(institution, level, day, Stamp.of(from_micros(known_at), event_id)))
            serving, left = institution, False
        elif serving is None and left and not explicit:
            continue  # after a leaving, only a joined_on brings the servant back
        else:
            life.append(rule.Joined(institution, level, day))
            serving, left = institution, False
    # A stretch in an institution not known yet is held: the servant counts nowhere for it.
    memberships = tuple(m for m in rule.memberships(life) if m.institution_id in levels)
    latest = max(described, key=VERSION_ORDER).attributes
    with_level = [f for f in known if f.attributes.get("position_level") is not None]
    return rule.ServantProfile(
        servant_id=servant_id,
        position_level=max(with_level, key=VERSION_ORDER).attributes["position_level"] if with_level else None,
        position_digest=latest.get("position_digest"), memberships=memberships)


def government_levels(snapshot: Snapshot) -> dict[str, str]:
    """Each institution known at the cut-off and its government level."""
    return {iid: f.attributes["government_level"] for iid, f in snapshot.institutions.items()}


def completions(snapshot: Snapshot) -> dict[str, list[rule.Completion]]:
    """Per servant: the certificates issued (revoked in valid time by a revocation known at the cut-off)
    and the competencies attained, as known at the cut-off."""
    cutoff, ledger = snapshot.cutoff, snapshot.ledger
    out: dict[str, list[rule.Completion]] = defaultdict(list)
    # certificate -> the first day it no longer counts, by its revocation known at the cut-off (one that
    # arrived before its issue too: an attainment may list a certificate reporting has not seen issued)
    revoked_from: dict[str, date] = {}
    for certificate_id, facts in ledger.certificates.items():
        revoked = latest_version([f for f in facts if f.kind == "certificate_revoked"], cutoff)
        if revoked is not None:
            revoked_from[certificate_id] = revoked_on(revoked)
        issued = latest_version([f for f in facts if f.kind == "certificate_issued"], cutoff)
        if issued is None:
            continue  # a revocation of nothing (yet)
        a = issued.attributes
        out[issued.servant_id].append(rule.Completion(
            course_id=a["course_id"], competency=None, completed_on=date.fromisoformat(a["issued_on"]),
            valid_until=_day(a.get("valid_until")), revoked_on=revoked_from.get(certificate_id)))
    for servant_id, facts in ledger.competencies.items():
        seen = set()
        for f in facts:
            key = (f.attributes["competency"], f.attributes["attained_on"])
            if f.known_at <= cutoff and key not in seen:
                seen.add(key)
                # facts kept before attainments kept their certificates list none: nothing to withdraw them by
                certificates = f.attributes.get("certificate_ids") or ()
                out[servant_id].append(rule.Completion(
                    course_id=None, competency=key[0], completed_on=date.fromisoformat(key[1]), valid_until=None,
                    revoked_on=rule.attainment_revoked_on(revoked_from.get(c) for c in certificates)))
    return out


def exemptions(snapshot: Snapshot) -> dict[tuple[str, str], list[rule.Exemption]]:
    """Per (servant, requirement): the exemptions granted, with their withdrawal day once it is known."""
    cutoff = snapshot.cutoff
    out: dict[tuple[str, str], list[rule.Exemption]] = defaultdict(list)
    for exemption_id, facts in snapshot.ledger.exemptions.items():
        granted = latest_version([f for f in facts if f.kind == "exemption_granted"], cutoff)
        if granted is None:
            continue
        withdrawn = latest_version([f for f in facts if f.kind == "exemption_withdrawn"], cutoff)
        a = granted.attributes
        out[(granted.servant_id, a["requirement_id"])].append(rule.Exemption(
            exemption_id=exemption_id, requirement_id=a["requirement_id"],
            effective_from=date.fromisoformat(a["effective_from"]), until=_day(a.get("until")),
            withdrawn_on=date.fromisoformat(withdrawn.attributes["withdrawn_on"]) if withdrawn else None, reason=""))
    return out


def standings(snapshot: Snapshot, on: date, *, institution: str | None = None,
              requirement: str | None = None) -> list[ServantStanding]:
    """Every servant's standing with every requirement in force on ``on`` that applies to them, as
    known at the snapshot's cut-off; optionally of one institution's servants, or one requirement.

    A snapshot that offers ``compliance_parts`` (the columnar one) is read a group of servants at a time:
    each part holds the requirements and every fact about its servants, so no part needs another's, and
    the facts of all servants are never in memory at once."""
    if not in_force_versions(snapshot, on, requirement):
        return []
    parts = snapshot.compliance_parts(institution) if hasattr(snapshot, "compliance_parts") else [snapshot]
    return [found for part in parts for found in _standings(part, on, institution, requirement)]


def in_force_versions(snapshot: Snapshot, on: date,
                      requirement: str | None = None) -> dict[str, rule.RequirementVersion]:
    """The version of each requirement (or of ``requirement`` only) in force on ``on`` and not withdrawn."""
    versions = {}
    for requirement_id, all_versions in sorted(requirement_versions(snapshot).items()):
        if requirement is None or requirement_id == requirement:
            version = rule.in_force(all_versions, on)
            if version is not None and not version.withdrawn:
                versions[requirement_id] = version
    return versions


def _standings(snapshot: Snapshot, on: date, institution: str | None,
               requirement: str | None) -> list[ServantStanding]:
    in_force = list(in_force_versions(snapshot, on, requirement).values())
    if not in_force:
        return []
    done = completions(snapshot)
    exempt = exemptions(snapshot)
    levels = government_levels(snapshot)
    out = []
    for servant_id in sorted(snapshot.ledger.servants):
        servant = profile(snapshot, servant_id, levels)
        if servant is None:
            continue
        membership = rule.membership_on(servant, on)
        if membership is None or (institution is not None and membership.institution_id != institution):
            continue
        for version in in_force:
            found = rule.standing(version, servant, done.get(servant_id, ()),
                                  exempt.get((servant_id, version.requirement_id), ()), on)
            if found is not None:
                out.append(ServantStanding(servant_id, membership.institution_id, membership.government_level,
                                           version, found, servant.position_level or UNKNOWN,
                                           servant.position_digest or UNKNOWN))
    return out


def _row(counts: dict[str, int]) -> dict[str, Any]:
    row = {k: counts.get(k, 0) for k in COUNTS}
    share = rule.rate(row["compliant"], row["required"], row["exempt"])
    row["rate"] = None if share is None else round(share, 4)
    return row


def _aggregate(found: Iterable[ServantStanding], states: Iterable[str],
               key: Callable[[ServantStanding], tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, int]]:
    groups: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for s, state in zip(found, states):
        counts = groups[key(s)]
        counts["required"] += 1
        counts[state] += 1
    return groups


def _state(standing: rule.Standing) -> str:
    state = standing.state
    return state.value if hasattr(state, "value") else str(state)


def report(snapshot: Snapshot, on: date, *, institution: str | None = None,
           requirement: str | None = None, with_standings: bool = True) -> dict[str, Any]:
    """The compliance report of ``on`` as known at the snapshot's cut-off::

        {"on": "2026-11-30",
         "requirements": [{requirement_id, version, title, course_id, competency, effective_from, scope, due}],
         "by_requirement": [row],           # requirement_id, title, and the counts
         "by_institution": [row],           # + institution, name
         "by_government_level": [row],      # + government_level
         "by_position_level": [row],        # + position_level ("unknown" when none is known)
         "by_position": [row],              # + position_digest (pseudonymous; "unknown" when none)
         "standings": [{servant_id, institution, government_level, requirement_id, version, state, due_on,
                        satisfied_by: {course_id, competency, completed_on, valid_until} | None}]}

    Every row: required, compliant, due, overdue, exempt, rate (see the module's docstring). A
    requirement in force that applies to nobody has a row of zeros in ``by_requirement``.

    The aggregates alone (``with_standings`` False: the dashboard's, the bulletin's) are kept with the
    snapshot (its ``reports``), so a page that shows them twice, and every page after it until new facts
    arrive, does not judge every servant again."""
    key = ("compliance", on, institution, requirement)
    kept = getattr(snapshot, "reports", None)
    if not with_standings and kept is not None and key in kept:
        return copy.deepcopy(kept[key])
    body = _report(snapshot, on, institution, requirement, with_standings)
    if not with_standings and kept is not None:
        kept[key] = copy.deepcopy(body)
    return body


def _report(snapshot: Snapshot, on: date, institution: str | None, requirement: str | None,
            with_standings: bool) -> dict[str, Any]:
    found = standings(snapshot, on, institution=institution, requirement=requirement)
    states = [_state(s.standing) for s in found]
    versions = in_force_versions(snapshot, on, requirement)
    names = {iid: f.attributes["name"] for iid, f in snapshot.institutions.items()}
    by_requirement = _aggregate(found, states, lambda s: (s.requirement.requirement_id,))
    by_institution = _aggregate(found, states, lambda s: (s.requirement.requirement_id, s.institution_id))
    by_level = _aggregate(found, states, lambda s: (s.requirement.requirement_id, s.government_level))
    by_position_level = _aggregate(found, states, lambda s: (s.requirement.requirement_id, s.position_level))
    by_position = _aggregate(found, states, lambda s: (s.requirement.requirement_id, s.position_digest))
    body: dict[str, Any] = {
        "on": on.isoformat(), "institution": institution, "requirement": requirement,
        "requirements": [{"requirement_id": v.requirement_id, "version": v.version, "title": v.title,
                          "course_id": v.course_id, "competency": v.competency,
                          "effective_from": v.effective_from.isoformat(),
                          "scope": v.scope.model_dump(mode="json"), "due": v.due.model_dump(mode="json")}
                         for v in versions.values()],
        "by_requirement": [{"requirement_id": rid, "title": v.title, **_row(by_requirement.get((rid,), {}))}
                           for rid, v in versions.items()],
        "by_institution": [{"requirement_id": rid, "title": versions[rid].title, "institution": iid,
                            "name": names.get(iid), **_row(counts)}
                           for (rid, iid), counts in sorted(by_institution.items())],
        "by_government_level": [{"requirement_id": rid, "title": versions[rid].title, "government_level": level,
                                 **_row(counts)} for (rid, level), counts in sorted(by_level.items())],
        "by_position_level": [{"requirement_id": rid, "title": versions[rid].title, "position_level": level,
                               **_row(counts)} for (rid, level), counts in sorted(by_position_level.items())],
        "by_position": [{"requirement_id": rid, "title": versions[rid].title, "position_digest": digest,
                         **_row(counts)} for (rid, digest), counts in sorted(by_position.items())],
    }
    if with_standings:
        body["standings"] = [{
            "servant_id": s.servant_id, "institution": s.institution_id, "government_level": s.government_level,
            "requirement_id": s.requirement.requirement_id, "version": s.requirement.version,
            "state": state, "due_on": s.standing.due_on.isoformat() if s.standing.due_on else None,
            "satisfied_by": None if s.standing.satisfied_by is None else {
                "course_id": s.standing.satisfied_by.course_id, "competency": s.standing.satisfied_by.competency,
                "completed_on": s.standing.satisfied_by.completed_on.isoformat(),
                "valid_until": (s.standing.satisfied_by.valid_until.isoformat()
                                if s.standing.satisfied_by.valid_until else None)},
        } for s, state in zip(found, states)]
    return body
