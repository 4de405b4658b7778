"""``python -m services.reporting``: run the reporting service."""

from probidad.shared.service import serve
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings

if __name__ == "__main__":
    settings = ReportingSettings()
    serve(create_app, settings)
