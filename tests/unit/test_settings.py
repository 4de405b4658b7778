"""Settings fail at start-up, naming the variable, instead of failing later in a request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from probidad.shared.settings import ServiceSettings


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("PROBIDAD_KAFKA_BOOTSTRAP", "kafka", "host:port"),
        ("PROBIDAD_DATABASE_URL", "mysql://db/probidad", "postgresql+asyncpg://"),
        ("PROBIDAD_PROGRAMME_TIMEZONE", "America/Atlantis", "unknown IANA time zone"),
        ("PROBIDAD_HTTP_PORT", "99999", "less than or equal to 65535"),
        ("PROBIDAD_LOG_LEVEL", "LOUD", "DEBUG"),
    ],
)
def test_nonsense_in_an_environment_variable_stops_the_service_naming_it(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        ServiceSettings()
    message = str(error.value)
    assert variable.removeprefix("PROBIDAD_").lower() in message
    assert complaint in message


def test_production_refuses_the_development_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="PROBIDAD_JWT_SECRET must be set"):
        ServiceSettings()
    monkeypatch.setenv("PROBIDAD_JWT_SECRET", "a-real-secret-from-the-vault")
    assert ServiceSettings().environment == "production"


def test_the_default_database_is_a_sqlite_file_per_service_in_the_state_dir(tmp_path) -> None:
    settings = ServiceSettings(service_name="attendance", state_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'attendance.db'}"


@pytest.mark.parametrize(("service", "keys"), [
    ("enrollment", ("JWT_SECRET", "EMAIL_DIGEST_KEY")),
    ("attendance", ("JWT_SECRET", "EMAIL_DIGEST_KEY", "CHECK_IN_KEY")),
    ("certification", ("JWT_SECRET", "CERTIFICATE_CODE_KEY")),
    ("reporting", ("JWT_SECRET",)),
])
def test_production_refuses_every_development_key_a_service_uses_until_each_is_set(
        monkeypatch: pytest.MonkeyPatch, service: str, keys: tuple[str, ...]) -> None:
    import importlib

    module = importlib.import_module(f"services.{service}.settings")
    settings_class = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    if service == "certification":  # also needs its public https address (tests/unit/test_certification_badges.py)
        monkeypatch.setenv("PROBIDAD_PUBLIC_BASE_URL", "https://certificados.example.gob.mx")
    # reporting: also its public address and the bulletin's signatory (tests/unit/test_reporting_bulletin.py)
    if service == "reporting":
        monkeypatch.setenv("PROBIDAD_REPORTING_PUBLIC_URL", "https://reportes.example.gob.mx")
        monkeypatch.setenv("PROBIDAD_BULLETIN_SIGNATORY_NAME", "Mtra. Ana Laura Méndez Ortiz")
        monkeypatch.setenv("PROBIDAD_BULLETIN_SIGNATORY_POSITION", "Titular de la Unidad de Ética")
    for n, key in enumerate(keys):
        with pytest.raises(ValidationError) as refused:
            settings_class()
        assert all(f"PROBIDAD_{k}" in str(refused.value) for k in keys[n:]), str(refused.value)
        assert not any(f"PROBIDAD_{k}," in str(refused.value) or f"PROBIDAD_{k} " in str(refused.value)
                       for k in keys[:n])
        monkeypatch.setenv(f"PROBIDAD_{key}", f"a-real-{key.lower()}-from-the-vault")
    assert settings_class().environment == "production"
