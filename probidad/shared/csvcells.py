"""CSV cells a spreadsheet shows as written, for every CSV the platform hands out."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """One CSV cell: None is empty; text that a spreadsheet would take for a formula (``=``, ``+``,
    ``-``, ``@``, tab, carriage return first — a name typed that way, say) gets a leading apostrophe,
    as OWASP advises against CSV injection; numbers stay numbers, so ``-3`` as a count is untouched."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
