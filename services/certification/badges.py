"""Open Badges 3.0 export: a certificate as an OpenBadgeCredential with an Ed25519 proof.

The proof is a W3C Data Integrity ``DataIntegrityProof`` with the ``eddsa-jcs-2022`` cryptosuite,
as we read the EdDSA Cryptosuites specification: the credential without its proof and the proof
options (carrying the credential's ``@context``) are each canonicalised with JCS (RFC 8785, for the
subset of JSON described in ``signing``), hashed with SHA-256, the two hashes concatenated (proof
options first) and signed with Ed25519; ``proofValue`` is the signature in base58btc multibase.
No RDF canonicalisation (``eddsa-rdfc-2022``) is done. The verification method is the issuer's
did:key, so a verifier needs nothing but the credential. This implementation has been checked
against itself and the published key, not against a third-party verifier.

The holder appears only as a salted SHA-256 of the pseudonymous servant id (an OB 3.0
``IdentityObject``): the credential names no person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.certification.domain import CertificateTerms
from services.certification.signing import CertificateSigner, PublicKey, base58btc, base58btc_decode, canonical_json

CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
CRYPTOSUITE = "eddsa-jcs-2022"


@dataclass(frozen=True)
class CourseRule:
    minimum_attendance_share: float
    passing_score: float | None


def criteria_narrative(rule: CourseRule) -> str:
    text = f"Asistir al menos al {rule.minimum_attendance_share:.0%} de la sesión"
    if rule.passing_score is not None:
        text += f" y obtener al menos {rule.passing_score:g} puntos en la evaluación"
    return text + "."


def holder_identity_hash(servant_id: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((servant_id + salt).encode()).hexdigest()


def unsigned_credential(terms: CertificateTerms, rule: CourseRule, *, issuer_id: str, base_url: str) -> dict:
    achievement = {
        "id": f"{base_url}/achievements/{terms.course_id}",
        "type": ["Achievement"],
        "achievementType": "Course",
        "name": terms.course_title,
        "description": f"{terms.course_title} ({terms.hours:g} h), curso de {terms.course_topic}.",
        "criteria": {"narrative": criteria_narrative(rule)},
        "humanCode": terms.course_code,
        "fieldOfStudy": terms.course_topic,
    }
    subject = {
        "type": ["AchievementSubject"],
        "identifier": [{
            "type": "IdentityObject",
            "identityHash": holder_identity_hash(terms.servant_id, terms.certificate_id),
            "identityType": "identifier",
            "hashed": True,
            "salt": terms.certificate_id,
        }],
        "achievement": achievement,
    }
    return {
        "@context": list(CONTEXTS),
        "id": f"urn:uuid:{terms.certificate_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": terms.course_title,
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": terms.issuing_authority, "url": base_url},
        "validFrom": f"{terms.issued_on.isoformat()}T00:00:00Z",
        "credentialSubject": subject,
        "evidence": [{
            "type": ["Evidence"],
            "id": f"{base_url}/verify/{terms.verification_code}",
            "name": f"Verificación pública {terms.verification_code}",
        }],
    }


def _hash_data(document: dict, proof_options: dict) -> bytes:
    config = {**proof_options, "@context": document["@context"]}
    return hashlib.sha256(canonical_json(config)).digest() + hashlib.sha256(canonical_json(document)).digest()


def open_badge_credential(terms: CertificateTerms, rule: CourseRule, signer: CertificateSigner, *, base_url: str) -> dict:
    document = unsigned_credential(terms, rule, issuer_id=signer.public.did_key, base_url=base_url)
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": signer.public.verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = signer.sign(_hash_data(document, options))
    return {**document, "proof": {**options, "proofValue": "z" + base58btc(signature)}}


def verify_credential(credential: dict, expected: PublicKey | None = None) -> bool:
    """True when the proof holds for this exact credential (and, if given, was made by ``expected``)."""
    proof = credential.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        return False
    value = proof.get("proofValue", "")
    if not isinstance(value, str) or not value.startswith("z"):
        return False
    try:
        public = PublicKey.from_did_key(str(proof.get("verificationMethod", "")))
        signature = base58btc_decode(value[1:])
    except ValueError:
        return False
    if expected is not None and public.raw != expected.raw:
        return False
    issuer = credential.get("issuer")
    if not isinstance(issuer, dict) or issuer.get("id") != public.did_key:
        return False
    document = {k: v for k, v in credential.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    try:
        return public.verify(signature, _hash_data(document, options))
    except (TypeError, ValueError):
        return False
