"""Settings of the enrollment service (``PROBIDAD_*`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from probidad.shared.settings import ServiceSettings
from pydantic import Field


class EnrollmentSettings(ServiceSettings):
    service_name: str = "enrollment"
    PRODUCTION_SECRETS: ClassVar[tuple[str, ...]] = ("jwt_secret", "email_digest_key")
    http_port: int = Field(8001, ge=1, le=65535)
    bulk_max_rows: int = Field(1000, ge=1, le=100_000, description="Rows one bulk import request may carry.")
    certification_public_url: str = Field("http://127.0.0.1:8003", description=(
        "Where the public reaches certification: a named constancia's QR code opens its verification page "
        "(<url>/verify/<code>)."))
