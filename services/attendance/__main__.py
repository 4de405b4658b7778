"""``python -m services.attendance``: run the attendance service."""

from probidad.shared.service import serve
from services.attendance.app import create_app
from services.attendance.settings import AttendanceSettings

settings = AttendanceSettings()
serve(create_app, settings)
