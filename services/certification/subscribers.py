"""Which handler each consumed event type goes to."""

from __future__ import annotations

from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantTransferred,
    SessionCancelled,
    SessionClosed,
    SessionRescheduled,
    SessionScheduled,
)
from contracts.topics import ATTENDANCE_EVENTS, ENROLLMENT_EVENTS
from probidad.shared.consumer import Handler
from services.certification.handlers import Certification

TOPICS = [ENROLLMENT_EVENTS, ATTENDANCE_EVENTS]


def event_handlers(certification: Certification) -> dict[str, Handler]:
    return {
        CoursePublished.type: certification.on_course_published,
        SessionScheduled.type: certification.on_session_scheduled,
        SessionRescheduled.type: certification.on_session_rescheduled,
        SessionCancelled.type: certification.on_session_cancelled,
        EnrolmentConfirmed.type: certification.on_enrolment_confirmed,
        EnrolmentCancelled.type: certification.on_enrolment_cancelled,
        AttendanceRecorded.type: certification.on_attendance_recorded,
        AttendanceCorrected.type: certification.on_attendance_corrected,
        AssessmentGraded.type: certification.on_assessment_graded,
        SessionClosed.type: certification.on_session_closed,
        ServantTransferred.type: certification.on_servant_transferred,
    }
