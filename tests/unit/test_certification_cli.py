"""Anyone holding an exported credential can check it offline with the command line."""

from __future__ import annotations

import json
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from services.certification.badges import CourseRule, open_badge_credential
from services.certification.cli import app
from services.certification.domain.certificates import CertificateTerms
from services.certification.signing import CertificateSigner, PublicKey, b64url, load_or_create_key, load_public_key

TERMS = CertificateTerms(
    certificate_id="7d3f0c1a-2b4e-5f60-8a9b-0c1d2e3f4a5b", verification_code="PRB-AB12-CD34-EF56", servant_id="sv-1",
    session_id="s-1", course_id="c-1", course_code="RA-04", course_title="Responsabilidades Administrativas",
    course_topic="Responsabilidades Administrativas", hours=3, score=None, issued_on=date(2026, 11, 5),
    issuing_authority="Secretaría de la Contraloría del Estado",
)


def test_verify_badge_accepts_a_genuine_credential_and_rejects_an_edited_one(tmp_path):
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    credential = open_badge_credential(TERMS, CourseRule(0.8, None), signer, base_url="https://example.gob.mx")
    genuine, edited = tmp_path / "genuine.json", tmp_path / "edited.json"
    genuine.write_text(json.dumps(credential), encoding="utf-8")
    credential["credentialSubject"]["achievement"]["humanCode"] = "CE-01"
    edited.write_text(json.dumps(credential), encoding="utf-8")
    runner = CliRunner()

    ok = runner.invoke(app, ["verify-badge", str(genuine), "--did", signer.public.did_key])
    assert ok.exit_code == 0 and "valid: Responsabilidades Administrativas" in ok.output
    assert runner.invoke(app, ["verify-badge", str(edited)]).exit_code == 1
    other = CertificateSigner(Ed25519PrivateKey.generate()).public.did_key
    assert runner.invoke(app, ["verify-badge", str(genuine), "--did", other]).exit_code == 1


def test_keygen_never_overwrites_a_signing_key(tmp_path):
    path = tmp_path / "signing.pem"
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", str(path)]).exit_code == 0
    written = path.read_bytes()
    assert b"PRIVATE KEY" in written and path.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(app, ["keygen", str(path)]).exit_code != 0
    assert path.read_bytes() == written


def test_keygen_and_public_key_print_the_public_key_to_retire_it_with_later(tmp_path, monkeypatch):
    path = tmp_path / "signing.pem"
    answer = CliRunner().invoke(app, ["keygen", str(path)])
    assert answer.exit_code == 0
    written = PublicKey(load_or_create_key(path, tmp_path / "unused.pem").public_key())
    printed = dict(line.split(": ", 1) for line in answer.output.splitlines() if ": " in line)
    assert printed["key id"] == written.key_id
    assert printed["public key"] == b64url(written.raw)
    assert load_public_key(printed["public key"]).key_id == written.key_id

    monkeypatch.setenv("PROBIDAD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBIDAD_SIGNING_KEY_PATH", str(path))
    current = CliRunner().invoke(app, ["public-key"])
    assert current.exit_code == 0
    assert json.loads(current.output)["public_key"] == printed["public key"]
