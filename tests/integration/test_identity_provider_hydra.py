"""A real OpenID Connect provider, Ory Hydra, issues the tokens: a service trusting it (issuer, audience, keys
from its JWKS, the role and institution its token hook adds under ``ext``) serves its comptroller, liaison
and instructor, refuses what is not meant for it, and follows a key rotation at the provider without a
restart — to an RS256 key, then to an ES256 one."""

from __future__ import annotations

from dataclasses import replace

import httpx
import jwt
import pytest

from probidad.ops.hydractl import fetch_token, register_client, rotate_signing_key
from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from tests.support.harness import serving
from tests.support.identity import HydraTokens, trusting

pytestmark = pytest.mark.go_program("hydra")


@pytest.fixture
async def enrollment(sqlite_url, tmp_path, hydra):
    tokens = HydraTokens(hydra)
    settings = EnrollmentSettings(database_url=sqlite_url, state_dir=tmp_path)
    async with serving(create_app, settings, tokens=tokens) as harness:
        # Rotation tests fetch again at once; the default waits 30 s between fetches of the provider's keys.
        harness.app.state.token_verifier = trusting(hydra, settings.jwt_secret.get_secret_value(),
                                                    oidc_jwks_refetch_s=0)
        yield harness


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_hydras_tokens_carry_the_clients_role_and_institution_and_the_service_honours_them(enrollment, hydra):
    liaison = enrollment.token("liaison", institution="in-sefiplan")
    claims = jwt.decode(liaison, options={"verify_signature": False})
    assert claims["iss"] == hydra.issuer and hydra.audience in claims["aud"]
    assert claims["ext"] == {"role": "liaison", "institution": "in-sefiplan"}
    async with enrollment.client(None) as http:
        assert (await http.get("/servants", headers=bearer(liaison))).status_code == 200
        refused = await http.post("/courses", headers=bearer(liaison),
                                  json={"code": "X", "title": "X", "topic": "X", "hours": 1})
        assert refused.status_code == 403
        comptroller = enrollment.token("comptroller")
        assert (await http.post("/institutions", headers=bearer(comptroller), json={
            "institution_id": "in-sefiplan", "name": "SEFIPLAN", "government_level": "state", "headcount": 10,
            "headcount_year": 2026})).status_code == 201


async def test_a_hydra_token_for_another_audience_or_without_a_role_is_refused(enrollment, hydra):
    elsewhere = replace(hydra, audience="another-application")  # the same provider, another relying party
    other_app_token = fetch_token(elsewhere, register_client(elsewhere, "comptroller", client_id="another-app"))
    roleless = register_client(hydra, "comptroller", client_id="roleless")
    httpx.patch(f"{hydra.admin_url}/admin/clients/roleless",
                json=[{"op": "replace", "path": "/metadata", "value": {}}]).raise_for_status()
    async with enrollment.client(None) as http:
        answer = await http.get("/servants", headers=bearer(other_app_token))
        assert answer.status_code == 401 and "not meant for this platform" in answer.json()["detail"]
        answer = await http.get("/servants", headers=bearer(fetch_token(hydra, roleless)))
        assert answer.status_code == 401 and "grants none of the roles" in answer.json()["detail"]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_a_key_rotated_in_at_hydra_is_accepted_by_the_running_service_without_a_restart(enrollment, hydra,
                                                                                              alg):
    comptroller = enrollment.tokens.client("comptroller")
    async with enrollment.client(None) as http:
        before = fetch_token(hydra, comptroller)
        assert (await http.get("/servants", headers=bearer(before))).status_code == 200
        kid = rotate_signing_key(hydra, alg)
        after = fetch_token(hydra, comptroller)
        header = jwt.get_unverified_header(after)
        assert (header["kid"], header["alg"]) == (kid, alg)
        assert (await http.get("/servants", headers=bearer(after))).status_code == 200
        # A token the previous key signed stays good until it expires: the old key is still published.
        assert (await http.get("/servants", headers=bearer(before))).status_code == 200
