"""Revocation published as W3C Bitstring Status Lists (Bitstring Status List v1.0).

Where a certificate's bit is: derived from its verification code, so nothing new is stored. The code is
60 bits (12 Crockford symbols, unique among certificates): the first 8 symbols name the list, the last 4
(20 bits) are the index in it. A list is therefore 2^20 bits (128 KiB, above the specification's 16 KiB
minimum) and no two certificates ever share a bit. What this gives up is herd privacy — a list holds
about one certificate, so fetching it tells the issuer which certificate is being checked — and that
costs nothing here: the same issuer answers ``/verify/{code}`` for anyone who has the code.

``encodedList``: the bitstring (index 0 is the most significant bit of the first byte), GZIP-compressed,
base64url without padding, multibase prefix ``u``.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from dataclasses import dataclass

from services.certification import data_integrity
from services.certification.domain.codes import CODE_PREFIX, normalise_code
from services.certification.signing import CertificateSigner

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
PATH = "/status-lists"
INDEX_SYMBOLS = 4
LIST_BITS = 1 << (5 * INDEX_SYMBOLS)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PURPOSE = "revocation"


@dataclass(frozen=True)
class StatusPosition:
    list_id: str  # the code's first 8 symbols, "XXXX-XXXX"
    index: int

    @property
    def code_prefix(self) -> str:
        """What every verification code whose bit is in this list starts with."""
        return f"{CODE_PREFIX}-{self.list_id}-"


def position(verification_code: str) -> StatusPosition:
    code = normalise_code(verification_code)
    if code is None:
        raise ValueError(f"not a verification code: {verification_code!r}")
    _, first, second, last = code.split("-")
    index = 0
    for symbol in last:
        index = index * 32 + _CROCKFORD.index(symbol)
    return StatusPosition(f"{first}-{second}", index)


def list_id_of(text: str) -> str | None:
    """The list id as a URL names it (any case, O for 0...), or None when it cannot be one."""
    code = normalise_code(f"{text}-0000")
    return None if code is None else position(code).list_id


def list_url(base_url: str, list_id: str) -> str:
    return f"{base_url}{PATH}/{list_id}"


def status_entry(verification_code: str, base_url: str) -> dict:
    """The badge's ``credentialStatus``: where its revocation bit is."""
    at = position(verification_code)
    url = list_url(base_url, at.list_id)
    return {"id": f"{url}#{at.index}", "type": "BitstringStatusListEntry", "statusPurpose": PURPOSE,
            "statusListIndex": str(at.index), "statusListCredential": url}


def encoded_list(set_bits: Iterable[int], length: int = LIST_BITS) -> str:
    bitstring = bytearray(length // 8)
    for index in set_bits:
        if not 0 <= index < length:
            raise ValueError(f"index {index} is outside a list of {length} bits")
        bitstring[index // 8] |= 0x80 >> (index % 8)
    # mtime=0: the same bits give the same text, so the signed list changes only when a bit does.
    packed = gzip.compress(bytes(bitstring), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decoded_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url ('u')")
    text = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def bit_is_set(bitstring: bytes, index: int) -> bool:
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(list_id: str, revoked_codes: Iterable[str], signer: CertificateSigner, *,
                           base_url: str) -> dict:
    """The signed BitstringStatusListCredential of ``list_id``, the bits of ``revoked_codes`` set. Its issuer
    is the badges' issuer (the current key's did:key), as verifiers require the two to match."""
    indices = []
    for code in revoked_codes:
        at = position(code)
        if at.list_id != list_id:
            raise ValueError(f"{code} is not in status list {list_id}")
        indices.append(at.index)
    url = list_url(base_url, list_id)
    unsecured = {
        "@context": [VC_V2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": signer.public.did_key,
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": PURPOSE,
                              "encodedList": encoded_list(indices)},
    }
    return data_integrity.secure(unsecured, signer)
