"""Bearer tokens (JWT, HS256) with a role, shared by every service's HTTP API.

* ``comptroller``: everything;
* ``liaison``: only its institution's servants and enrolments (claim ``institution``);
* ``instructor``: its own sessions (claim ``instructor``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


_bearer = HTTPBearer(auto_error=False)


async def current_principal(request: Request,
                            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    # A coroutine, like every dependency here: FastAPI runs plain functions in its thread pool.
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    secret = request.app.state.jwt_secret
    try:
        return decode_token(secret, credentials.credentials)
    except jwt.PyJWTError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {error}",
                            headers={"WWW-Authenticate": "Bearer"}) from error


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    return dependency
