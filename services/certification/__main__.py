from probidad.shared.service import serve
from services.certification.app import create_app
from services.certification.settings import CertificationSettings

settings = CertificationSettings()
serve(create_app, settings)
