"""Ed25519 signatures over certificates, and the key that makes them.

Canonical form: the JSON Canonicalization Scheme (RFC 8785) for the JSON certification emits —
objects with keys sorted by UTF-16 code units, no insignificant whitespace, strings escaped as
RFC 8785 requires, integers as integers and integral floats without a fraction (``2.0`` -> ``2``).
Non-integral numbers use Python's shortest round-trip repr, which equals ECMAScript's for the
values certificates hold (hours such as ``2.5``, scores such as ``87.5``); exponents are refused
rather than risk a divergent canonical form.

The key is a PEM (PKCS#8) file named by settings or, for development, generated once into the
state directory. Its public half is published at ``/.well-known/probidad-certificates.json``.

Rotation: the keys that signed before are kept as public keys only ("retired"), to verify what they
signed and to be published beside the current key; nothing is ever signed with them again. A stored
certificate names the key that signed it (``key_id``), and is checked with that key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.base import has_plain_form

_MULTICODEC_ED25519_PUB = b"\xed\x01"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_RAW_PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes in unpadded base64url


# ------------------------------------------------------------------ canonical JSON


def canonical_json(value: object) -> bytes:
    if type(value) is dict:
        flat = _flat_canonical(value)
        if flat is not None:
            return flat.encode("utf-8")
    return _canonical(value).encode("utf-8")


def _flat_canonical(value: dict) -> str | None:
    """The same text as ``_canonical`` for the shape every certificate has — one flat object with ASCII
    keys and scalar values — written by the C encoder in one call (it runs once per certificate signed
    or verified). None for any other shape. ASCII keys sort the same by code point as by UTF-16 code
    unit, and the encoder escapes strings exactly as ``_canonical`` does (it uses the same function)."""
    plain: dict[str, object] = {}
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return None
        kind = type(item)
        if kind is float:
            item = _number(item)
        elif item is not None and kind is not str and kind is not int and kind is not bool:
            return None
        plain[key] = item
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _number(value: float) -> int | float:
    if not math.isfinite(value):
        raise ValueError("canonical JSON has no NaN or infinity")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    # The contract refuses such numbers in every fact certificates sign (contracts.base.PlainNumber).
    if not has_plain_form(value):
        raise ValueError(f"number {value!r} is outside the canonical subset certificates use")
    return value


def _canonical(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(_number(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_canonical(value[k])}" for k in keys) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


# ------------------------------------------------------------------ encodings


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _BASE58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58btc_decode(text: str) -> bytes:
    number = 0
    for ch in text:
        number = number * 58 + _BASE58.index(ch)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


# ------------------------------------------------------------------ keys


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    # Computed once: every certificate signed names its key.
    @functools.cached_property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @functools.cached_property
    def key_id(self) -> str:
        return "probidad-" + b64url(hashlib.sha256(self.raw).digest()[:12])

    @property
    def did_key(self) -> str:
        """The key as a did:key identifier (Ed25519 multicodec, base58btc multibase)."""
        return "did:key:z" + base58btc(_MULTICODEC_ED25519_PUB + self.raw)

    @property
    def verification_method(self) -> str:
        return f"{self.did_key}#{self.did_key.removeprefix('did:key:')}"

    def jwk(self) -> dict:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.raw), "kid": self.key_id, "use": "sig", "alg": "EdDSA"}

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_raw(cls, raw: bytes) -> "PublicKey":
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    @classmethod
    def from_did_key(cls, did: str) -> "PublicKey":
        did = did.split("#", 1)[0]
        if not did.startswith("did:key:z"):
            raise ValueError(f"not an Ed25519 did:key: {did!r}")
        decoded = base58btc_decode(did.removeprefix("did:key:z"))
        if not decoded.startswith(_MULTICODEC_ED25519_PUB) or len(decoded) != 34:
            raise ValueError(f"not an Ed25519 did:key: {did!r}")
        return cls.from_raw(decoded[2:])


class CertificateSigner:
    """The current key, which signs, and the retired public keys, which only verify what they signed."""

    def __init__(self, private_key: Ed25519PrivateKey, retired: tuple[PublicKey, ...] | list[PublicKey] = ()) -> None:
        self._private = private_key
        self.public = PublicKey(private_key.public_key())
        by_id: dict[str, PublicKey] = {}
        for key in retired:
            if key.raw == self.public.raw:
                raise ValueError(f"retired key {key.key_id} is the current signing key; list only keys that no "
                                 "longer sign")
            by_id.setdefault(key.key_id, key)
        self.retired: tuple[PublicKey, ...] = tuple(by_id.values())
        self._verifying = {self.public.key_id: self.public, **by_id}

    def verification_key(self, key_id: str) -> PublicKey | None:
        """The public key a certificate naming ``key_id`` is checked with: the current or a retired one."""
        return self._verifying.get(key_id)

    def published_keys(self) -> list[tuple[PublicKey, str]]:
        """Every key a valid certificate may name, the current one first, each with "current" or "retired"."""
        return [(self.public, "current"), *((key, "retired") for key in self.retired)]

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def sign_claims(self, claims: dict) -> str:
        """Detached signature (base64url) over the canonical JSON of ``claims``."""
        return b64url(self.sign(canonical_json(claims)))


def verify_claims(public: PublicKey, claims: dict, signature: str) -> bool:
    try:
        raw = b64url_decode(signature)
    except ValueError:
        return False
    return public.verify(raw, canonical_json(claims))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(entry: str) -> PublicKey:
    """A retired key as configured: the raw Ed25519 public key in base64url (43 characters, as the
    well-known document's ``public_key``), or else the path of a PEM public key file
    (SubjectPublicKeyInfo, as ``openssl pkey -in key.pem -pubout`` writes it).

    A private key is refused: a retired key only verifies, and its private half should be destroyed."""
    entry = entry.strip()
    if _RAW_PUBLIC_KEY.match(entry):
        return PublicKey.from_raw(b64url_decode(entry))
    path = Path(entry)
    if not path.is_file():
        raise ValueError(f"no file at {entry} (and not a raw Ed25519 public key: 43 base64url characters)")
    data = path.read_bytes()
    if b"PRIVATE KEY-----" in data:
        raise ValueError(f"{path} holds a private key; give its public half (openssl pkey -in {path.name} -pubout)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"{path} is not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key")
    return PublicKey(key)


def load_or_create_key(configured: Path | None, generated: Path) -> Ed25519PrivateKey:
    """The configured key, else the one generated into the state directory (created on first use)."""
    if configured is not None:
        return load_private_key(configured)
    if generated.exists():
        return load_private_key(generated)
    key = Ed25519PrivateKey.generate()
    generated.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Write aside, then link into place: if two processes race on a fresh state dir, the loser
    # finds a complete file and uses the winner's key.
    draft = generated.with_name(f".{generated.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(draft, generated)
    except FileExistsError:
        return load_private_key(generated)
    finally:
        draft.unlink(missing_ok=True)
    return key
