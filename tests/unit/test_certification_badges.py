"""Open Badges 3.0: the eddsa-jcs-2022 proof as the EdDSA Cryptosuites Recommendation defines it (its
published test vector reproduced), the badge's status entry and the Bitstring Status List behind it."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from services.certification import data_integrity, status_list
from services.certification.badges import (
    CONTEXTS,
    CourseRule,
    achievement,
    achievement_document,
    open_badge_credential,
    verify_credential,
)
from services.certification.domain.certificates import CertificateTerms
from services.certification.domain.codes import certificate_identity
from services.certification.settings import CertificationSettings
from services.certification.signing import CertificateSigner, base58btc_decode, canonical_json

# The eddsa-jcs-2022 test vector of the W3C Data Integrity EdDSA Cryptosuites v1.0 Recommendation
# (section "Representation: eddsa-jcs-2022"; the vc-di-eddsa repository's TestVectors/ files).
VECTOR_PRIVATE_KEY = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
VECTOR_PUBLIC_KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
VECTOR_CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"]
VECTOR_UNSIGNED = {
    "@context": VECTOR_CONTEXT,
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
VECTOR_CREATED = "2023-02-24T23:36:38Z"
VECTOR_PROOF_CANONICAL = (
    '{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],'
    '"created":"2023-02-24T23:36:38Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod",'
    '"type":"DataIntegrityProof","verificationMethod":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2'
    '#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}')
VECTOR_HASH_DATA = ("66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db"
                    "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19")
VECTOR_SIGNATURE = ("407cd12654b33d718ecbb99179a1506daaa849450bf3fc523cce3e1c96f8b803"
                    "51da3f253d725c6f00b07c9e5448d50b3ef78012b9ab54255116d069c6dd2808")
VECTOR_PROOF_VALUE = "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"

TERMS = CertificateTerms(
    certificate_id="0b9c6a5e-1111-5222-8333-444455556666", verification_code="PRB-7K3M-Q9XD-2F4H",
    servant_id="sv-7", session_id="s-42", course_id="c-ci", course_code="CI-02", course_title="Conflicto de Interés",
    course_topic="Conflicto de Interés", hours=2.5, score=87.5, issued_on=date(2026, 11, 5),
    issuing_authority="Secretaría de la Contraloría del Estado",
)
RULE = CourseRule(minimum_attendance_share=0.8, passing_score=70)
BASE_URL = "https://certificados.example.gob.mx"


def vector_signer() -> CertificateSigner:
    decoded = base58btc_decode(VECTOR_PRIVATE_KEY[1:])
    assert decoded[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return CertificateSigner(Ed25519PrivateKey.from_private_bytes(decoded[2:]))


# ------------------------------------------------------------------ the Recommendation's test vector


def test_the_test_vector_key_is_the_did_key_the_recommendation_names():
    assert vector_signer().public.did_key == f"did:key:{VECTOR_PUBLIC_KEY}"
    assert vector_signer().public.verification_method == f"did:key:{VECTOR_PUBLIC_KEY}#{VECTOR_PUBLIC_KEY}"


def test_the_proof_configuration_carries_the_documents_context_and_canonicalises_as_published():
    signed = data_integrity.secure(VECTOR_UNSIGNED, vector_signer(), created=VECTOR_CREATED)
    options = {k: v for k, v in signed["proof"].items() if k != "proofValue"}
    assert options["@context"] == VECTOR_CONTEXT
    assert canonical_json(options).decode() == VECTOR_PROOF_CANONICAL


def test_hash_data_is_the_proof_configuration_hash_then_the_document_hash_as_published():
    proof_config = {**data_integrity.proof_options(vector_signer().public, created=VECTOR_CREATED),
                    "@context": VECTOR_CONTEXT}
    hashed = data_integrity.hash_data(VECTOR_UNSIGNED, proof_config)
    assert hashed.hex() == VECTOR_HASH_DATA
    assert hashed[32:] == hashlib.sha256(canonical_json(VECTOR_UNSIGNED)).digest()


def test_signing_the_test_vector_gives_the_published_signature_and_proof_value():
    signed = data_integrity.secure(VECTOR_UNSIGNED, vector_signer(), created=VECTOR_CREATED)
    assert base58btc_decode(signed["proof"]["proofValue"][1:]).hex() == VECTOR_SIGNATURE
    assert signed["proof"] == {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "created": VECTOR_CREATED,
        "verificationMethod": f"did:key:{VECTOR_PUBLIC_KEY}#{VECTOR_PUBLIC_KEY}", "proofPurpose": "assertionMethod",
        "@context": VECTOR_CONTEXT, "proofValue": VECTOR_PROOF_VALUE,
    }
    assert {k: v for k, v in signed.items() if k != "proof"} == VECTOR_UNSIGNED


def test_the_published_signed_credential_verifies_and_fails_once_anything_in_it_changes():
    signed = {**VECTOR_UNSIGNED, "proof": {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "created": VECTOR_CREATED,
        "verificationMethod": f"did:key:{VECTOR_PUBLIC_KEY}#{VECTOR_PUBLIC_KEY}", "proofPurpose": "assertionMethod",
        "@context": VECTOR_CONTEXT, "proofValue": VECTOR_PROOF_VALUE}}
    public = data_integrity.proof_key(signed)
    assert public is not None and data_integrity.verify_proof(signed, public)
    renamed = copy.deepcopy(signed)
    renamed["credentialSubject"]["alumniOf"] = "Another School"
    assert not data_integrity.verify_proof(renamed, public)
    redated = copy.deepcopy(signed)
    redated["proof"]["created"] = "2024-02-24T23:36:38Z"
    assert not data_integrity.verify_proof(redated, public)
    without_context = copy.deepcopy(signed)
    del without_context["proof"]["@context"]  # what badges carried before: no verifier can rebuild the hash
    assert not data_integrity.verify_proof(without_context, public)


def test_a_proof_whose_context_does_not_lead_the_documents_is_refused():
    signed = data_integrity.secure(VECTOR_UNSIGNED, vector_signer())
    public = vector_signer().public
    reordered = {**signed, "@context": list(reversed(VECTOR_CONTEXT))}
    assert not data_integrity.verify_proof(reordered, public)
    extended = {**signed, "@context": [*VECTOR_CONTEXT, "https://example.org/more/v1"]}
    assert data_integrity.verify_proof(extended, public)  # the proof's context leads it: hashed as signed


# ------------------------------------------------------------------ the badge


def test_a_badge_proof_carries_the_badges_context_and_verifies():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    badge = open_badge_credential(TERMS, RULE, signer, base_url=BASE_URL)
    assert badge["proof"]["@context"] == badge["@context"] == CONTEXTS
    assert badge["proof"]["verificationMethod"] == signer.public.verification_method
    assert badge["issuer"]["id"] == signer.public.did_key
    assert verify_credential(badge, signer.public)
    tampered = copy.deepcopy(badge)
    tampered["credentialStatus"]["statusListIndex"] = "0"
    assert not verify_credential(tampered)


def test_a_badge_names_where_its_revocation_bit_is():
    badge = open_badge_credential(TERMS, RULE, CertificateSigner(Ed25519PrivateKey.generate()), base_url=BASE_URL)
    index = ((2 * 32 + 15) * 32 + 4) * 32 + 17  # "2F4H" in Crockford base32
    assert badge["credentialStatus"] == {
        "id": f"{BASE_URL}/status-lists/7K3M-Q9XD#{index}", "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation", "statusListIndex": str(index),
        "statusListCredential": f"{BASE_URL}/status-lists/7K3M-Q9XD",
    }


def test_a_badge_of_a_course_with_a_vigencia_is_valid_until_its_last_day_and_one_without_has_no_end():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    lasting = open_badge_credential(replace(TERMS, valid_until=date(2027, 11, 4)), RULE, signer, base_url=BASE_URL)
    assert (lasting["validFrom"], lasting["validUntil"]) == ("2026-11-05T00:00:00Z", "2027-11-04T23:59:59Z")
    assert verify_credential(lasting, signer.public)
    assert not verify_credential({**lasting, "validUntil": "2030-11-04T23:59:59Z"}, signer.public)
    assert "validUntil" not in open_badge_credential(TERMS, RULE, signer, base_url=BASE_URL)


def test_a_badges_achievement_is_the_document_its_id_serves():
    badge = open_badge_credential(TERMS, RULE, CertificateSigner(Ed25519PrivateKey.generate()), base_url=BASE_URL)
    embedded = badge["credentialSubject"]["achievement"]
    assert embedded["id"] == f"{BASE_URL}/achievements/c-ci"
    served = achievement_document(achievement(course_id="c-ci", code="CI-02", title="Conflicto de Interés",
                                              topic="Conflicto de Interés", hours=2.5, rule=RULE, base_url=BASE_URL))
    assert served == {"@context": CONTEXTS, **embedded}


# ------------------------------------------------------------------ the status list


def test_every_certificate_has_its_own_bit_and_its_list_is_named_by_its_codes_start():
    codes = {certificate_identity(f"sv-{n}", "s-1", b"key").verification_code for n in range(2000)}
    positions = {status_list.position(code) for code in codes}
    assert len(positions) == len(codes)
    for code in list(codes)[:20]:
        at = status_list.position(code)
        assert code.startswith(at.code_prefix) and 0 <= at.index < status_list.LIST_BITS
    assert status_list.position("prb 7k3m q9xd 2f4h") == status_list.position("PRB-7K3M-Q9XD-2F4H")
    assert status_list.list_id_of("7k3m-q9xd") == "7K3M-Q9XD"
    assert status_list.list_id_of("7K3M") is None


def test_an_encoded_list_is_gzip_base64url_of_at_least_16_kib_with_only_the_set_bits_on():
    encoded = status_list.encoded_list([0, 9, status_list.LIST_BITS - 1])
    assert encoded.startswith("u") and "=" not in encoded
    bits = status_list.decoded_list(encoded)
    assert len(bits) >= 16 * 1024
    assert bits[0] == 0x80 and bits[1] == 0x40 and bits[-1] == 0x01
    assert [i for i in (0, 1, 8, 9, 10, status_list.LIST_BITS - 1) if status_list.bit_is_set(bits, i)] == \
        [0, 9, status_list.LIST_BITS - 1]
    assert status_list.encoded_list([9, 0]) == status_list.encoded_list([0, 9])  # same bits, same text
    with pytest.raises(ValueError):
        status_list.encoded_list([status_list.LIST_BITS])


def test_the_status_list_credential_is_signed_by_the_badges_issuer_with_the_revoked_bits_set():
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    at = status_list.position(TERMS.verification_code)
    credential = status_list.status_list_credential(at.list_id, [TERMS.verification_code], signer, base_url=BASE_URL)
    badge = open_badge_credential(TERMS, RULE, signer, base_url=BASE_URL)
    assert credential["id"] == badge["credentialStatus"]["statusListCredential"]
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["issuer"] == badge["issuer"]["id"]
    subject = credential["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    bits = status_list.decoded_list(subject["encodedList"])
    assert status_list.bit_is_set(bits, at.index)
    assert sum(bin(byte).count("1") for byte in bits) == 1
    assert data_integrity.verify_proof(credential, signer.public)
    forged = copy.deepcopy(credential)
    forged["credentialSubject"]["encodedList"] = status_list.encoded_list([])
    assert not data_integrity.verify_proof(forged, signer.public)
    with pytest.raises(ValueError):
        status_list.status_list_credential("0000-0000", [TERMS.verification_code], signer, base_url=BASE_URL)


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("url", ["http://certificados.example.gob.mx", "certificados.example.gob.mx",
                                 "ftp://certificados.example.gob.mx"])
def test_production_refuses_a_public_base_url_that_is_not_https(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    monkeypatch.setenv("PROBIDAD_JWT_SECRET", "a-real-jwt-secret")
    monkeypatch.setenv("PROBIDAD_CERTIFICATE_CODE_KEY", "a-real-code-key")
    monkeypatch.setenv("PROBIDAD_PUBLIC_BASE_URL", url)
    with pytest.raises(ValidationError, match="PROBIDAD_PUBLIC_BASE_URL must be an https:// URL in production"):
        CertificationSettings()
    monkeypatch.setenv("PROBIDAD_PUBLIC_BASE_URL", "https://certificados.example.gob.mx")
    assert CertificationSettings().base_url == "https://certificados.example.gob.mx"


def test_production_refuses_to_start_without_a_public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    monkeypatch.setenv("PROBIDAD_JWT_SECRET", "a-real-jwt-secret")
    monkeypatch.setenv("PROBIDAD_CERTIFICATE_CODE_KEY", "a-real-code-key")
    monkeypatch.delenv("PROBIDAD_PUBLIC_BASE_URL", raising=False)
    with pytest.raises(ValidationError, match="PROBIDAD_PUBLIC_BASE_URL must be set in production"):
        CertificationSettings()


def test_production_on_one_machine_may_publish_a_loopback_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    monkeypatch.setenv("PROBIDAD_JWT_SECRET", "a-real-jwt-secret")
    monkeypatch.setenv("PROBIDAD_CERTIFICATE_CODE_KEY", "a-real-code-key")
    for url in ("http://localhost:8003", "http://127.0.0.1:8003"):
        monkeypatch.setenv("PROBIDAD_PUBLIC_BASE_URL", url)
        assert CertificationSettings().base_url == url


def test_outside_production_any_base_url_is_accepted() -> None:
    assert CertificationSettings(public_base_url="http://certificados.test").base_url == "http://certificados.test"
