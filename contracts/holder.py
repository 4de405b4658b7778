"""The holder of a certificate, bound without naming them.

Enrollment keeps, per servant, a random secret ``salt`` (erased with the servant's personal data) and
publishes ``holder_digest = hex sha256(salt || normalised CURP)``; certification copies the latest
digest into each certificate it signs. The named constancia enrollment prints carries the salt in its
QR code (``?titular=<salt>``), so whoever holds the paper can have the public verification page check
that the CURP printed on it is the certificate's holder — the page compares digests and shows back
neither the CURP, the name nor the salt. Without the salt a digest reveals nothing about the CURP
(a CURP has too little entropy to publish an unsalted hash of it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SALT_PARAMETER = "titular"
_SALT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_salt() -> str:
    """128 random bits, URL-safe (it travels in the constancia's QR code)."""
    return secrets.token_urlsafe(16)


def is_salt(text: str | None) -> bool:
    return text is not None and _SALT.match(text) is not None


def normalise_curp(curp: str) -> str:
    return "".join(curp.split()).upper()


def holder_digest(salt: str, curp: str) -> str:
    return hashlib.sha256((salt + normalise_curp(curp)).encode("utf-8")).hexdigest()


def holder_matches(salt: str, curp: str, digest: str | None) -> bool:
    """Whether ``curp`` under ``salt`` is the holder a certificate's ``digest`` names."""
    if not digest or not is_salt(salt) or not curp:
        return False
    return hmac.compare_digest(holder_digest(salt, curp), digest)
