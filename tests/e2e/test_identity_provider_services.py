"""Services run as processes and configured only through their environment (PROBIDAD_OIDC_*, as an operator
would) take Ory Hydra's tokens: the keys found through the issuer's discovery document, the role and
institution read from the claims named, a key rotated in at Hydra accepted with no restart, and the
shared-secret tokens still taken beside them."""

from __future__ import annotations

import httpx
import pytest

from probidad.ops.hydractl import fetch_token, rotate_signing_key, service_environment
from probidad.shared.auth import issue_token
from probidad.shared.settings import DEV_JWT_SECRET
from tests.support.identity import HydraTokens
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.go_program("hydra")


@pytest.fixture
def services(kafka_bootstrap: str, topic_prefix: str, tmp_path, hydra):
    env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
           "PROBIDAD_STATE_DIR": str(tmp_path / "state"), **service_environment(hydra),
           "PROBIDAD_OIDC_JWKS_REFETCH_S": "0"}  # a rotation is followed at the next token, not 30 s later
    started = {name: ServiceProcess(f"services.{name}", env, free_port(), tmp_path / f"{name}.log").start()
               for name in ("enrollment", "attendance")}
    yield started
    for service in started.values():
        service.stop()


async def test_services_configured_by_environment_serve_hydras_roles_and_follow_its_key_rotation(services, hydra):
    tokens = HydraTokens(hydra)
    enrollment, attendance = services["enrollment"].url, services["attendance"].url

    async def status(url: str, token: str, method: str = "GET", **request: object) -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **request)
            return answer.status_code

    comptroller = tokens.token("comptroller")
    liaison = tokens.token("liaison", institution="in-dif")
    instructor = tokens.token("instructor", instructor="ins-rosa")
    assert await status(f"{enrollment}/servants", comptroller) == 200
    assert await status(f"{enrollment}/servants", liaison) == 200
    assert await status(f"{enrollment}/servants", instructor) == 403
    assert await status(f"{enrollment}/courses", liaison, "POST",
                        json={"code": "X", "title": "X", "topic": "X", "hours": 1}) == 403
    assert await status(f"{attendance}/records", liaison) == 200
    assert await status(f"{attendance}/records?institution_id=in-other", liaison) == 403
    assert await status(f"{attendance}/records", tokens.token("comptroller")[:-4] + "AAAA") == 401

    rotate_signing_key(hydra, "ES256")
    rotated = fetch_token(hydra, tokens.client("comptroller"))
    assert await status(f"{enrollment}/servants", rotated) == 200
    assert await status(f"{attendance}/records", rotated) == 200
    assert await status(f"{enrollment}/servants", issue_token(DEV_JWT_SECRET, "comptroller")) == 200
