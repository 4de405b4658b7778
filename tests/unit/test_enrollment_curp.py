"""A CURP is accepted only in the official format, with a real birth date and the right check digit."""

from __future__ import annotations

import pytest

from contracts.events import Sex
from probidad.shared.errors import RuleViolation
from services.enrollment.servants.domain.curp import (
    CURP_DICTIONARY, curp_check_digit, parse_sex, sex_from_curp, validate_curp,
)

# Seventeen characters in the official layout; the check digit is computed, never copied from anywhere.
BODIES = [
    "GOMA850412MYNRRN",  # + differentiator appended below
    "PEHJ920101HQRRRN",
    "LOXR310217HDFPDV",
    "SAZC051123MNEXLR",  # born abroad (NE), 2005
]


def with_check_digit(first_17: str) -> str:
    return first_17 + curp_check_digit(first_17)


def valid_curps() -> list[str]:
    curps = []
    for body in BODIES:
        differentiator = "A" if body[4:6] < "30" else "0"  # letter for births from 2000, digit before
        curps.append(with_check_digit(body + differentiator))
    return curps


def weighted_sum(first_17: str) -> int:
    return sum(CURP_DICTIONARY.index(c) * (18 - i) for i, c in enumerate(first_17))


@pytest.mark.parametrize("curp", valid_curps())
def test_a_curp_with_the_right_check_digit_is_accepted(curp):
    assert validate_curp(curp) == curp
    # The digit really closes the weighted sum to a multiple of ten.
    assert (weighted_sum(curp[:17]) + int(curp[17])) % 10 == 0


def test_a_curp_is_normalised_to_upper_case_without_surrounding_spaces():
    curp = valid_curps()[0]
    assert validate_curp(f"  {curp.lower()} ") == curp


@pytest.mark.parametrize("curp", valid_curps())
def test_every_wrong_check_digit_is_refused(curp):
    for digit in "0123456789":
        if digit == curp[17]:
            continue
        with pytest.raises(RuleViolation, match="check digit") as refused:
            validate_curp(curp[:17] + digit)
        assert refused.value.field == "curp"


@pytest.mark.parametrize("curp", valid_curps())
def test_swapping_two_name_letters_breaks_the_check_digit(curp):
    swapped = curp[0] + curp[2] + curp[1] + curp[3:]
    if swapped == curp:
        pytest.fail("the fixture needs distinct letters to swap")
    # Either the format (second letter must be a vowel) or the check digit catches the typo.
    with pytest.raises(RuleViolation):
        validate_curp(swapped)


def test_a_birth_date_that_does_not_exist_is_refused_even_with_a_matching_digit():
    curp = with_check_digit("GOMA850230MYNRRN0")  # 30 February
    with pytest.raises(RuleViolation, match="birth date"):
        validate_curp(curp)


@pytest.mark.parametrize("body, why", [
    ("GOMA851312MYNRRN0", "month 13"),
    ("GOMA850412ZYNRRN0", "sex letter Z"),
    ("GOMA850412MZZRRN0", "state ZZ"),
    ("GOMA850412MYNAEI0", "vowels where inner consonants go"),
    ("G0MA850412MYNRRN0", "a digit among the name letters"),
    ("GBMA850412MYNRRN0", "a consonant where the first inner vowel goes"),
])
def test_a_curp_outside_the_official_format_is_refused(body, why):
    with pytest.raises(RuleViolation, match="format"):
        validate_curp(with_check_digit(body))


@pytest.mark.parametrize("raw", ["", "GOMA850412MYNRRN0", valid_curps()[0] + "1"])
def test_a_curp_of_the_wrong_length_is_refused_saying_so(raw):
    with pytest.raises(RuleViolation, match="18 characters"):
        validate_curp(raw)


def test_the_sex_letter_of_the_curp_is_read_as_the_servants_sex():
    woman, man = valid_curps()[0], valid_curps()[1]
    assert sex_from_curp(woman) == Sex.female
    assert sex_from_curp(man) == Sex.male
    assert parse_sex("", woman) == Sex.female
    assert parse_sex("Hombre", woman) == Sex.male
    with pytest.raises(RuleViolation, match="not one of") as refused:
        parse_sex("varón?", woman)
    assert refused.value.field == "sex"
