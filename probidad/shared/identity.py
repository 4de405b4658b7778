"""Access tokens from the state's OpenID Connect identity provider: its signing keys, and the roles and
institution its tokens carry.

* The keys come from the provider's JWKS (``jwks_uri`` of ``<issuer>/.well-known/openid-configuration``, or
  an address given outright), fetched with an async client so a fetch never holds up the event loop.
* They are kept for ``max_age_s``; a token naming a key not seen yet makes one fetch at once (the provider
  rotated its keys), at most one per ``refetch_interval_s``, so a stream of tokens with made-up key ids
  cannot turn the services into a hammer on the provider. Concurrent requests share one fetch.
* When the provider cannot be reached and no key is known, verification raises ``ProviderUnreachable``
  (the HTTP API answers 503: the caller's token may be fine). Keys already known keep working meanwhile.
* Only asymmetric algorithms (RS256, ES256) are accepted: a token must never be checked against a public
  key taken as an HMAC secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from probidad.shared.logs import get_logger

log = get_logger(__name__)

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
FETCH_TIMEOUT_S = 5.0

JsonFetch = Callable[[str], Awaitable[Mapping[str, Any]]]


class ProviderUnreachable(Exception):
    """The provider's keys could not be fetched and none are known: nobody can say whether a token is good."""


class UnknownSigningKey(jwt.InvalidTokenError):
    """The token names a key the provider does not publish (even after fetching its keys again)."""


class ClaimProblem(jwt.InvalidTokenError):
    """The token is genuine but does not say who may do what here (no role, a liaison without institution)."""


@dataclass(frozen=True)
class IdentityProvider:
    """How to check the provider's tokens and where their role, institution and instructor are."""

    issuer: str
    audience: str
    jwks_url: str = ""  # empty: the jwks_uri of the issuer's discovery document
    role_claim: str = "role"
    institution_claim: str = "institution"
    instructor_claim: str = "instructor"
    refetch_interval_s: float = 30.0
    max_age_s: float = 3600.0
    leeway_s: float = 30.0  # the provider's clock and ours may differ a little

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


async def fetch_json(url: str) -> Mapping[str, Any]:
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    if not isinstance(document, Mapping):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


class ProviderKeys:
    """The provider's public keys by key id, fetched when first needed and again when a token names a new one."""

    def __init__(self, provider: IdentityProvider, fetch: JsonFetch = fetch_json,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_url = provider.jwks_url
        self._fetched_at: float | None = None  # last attempt, successful or not
        self._loaded_at: float | None = None  # last successful fetch
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        found = self._find(kid, algorithm)
        if found is not None and not self._stale():
            return found
        async with self._lock:
            found = self._find(kid, algorithm)  # another request may have fetched while this one waited
            if (found is None or self._stale()) and self._may_fetch():
                await self._refresh()
                found = self._find(kid, algorithm)
        if found is not None:
            return found
        if self._loaded_at is None:
            raise ProviderUnreachable(f"identity provider unreachable: no signing keys could be fetched from "
                                      f"{self._jwks_url or self.provider.discovery_url}")
        raise UnknownSigningKey(f"signing key {kid!r} is not among the identity provider's keys "
                                f"({self._jwks_url})" if kid else
                                "the token names no key (kid) and the identity provider publishes several")

    def _find(self, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        usable = [key for key in self._keys.values() if key.algorithm_name == algorithm]
        return usable[0] if len(usable) == 1 else None

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= self.provider.max_age_s

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.provider.refetch_interval_s

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()
        self.fetches += 1
        try:
            if not self._jwks_url:
                discovery = await self._fetch(self.provider.discovery_url)
                jwks_uri = discovery.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri:
                    raise ValueError(f"{self.provider.discovery_url} names no jwks_uri")
                self._jwks_url = jwks_uri
            document = await self._fetch(self._jwks_url)
            keys = _signing_keys(document)
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            # Keys already known stay in use: the provider being away must not log everyone out.
            log.warning("identity provider keys not fetched", url=self._jwks_url or self.provider.discovery_url,
                        error=repr(error), keys_kept=len(self._keys))
            return
        self._keys = keys
        self._loaded_at = self._clock()
        log.info("identity provider keys fetched", url=self._jwks_url, kids=sorted(keys))


def _signing_keys(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC"):
            continue  # an oct (HMAC) key would let a public document sign tokens
        try:
            key = jwt.PyJWK(entry, entry.get("alg"))
        except jwt.PyJWTError:
            continue  # one key of a type or curve we cannot use does not spoil the others
        keys[str(entry.get("kid", f"#{len(keys)}"))] = key
    return keys


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in the claims: a top-level name (which may itself hold dots, like a URL-named
    claim), else dotted steps into nested objects (``ext.role``); None when absent."""
    if path in claims:
        return claims[path]
    for at in range(len(path)):
        if path[at] == "." and isinstance(claims.get(path[:at]), Mapping):
            found = claim(claims[path[:at]], path[at + 1:])
            if found is not None:
                return found
    return None


def role_of(value: Any, roles: Sequence[str]) -> str | None:
    """The role a claim grants: a string, or a list (the first of ``roles``, most powerful first, it holds)."""
    held = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
        if isinstance(value, list) else []
    return next((role for role in roles if role in held), None)


def single(value: Any) -> str | None:
    """A claim naming one thing: a non-empty string, or a list holding exactly one."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) and value else None
