"""Typed FastAPI dependencies every service's HTTP API uses, so a route's signature says what it needs.

    async def enrol(body: EnrolIn, runtime: Runtime, principal: Registrar) -> EnrolmentOut:
        async with runtime.unit_of_work() as uow: ...

``Runtime`` is the service's ``ServiceRuntime`` (database, outbox, settings, ``unit_of_work()``);
the objects a service builds at wiring time (a signer, a reader) are registered once with
``runtime.provide(obj)`` and reached with ``Provided(TheirType)`` — never as attributes patched onto
the runtime or the app. The role aliases say who may call a route (see ``probidad.shared.auth``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from probidad.shared.auth import Principal, current_principal, require
from probidad.shared.service import ServiceRuntime

T = TypeVar("T")


# Every dependency is a coroutine: FastAPI runs a plain function in its thread pool, a hand-off to
# another thread and back on every request (it cost enrolments about a fifth of their throughput).
async def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


def Provided(kind: type[T]) -> Any:  # noqa: N802 — reads as a type in a signature
    """``Annotated[kind, Depends(...)]``: the object of that type the service registered at wiring."""
    async def provided(request: Request) -> T:
        return request.app.state.runtime.provided(kind)
    return Annotated[kind, Depends(provided)]


Anyone = Annotated[Principal, Depends(current_principal)]
Comptroller = Annotated[Principal, Depends(require("comptroller"))]
Registrar = Annotated[Principal, Depends(require("comptroller", "liaison"))]
Reader = Annotated[Principal, Depends(require("comptroller", "liaison", "instructor"))]
Manager = Annotated[Principal, Depends(require("comptroller", "instructor"))]
