"""Enrolments: rows as the domain's records (no SQL: attribute reads of the rows the repository loaded)."""

from __future__ import annotations

from services.enrollment.enrolments.domain import Seat
from services.enrollment.tables import Enrolment


def seat(enrolment: Enrolment) -> Seat:
    return Seat(enrolment.enrolment_id, enrolment.servant_id, enrolment.institution_id, enrolment.status,  # type: ignore[arg-type]
                enrolment.number or 0)
