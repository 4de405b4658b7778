"""How the facts and certificates a decision keeps become rows: the savers of ``SqlCertificationRepository``
(a mixin over its rows kept in memory and its row batch; written when the unit of work completes)."""

from __future__ import annotations

import json
from datetime import datetime

from contracts.events import CompetencyAttained, RevocationApplies
from services.certification.batch_repository import RowBatch
from services.certification.domain.decisions import CertificateChange, Restamp
from services.certification.domain.facts import Attendance, CourseTerms, Enrolment, Grade, Holder, SessionPlan, Transfer
from services.certification.rows import ServantRows, SessionRows, Stored, stated, utc
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    HolderFact,
    SessionFact,
    TransferFact,
)


class RowSaving:
    """The savers; the repository holds the rows they keep in step (see ``repository``)."""

    batch: RowBatch
    courses: dict[str, Stored | None]
    course_terms: dict[str, CourseTerms | None]
    sessions: dict[str, SessionRows]
    servant_rows: dict[str, ServantRows]
    enrolments: dict[str, Stored]
    certificates: dict[str, Stored]
    created_certificates: dict[str, list[str]]

    def save_course(self, terms: CourseTerms) -> None:
        stated_at, stated_by = stated(terms.stamp)
        self.course_terms.pop(terms.course_id, None)  # read again from the row, as stored
        self.courses[terms.course_id] = self.batch.put(CourseFact, self.courses.get(terms.course_id), dict(
            course_id=terms.course_id, code=terms.code, title=terms.title, topic=terms.topic, hours=terms.hours,
            minimum_attendance_share=terms.minimum_attendance_share, passing_score=terms.passing_score,
            competency=terms.competency, validity_months=terms.validity_months, stated_at=stated_at,
            stated_by=stated_by))

    def save_plan(self, plan: SessionPlan) -> None:
        rows = self.sessions[plan.session_id]
        values = dict(session_id=plan.session_id, course_id=plan.course_id, timezone=plan.timezone,
                      cancelled=plan.cancelled, closed=plan.closed,
                      starts_at=None if plan.starts_at is None else utc(plan.starts_at),
                      ends_at=None if plan.ends_at is None else utc(plan.ends_at))
        if plan.planned is not None:
            values.update(planned_at=utc(plan.planned.at), planned_rank=plan.planned.rank,
                          planned_by=plan.planned.event_id)
        rows.plan = self.batch.put(SessionFact, rows.plan, values)
        rows.plan_state = None  # read again from the row, as stored

    def save_enrolment(self, enrolment: Enrolment) -> None:
        """Saved where it is stored (a new one in the event's session)."""
        stored = self.enrolments.get(enrolment.enrolment_id)
        values = dict(institution_id=enrolment.institution_id, confirmed=enrolment.confirmed,
                      cancelled=enrolment.cancelled)
        if stored is None:
            values.update(enrolment_id=enrolment.enrolment_id, session_id=enrolment.session_id,
                          servant_id=enrolment.servant_id)
        row = self.enrolments[enrolment.enrolment_id] = self.batch.put(EnrolmentFact, stored, values)
        home = self.sessions.get(row.session_id)
        if home is not None:
            home.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
            home.members.add(row.servant_id)

    def save_holder(self, servant_id: str, holder: Holder) -> None:
        rows = self.servant_rows[servant_id]
        stated_at, stated_by = stated(holder.stamp)
        rows.holder = self.batch.put(HolderFact, rows.holder, dict(
            servant_id=servant_id, holder_digest=holder.digest, stated_at=stated_at, stated_by=stated_by))

    def save_attendance(self, session_id: str, servant_id: str, attendance: Attendance) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = stated(attendance.stamp)
        rows.attendance[servant_id] = self.batch.put(AttendanceFact, rows.attendance.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, share=attendance.share,
            minutes_present=attendance.minutes_present, session_minutes=attendance.session_minutes,
            status=attendance.status, stated_at=stated_at, stated_rank=attendance.stamp.rank, stated_by=stated_by))
        rows.members.add(servant_id)

    def save_grade(self, session_id: str, servant_id: str, grade: Grade) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = stated(grade.stamp)
        rows.grades[servant_id] = self.batch.put(GradeFact, rows.grades.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, score=grade.score, stated_at=stated_at,
            stated_by=stated_by))
        rows.members.add(servant_id)

    def save_transfer(self, servant_id: str, transfer: Transfer) -> None:
        transfers = self.servant_rows[servant_id].transfers
        stated_at, stated_by = stated(transfer.stamp)
        transfers[transfer.transfer_id] = self.batch.put(TransferFact, transfers.get(transfer.transfer_id), dict(
            servant_id=servant_id, transfer_id=transfer.transfer_id, to_institution_id=transfer.to_institution_id,
            from_institution_id=transfer.origin,
            effective_on=transfer.effective_on, stated_at=stated_at, stated_by=stated_by))

    def save_certificate(self, change: CertificateChange, *, signature: str, key_id: str,
                         changed_at: datetime) -> None:
        held, terms = change.certificate, change.certificate.terms
        stored = self.certificates.get(terms.certificate_id)
        values = dict(
            course_id=terms.course_id, course_code=terms.course_code, course_title=terms.course_title,
            course_topic=terms.course_topic, hours=terms.hours, score=terms.score, issued_on=terms.issued_on,
            issuing_authority=terms.issuing_authority, valid_until=terms.valid_until,
            holder_digest=terms.holder_digest, institution_id=change.institution_id,
            status=held.status.value, revocation_reason=held.revocation_reason, signature=signature, key_id=key_id,
            changed_at=utc(changed_at))
        if held.revocation is not None:
            values.update(revocation_applies=RevocationApplies(held.revocation.applies).value,
                          revoked_effective_on=held.revocation.effective_on, revoked_by=held.revocation.ruled_by)
        if stored is None:
            values.update(certificate_id=terms.certificate_id, verification_code=terms.verification_code,
                          servant_id=change.servant_id, session_id=change.session_id, issue=held.issue)
            self.created_certificates.setdefault(change.servant_id, []).append(terms.certificate_id)
            servant = self.servant_rows.get(change.servant_id)
            if servant is not None:
                servant.certificate_ids.add(terms.certificate_id)
        row = self.certificates[terms.certificate_id] = self.batch.put(CertificateRecord, stored, values)
        self.sessions[change.session_id].keep_certificate(row)

    def restamp(self, restamp: Restamp) -> None:
        row = self.batch.own(CertificateRecord, self.certificates[restamp.certificate_id])
        row.institution_id = restamp.institution_id
        self.certificates[row.certificate_id] = row
        self.sessions[restamp.session_id].keep_certificate(row)

    def save_attainment(self, attained: CompetencyAttained) -> None:
        """Keep an attainment; one attained again (its earlier one rested on a certificate since revoked)
        replaces the row kept for the competency."""
        kept = self.servant_rows[attained.servant_id].attained
        kept[attained.competency] = self.batch.put(CompetencyAttainment, kept.get(attained.competency), dict(
            servant_id=attained.servant_id, competency=attained.competency, course_ids=json.dumps(attained.course_ids),
            certificate_ids=json.dumps(attained.certificate_ids), attained_on=attained.attained_on))
