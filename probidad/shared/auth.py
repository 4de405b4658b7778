"""Bearer tokens (JWT) with a role, shared by every service's HTTP API.

* ``comptroller``: everything;
* ``liaison``: only its institution's servants and enrolments (claim ``institution``);
* ``instructor``: its own sessions (claim ``instructor``).

Two kinds of token are accepted, told apart by the token's own header:

* HS256, signed with ``PROBIDAD_JWT_SECRET`` (``probidad token issue``): for development and tests;
* RS256/ES256 access tokens of the state's OpenID Connect provider, when ``PROBIDAD_OIDC_ISSUER`` is set:
  checked against the provider's published keys, its issuer and our audience, the role, institution and
  instructor read from the claims the settings name (``probidad.shared.identity``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from probidad.shared.identity import (ALGORITHMS, ClaimProblem, IdentityProvider, ProviderKeys, ProviderUnreachable,
                                      claim, role_of, single)
from probidad.shared.settings import ServiceSettings

Role = Literal["comptroller", "liaison", "instructor"]
ROLES: tuple[str, ...] = ("comptroller", "liaison", "instructor")
ISSUER = "probidad"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    institution_id: str | None = None
    instructor_id: str | None = None

    def may_see_institution(self, institution_id: str | None) -> bool:
        return self.role == "comptroller" or (self.role == "liaison" and self.institution_id == institution_id)


def issue_token(secret: str, role: Role, *, subject: str | None = None, institution_id: str | None = None,
                instructor_id: str | None = None, ttl: timedelta = timedelta(days=30)) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "liaison" and not institution_id:
        raise ValueError("a liaison token needs an institution id")
    if role == "instructor" and not instructor_id:
        raise ValueError("an instructor token needs an instructor id")
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "sub": subject or role, "role": role, "iat": now, "exp": now + ttl}
    if institution_id:
        claims["institution"] = institution_id
    if instructor_id:
        claims["instructor"] = instructor_id
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(secret: str, token: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "role"]})
    role = claims["role"]
    if role not in ROLES:
        raise jwt.InvalidTokenError(f"unknown role {role!r}")
    return Principal(claims.get("sub", role), role, claims.get("institution"), claims.get("instructor"))


class TokenVerifier:
    """Who a bearer token speaks for: a shared-secret token (HS256), or the identity provider's."""

    def __init__(self, secret: str, provider: IdentityProvider | None = None,
                 keys: ProviderKeys | None = None, *, shared_secret_tokens: bool = True) -> None:
        self.secret = secret
        # A state that signs everyone in through its provider turns the development tokens off: a leaked
        # PROBIDAD_JWT_SECRET then opens nothing.
        self.shared_secret_tokens = shared_secret_tokens
        self.provider = provider
        self.keys = keys or (ProviderKeys(provider) if provider is not None else None)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        provider = None
        if settings.oidc_issuer:
            provider = IdentityProvider(
                issuer=settings.oidc_issuer, audience=settings.oidc_audience, jwks_url=settings.oidc_jwks_url,
                role_claim=settings.oidc_role_claim, institution_claim=settings.oidc_institution_claim,
                instructor_claim=settings.oidc_instructor_claim, refetch_interval_s=settings.oidc_jwks_refetch_s,
                max_age_s=settings.oidc_jwks_max_age_s)
        return cls(settings.jwt_secret.get_secret_value(), provider,
                   shared_secret_tokens=settings.shared_secret_tokens)

    async def principal(self, token: str) -> Principal:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm == "HS256":
            if not self.shared_secret_tokens:
                raise jwt.InvalidTokenError("shared-secret tokens are not accepted here "
                                            "(PROBIDAD_SHARED_SECRET_TOKENS=false): sign in through the identity "
                                            "provider")
            return decode_token(self.secret, token)
        if self.provider is None or self.keys is None:
            raise jwt.InvalidTokenError(f"a token signed with {algorithm} needs an identity provider, and none "
                                        "is configured (PROBIDAD_OIDC_ISSUER)")
        if algorithm not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted "
                                            f"(only {', '.join(ALGORITHMS)} and HS256)")
        key = await self.keys.key(header.get("kid"), algorithm)
        provider = self.provider
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=provider.audience,
                                issuer=provider.issuer, leeway=provider.leeway_s,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError as error:
            raise jwt.ExpiredSignatureError("token expired") from error
        except jwt.InvalidAudienceError as error:
            raise jwt.InvalidAudienceError(f"token is not meant for this platform (its audience does not "
                                           f"include {provider.audience!r})") from error
        except jwt.InvalidIssuerError as error:
            raise jwt.InvalidIssuerError(f"token was not issued by {provider.issuer!r}") from error
        return self._principal_of(claims, provider)

    @staticmethod
    def _principal_of(claims: dict[str, object], provider: IdentityProvider) -> Principal:
        role = role_of(claim(claims, provider.role_claim), ROLES)
        if role is None:
            raise ClaimProblem(f"the token grants none of the roles {', '.join(ROLES)} "
                               f"in claim {provider.role_claim!r}")
        institution = single(claim(claims, provider.institution_claim))
        instructor = single(claim(claims, provider.instructor_claim))
        if role == "liaison" and institution is None:
            raise ClaimProblem(f"a liaison's token must name its institution in claim {provider.institution_claim!r}")
        if role == "instructor" and instructor is None:
            raise ClaimProblem(f"an instructor's token must name the instructor in claim "
                               f"{provider.instructor_claim!r}")
        return Principal(str(claims["sub"]), role, institution, instructor)  # type: ignore[arg-type]


_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_principal(request: Request,
                            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    # A coroutine, like every dependency here: FastAPI runs plain functions in its thread pool.
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=_CHALLENGE)
    verifier = getattr(request.app.state, "token_verifier", None) or TokenVerifier(request.app.state.jwt_secret)
    try:
        return await verifier.principal(credentials.credentials)
    except ProviderUnreachable as error:
        # Not the caller's fault, and their token may be good: ask them to come back.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": "5"}) from error
    except jwt.PyJWTError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {error}", headers=_CHALLENGE) from error


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    return dependency
