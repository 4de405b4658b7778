"""``python -m services.enrollment``: run the enrollment service."""

from probidad.shared.service import serve

from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings

if __name__ == "__main__":
    settings = EnrollmentSettings()
    serve(create_app, settings)
