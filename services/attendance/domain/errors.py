"""Attendance's broken rules, each a ``RuleViolation`` of the kind a caller should see: the shared HTTP app
answers them with that 4xx and the consumer dead-letters the fact that broke one, with no translation here."""

from __future__ import annotations

from probidad.shared.errors import RuleViolation


class AttendanceError(RuleViolation):
    """A command breaks an attendance rule (422); ``field`` names the input at fault."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(field, message, "invalid")


class SessionNotReady(RuleViolation):
    """The session is not in a state that allows the command (cancelled, closed, running…): 409."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(field, message, "conflict")


class ReportError(RuleViolation):
    """The file is not a report (or grade sheet) we can read; the message names the line or column at fault."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(field, message, "invalid")


class NotFound(RuleViolation):
    """Attendance does not know the session (yet): 404."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(field, message, "not_found")


class Forbidden(RuleViolation):
    """The caller may not act on or read this: 403."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(field, message, "forbidden")
