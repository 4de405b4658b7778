"""Sessions: rows as the domain's records (no SQL: attribute reads of the rows the repository loaded)."""

from __future__ import annotations

from services.enrollment.sessions.domain import SessionTerms
from services.enrollment.tables import TrainingSession


def terms(session: TrainingSession) -> SessionTerms:
    return SessionTerms(session.session_id, session.starts_at, session.ends_at, session.capacity,
                        session.cancelled_at is not None)
