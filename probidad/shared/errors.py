"""The one domain error of every service: a rule a command or a fact breaks.

A domain raises ``RuleViolation`` (or a subclass naming the rule); nobody translates it by hand. The HTTP
app answers it with the 4xx its ``kind`` names and a detail naming the field at fault; the consumer
dead-letters the record it came from at once (reason kind ``rejected``), because asking again changes
nothing. Pure: domains import it, so it imports nothing of the plumbing.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "not_found", "conflict", "forbidden", "gone"]

# How a caller sees each kind over HTTP.
STATUS: dict[Kind, int] = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403, "gone": 410}


class RuleViolation(Exception):
    """A command or fact breaks a rule. ``field`` names the input at fault (None: the request as a whole);
    ``kind`` says how a caller should see it."""

    def __init__(self, field: str | None, message: str, kind: Kind = "invalid") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.kind: Kind = kind

    @property
    def status(self) -> int:
        return STATUS[self.kind]
