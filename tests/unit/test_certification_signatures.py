"""Certificates are signed with Ed25519; any change to what was signed breaks the signature."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from services.certification.app import create_app
from services.certification.badges import CourseRule, open_badge_credential, verify_credential
from services.certification.domain.certificates import CertificateTerms
from services.certification.settings import CertificationSettings
from services.certification.signing import (
    CertificateSigner,
    PublicKey,
    b64url,
    b64url_decode,
    canonical_json,
    load_or_create_key,
    load_public_key,
    verify_claims,
)

# In CI (PROBIDAD_REQUIRE_REAL=1) a missing openssl must fail the test that uses it, not skip it.
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"

TERMS = CertificateTerms(
    certificate_id="0b9c6a5e-1111-5222-8333-444455556666", verification_code="PRB-7K3M-Q9XD-2F4H",
    servant_id="sv-7", session_id="s-42", course_id="c-ci", course_code="CI-02", course_title="Conflicto de Interés",
    course_topic="Conflicto de Interés", hours=2.5, score=87.5, issued_on=date(2026, 11, 5),
    issuing_authority="Secretaría de la Contraloría del Estado",
)
RULE = CourseRule(minimum_attendance_share=0.8, passing_score=70)
BASE_URL = "https://certificados.example.gob.mx"


def test_canonical_json_sorts_keys_drops_whitespace_and_writes_integral_numbers_as_integers():
    assert (canonical_json({"b": 2.0, "a": [1, 2.5, None, True], "é": "ñ"})
            == '{"a":[1,2.5,null,true],"b":2,"é":"ñ"}'.encode())
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})


def test_signed_claims_verify_with_the_public_key_and_fail_when_tampered():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    claims = TERMS.claims()
    signature = signer.sign_claims(claims)
    assert len(b64url_decode(signature)) == 64
    assert verify_claims(signer.public, claims, signature)
    for field, forged in (("hours", 40), ("course_title", "Ética Pública"), ("issued_on", "2026-11-06"),
                          ("servant_id", "sv-8"), ("score", 100)):
        assert not verify_claims(signer.public, {**claims, field: forged}, signature), field


def test_a_signature_does_not_verify_under_another_key():
    signature = CertificateSigner(Ed25519PrivateKey.generate()).sign_claims(TERMS.claims())
    stranger = CertificateSigner(Ed25519PrivateKey.generate()).public
    assert not verify_claims(stranger, TERMS.claims(), signature)


def test_ed25519_signatures_are_deterministic_so_a_reissue_carries_the_same_signature():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    assert signer.sign_claims(TERMS.claims()) == signer.sign_claims(dict(reversed(list(TERMS.claims().items()))))


def test_the_public_key_round_trips_through_its_did_key_and_jwk():
    public = CertificateSigner(Ed25519PrivateKey.generate()).public
    assert public.did_key.startswith("did:key:z6Mk")  # the multibase prefix every Ed25519 did:key has
    assert PublicKey.from_did_key(public.verification_method).raw == public.raw
    jwk = public.jwk()
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert b64url_decode(jwk["x"]) == public.raw


def test_a_generated_key_is_kept_and_reused(tmp_path):
    path = tmp_path / "state" / "key.pem"
    first = load_or_create_key(None, path)
    again = load_or_create_key(None, path)
    assert PublicKey(first.public_key()).raw == PublicKey(again.public_key()).raw
    assert path.stat().st_mode & 0o777 == 0o600
    configured = load_or_create_key(path, tmp_path / "unused.pem")
    assert PublicKey(configured.public_key()).raw == PublicKey(first.public_key()).raw
    assert not (tmp_path / "unused.pem").exists()


def test_an_open_badge_credential_carries_a_proof_that_verifies():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    credential = open_badge_credential(TERMS, RULE, signer, base_url=BASE_URL)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"] == f"urn:uuid:{TERMS.certificate_id}"
    assert credential["issuer"]["id"] == signer.public.did_key
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == "Conflicto de Interés" and "80%" in achievement["criteria"]["narrative"]
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert verify_credential(credential, signer.public)
    # The holder appears only as a salted hash of the pseudonymous id.
    assert "sv-7" not in str(credential)


def test_a_tampered_open_badge_credential_fails_verification():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    credential = open_badge_credential(TERMS, RULE, signer, base_url=BASE_URL)
    renamed = copy.deepcopy(credential)
    renamed["credentialSubject"]["achievement"]["name"] = "Ética Pública"
    assert not verify_credential(renamed)
    backdated = {**credential, "validFrom": "2020-01-01T00:00:00Z"}
    assert not verify_credential(backdated)
    extra = {**credential, "awardedDate": "2026-12-01"}
    assert not verify_credential(extra)


def test_a_credential_resigned_by_another_key_is_not_ours():
    ours = CertificateSigner(Ed25519PrivateKey.generate())
    forger = CertificateSigner(Ed25519PrivateKey.generate())
    forged = open_badge_credential(TERMS, RULE, forger, base_url=BASE_URL)
    assert verify_credential(forged)  # internally consistent ...
    assert not verify_credential(forged, ours.public)  # ... but not made with the published key
    # Swapping in our key as verification method without our private key cannot produce a valid proof.
    impostor = copy.deepcopy(forged)
    impostor["issuer"]["id"] = ours.public.did_key
    impostor["proof"]["verificationMethod"] = ours.public.verification_method
    assert not verify_credential(impostor, ours.public)


# ------------------------------------------------------------------ rotation: retired keys


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_a_retired_key_is_read_from_its_raw_base64url_form_or_a_pem_public_key_file(tmp_path):
    key = Ed25519PrivateKey.generate()
    public = PublicKey(key.public_key())
    (tmp_path / "old.pub.pem").write_bytes(pem_public(key))
    assert load_public_key(b64url(public.raw)).raw == public.raw
    assert load_public_key(f"  {tmp_path / 'old.pub.pem'} ").raw == public.raw


@pytest.mark.skipif(shutil.which("openssl") is None and not REQUIRE_REAL, reason="openssl not installed")
def test_keys_made_with_openssl_load_as_the_signing_key_and_as_a_retired_key(tmp_path):
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True, timeout=30)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True, timeout=30)
    signer = CertificateSigner(load_or_create_key(private, tmp_path / "unused.pem"))
    assert load_public_key(str(public)).key_id == signer.public.key_id


def test_a_signer_verifies_with_its_retired_keys_but_signs_only_with_the_current_one():
    old, new = CertificateSigner(Ed25519PrivateKey.generate()), Ed25519PrivateKey.generate()
    signature = old.sign_claims(TERMS.claims())
    rotated = CertificateSigner(new, retired=[old.public, old.public])
    assert rotated.public.raw == PublicKey(new.public_key()).raw
    assert rotated.sign_claims(TERMS.claims()) != signature
    assert rotated.verification_key(old.public.key_id).raw == old.public.raw
    assert verify_claims(rotated.verification_key(old.public.key_id), TERMS.claims(), signature)
    assert rotated.verification_key(rotated.public.key_id) is rotated.public
    assert rotated.verification_key("probidad-unknown") is None
    assert [(k.key_id, status) for k, status in rotated.published_keys()] == [
        (rotated.public.key_id, "current"), (old.public.key_id, "retired")]


def test_the_current_key_cannot_also_be_retired():
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="is the current signing key"):
        CertificateSigner(key, retired=[PublicKey(key.public_key())])


@pytest.mark.parametrize(
    ("writes", "complaint"),
    [
        (None, "no file at"),
        (b"not a key at all\n", "is not a PEM public key"),
        ("private", "holds a private key"),
        ("ec", "does not hold an Ed25519 public key"),
    ],
)
def test_a_bad_retired_key_stops_the_service_at_start_up_naming_the_setting(monkeypatch, tmp_path, writes, complaint):
    good = b64url(PublicKey(Ed25519PrivateKey.generate().public_key()).raw)
    entry = tmp_path / "retired.pem"
    if writes == "private":
        entry.write_bytes(pem_private(Ed25519PrivateKey.generate()))
    elif writes == "ec":
        entry.write_bytes(pem_public(generate_private_key(SECP256R1())))
    elif writes is not None:
        entry.write_bytes(writes)
    monkeypatch.setenv("PROBIDAD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBIDAD_RETIRED_SIGNING_KEYS", f"{good}, {entry}")
    with pytest.raises(ValidationError) as error:
        CertificationSettings()
    message = str(error.value)
    assert "PROBIDAD_RETIRED_SIGNING_KEYS" in message and complaint in message and str(entry) in message


def test_retired_keys_are_read_from_a_comma_separated_variable(monkeypatch, tmp_path):
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    (tmp_path / "second.pub.pem").write_bytes(pem_public(keys[1]))
    monkeypatch.setenv("PROBIDAD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBIDAD_RETIRED_SIGNING_KEYS",
                       f"{b64url(PublicKey(keys[0].public_key()).raw)} ,{tmp_path / 'second.pub.pem'},")
    settings = CertificationSettings()
    assert [k.raw for k in settings.retired_keys] == [PublicKey(k.public_key()).raw for k in keys]
    monkeypatch.delenv("PROBIDAD_RETIRED_SIGNING_KEYS")
    assert CertificationSettings().retired_keys == ()


def test_the_service_refuses_to_start_with_its_current_key_among_the_retired(tmp_path):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(pem_private(key))
    settings = CertificationSettings(state_dir=tmp_path, signing_key_path=tmp_path / "signing.pem",
                                     retired_signing_keys=[b64url(PublicKey(key.public_key()).raw)])
    with pytest.raises(ValueError, match="PROBIDAD_RETIRED_SIGNING_KEYS: retired key .* is the current signing key"):
        create_app(settings)
