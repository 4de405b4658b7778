"""The CURP (Clave Única de Registro de Población): its format, check digit and the sex it records."""

from __future__ import annotations

import re
from datetime import date

from contracts.events import Sex
from probidad.shared.errors import RuleViolation

CURP_DICTIONARY = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
# RENAPO's format: four letters of the name, birth date, sex, state of birth (NE = born abroad),
# three inner consonants, a differentiator (digit before 2000, letter from 2000) and the check digit.
CURP_PATTERN = re.compile(
    r"^[A-Z][AEIOUX][A-Z]{2}"
    r"(?P<yy>\d{2})(?P<mm>0[1-9]|1[0-2])(?P<dd>0[1-9]|[12]\d|3[01])"
    r"(?P<sex>[HMX])"
    r"(?:AS|B[CS]|C[CLMSH]|D[FG]|G[TR]|HG|JC|M[CNS]|N[ETL]|OC|PL|Q[TR]|S[PLR]|T[CSL]|VZ|YN|ZS)"
    r"[B-DF-HJ-NP-TV-Z]{3}"
    r"(?P<differentiator>[A-Z\d])"
    r"(?P<check>\d)$"
)


def curp_check_digit(first_17: str) -> str:
    """RENAPO check digit: weights 18..2 over the first 17 characters, then (10 - sum mod 10) mod 10."""
    if len(first_17) != 17:
        raise ValueError("the check digit is computed over exactly 17 characters")
    total = sum(CURP_DICTIONARY.index(char) * (18 - i) for i, char in enumerate(first_17))
    return str((10 - total % 10) % 10)


def validate_curp(raw: str, field_name: str = "curp") -> str:
    """The CURP in canonical form (upper case, no spaces), or RuleViolation saying what is wrong."""
    curp = (raw or "").strip().upper()
    if len(curp) != 18:
        raise RuleViolation(field_name, f"a CURP has 18 characters, got {len(curp)}")
    match = CURP_PATTERN.match(curp)
    if not match:
        raise RuleViolation(field_name, "not in the official CURP format")
    born_2000s = match["differentiator"].isalpha()
    year = (2000 if born_2000s else 1900) + int(match["yy"])
    try:
        date(year, int(match["mm"]), int(match["dd"]))
    except ValueError:
        raise RuleViolation(field_name, "the birth date it encodes does not exist") from None
    if curp_check_digit(curp[:17]) != curp[17]:
        raise RuleViolation(field_name, "check digit does not match (mistyped CURP?)")
    return curp


def sex_from_curp(curp: str) -> Sex:
    """The sex a (valid) CURP records: H hombre, M mujer, X non-binary."""
    return {"H": Sex.male, "M": Sex.female, "X": Sex.non_binary}[curp[10]]


# What HR exports write in a sex column. Single letters follow the CURP (H hombre, M mujer, X).
_SEX_WORDS = {
    "female": Sex.female, "mujer": Sex.female, "femenino": Sex.female, "f": Sex.female, "m": Sex.female,
    "male": Sex.male, "hombre": Sex.male, "masculino": Sex.male, "h": Sex.male,
    "non_binary": Sex.non_binary, "non-binary": Sex.non_binary, "no binario": Sex.non_binary,
    "no binaria": Sex.non_binary, "x": Sex.non_binary,
    "undisclosed": Sex.undisclosed, "no especificado": Sex.undisclosed, "prefiere no decir": Sex.undisclosed,
}


def parse_sex(raw: str | None, curp: str | None = None, field_name: str = "sex") -> Sex:
    """A sex from free text; when the column is empty, the one the (valid) CURP records."""
    text = (raw or "").strip().lower()
    if not text:
        if curp:
            return sex_from_curp(curp)
        raise RuleViolation(field_name, "missing (female, male, non_binary or undisclosed)")
    if text not in _SEX_WORDS:
        raise RuleViolation(field_name, f"{raw!r} is not one of female, male, non_binary, undisclosed "
                            "(or mujer/hombre, M/H as in the CURP)")
    return _SEX_WORDS[text]

