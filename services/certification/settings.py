"""Certification settings: signing key (and retired keys), verification-code key, the competency model,
and the public base URL badges are issued under."""

from __future__ import annotations

from typing import ClassVar

import json
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from probidad.shared.settings import ServiceSettings, public_https_problem
from services.certification.signing import PublicKey, load_public_key

DEV_CODE_KEY = "probidad-development-certificate-code-key"

# The integrity competency the comptroller's programme builds. A requirement names a course code or
# a course topic (compared without regard to case): any certificate for such a course satisfies it.
DEFAULT_COMPETENCY_MODEL: dict[str, list[str]] = {
    "Integridad pública": [
        "Código de Ética",
        "Conflicto de Interés",
        "Prevención de Actos de Corrupción",
        "Responsabilidades Administrativas",
    ],
}


class CertificationSettings(ServiceSettings):
    service_name: str = "certification"
    PRODUCTION_SECRETS: ClassVar[tuple[str, ...]] = ("jwt_secret", "certificate_code_key")
    http_port: int = Field(8003, ge=1, le=65535)
    signing_key_path: Path | None = Field(
        None, description="PEM (PKCS#8) Ed25519 private key; empty = generated once into state_dir. "
        "Every instance of the service must use the same key.")
    retired_signing_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Keys that signed before a rotation, kept to VERIFY ONLY what they signed "
        "(and published as retired): comma-separated, each the raw Ed25519 public key in base64url (43 characters, "
        "the `public_key` of the well-known document) or the path of a PEM public key file "
        "(`openssl pkey -in old.pem -pubout`). Never a private key. Empty = none.")
    certificate_code_key: SecretStr = Field(
        SecretStr(DEV_CODE_KEY), description="HMAC key deriving verification codes; keeps codes unguessable "
        "from servant and session ids. Never change it once certificates exist.")
    competency_model: dict[str, list[str]] = Field(
        default_factory=lambda: dict(DEFAULT_COMPETENCY_MODEL),
        description="Competency -> course codes or topics, as JSON (PROBIDAD_COMPETENCY_MODEL).")
    competency_model_file: Path | None = Field(
        None, description="JSON file with the competency model; overrides competency_model.")
    _retired_keys: tuple[PublicKey, ...] = PrivateAttr(default=())

    @field_validator("retired_signing_keys", mode="before")
    @classmethod
    def _split_retired(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in re.split(r"[,\n]", value) if entry.strip()]
        return value

    @field_validator("competency_model")
    @classmethod
    def _model_shape(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return _validated_model(value)

    @model_validator(mode="after")
    def _load_model_file(self) -> "CertificationSettings":
        if self.competency_model_file is not None:
            try:
                raw = json.loads(self.competency_model_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ValueError(f"PROBIDAD_COMPETENCY_MODEL_FILE: cannot read {self.competency_model_file}: {error}")
            if not isinstance(raw, dict):
                raise ValueError("PROBIDAD_COMPETENCY_MODEL_FILE: must hold a JSON object competency -> [course codes]")
            self.competency_model = _validated_model(raw)
        if self.signing_key_path is not None and not self.signing_key_path.is_file():
            raise ValueError(f"PROBIDAD_SIGNING_KEY_PATH: no file at {self.signing_key_path}")
        retired = []
        for entry in self.retired_signing_keys:
            try:
                retired.append(load_public_key(entry))
            except (OSError, ValueError) as error:
                raise ValueError(f"PROBIDAD_RETIRED_SIGNING_KEYS: {error}") from None
        self._retired_keys = tuple(retired)
        return self

    @model_validator(mode="after")
    def _public_url_in_production(self) -> "CertificationSettings":
        """Badges name their issuer, achievement and status list by this URL, and verifiers fetch the status
        list from it: in production it must be https. A loopback host is let through, for the stack run on
        one machine (nobody else can reach it anyway)."""
        if self.environment != "production":
            return self
        if not self.public_base_url:  # the default, http://host:port, is no address the public can use
            raise ValueError("PROBIDAD_PUBLIC_BASE_URL must be set in production, to the https:// URL the public "
                             "reaches certification at: badges, their achievements and status lists are published "
                             "under it")
        problem = public_https_problem(self.public_base_url)  # the rule reporting's public address follows too
        if problem:
            raise ValueError(f"PROBIDAD_PUBLIC_BASE_URL {problem}: badges, their achievements and status lists "
                             "are published under it")
        return self

    @property
    def retired_keys(self) -> tuple[PublicKey, ...]:
        """The retired public keys, loaded (and checked) when the settings were read."""
        return self._retired_keys

    @property
    def generated_key_path(self) -> Path:
        return self.state_dir / "certification-signing-key.pem"


def _validated_model(value: dict) -> dict[str, list[str]]:
    model: dict[str, list[str]] = {}
    for competency, requirements in value.items():
        if not str(competency).strip():
            raise ValueError("a competency needs a name")
        if not isinstance(requirements, list) or not requirements or not all(
                isinstance(r, str) and r.strip() for r in requirements):
            raise ValueError(f"competency {competency!r}: needs a non-empty list of course codes or topics")
        model[str(competency)] = [r.strip() for r in requirements]
    return model
