"""Settings of the enrollment service (``PROBIDAD_*`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from probidad.shared.settings import ServiceSettings
from pydantic import Field, SecretStr


class EnrollmentSettings(ServiceSettings):
    service_name: str = "enrollment"
    PRODUCTION_SECRETS: ClassVar[tuple[str, ...]] = ("jwt_secret", "email_digest_key")
    http_port: int = Field(8001, ge=1, le=65535)
    bulk_max_rows: int = Field(1000, ge=1, le=100_000, description="Rows one bulk import request may carry.")
    certification_public_url: str = Field("http://127.0.0.1:8003", description=(
        "Where the public reaches certification: a named constancia's QR code opens its verification page "
        "(<url>/verify/<code>)."))

    # ---- e-mail: digests to institutions' contacts and reminders to servants (notifications/)
    smtp_host: str = Field("127.0.0.1", description="The SMTP server mail is handed to.")
    smtp_port: int = Field(25, ge=1, le=65535, description="Its port (587 with STARTTLS, 25 or a local sink's).")
    smtp_user: str | None = Field(None, description="Login at the SMTP server (none: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="Password for smtp_user.")
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before sending (and "
                                "refuse to send without it).")
    smtp_timeout_s: float = Field(30.0, gt=0, le=600, description="Longest wait for the SMTP server's answer.")
    mail_from: str = Field("Probidad <no-reply@probidad.example>", min_length=3, max_length=300,
                           description="The From of every message; its domain ends each Message-ID.")
    public_url: str = Field("http://127.0.0.1:8001", description=(
        "Where people reach this service: the links in e-mails (unsubscribe, the named compliance CSV)."))
    notify_interval_s: float = Field(900.0, gt=0, description=(
        "How often the scheduler decides what is due and sends what waits (0 < s); `probidad notify run --now` "
        "does the same at once."))
    notify_from_hour: int = Field(7, ge=0, le=23, description=(
        "The scheduler decides the day's digests and reminders from this hour of the programme's day on."))
    notify_scheduler: bool = Field(True, description="Run the scheduler in this process (several instances may: "
                                   "one at a time holds its lock).")
    mail_retry_base_s: float = Field(60.0, gt=0, description="First wait after the SMTP server was away; doubled "
                                     "on each failure.")
    mail_retry_max_s: float = Field(3600.0, gt=0, description="Longest wait between two attempts at one message.")
    mail_give_up_after_s: float = Field(3 * 86400.0, gt=0, description=(
        "A message still not accepted this long after it was decided is given up (status failed)."))
    # ---- webhooks for agencies (webhooks/)
    webhook_retry_base_s: float = Field(30.0, gt=0, description="First wait after a failed webhook delivery; "
                                        "doubled on each failure.")
    webhook_retry_max_s: float = Field(3600.0, gt=0, description="Longest wait between two attempts.")
    webhook_retry_for_s: float = Field(86400.0, gt=0, description=(
        "A delivery still failing this long after its event is parked in the endpoint's dead-letter list."))
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="Longest wait for an endpoint's answer.")
    webhook_allow_http: bool = Field(False, description=(
        "Accept plain-HTTP endpoints on any host (HTTP is always accepted on loopback, for development)."))
