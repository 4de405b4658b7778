"""Settings of the reporting service (``PROBIDAD_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from probidad.shared.settings import ServiceSettings, public_https_problem


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = Field(8004, ge=1, le=65535)
    responsible_unit: str = Field(
        "Secretaría de la Contraloría del Estado — Unidad de Ética, Integridad y Prevención de Conflictos de Interés",
        description="Named on every open-data row as the unit answerable for the figures.")
    open_data_minimum_count: int = Field(5, ge=1, le=100, description="Counts below this are suppressed in open data.")
    programme_language: Literal["es", "en"] = Field(
        "es", description="The programme's language: the bulletin is written in it unless asked for another.")
    reporting_public_url: str = Field(
        "", description="Where the public reaches reporting (its dashboard and open data): the bulletin's links "
        "are absolute to it. Empty: the service's own address (http://host:port), development only.")
    issuing_authority_en: str = Field(
        "State Comptroller's Office", min_length=1, max_length=200,
        description="The Secretaría's name in English (PROBIDAD_ISSUING_AUTHORITY is its name in Spanish): the "
        "subject of the English bulletin.")
    bulletin_signatory_name: str = Field(
        "", max_length=200, description="Who signs the bulletin (its issuer block), e.g. 'Mtra. Ana López Ruiz'. "
        "Empty: the bulletin says it is unsigned (development only).")
    bulletin_signatory_position: str = Field(
        "", max_length=300, description="The signatory's position, e.g. 'Titular de la Unidad de Ética, "
        "Integridad y Prevención de Conflictos de Interés'.")
    reporting_engine: Literal["columnar", "ledger"] = Field(
        "columnar", description="Where figures are computed: 'columnar', a DuckDB copy of the facts on disk, "
        "memory bounded by PROBIDAD_REPORTING_MEMORY_MB; 'ledger', every fact in the process's memory (the "
        "reference the columnar engine is tested against; small programmes only).")
    reporting_memory_mb: int = Field(512, ge=64, le=1_000_000, description="What the columnar engine may hold in "
                                     "memory, in MB; the rest spills to disk beside its file.")
    reporting_columnar_path: str = Field(
        "", description="The columnar engine's DuckDB file, one per reporting instance: kept across restarts, "
        "rebuilt from the store when missing. Empty: a scratch file removed when the service stops.")
    rebuild_batch_size: int = Field(20_000, ge=100, le=500_000, description="Facts per bulk insert during a rebuild.")
    # xAPI to a Learning Record Store (services/reporting/xapi): off unless lrs_url is set.
    lrs_url: str = Field("", description="The Learning Record Store's xAPI base, without /xAPI/statements (e.g. "
                         "https://lrs.example.gob.mx for Ralph): statements go to <url>/xAPI/statements. Empty: no "
                         "xAPI projection at all (no consumer group, no sending loop).")
    lrs_username: str = Field("", description="Basic-auth user the LRS knows Probidad by; empty: no credentials.")
    lrs_password: SecretStr | None = Field(None, description="Its password.")
    xapi_public_url: str = Field("", description="The platform's public base URL: the actor's account homePage and "
                                 "the base of every activity, verb and extension IRI (keep it: the IRIs are ids). "
                                 "Empty: PROBIDAD_REPORTING_PUBLIC_URL (or the service's own address).")
    lrs_batch_size: int = Field(50, ge=1, le=1000, description="Statements per POST to the LRS.")
    lrs_timeout_s: float = Field(10.0, gt=0, le=300, description="How long one POST may take.")
    lrs_retry_base_s: float = Field(5.0, gt=0, description="The wait after a first failed attempt, doubled after "
                                    "each further one.")
    lrs_retry_max_s: float = Field(600.0, gt=0, description="The longest wait between two attempts.")
    lrs_retry_for_s: float = Field(86_400.0, gt=0, description="How long a statement is tried before it is parked "
                                   "in the dead-letter list (GET /xapi/dead-letters).")

    @property
    def public_url(self) -> str:
        """The base of every link the bulletin prints, without a trailing slash."""
        return (self.reporting_public_url or self.base_url).rstrip("/")

    @property
    def xapi_base(self) -> str:
        """The base of the xAPI IRIs and of the actor's homePage, without a trailing slash."""
        return (self.xapi_public_url or self.public_url).rstrip("/")

    @model_validator(mode="after")
    def _published_bulletin_in_production(self) -> "ReportingSettings":
        """A bulletin goes out to the press: in production its links must reach the public (https) and it
        must name who signs it."""
        if self.environment != "production":
            return self
        if not self.reporting_public_url:  # the default, http://host:port, is no address the public can use
            raise ValueError("PROBIDAD_REPORTING_PUBLIC_URL must be set in production, to the https:// URL the "
                             "public reaches reporting at: the bulletin links to its dashboard and open data")
        problem = public_https_problem(self.reporting_public_url)
        if problem:
            raise ValueError(f"PROBIDAD_REPORTING_PUBLIC_URL {problem}: the bulletin links to its dashboard and "
                             "open data")
        missing = [name for name in ("bulletin_signatory_name", "bulletin_signatory_position")
                   if not getattr(self, name).strip()]
        if missing:
            raise ValueError(f"{', '.join(f'PROBIDAD_{n.upper()}' for n in missing)} must be set in production: "
                             "the bulletin's issuer block names who signs it")
        problem = self.lrs_url and self.xapi_public_url and public_https_problem(self.xapi_public_url)
        if problem:  # every IRI sent to the LRS is under it, and the LRS keeps them for good
            raise ValueError(f"PROBIDAD_XAPI_PUBLIC_URL {problem}: the xAPI activities and actors are named under it")
        return self
