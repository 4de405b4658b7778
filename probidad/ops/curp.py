"""A CURP formed from a person's names, birth date, sex and state of birth, as RENAPO forms it.

The demo's servants carry CURPs a liaison would recognise as theirs (the Instructivo Normativo para la
Asignación de la CURP): positions 1-4 are the first letter and first inner vowel of the first surname,
the initial of the second surname and the initial of the given name; 5-10 the birth date (YYMMDD);
11 the sex (H hombre, M mujer); 12-13 the state of birth (NE born abroad); 14-16 the first inner
consonant of the first surname, the second surname and the given name; 17 a differentiator RENAPO assigns
(a digit for births before 2000, a letter from 2000) so homonyms differ; 18 the check digit.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from services.enrollment.servants.domain.curp import curp_check_digit

VOWELS = "AEIOU"
# Words of a compound name or surname that are passed over ("de la Cruz" is CRUZ; "del Carmen" CARMEN).
PARTICLES = frozenset({"DA", "DAS", "DE", "DEL", "DER", "DI", "DIE", "DD", "EL", "LA", "LOS", "LAS", "LE", "LES",
                       "MAC", "MC", "VAN", "VON", "Y"})
# In a compound given name these are passed over for the next name: "María Guadalupe" is G, "José Luis" L.
COMMON_FIRST_NAMES = frozenset({"MARIA", "MA.", "MA", "M.", "M", "JOSE", "J.", "J"})
# The Instructivo's inconvenient words: when the first four letters spell one, the second becomes X.
INCONVENIENT_WORDS = frozenset("""
    BACA BAKA BUEI BUEY CACA CACO CAGA CAGO CAKA CAKO COGE COGI COJA COJE COJI COJO COLA CULO FALO FETO GETA
    GUEI GUEY JETA JOTO KACA KACO KAGA KAGO KAKA KAKO KOGE KOGI KOJA KOJE KOJI KOJO KOLA KULO LILO LOCA LOCO
    LOKA LOKO MAME MAMO MEAR MEAS MEON MIAR MION MOCO MOKO MULA MULO NACA NACO PEDA PEDO PENE PIPI PITO POPO
    PUTA PUTO QULO RATA ROBA ROBE ROBO RUIN SENO TETA VACA VAGA VAGO VAKA VUEI VUEY WUEI WUEY
""".split())
# RENAPO's codes for the state of birth (NE: born abroad).
STATES = frozenset({"AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN",
                    "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS",
                    "NE"})


def _plain(text: str) -> str:
    """Upper case without accents or diaereses; Ñ stays Ñ (the rules treat it on its own)."""
    out = []
    for char in text.upper():
        if char == "Ñ":
            out.append(char)
            continue
        out.append("".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)))
    return "".join(out)


def _words(text: str | None) -> list[str]:
    return [w for w in _plain(text or "").replace("-", " ").split() if w]


def _meaningful(text: str | None) -> str:
    """The word of a name or surname that counts: the first that is not a particle ('' when none is)."""
    return next((w for w in _words(text) if w not in PARTICLES), "")


def curp_given_name(given_names: str) -> str:
    """The given name the CURP is formed from: the first, unless a compound name starts with María or José."""
    names = [w for w in _words(given_names) if w not in PARTICLES]
    if len(names) > 1 and names[0] in COMMON_FIRST_NAMES:
        return names[1]
    return names[0] if names else ""


def _initial(word: str) -> str:
    if not word:
        return "X"
    return "X" if word[0] == "Ñ" or not word[0].isalpha() else word[0]


def _inner_vowel(word: str) -> str:
    return next((c for c in word[1:] if c in VOWELS), "X")


def _inner_consonant(word: str) -> str:
    consonant = next((c for c in word[1:] if c.isalpha() and c not in VOWELS), "X")
    return "X" if consonant == "Ñ" else consonant


def curp_for(*, given_names: str, first_surname: str, second_surname: str | None, birth: date, sex: str,
             state: str, differentiator: int = 0) -> str:
    """The CURP of a person (sex ``female``/``male``); ``differentiator`` n is the n-th homonym's."""
    if state not in STATES:
        raise ValueError(f"state: {state!r} is not a RENAPO state code")
    if sex not in ("female", "male"):
        raise ValueError("sex: a CURP records H (male) or M (female)")
    first, second, given = _meaningful(first_surname), _meaningful(second_surname), curp_given_name(given_names)
    if not first or not given:
        raise ValueError("a CURP needs a first surname and a given name")
    head = _initial(first) + _inner_vowel(first) + _initial(second) + _initial(given)
    if head in INCONVENIENT_WORDS:
        head = head[0] + "X" + head[2:]
    born_2000s = birth.year >= 2000
    if not 0 <= differentiator < (26 if born_2000s else 10):
        raise ValueError("differentiator: out of range")
    body = (f"{head}{birth:%y%m%d}{'M' if sex == 'female' else 'H'}{state}"
            f"{_inner_consonant(first)}{_inner_consonant(second) if second else 'X'}{_inner_consonant(given)}"
            f"{chr(ord('A') + differentiator) if born_2000s else differentiator}")
    return body + curp_check_digit(body)
