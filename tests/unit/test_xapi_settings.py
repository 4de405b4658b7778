"""Reporting's xAPI settings: off unless an LRS is named, the password kept out of sight, and in production the
IRIs' base must be the platform's public https address."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.reporting.settings import ReportingSettings

PRODUCTION = {"environment": "production", "reporting_public_url": "https://reportes.contraloria.example.gob.mx",
              "bulletin_signatory_name": "Mtra. Ana López Ruiz", "bulletin_signatory_position": "Titular",
              "jwt_secret": "s" * 48, "email_digest_key": "d" * 48}


def test_no_lrs_is_named_by_default_and_the_iris_fall_back_to_reportings_public_address():
    settings = ReportingSettings(reporting_public_url="https://reportes.example.gob.mx/")
    assert settings.lrs_url == "" and settings.lrs_password is None
    assert settings.xapi_base == "https://reportes.example.gob.mx"
    assert ReportingSettings(xapi_public_url="https://probidad.example.gob.mx/").xapi_base == \
        "https://probidad.example.gob.mx"


def test_the_lrs_password_stays_out_of_the_settings_repr():
    settings = ReportingSettings(lrs_url="http://127.0.0.1:8100", lrs_username="probidad", lrs_password="s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(settings) and "s3cr3t-pw" not in str(settings.model_dump())


def test_in_production_the_xapi_base_must_be_https():
    with pytest.raises(ValidationError, match="PROBIDAD_XAPI_PUBLIC_URL"):
        ReportingSettings(**PRODUCTION, lrs_url="https://lrs.example.gob.mx", xapi_public_url="http://probidad.mx")
    fine = ReportingSettings(**PRODUCTION, lrs_url="https://lrs.example.gob.mx",
                             xapi_public_url="https://probidad.example.gob.mx")
    assert fine.xapi_base == "https://probidad.example.gob.mx"
