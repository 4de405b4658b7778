"""Enrollment's storage as one object per unit of work: every sub-area's SQL, over one database session.

"Session" in this service means a training session; the database session is ``self.db``. Every
method runs in the caller's unit of work. On PostgreSQL the correctness of concurrent requests rests
on the locks taken in the sub-areas' repositories: a transaction-scoped advisory lock per CURP
(registration) and per agency request (one decision each), and row locks (``UPDATE … revision + 1``,
i.e. ``SELECT … FOR UPDATE``) on the servant, then the session, before any seat is decided. SQLite's
transactions of a process already take turns (``Database.transaction``), so it needs only the
session's UPDATE.
"""

from __future__ import annotations

from probidad.shared.unit_of_work import UnitOfWork
from sqlalchemy.exc import IntegrityError

from services.enrollment.agency.ports import AgencyRepository
from services.enrollment.agency.repository import SqlAgencyRepository
from services.enrollment.constancias.ports import ConstanciasRepository
from services.enrollment.enrolments.repository import SqlEnrolmentsRepository
from services.enrollment.institutions.repository import SqlInstitutionsRepository
from services.enrollment.notifications.ports import NotificationsRepository
from services.enrollment.notifications.repository import SqlNotificationsRepository
from services.enrollment.plans.ports import PlansRepository
from services.enrollment.plans.repository import SqlPlansRepository
from services.enrollment.requirements.ports import RequirementsRepository
from services.enrollment.requirements.repository import SqlRequirementsRepository
from services.enrollment.servants.repository import SqlServantsRepository
from services.enrollment.sessions.repository import SqlSessionsRepository
from services.enrollment.webhooks.ports import WebhooksRepository
from services.enrollment.webhooks.repository import SqlWebhooksRepository

# A unique index refused a row another transaction wrote first (two registrations of one new CURP at
# once): the request may be retried.
ConcurrentChange = IntegrityError


class SqlEnrollmentRepository(SqlInstitutionsRepository, SqlPlansRepository, SqlSessionsRepository,
                              SqlServantsRepository, SqlEnrolmentsRepository, SqlAgencyRepository,
                              SqlRequirementsRepository, SqlNotificationsRepository, SqlWebhooksRepository):
    """Every sub-area's storage: each satisfies its own area's repository interface."""

    @classmethod
    def of(cls, uow: UnitOfWork) -> SqlEnrollmentRepository:
        """The unit of work's repository (one per unit of work; a test hands its own through ``uow.part``)."""
        return uow.part(cls, lambda: cls(uow))


# The one SQL class answers every sub-area's interface (read by a type checker; nothing runs here).
_SATISFIES: tuple[type[AgencyRepository], type[ConstanciasRepository], type[PlansRepository],
                  type[RequirementsRepository], type[NotificationsRepository],
                  type[WebhooksRepository]] = (SqlEnrollmentRepository,) * 6
