"""Settings of the attendance service (``PROBIDAD_*`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from probidad.shared.settings import ServiceSettings


class AttendanceSettings(ServiceSettings):
    service_name: str = "attendance"
    PRODUCTION_SECRETS: ClassVar[tuple[str, ...]] = ("jwt_secret", "email_digest_key", "check_in_key")
    http_port: int = Field(8002, ge=1, le=65535)
    check_in_key: SecretStr = Field(
        SecretStr("probidad-development-check-in-key"),
        description="Derives each session's check-in code; rotate it and every displayed code changes.")
    check_in_opens_minutes_before: int = Field(
        15, ge=0, le=240, description="Check-in opens this long before a session starts and closes at its end.")
    late_after_minutes: int = Field(
        15, ge=0, le=600, description="Arriving later than this after the start makes a servant 'late'.")
    max_report_bytes: int = Field(50_000_000, ge=1_000, description="Largest attendance report accepted over HTTP.")
