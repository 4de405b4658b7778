"""A competency is attained when a servant holds a valid certificate for every course it lists."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.certification.domain.competencies import CertificateHolding, competencies_attained
from services.certification.settings import DEFAULT_COMPETENCY_MODEL, CertificationSettings

MODEL = {"Integridad pública": ["Código de Ética", "Conflicto de Interés", "PAC-03"]}


def holding(n: int, code: str, topic: str, day: int) -> CertificateHolding:
    return CertificateHolding(f"cert-{n}", f"course-{code}", code, topic, date(2026, 11, day))


ETHICS = holding(1, "CE-01", "Código de Ética", 3)
CONFLICT = holding(2, "CI-02", "Conflicto de Interés", 10)
CORRUPTION = holding(3, "PAC-03", "Prevención de Actos de Corrupción", 17)


def test_holding_every_listed_course_attains_the_competency_on_the_last_ones_date():
    (attained,) = competencies_attained("sv-1", MODEL, [CORRUPTION, ETHICS, CONFLICT], {})
    assert attained.competency == "Integridad pública"
    assert attained.servant_id == "sv-1"
    assert attained.certificate_ids == ["cert-1", "cert-2", "cert-3"]
    assert attained.course_ids == ["course-CE-01", "course-CI-02", "course-PAC-03"]
    assert attained.attained_on == date(2026, 11, 17)


def test_one_missing_course_means_not_attained():
    assert competencies_attained("sv-1", MODEL, [ETHICS, CONFLICT], {}) == []


def test_requirements_match_a_course_code_or_topic_whatever_the_case():
    renamed = holding(4, "CE-99", "código de ética", 3)
    assert competencies_attained("sv-1", MODEL, [renamed, CONFLICT, CORRUPTION], {})


ATTAINED = {"Integridad pública": ["cert-1", "cert-2", "cert-3"]}  # as kept: the certificates it lists


def test_an_attained_competency_is_announced_once():
    assert competencies_attained("sv-1", MODEL, [ETHICS, CONFLICT, CORRUPTION], ATTAINED) == []


def test_an_attainment_resting_on_a_revoked_certificate_is_announced_again_once_the_servant_retrains():
    # cert-1 was revoked (it is no longer among the valid ones) and the servant took the ethics course again.
    retrained = holding(7, "CE-01", "Código de Ética", 24)
    assert competencies_attained("sv-1", MODEL, [CONFLICT, CORRUPTION], ATTAINED) == []
    (again,) = competencies_attained("sv-1", MODEL, [CONFLICT, CORRUPTION, retrained], ATTAINED)
    assert again.competency == "Integridad pública"
    assert again.certificate_ids == ["cert-2", "cert-3", "cert-7"]
    assert again.attained_on == date(2026, 11, 24)
    # Kept in place of the old one, the new attainment is not announced twice.
    kept = {again.competency: again.certificate_ids}
    assert competencies_attained("sv-1", MODEL, [CONFLICT, CORRUPTION, retrained], kept) == []


def test_once_a_listed_certificate_is_revoked_another_valid_one_already_held_attains_it_again():
    second = holding(8, "CE-01", "Código de Ética", 28)
    (again,) = competencies_attained("sv-1", MODEL, [CONFLICT, CORRUPTION, second], ATTAINED)
    assert again.certificate_ids == ["cert-2", "cert-3", "cert-8"] and again.attained_on == date(2026, 11, 28)


def test_an_intact_attainment_is_not_announced_again_whatever_else_the_servant_completes():
    more = holding(8, "CE-01", "Código de Ética", 28)
    assert competencies_attained("sv-1", MODEL, [ETHICS, CONFLICT, CORRUPTION, more], ATTAINED) == []


def test_with_two_certificates_for_a_course_the_earliest_counts():
    again = holding(9, "CE-01", "Código de Ética", 24)
    (attained,) = competencies_attained("sv-1", MODEL, [again, ETHICS, CONFLICT, CORRUPTION], {})
    assert "cert-1" in attained.certificate_ids and "cert-9" not in attained.certificate_ids


def test_the_default_model_is_the_integrity_competency_and_can_be_replaced(tmp_path, monkeypatch):
    assert "Integridad pública" in CertificationSettings().competency_model
    assert CertificationSettings().competency_model == DEFAULT_COMPETENCY_MODEL
    monkeypatch.setenv("PROBIDAD_COMPETENCY_MODEL", '{"Ética": ["CE-01"]}')
    assert CertificationSettings().competency_model == {"Ética": ["CE-01"]}
    model_file = tmp_path / "model.json"
    model_file.write_text('{"Rendición de cuentas": ["RA-04", "Transparencia"]}', encoding="utf-8")
    from_file = CertificationSettings(competency_model_file=model_file)
    assert from_file.competency_model == {"Rendición de cuentas": ["RA-04", "Transparencia"]}


def test_a_malformed_competency_model_fails_at_start_up(tmp_path):
    with pytest.raises(ValidationError, match="non-empty list"):
        CertificationSettings(competency_model={"Ética": []})
    broken = tmp_path / "model.json"
    broken.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValidationError, match="COMPETENCY_MODEL_FILE"):
        CertificationSettings(competency_model_file=broken)
