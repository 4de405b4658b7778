"""The compliance rule (contracts/compliance.py): every due kind, versions, transfers, leaving, exemptions."""

from __future__ import annotations

from datetime import date

from contracts.compliance import (
    Completion, Exemption, Joined, Left, Membership, RequirementVersion, ServantProfile, State, Transferred,
    add_months, in_force, memberships, rate, standing,
)
from contracts.events import DueRule, DueRuleKind, RequirementScope

D = date


def requirement(*, rid="req-ethics", version=1, effective_from=D(2026, 1, 1), course_id="c-ethics", competency=None,
                scope=None, due=None, withdrawn=False) -> RequirementVersion:
    return RequirementVersion(rid, version, effective_from, "Ética pública", course_id, competency,
                              scope or RequirementScope(),
                              due or DueRule(kind=DueRuleKind.within_days_of_joining, days=90),
                              withdrawn)


def servant(*stretches: Membership, level="operativo", digest="pos-1") -> ServantProfile:
    return ServantProfile("s-1", level, digest, tuple(stretches) or (Membership("inst-a", "state", D(2025, 6, 1)),))


def cert(on, course="c-ethics", valid_until=None, revoked_on=None) -> Completion:
    return Completion(course, None, on, valid_until, revoked_on)


WITHIN_90 = DueRule(kind=DueRuleKind.within_days_of_joining, days=90)
YEARLY_JUNE_30 = DueRule(kind=DueRuleKind.yearly_by, month=6, day=30)
RENEW_12 = DueRule(kind=DueRuleKind.renewal, months=12, days=60)


# ---------------------------------------------------------------- within N days of joining

def test_a_servant_who_joined_90_days_ago_without_the_course_is_still_due_and_overdue_the_day_after():
    s = servant(Membership("inst-a", "state", D(2026, 3, 1)))
    r = requirement(due=WITHIN_90)
    on_deadline = standing(r, s, [], [], D(2026, 5, 30))
    assert on_deadline.state == State.due and on_deadline.due_on == D(2026, 5, 30)
    assert standing(r, s, [], [], D(2026, 5, 31)).state == State.overdue


def test_servants_who_joined_before_the_requirement_count_from_its_effective_date():
    s = servant(Membership("inst-a", "state", D(2020, 1, 1)))
    r = requirement(effective_from=D(2026, 2, 1), due=WITHIN_90)
    assert standing(r, s, [], [], D(2026, 3, 1)).due_on == D(2026, 5, 2)


def test_a_completion_before_joining_satisfies_a_joining_requirement():
    s = servant(Membership("inst-a", "state", D(2026, 3, 1)))
    got = standing(requirement(), s, [cert(D(2025, 11, 2))], [], D(2026, 9, 1))
    assert got.state == State.compliant and got.satisfied_by.completed_on == D(2025, 11, 2)


def test_a_completion_counts_only_from_its_day_and_only_until_it_is_revoked():
    s = servant(Membership("inst-a", "state", D(2026, 1, 1)))
    c = cert(D(2026, 2, 10), revoked_on=D(2026, 6, 1))
    r = requirement()
    assert standing(r, s, [c], [], D(2026, 2, 9)).state == State.due
    assert standing(r, s, [c], [], D(2026, 2, 10)).state == State.compliant
    assert standing(r, s, [c], [], D(2026, 5, 31)).state == State.compliant
    assert standing(r, s, [c], [], D(2026, 6, 1)).state == State.overdue


def test_an_expired_certificate_no_longer_makes_a_servant_compliant():
    s = servant(Membership("inst-a", "state", D(2025, 1, 1)))
    c = cert(D(2025, 2, 1), valid_until=D(2026, 2, 1))
    r = requirement(effective_from=D(2025, 1, 1))
    assert standing(r, s, [c], [], D(2026, 2, 1)).state == State.compliant
    assert standing(r, s, [c], [], D(2026, 2, 2)).state == State.overdue


def test_another_course_does_not_satisfy_the_requirement_and_a_competency_is_matched_without_case():
    s = servant(Membership("inst-a", "state", D(2026, 1, 1)))
    assert standing(requirement(), s, [cert(D(2026, 1, 5), course="c-other")], [], D(2026, 2, 1)).state == State.due
    by_competency = requirement(course_id=None, competency="Integridad pública")
    attained = Completion(None, "  integridad   PÚBLICA ", D(2026, 1, 20))
    assert standing(by_competency, s, [attained], [], D(2026, 2, 1)).state == State.compliant
    assert standing(by_competency, s, [cert(D(2026, 1, 5))], [], D(2026, 2, 1)).state == State.due


# ---------------------------------------------------------------- yearly by a date

def test_yearly_requirement_needs_a_completion_within_the_calendar_year_by_its_deadline():
    s = servant(Membership("inst-a", "state", D(2024, 1, 1)))
    r = requirement(due=YEARLY_JUNE_30, effective_from=D(2025, 1, 1))
    last_year = cert(D(2025, 5, 1))
    assert standing(r, s, [last_year], [], D(2025, 12, 31)).state == State.compliant
    jan = standing(r, s, [last_year], [], D(2026, 1, 2))
    assert jan.state == State.due and jan.due_on == D(2026, 6, 30)
    assert standing(r, s, [last_year], [], D(2026, 7, 1)).state == State.overdue
    assert standing(r, s, [last_year, cert(D(2026, 8, 3))], [], D(2026, 8, 3)).state == State.compliant


def test_a_servant_joining_after_this_years_deadline_is_due_by_next_years():
    s = servant(Membership("inst-a", "state", D(2026, 9, 1)))
    r = requirement(due=YEARLY_JUNE_30)
    got = standing(r, s, [], [], D(2026, 10, 1))
    assert got.state == State.due and got.due_on == D(2027, 6, 30)
    assert standing(r, s, [], [], D(2027, 7, 1)).state == State.overdue


def test_a_yearly_deadline_past_the_end_of_the_month_is_its_last_day():
    s = servant(Membership("inst-a", "state", D(2020, 1, 1)))
    r = requirement(due=DueRule(kind=DueRuleKind.yearly_by, month=2, day=30), effective_from=D(2020, 1, 1))
    assert standing(r, s, [], [], D(2026, 2, 1)).due_on == D(2026, 2, 28)
    assert standing(r, s, [], [], D(2028, 2, 1)).due_on == D(2028, 2, 29)


# ---------------------------------------------------------------- renewal

def test_a_renewal_holds_for_its_months_and_is_overdue_the_day_after_it_lapses():
    s = servant(Membership("inst-a", "state", D(2024, 1, 1)))
    r = requirement(due=RENEW_12, effective_from=D(2024, 1, 1))
    c = cert(D(2025, 3, 15))
    held = standing(r, s, [c], [], D(2026, 3, 15))
    assert held.state == State.compliant and held.due_on == D(2026, 3, 15)
    lapsed = standing(r, s, [c], [], D(2026, 3, 16))
    assert lapsed.state == State.overdue and lapsed.due_on == D(2026, 3, 15)
    renewed = standing(r, s, [c, cert(D(2026, 4, 1))], [], D(2026, 4, 1))
    assert renewed.state == State.compliant and renewed.due_on == D(2027, 4, 1)


def test_a_renewal_never_completed_is_due_like_a_joining_requirement():
    s = servant(Membership("inst-a", "state", D(2026, 5, 1)))
    r = requirement(due=RENEW_12)
    assert standing(r, s, [], [], D(2026, 6, 30)) .due_on == D(2026, 6, 30)
    assert standing(r, s, [], [], D(2026, 7, 1)).state == State.overdue
    default_days = requirement(due=DueRule(kind=DueRuleKind.renewal, months=24))
    assert standing(default_days, s, [], [], D(2026, 5, 2)).due_on == D(2026, 7, 30)


def test_a_renewal_is_held_no_longer_than_the_certificates_own_validity():
    s = servant(Membership("inst-a", "state", D(2024, 1, 1)))
    r = requirement(due=RENEW_12, effective_from=D(2024, 1, 1))
    c = cert(D(2025, 3, 15), valid_until=D(2025, 9, 15))
    assert standing(r, s, [c], [], D(2025, 9, 16)).state == State.overdue


def test_a_servant_joining_with_an_expired_constancia_gets_a_newcomers_time():
    s = servant(Membership("inst-a", "state", D(2026, 5, 1)))
    r = requirement(due=RENEW_12)
    got = standing(r, s, [cert(D(2024, 1, 10))], [], D(2026, 5, 10))
    assert got.state == State.due and got.due_on == D(2026, 6, 30)


def test_a_revoked_renewal_counts_as_never_completed():
    s = servant(Membership("inst-a", "state", D(2026, 1, 1)))
    r = requirement(due=RENEW_12)
    c = cert(D(2026, 1, 10), revoked_on=D(2026, 2, 1))
    assert standing(r, s, [c], [], D(2026, 2, 1)).due_on == D(2026, 3, 2)


# ---------------------------------------------------------------- versions

def test_the_version_in_force_is_the_highest_effective_one_and_a_withdrawal_requires_nothing():
    v1 = requirement(version=1, effective_from=D(2026, 1, 1))
    v2 = requirement(version=2, effective_from=D(2026, 4, 1), due=YEARLY_JUNE_30)
    v3 = requirement(version=3, effective_from=D(2026, 9, 1), withdrawn=True)
    versions = [v3, v1, v2]
    assert in_force(versions, D(2025, 12, 31)) is None
    assert in_force(versions, D(2026, 3, 31)) == v1
    assert in_force(versions, D(2026, 4, 1)) == v2
    assert in_force(versions, D(2026, 9, 1)) is None
    assert standing(v3, servant(), [], [], D(2026, 9, 2)) is None


def test_a_requirement_not_yet_effective_is_not_required():
    assert standing(requirement(effective_from=D(2026, 6, 1)), servant(), [], [], D(2026, 5, 31)) is None


# ---------------------------------------------------------------- scope, transfers, leaving

def test_a_scope_matches_institution_level_position_level_and_position_all_together():
    s = servant(Membership("inst-a", "municipal", D(2026, 1, 1)), level="directivo", digest="pos-auditor")
    on = D(2026, 2, 1)
    assert standing(requirement(scope=RequirementScope(institution_ids=["inst-b"])), s, [], [], on) is None
    assert standing(requirement(scope=RequirementScope(institution_ids=["inst-a"])), s, [], [], on) is not None
    assert standing(requirement(scope=RequirementScope(government_level="state")), s, [], [], on) is None
    assert standing(requirement(scope=RequirementScope(government_level="municipal")), s, [], [], on) is not None
    assert standing(requirement(scope=RequirementScope(position_levels=["operativo"])), s, [], [], on) is None
    assert standing(requirement(scope=RequirementScope(position_digests=["pos-auditor"])), s, [], [], on) is not None
    both = RequirementScope(institution_ids=["inst-a"], position_levels=["operativo"])
    assert standing(requirement(scope=both), s, [], [], on) is None


def test_a_transfer_changes_the_scope_from_its_date_and_restarts_the_joining_clock():
    steps = [Joined("inst-a", "state", D(2025, 1, 1)), Transferred("inst-b", "municipal", D(2026, 3, 1))]
    s = ServantProfile("s-1", None, None, memberships(steps))
    only_b = requirement(scope=RequirementScope(institution_ids=["inst-b"]), effective_from=D(2025, 1, 1))
    assert standing(only_b, s, [], [], D(2026, 2, 28)) is None
    got = standing(only_b, s, [], [], D(2026, 3, 1))
    assert got.state == State.due and got.due_on == D(2026, 5, 30)
    everyone = requirement(effective_from=D(2025, 1, 1))
    assert standing(everyone, s, [], [], D(2026, 2, 28)).state == State.overdue
    assert standing(everyone, s, [], [], D(2026, 3, 2)).state == State.due


def test_a_servant_who_left_is_out_of_scope_from_the_leaving_day_and_back_when_they_return():
    steps = [Joined("inst-a", "state", D(2025, 1, 1)), Left("inst-a", D(2026, 3, 1)),
             Joined("inst-a", "state", D(2026, 8, 1))]
    s = ServantProfile("s-1", None, None, memberships(steps))
    r = requirement(effective_from=D(2025, 1, 1))
    assert standing(r, s, [], [], D(2026, 2, 28)).state == State.overdue
    assert standing(r, s, [], [], D(2026, 3, 1)) is None
    back = standing(r, s, [], [], D(2026, 8, 1))
    assert back.state == State.due and back.due_on == D(2026, 10, 30)


def test_memberships_ignore_a_repeated_joining_and_a_leaving_of_another_institution():
    steps = [Joined("inst-a", "state", D(2025, 1, 1)), Joined("inst-a", "state", D(2025, 5, 1)),
             Left("inst-b", D(2025, 6, 1)), Left("inst-a", D(2025, 7, 1)), Left("inst-a", D(2025, 8, 1))]
    assert memberships(steps) == (Membership("inst-a", "state", D(2025, 1, 1), D(2025, 7, 1)),)
    assert memberships([Joined("inst-a", "state", D(2025, 1, 1)), Left("inst-a", D(2025, 1, 1))]) == ()


# ---------------------------------------------------------------- exemptions and the rate

def test_an_exemption_holds_from_its_day_until_its_last_day_or_its_withdrawal():
    s = servant(Membership("inst-a", "state", D(2025, 1, 1)))
    r = requirement(effective_from=D(2025, 1, 1))
    e = Exemption("ex-1", "req-ethics", D(2026, 2, 1), D(2026, 6, 30), None, "incapacidad médica")
    assert standing(r, s, [], [e], D(2026, 1, 31)).state == State.overdue
    got = standing(r, s, [], [e], D(2026, 2, 1))
    assert got.state == State.exempt and got.due_on is None
    assert standing(r, s, [], [e], D(2026, 6, 30)).state == State.exempt
    assert standing(r, s, [], [e], D(2026, 7, 1)).state == State.overdue
    withdrawn = Exemption("ex-1", "req-ethics", D(2026, 2, 1), None, D(2026, 3, 1), "acreditado")
    assert standing(r, s, [], [withdrawn], D(2026, 3, 1)).state == State.overdue
    other = Exemption("ex-2", "req-other", D(2026, 2, 1), None, None, "otra")
    assert standing(r, s, [], [other], D(2026, 2, 2)).state == State.overdue


def test_an_exempt_servant_is_exempt_even_when_compliant():
    s = servant(Membership("inst-a", "state", D(2026, 1, 1)))
    e = Exemption("ex-1", "req-ethics", D(2026, 1, 1), None, None, "acreditado por otra instancia")
    assert standing(requirement(), s, [cert(D(2026, 1, 5))], [e], D(2026, 2, 1)).state == State.exempt


def test_the_rate_leaves_exempt_servants_out_of_the_denominator():
    assert rate(3, 10, 4) == 0.5
    assert rate(0, 2, 2) is None
    assert rate(0, 0, 0) is None


def test_adding_months_clamps_to_the_end_of_the_month():
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 11, 15), 14) == D(2028, 1, 15)
