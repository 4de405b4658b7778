"""Settings every service reads from ``PROBIDAD_*`` environment variables.

Nonsense fails at start-up with the variable's name, never later in the middle of a request.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "probidad-development-secret-change-me"
_BOOTSTRAP = re.compile(r"^[A-Za-z0-9.\-_]+:\d{1,5}(,[A-Za-z0-9.\-_]+:\d{1,5})*$")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROBIDAD_", extra="ignore", validate_default=True)
    # The keys a service uses, each refused in production while it holds its development default.
    PRODUCTION_SECRETS: ClassVar[tuple[str, ...]] = ("jwt_secret",)

    service_name: str = "probidad"
    environment: Literal["development", "test", "production"] = "development"
    state_dir: Path = Field(Path(".probidad"), description="Where SQLite files and local state live.")
    database_url: str = Field("", description="SQLAlchemy async URL; empty = SQLite file in state_dir.")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int | None = Field(None, ge=1, le=5, description="Replicas of every topic the "
                                                 "service creates; unset: the cluster's (3, or fewer brokers).")
    kafka_security: Literal["plaintext", "scram-tls"] = Field(
        "plaintext", description="scram-tls: SASL/SCRAM-SHA-512 over TLS (`probidad kafka start --secure`).")
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    kafka_ca_file: Path | None = Field(
        None, description="PEM CA certificate the broker's certificate is checked against.")
    topic_prefix: str = Field("", pattern=r"^[a-z0-9._\-]*$")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    public_base_url: str = Field("", description="URL the public reaches this service at; empty = http://host:port.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # The state's OpenID Connect provider (probidad.shared.identity); its tokens are accepted beside the
    # shared-secret ones once the issuer is set.
    oidc_issuer: str = Field("", description="The provider's issuer (its tokens' iss); empty: no provider.")
    oidc_audience: str = Field("", description="The audience the provider's tokens must name for this platform.")
    oidc_jwks_url: str = Field("", description="Where the provider publishes its keys; empty: the jwks_uri of "
                               "<issuer>/.well-known/openid-configuration.")
    oidc_role_claim: str = Field("role", description="Claim holding the role (a string or a list); dotted "
                                 "steps reach a nested one, e.g. ext.role.")
    oidc_institution_claim: str = Field("institution", description="Claim naming a liaison's institution.")
    oidc_instructor_claim: str = Field("instructor", description="Claim naming an instructor's id.")
    oidc_jwks_refetch_s: float = Field(30.0, ge=0, le=3600, description="Least time between two fetches of the "
                                       "provider's keys when tokens name a key not seen yet (a rotation).")
    shared_secret_tokens: bool = Field(True, description="Accept the development tokens signed with "
                                       "PROBIDAD_JWT_SECRET; false: only the identity provider's tokens are "
                                       "accepted (a provider must be configured).")
    oidc_jwks_max_age_s: float = Field(3600.0, gt=0, description="How long fetched keys are used before they "
                                       "are fetched again.")
    email_digest_key: SecretStr = SecretStr("probidad-development-digest-key")
    issuing_authority: str = "Secretaría de la Contraloría del Estado"
    # The signature block of the constancias (enrollment's named ones, certification's own), as on an
    # official document: who signs them for the issuing authority, and in which position.
    constancia_signatory_name: str = Field("", max_length=150, description="Who signs the constancias, as printed "
                                           "(e.g. 'Mtra. Ana López Ruiz'); empty: the line is left to sign by hand.")
    constancia_signatory_position: str = Field("", max_length=200, description="Their position, printed under the "
                                               "name (e.g. 'Titular de la Unidad de Ética y Prevención de Conflictos "
                                               "de Interés').")
    programme_timezone: str = "America/Mexico_City"
    relay_batch_size: int = Field(500, ge=1, le=10_000)
    kafka_instance_id: str | None = Field(None, max_length=200, description="Static consumer-group membership, "
                                          "for deployments whose instances have stable names (compose, a "
                                          "StatefulSet): the same id across restarts lets an instance take its "
                                          "partitions back at once. Two live instances must never share one; keep "
                                          "it unset when the topics an instance consumes change between restarts.")
    kafka_session_timeout_ms: int = Field(10_000, ge=6_000, le=300_000, description="How long the group waits "
                                          "for a silent instance before giving its partitions to the others.")
    kafka_reconnect_max_ms: int = Field(5_000, ge=0, le=60_000, description="Longest wait between two attempts "
                                        "to reach a broker that is away (100 ms doubling up to this, jittered); "
                                        "0: the Kafka client's own fixed 100 ms retry.")
    outbox_max_age_s: float = Field(120.0, gt=0, description="/health turns unhealthy once the oldest unpublished "
                                    "event has waited longer than this.")
    parent_pid: int | None = Field(None, ge=1, description="Set by the launcher (`probidad up`, the tests): "
                                   "the service stops by itself when that process is gone.")
    relay_interval_ms: int = Field(1000, ge=1, le=60_000, description="Idle poll of the outbox relay; every "
                                   "commit that adds events wakes it at once.")
    schema_migrations: Literal["at-start", "operator"] = Field(
        "at-start", description="at-start: the service upgrades its database to its schema when it starts; "
        "operator: the operator runs `probidad migrate` and a service finding its database behind refuses to start.")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        if not _BOOTSTRAP.match(value):
            raise ValueError("must be host:port[,host:port…], e.g. 127.0.0.1:9092")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("programme_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _kafka_credentials(self) -> "ServiceSettings":
        if self.kafka_security == "scram-tls":
            if not self.kafka_username or not self.kafka_password.get_secret_value():
                raise ValueError("PROBIDAD_KAFKA_USERNAME and PROBIDAD_KAFKA_PASSWORD must be set when "
                                 "PROBIDAD_KAFKA_SECURITY=scram-tls")
            if self.kafka_ca_file is None or not self.kafka_ca_file.is_file():
                raise ValueError(f"PROBIDAD_KAFKA_CA_FILE must name the broker's CA certificate file "
                                 f"(got {self.kafka_ca_file})")
        return self

    @model_validator(mode="after")
    def _identity_provider(self) -> "ServiceSettings":
        if not self.shared_secret_tokens and not self.oidc_issuer:
            raise ValueError("PROBIDAD_SHARED_SECRET_TOKENS=false leaves no token accepted: set "
                             "PROBIDAD_OIDC_ISSUER (and PROBIDAD_OIDC_AUDIENCE) to the identity provider")
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("PROBIDAD_OIDC_AUDIENCE must be set when PROBIDAD_OIDC_ISSUER is: without it a "
                             "token the provider issued for another application would be accepted")
        if self.environment == "production":
            for name in ("oidc_issuer", "oidc_jwks_url"):
                url = getattr(self, name)
                problem = url and public_https_problem(url)
                if problem:
                    raise ValueError(f"PROBIDAD_{name.upper()} {problem}")
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> "ServiceSettings":
        """In production every key this service uses must be set: a development default is public
        (it is in this repository), so anyone could sign tokens, forge digests or check-in codes."""
        if self.environment != "production":
            return self
        fields = type(self).model_fields
        defaults = [name for name in self.PRODUCTION_SECRETS
                    if getattr(self, name).get_secret_value() == fields[name].default.get_secret_value()]
        if defaults:
            names = ", ".join(f"PROBIDAD_{name.upper()}" for name in defaults)
            raise ValueError(f"{names} must be set in production (the development default is public)")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.state_dir / f'{self.service_name}.db').as_posix()}"

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def public_https_problem(url: str) -> str | None:
    """Why ``url`` cannot be the address the public reaches a service at in production, or None: it must
    be https. A loopback http host is let through, for the stack run on one machine (nobody else can
    reach it anyway)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and _loopback(parts.hostname):
        return None
    return f"must be an https:// URL in production (got {url!r})"


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
