"""What a certificate is called: its id and verification code, derived from (servant, session, issue
number), and how a code typed by a person is read back — pure logic, no I/O."""
from __future__ import annotations

import functools
import hashlib
import hmac
import uuid
from dataclasses import dataclass



CERTIFICATE_NAMESPACE = uuid.UUID("6f1c2d9e-4b7a-5c3e-9a81-0d2f6b3e7c45")
CODE_PREFIX = "PRB"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS = 3
_CODE_GROUP_LENGTH = 4

# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class CertificateIdentity:
    certificate_id: str
    verification_code: str


@functools.lru_cache(maxsize=65_536)  # a pure function, asked again for every re-judgement of a completion
def certificate_identity(servant_id: str, session_id: str, code_key: bytes, issue: int = 0) -> CertificateIdentity:
    """The certificate a servant earns in a session (its ``issue``-th, after revocations): same inputs, same id
    and code.

    The code is an HMAC, not a plain hash, so nobody can compute a servant's code from the
    (pseudonymous) ids; 60 bits keep collisions out of reach for any realistic programme.
    """
    pair = f"{servant_id}\x1f{session_id}" + (f"\x1f{issue}" if issue else "")
    certificate_id = str(uuid.uuid5(CERTIFICATE_NAMESPACE, pair))
    digest = hmac.new(code_key, pair.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - 5 * _CODE_GROUPS * _CODE_GROUP_LENGTH)
    symbols = "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(_CODE_GROUPS * _CODE_GROUP_LENGTH)))
    groups = [symbols[i:i + _CODE_GROUP_LENGTH] for i in range(0, len(symbols), _CODE_GROUP_LENGTH)]
    return CertificateIdentity(certificate_id, "-".join([CODE_PREFIX, *groups]))


# How a folio is printed, for the people told theirs cannot be one.
CODE_SHAPE = "-".join([CODE_PREFIX, *["X" * _CODE_GROUP_LENGTH] * _CODE_GROUPS])


def normalise_code(text: str) -> str | None:
    """Read a code as a person types it (any case, spaces, O for 0, I/L for 1); None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    if cleaned.startswith(CODE_PREFIX):
        cleaned = cleaned[len(CODE_PREFIX):]
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    length = _CODE_GROUPS * _CODE_GROUP_LENGTH
    if len(cleaned) != length or any(ch not in _CROCKFORD for ch in cleaned):
        return None
    return "-".join([CODE_PREFIX, *(cleaned[i:i + _CODE_GROUP_LENGTH] for i in range(0, length, _CODE_GROUP_LENGTH))])
