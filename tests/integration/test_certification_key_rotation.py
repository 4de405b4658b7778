"""Rotating the signing key, on SQLite and PostgreSQL: certificates signed with a retired key keep
verifying, new ones are signed with the current key, and the well-known document publishes both."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from contracts.events import CertificateIssued
from services.certification.badges import verify_credential
from services.certification.rows import certificate_terms
from services.certification.settings import CertificationSettings
from services.certification.signing import PublicKey, b64url, b64url_decode, verify_claims
from services.certification.tables import CertificateRecord
from tests.integration.test_certification_service import (
    BASE_URL,
    course,
    graded,
    present,
    running,
    scheduled,
    seat,
)

WELL_KNOWN = "/.well-known/probidad-certificates.json"


def write_private_key(path: Path) -> PublicKey:
    """A signing key as `probidad certification keygen` or `openssl genpkey -algorithm ed25519` writes it."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return PublicKey(key.public_key())


def write_public_key(path: Path, public: PublicKey) -> Path:
    """The public half as `openssl pkey -in key.pem -pubout` writes it."""
    path.write_bytes(public.key.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


class Rotation:
    """Key A signed certificates first; key B replaces it. Each run is the service restarted on the same database."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url, self.tmp_path = database_url, tmp_path
        self.key_a_path, self.key_b_path = tmp_path / "key-a.pem", tmp_path / "key-b.pem"
        self.a, self.b = write_private_key(self.key_a_path), write_private_key(self.key_b_path)

    def settings(self, signing_key: Path, retired: list[str] | None = None) -> CertificationSettings:
        return CertificationSettings(database_url=self.database_url, state_dir=self.tmp_path / "state",
                                     public_base_url=BASE_URL, signing_key_path=signing_key,
                                     retired_signing_keys=retired or [])

    def under_a(self) -> CertificationSettings:
        return self.settings(self.key_a_path)

    def under_b(self, *, a_retired_as: str | None = "raw") -> CertificationSettings:
        """B current; A retired as its raw base64url public key, as a PEM public key file, or not at all."""
        if a_retired_as is None:
            return self.settings(self.key_b_path)
        entry = b64url(self.a.raw) if a_retired_as == "raw" else str(
            write_public_key(self.tmp_path / "key-a.pub.pem", self.a))
        return self.settings(self.key_b_path, [entry])


@pytest.fixture
def rotation(database_url: str, tmp_path: Path) -> Rotation:
    return Rotation(database_url, tmp_path)


async def complete(service, servant: str) -> CertificateIssued:
    for fact in (seat(servant), present(servant), graded(servant)):
        await service.hear(fact)
    return (await service.events(CertificateIssued))[-1]


async def issued_under_a(rotation: Rotation) -> CertificateIssued:
    async with running(rotation.under_a()) as service:
        for fact in (course(), scheduled()):
            await service.hear(fact)
        return await complete(service, "sv-1")


@pytest.mark.parametrize("a_retired_as", ["raw", "pem"])
async def test_a_certificate_signed_with_a_retired_key_still_verifies_after_the_rotation(rotation, a_retired_as):
    issued = await issued_under_a(rotation)
    code = issued.verification_code

    async with running(rotation.under_b(a_retired_as=a_retired_as)) as service, service.client() as http:
        view = (await http.get(f"/verify/{code}")).json()
        assert view["status"] == "valid" and view["valid"] is True
        assert view["signature"]["holds"] is True and view["signature"]["key_id"] == rotation.a.key_id
        page = await http.get(f"/verify/{code}", headers={"Accept": "text/html"})
        assert "VÁLIDA" in page.text and "NO VÁLIDA" not in page.text and rotation.a.key_id in page.text
        pdf = await http.get(f"/certificates/{code}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        # A badge is signed when it is exported, so with the current key.
        badge = await http.get(f"/certificates/{code}/badge")
        assert badge.status_code == 200
        assert verify_credential(badge.json(), rotation.b)


async def test_a_certificate_whose_key_is_not_among_the_retired_ones_is_invalid(rotation):
    issued = await issued_under_a(rotation)

    async with running(rotation.under_b(a_retired_as=None)) as service, service.client() as http:
        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["status"] == "invalid" and view["signature"]["holds"] is False
        assert view["signature"]["key_id"] == rotation.a.key_id
        assert (await http.get(f"/certificates/{issued.verification_code}/badge")).status_code == 409


async def test_certificates_issued_or_amended_after_the_rotation_are_signed_with_the_new_key(rotation):
    first = await issued_under_a(rotation)

    async with running(rotation.under_b()) as service, service.client() as http:
        await service.hear(course())
        await service.hear(scheduled())
        second = await complete(service, "sv-2")
        view = (await http.get(f"/verify/{second.verification_code}")).json()
        assert view["status"] == "valid" and view["signature"]["key_id"] == rotation.b.key_id

        # Until it changes, the old certificate keeps A's signature; amended, it is signed anew with B.
        assert (await http.get(f"/verify/{first.verification_code}")).json()["signature"]["key_id"] == rotation.a.key_id
        await service.hear(graded("sv-1", score=95))
        amended = (await service.events(CertificateIssued))[-1]
        assert (amended.certificate_id, amended.score) == (first.certificate_id, 95)
        view = (await http.get(f"/verify/{first.verification_code}")).json()
        assert view["status"] == "valid" and view["signature"]["key_id"] == rotation.b.key_id


async def test_the_well_known_document_lists_the_current_and_the_retired_key_with_their_status(rotation):
    issued = await issued_under_a(rotation)

    async with running(rotation.under_b()) as service, service.client() as http:
        document = (await http.get(WELL_KNOWN)).json()
        async with service.runtime.database.transaction() as db:
            row = (await db.exec(select(CertificateRecord).where(
                CertificateRecord.certificate_id == issued.certificate_id))).one()

    assert document["algorithm"] == "Ed25519" and document["issuer"] == service.settings.issuing_authority
    assert [(k["kid"], k["status"]) for k in document["keys"]] == [(rotation.b.key_id, "current"),
                                                                   (rotation.a.key_id, "retired")]
    for published, key in zip(document["keys"], (rotation.b, rotation.a), strict=True):
        assert set(published) == {"kid", "status", "public_key", "did", "jwk"}
        assert b64url_decode(published["public_key"]) == key.raw
        assert published["did"] == key.did_key and published["jwk"]["x"] == published["public_key"]
    # An outside verifier holding the certificate's claims and signature checks them offline with the
    # published key the certificate names.
    (named,) = [k for k in document["keys"] if k["kid"] == row.key_id]
    public = PublicKey.from_raw(b64url_decode(named["public_key"]))
    assert named["status"] == "retired"
    assert verify_claims(public, certificate_terms(row).claims(), row.signature)
