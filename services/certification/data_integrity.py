"""W3C Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite, as the EdDSA Cryptosuites v1.0
Recommendation defines them (sections "Create Proof", "Verify Proof", "Proof Configuration", "Hashing").

Creating: the proof is the proof options plus the document's ``@context`` (step 2 of Create Proof: a
verifier hashes the proof options it reads, so the context it was signed with has to travel in the proof).
hashData = SHA-256(JCS(proof options with ``@context``)) || SHA-256(JCS(document without proof)), signed
with Ed25519; ``proofValue`` is the signature in base58btc multibase (``z``…).

Verifying: the proof's ``@context``, when present, must be the leading entries of the document's, and it
replaces the document's before hashing; the proof options are hashed exactly as they are read.

JCS is ``signing.canonical_json`` (RFC 8785 for the JSON certification emits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from services.certification.signing import CertificateSigner, PublicKey, base58btc, base58btc_decode, canonical_json

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"


def hash_data(unsecured: dict, proof_config: dict) -> bytes:
    """Section "Hashing": the proof configuration's hash first, then the document's."""
    return hashlib.sha256(canonical_json(proof_config)).digest() + hashlib.sha256(canonical_json(unsecured)).digest()


def proof_options(public: PublicKey, *, created: str | None = None) -> dict:
    options = {"type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE, "verificationMethod": public.verification_method,
               "proofPurpose": "assertionMethod"}
    if created is not None:
        options["created"] = created
    return options


def create_proof(unsecured: dict, options: dict, sign: Callable[[bytes], bytes]) -> dict:
    """Section "Create Proof": the proof (options, ``@context``, ``proofValue``) for ``unsecured``."""
    proof = dict(options)
    if "@context" in unsecured:
        proof["@context"] = unsecured["@context"]
    proof["proofValue"] = "z" + base58btc(sign(hash_data(unsecured, proof)))
    return proof


def secure(unsecured: dict, signer: CertificateSigner, *, created: str | None = None) -> dict:
    """The document with an eddsa-jcs-2022 proof made by the signer's current key (its did:key)."""
    document = {k: v for k, v in unsecured.items() if k != "proof"}
    return {**document, "proof": create_proof(document, proof_options(signer.public, created=created), signer.sign)}


def verify_proof(secured: dict, public: PublicKey) -> bool:
    """Section "Verify Proof" for a document with one proof, checked with ``public``."""
    proof = secured.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        return False
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        return False
    try:
        signature = base58btc_decode(value[1:])
    except ValueError:
        return False
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        declared = _as_list(options["@context"])
        if _as_list(unsecured.get("@context"))[:len(declared)] != declared:
            return False
        unsecured["@context"] = options["@context"]
    try:
        return public.verify(signature, hash_data(unsecured, options))
    except (TypeError, ValueError):
        return False


def proof_key(secured: dict) -> PublicKey | None:
    """The Ed25519 key the proof's did:key verification method names, or None."""
    proof = secured.get("proof")
    if not isinstance(proof, dict):
        return None
    try:
        return PublicKey.from_did_key(str(proof.get("verificationMethod", "")))
    except ValueError:
        return None


def _as_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
