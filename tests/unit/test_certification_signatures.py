"""Certificates are signed with Ed25519; any change to what was signed breaks the signature."""

from __future__ import annotations

import copy
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification.badges import CourseRule, open_badge_credential, verify_credential
from services.certification.domain import CertificateTerms
from services.certification.signing import (
    CertificateSigner,
    PublicKey,
    b64url_decode,
    canonical_json,
    load_or_create_key,
    verify_claims,
)

TERMS = CertificateTerms(
    certificate_id="0b9c6a5e-1111-5222-8333-444455556666", verification_code="PRB-7K3M-Q9XD-2F4H",
    servant_id="sv-7", session_id="s-42", course_id="c-ci", course_code="CI-02", course_title="Conflicto de Interés",
    course_topic="Conflicto de Interés", hours=2.5, score=87.5, issued_on=date(2026, 11, 5),
    issuing_authority="Secretaría de la Contraloría del Estado",
)
RULE = CourseRule(minimum_attendance_share=0.8, passing_score=70)
BASE_URL = "https://certificados.example.gob.mx"


def test_canonical_json_sorts_keys_drops_whitespace_and_writes_integral_numbers_as_integers():
    assert canonical_json({"b": 2.0, "a": [1, 2.5, None, True], "é": "ñ"}) == '{"a":[1,2.5,null,true],"b":2,"é":"ñ"}'.encode()
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
