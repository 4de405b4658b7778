"""Reading an uploaded table, once for every service: bytes to text, folded headers, a sniffed CSV reader.

Pure (no I/O), so domains parse their files with it: enrollment's servant, departure and plan files,
attendance's platform reports. Each caller keeps only what is its own: its columns and aliases.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from typing import TYPE_CHECKING

from probidad.shared.errors import RuleViolation

if TYPE_CHECKING:
    import _csv

_HEADER_SEPARATORS = "_-()./"


def utf8_text(data: bytes, field: str = "file") -> str:
    """A file agencies' systems write: UTF-8, with or without a BOM; anything else is refused naming the byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RuleViolation(field, f"not UTF-8 text (byte {error.start})") from None


def any_text(data: bytes | str) -> str:
    """A file a meeting platform exported, read whatever it is: Teams writes UTF-16 with a BOM, Zoom UTF-8 with or
    without one, old exports Windows-1252 (never refused: a report is read as far as it can be)."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    sample = data[:200]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-le", errors="replace")
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def folded(cell: str) -> str:
    """Lower case, single spaces, no accents or surrounding quotes: 'Duración' and a re-typed 'Duracion' are one."""
    text = unicodedata.normalize("NFKD", cell.strip().strip('"').strip().lower())
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


def header_key(name: str) -> str:
    """A column header as an alias table names it: folded, with separators as spaces ('Fecha_Baja' = 'fecha baja')."""
    for separator in _HEADER_SEPARATORS:
        name = name.replace(separator, " ")
    return folded(name)


def sniffed_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The CSV dialect a text's first lines show (comma, semicolon, tab or bar separated; Excel's otherwise)."""
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def sniffed_rows(text: str) -> _csv.Reader:
    """The rows of a CSV text in its sniffed dialect; the reader's ``line_num`` numbers rows as a spreadsheet does."""
    return csv.reader(io.StringIO(text, newline=""), sniffed_dialect(text))
