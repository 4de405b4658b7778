"""The demo's servants carry CURPs formed from their names, birth dates, sex and state of birth, as RENAPO
forms them, which enrollment's validator accepts; given names agree with the sex and every servant has a position."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from contracts.events import Sex
from probidad.ops.curp import curp_for
from probidad.ops.programme import DEMO_GIVEN_NAMES, DEMO_POSITIONS, DEMO_SECOND_GIVEN_NAMES, demo_programme
from services.enrollment.servants.domain.curp import curp_check_digit, sex_from_curp, validate_curp


def formed(first_17: str) -> str:
    return first_17 + curp_check_digit(first_17)


# Worked by hand from the Instructivo's rules, one rule each.
@pytest.mark.parametrize(("person", "curp"), [
    # The plain case: P + first inner vowel E, L, J; inner consonants R, P, N; a digit for a birth before 2000.
    ({"given_names": "Juan", "first_surname": "Pérez", "second_surname": "López", "birth": date(1990, 5, 15),
      "sex": "male", "state": "QR"}, formed("PELJ900515HQRRPN0")),
    # A compound name starting with María is formed from the second name; an inner H is a consonant.
    ({"given_names": "María Guadalupe", "first_surname": "Hernández", "second_surname": "Chan",
      "birth": date(1985, 4, 12), "sex": "female", "state": "YN"}, formed("HECG850412MYNRHD0")),
    # Particles are passed over (de la Cruz is CRUZ), José too; a letter for a birth from 2000.
    ({"given_names": "José Luis", "first_surname": "de la Cruz", "second_surname": "Uc", "birth": date(2001, 3, 9),
      "sex": "male", "state": "DF"}, formed("CUUL010309HDFRCSA")),
    # PEDO is an inconvenient word: its second letter becomes X.
    ({"given_names": "Octavio", "first_surname": "Pedroza", "second_surname": "Díaz", "birth": date(1975, 2, 1),
      "sex": "male", "state": "TC"}, formed("PXDO750201HTCDZC0")),
    # Ñ as an inner consonant is X; a surname with no inner vowel gives X; born abroad is NE.
    ({"given_names": "Ana", "first_surname": "Muñoz", "second_surname": "Ek", "birth": date(1968, 11, 30),
      "sex": "female", "state": "NE"}, formed("MUEA681130MNEXKN0")),
    ({"given_names": "Itzel", "first_surname": "Uc", "second_surname": "May", "birth": date(2002, 1, 2),
      "sex": "female", "state": "QR"}, formed("UXMI020102MQRCYTA")),
])
def test_a_curp_is_formed_from_the_names_birth_date_sex_and_state(person, curp):
    assert curp_for(**person) == curp
    assert validate_curp(curp) == curp


def test_a_homonym_gets_the_next_differentiator():
    person = {"given_names": "Juan", "first_surname": "Pérez", "second_surname": "López", "sex": "male",
              "state": "QR"}
    assert curp_for(**person, birth=date(1990, 5, 15), differentiator=1) == formed("PELJ900515HQRRPN1")
    assert curp_for(**person, birth=date(2003, 5, 15), differentiator=1) == formed("PELJ030515HQRRPNB")


def plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.upper()) if not unicodedata.combining(c))


@pytest.fixture(scope="module")
def servants():
    return demo_programme(scale=0.3).servants


def test_every_demo_curp_passes_enrollments_validator_and_records_the_servants_sex(servants):
    for servant in servants:
        assert validate_curp(servant.curp) == servant.curp, servant
        assert sex_from_curp(servant.curp) == Sex(servant.sex), servant


def test_every_demo_curp_is_formed_from_the_servants_names_birth_date_and_state(servants):
    for servant in servants:
        assert servant.name == f"{servant.given_names} {servant.first_surname} {servant.second_surname}"
        assert servant.curp[4:10] == f"{servant.birth_date:%y%m%d}", servant
        assert servant.curp[11:13] == servant.birth_state, servant
        # The differentiator says which century the birth year is in.
        assert servant.curp[16].isdigit() == (servant.birth_date.year < 2000), servant
        # The initial of the second surname and of the given name (María and José are passed over in a compound
        # name, particles in a surname) are read straight off the name.
        given = [w for w in plain(servant.given_names).split() if w not in ("DE", "DEL", "LA", "LOS")]
        if len(given) > 1 and given[0] in ("MARIA", "JOSE"):
            given = given[1:]
        second = [w for w in plain(servant.second_surname).split() if w not in ("DE", "LA")]
        first = [w for w in plain(servant.first_surname).split() if w not in ("DE", "LA")]
        assert servant.curp[0] == first[0][0] and servant.curp[2] == second[0][0] and servant.curp[3] == given[0][0]
        differentiator = int(servant.curp[16]) if servant.curp[16].isdigit() else ord(servant.curp[16]) - ord("A")
        assert servant.curp == curp_for(given_names=servant.given_names, first_surname=servant.first_surname,
                                        second_surname=servant.second_surname, birth=servant.birth_date,
                                        sex=servant.sex, state=servant.birth_state, differentiator=differentiator)


def test_no_two_demo_servants_share_a_curp(servants):
    assert len({s.curp for s in servants}) == len(servants)


def test_every_demo_servants_given_names_agree_with_their_sex(servants):
    assert not set(DEMO_GIVEN_NAMES["female"]) & set(DEMO_GIVEN_NAMES["male"])
    assert {s.sex for s in servants} == {"female", "male"}
    for servant in servants:
        first, *more = servant.given_names.split(" ", 1)
        assert first in DEMO_GIVEN_NAMES[servant.sex], servant
        assert not more or more[0] in DEMO_SECOND_GIVEN_NAMES[servant.sex], servant


def test_every_demo_servant_has_a_position_of_their_level_in_the_form_of_their_sex(servants):
    for servant in servants:
        forms = DEMO_POSITIONS[servant.position_level]
        assert servant.position in {f[servant.sex == "female"] for f in forms}, servant
