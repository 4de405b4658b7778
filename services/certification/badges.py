"""Open Badges 3.0 export: a certificate as an OpenBadgeCredential with an Ed25519 proof.

The proof is a W3C Data Integrity ``DataIntegrityProof`` with the ``eddsa-jcs-2022`` cryptosuite, made
as the EdDSA Cryptosuites Recommendation defines it (``data_integrity``; its published test vector is
reproduced in the unit tests). The verification method is the issuer's did:key, so a verifier needs
nothing but the credential. The test suite has an independent verifier (Digital Bazaar's VC libraries)
check a badge, a tampered badge and a revoked one.

Revocation: ``credentialStatus`` is a ``BitstringStatusListEntry`` (``status_list``) whose list, served
at ``/status-lists/{id}``, is signed by the same key. The achievement is served at ``/achievements/{id}``.

The holder appears only as a salted SHA-256 of the pseudonymous servant id (an OB 3.0
``IdentityObject``): the credential names no person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.certification import data_integrity, status_list
from services.certification.domain.certificates import CertificateTerms
from services.certification.signing import CertificateSigner, PublicKey

CONTEXTS = [status_list.VC_V2_CONTEXT, "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
CRYPTOSUITE = data_integrity.CRYPTOSUITE
ACHIEVEMENTS_PATH = "/achievements"


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


def achievement(*, course_id: str, code: str, title: str, topic: str, hours: float, rule: CourseRule,
                base_url: str) -> dict:
    """The OB 3.0 Achievement of a course; its id is where ``/achievements/{course_id}`` serves it."""
    return {
        "id": achievement_url(base_url, course_id),
        "type": ["Achievement"],
        "achievementType": "Course",
        "name": title,
        "description": f"{title} ({hours:g} h), curso de {topic}.",
        "criteria": {"narrative": criteria_narrative(rule)},
        "humanCode": code,
        "fieldOfStudy": topic,
    }


def achievement_url(base_url: str, course_id: str) -> str:
    return f"{base_url}{ACHIEVEMENTS_PATH}/{course_id}"


def achievement_document(course_achievement: dict) -> dict:
    """An Achievement served on its own: the same JSON, with the contexts that define its terms."""
    return {"@context": list(CONTEXTS), **course_achievement}


def unsigned_credential(terms: CertificateTerms, rule: CourseRule, *, issuer_id: str, base_url: str) -> dict:
    achieved = achievement(course_id=terms.course_id, code=terms.course_code, title=terms.course_title,
                           topic=terms.course_topic, hours=terms.hours, rule=rule, base_url=base_url)
    subject = {
        "type": ["AchievementSubject"],
        "identifier": [{
            "type": "IdentityObject",
            "identityHash": holder_identity_hash(terms.servant_id, terms.certificate_id),
            "identityType": "identifier",
            "hashed": True,
            "salt": terms.certificate_id,
        }],
        "achievement": achieved,
    }
    credential = {
        "@context": list(CONTEXTS),
        "id": f"urn:uuid:{terms.certificate_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": terms.course_title,
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": terms.issuing_authority, "url": base_url},
        "validFrom": f"{terms.issued_on.isoformat()}T00:00:00Z",
    }
    if terms.valid_until is not None:
        # The vigencia's last day, whole, written as validFrom is: a day as a UTC day.
        credential["validUntil"] = f"{terms.valid_until.isoformat()}T23:59:59Z"
    return {
        **credential,
        "credentialSubject": subject,
        "evidence": [{
            "type": ["Evidence"],
            "id": f"{base_url}/verify/{terms.verification_code}",
            "name": f"Verificación pública {terms.verification_code}",
        }],
        "credentialStatus": status_list.status_entry(terms.verification_code, base_url),
    }


def open_badge_credential(terms: CertificateTerms, rule: CourseRule, signer: CertificateSigner, *,
                          base_url: str) -> dict:
    document = unsigned_credential(terms, rule, issuer_id=signer.public.did_key, base_url=base_url)
    return data_integrity.secure(document, signer)


def verify_credential(credential: dict, expected: PublicKey | None = None) -> bool:
    """True when the proof holds for this exact credential, made by its issuer's did:key (and, if given,
    by ``expected``). Says nothing of revocation: that is the status list's."""
    public = data_integrity.proof_key(credential)
    if public is None or (expected is not None and public.raw != expected.raw):
        return False
    issuer = credential.get("issuer")
    if not isinstance(issuer, dict) or issuer.get("id") != public.did_key:
        return False
    return data_integrity.verify_proof(credential, public)
