"""The services take the identity provider's access tokens (RS256 and ES256) beside the shared-secret ones.

A small provider is served here over real HTTP (its discovery document and JWKS, which a test may change
while the verifier runs), so fetching, rotation and the provider going away are exercised for real; Ory
Hydra itself is driven in tests/integration/test_identity_provider_hydra.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from pydantic import ValidationError

from probidad.shared.auth import Principal, TokenVerifier, issue_token, require
from probidad.shared.identity import IdentityProvider, ProviderKeys, claim, role_of
from probidad.shared.settings import ServiceSettings

AUDIENCE = "probidad-platform"
SECRET = "a-shared-secret-for-these-tests-only-32+"


class Provider:
    """An issuer publishing a discovery document and a JWKS on loopback, and signing tokens with its keys."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.published: list[str] = []  # kids in the JWKS now
        self.jwks_requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks.json"}
                elif self.path == "/jwks.json":
                    provider.jwks_requests += 1
                    body = {"keys": [provider.public_jwk(kid) for kid in provider.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str, alg: str = "RS256", publish: bool = True) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" \
            else ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = (alg, private)
        if publish:
            self.published.append(kid)

    def public_jwk(self, kid: str) -> dict:
        alg, private = self.keys[kid]
        algorithm = jwt.get_algorithm_by_name(alg)
        return {**json.loads(algorithm.to_jwk(private.public_key())), "kid": kid, "alg": alg, "use": "sig"}

    def token(self, kid: str, *, audience: str | list[str] = AUDIENCE, issuer: str | None = None,
              expires_in: timedelta = timedelta(minutes=5), **claims: object) -> str:
        alg, private = self.keys[kid]
        now = datetime.now(UTC)
        body = {"iss": issuer or self.issuer, "sub": "client-x", "aud": audience, "iat": now, "exp": now + expires_in,
                **claims}
        return jwt.encode(body, private, algorithm=alg, headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    served = Provider()
    served.add_key("rsa-1")
    yield served
    served.stop()


def verifier_of(provider: Provider, **settings: object) -> TokenVerifier:
    return TokenVerifier.from_settings(ServiceSettings(
        jwt_secret=SECRET, oidc_issuer=provider.issuer, oidc_audience=AUDIENCE, oidc_role_claim="ext.role",
        oidc_institution_claim="ext.institution", oidc_instructor_claim="ext.instructor", **settings))


def build_api(verifier: TokenVerifier) -> FastAPI:
    from fastapi import Depends

    app = FastAPI()
    app.state.token_verifier = verifier

    @app.get("/figures")
    async def figures(principal: Principal = Depends(require("comptroller"))) -> dict:
        return {"subject": principal.subject}

    @app.get("/servants")
    async def servants(principal: Principal = Depends(require("comptroller", "liaison"))) -> dict:
        return {"role": principal.role, "institution": principal.institution_id,
                "instructor": principal.instructor_id}

    return app


async def call(app: FastAPI, path: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probidad") as client:
        return await client.get(path, headers={"Authorization": f"Bearer {token}"})


async def test_a_providers_token_carries_the_role_and_institution_from_the_configured_nested_claims(provider):
    app = build_api(verifier_of(provider))
    liaison = provider.token("rsa-1", ext={"role": ["staff", "liaison"], "institution": "in-sefiplan"})
    answer = await call(app, "/servants", liaison)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"role": "liaison", "institution": "in-sefiplan", "instructor": None}
    refused = await call(app, "/figures", liaison)
    assert refused.status_code == 403
    comptroller = provider.token("rsa-1", sub="client-comptroller", ext={"role": "comptroller"})
    assert (await call(app, "/figures", comptroller)).json() == {"subject": "client-comptroller"}


async def test_an_es256_token_is_checked_against_the_providers_ec_key(provider):
    provider.add_key("ec-1", "ES256")
    app = build_api(verifier_of(provider))
    token = provider.token("ec-1", ext={"role": "comptroller"})
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert (await call(app, "/figures", token)).status_code == 200
    forged = jwt.encode({**jwt.decode(token, options={"verify_signature": False})},
                        ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "ec-1"})
    answer = await call(app, "/figures", forged)
    assert answer.status_code == 401 and "signature" in answer.json()["detail"].lower()


async def test_a_key_the_provider_rotates_in_is_picked_up_by_a_running_verifier_with_one_fetch(provider):
    verifier = verifier_of(provider, oidc_jwks_refetch_s=0)
    app = build_api(verifier)
    assert (await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))).status_code == 200
    assert (await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))).status_code == 200
    before = provider.jwks_requests
    assert before == 1  # the second token used the cached key
    provider.add_key("rsa-2")
    assert (await call(app, "/figures", provider.token("rsa-2", ext={"role": "comptroller"}))).status_code == 200
    assert provider.jwks_requests == before + 1


async def test_tokens_naming_unknown_keys_are_refused_and_refetching_is_rate_limited(provider):
    app = build_api(verifier_of(provider, oidc_jwks_refetch_s=600))
    assert (await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))).status_code == 200
    provider.add_key("rsa-unpublished", publish=False)
    for _ in range(5):
        answer = await call(app, "/figures", provider.token("rsa-unpublished", ext={"role": "comptroller"}))
        assert answer.status_code == 401
        assert "'rsa-unpublished' is not among the identity provider's keys" in answer.json()["detail"]
    assert provider.jwks_requests == 1  # within the interval, made-up kids cost the provider nothing


@pytest.mark.parametrize("change, detail", [
    ({"expires_in": timedelta(minutes=-5)}, "token expired"),
    ({"audience": "another-application"}, "not meant for this platform"),
    ({"issuer": "https://impostor.example"}, "not issued by"),
    ({"ext": {"role": "liaison"}}, "must name its institution in claim 'ext.institution'"),
    ({"ext": {"role": "janitor"}}, "grants none of the roles"),
])
async def test_a_bad_providers_token_is_a_401_that_says_what_is_wrong(provider, change, detail):
    app = build_api(verifier_of(provider))
    claims = {"ext": {"role": "comptroller"}, **change}
    answer = await call(app, "/figures", provider.token("rsa-1", **claims))
    assert answer.status_code == 401
    assert detail in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unreachable_provider_is_a_503_not_a_401(provider):
    token = provider.token("rsa-1", ext={"role": "comptroller"})
    provider.stop()
    answer = await call(build_api(verifier_of(provider)), "/figures", token)
    assert answer.status_code == 503
    assert "identity provider unreachable" in answer.json()["detail"] and answer.headers["Retry-After"]


async def test_known_keys_keep_working_while_the_provider_is_away():
    provider = Provider()
    provider.add_key("rsa-1")
    app = build_api(verifier_of(provider, oidc_jwks_refetch_s=0, oidc_jwks_max_age_s=0.001))
    assert (await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))).status_code == 200
    token = provider.token("rsa-1", ext={"role": "comptroller"})
    provider.stop()
    assert (await call(app, "/figures", token)).status_code == 200


async def test_shared_secret_tokens_stay_accepted_and_a_public_key_is_never_taken_for_a_secret(provider):
    app = build_api(verifier_of(provider))
    assert (await call(app, "/figures", issue_token(SECRET, "comptroller"))).status_code == 200
    stranger = issue_token("another-secret-that-is-also-long-enough", "comptroller")
    assert (await call(app, "/figures", stranger)).status_code == 401
    # The classic confusion: an HS256 token "signed" with the provider's public key as the secret.
    _, private = provider.keys["rsa-1"]
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    body = {"iss": provider.issuer, "sub": "x", "aud": AUDIENCE, "role": "comptroller",
            "exp": datetime.now(UTC) + timedelta(minutes=5)}
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}." \
                    f"{b64(json.dumps(body, default=lambda d: int(d.timestamp())).encode())}"
    forged = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    assert (await call(app, "/figures", forged)).status_code == 401
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{signing_input.split('.')[1]}."
    assert (await call(app, "/figures", unsigned)).status_code == 401


async def test_with_shared_secret_tokens_turned_off_only_the_providers_tokens_pass(provider):
    app = build_api(verifier_of(provider, shared_secret_tokens=False))
    refused = await call(app, "/figures", issue_token(SECRET, "comptroller"))
    assert refused.status_code == 401 and "PROBIDAD_SHARED_SECRET_TOKENS" in refused.json()["detail"]
    assert (await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))).status_code == 200


def test_turning_shared_secret_tokens_off_without_a_provider_is_refused_at_start_up():
    with pytest.raises(ValidationError, match="PROBIDAD_SHARED_SECRET_TOKENS=false leaves no token accepted"):
        ServiceSettings(shared_secret_tokens=False)


async def test_without_a_provider_configured_only_shared_secret_tokens_pass(provider):
    app = build_api(TokenVerifier.from_settings(ServiceSettings(jwt_secret=SECRET)))
    answer = await call(app, "/figures", provider.token("rsa-1", ext={"role": "comptroller"}))
    assert answer.status_code == 401 and "PROBIDAD_OIDC_ISSUER" in answer.json()["detail"]


async def test_the_keys_are_found_through_the_issuers_discovery_document_once(provider):
    keys = ProviderKeys(IdentityProvider(issuer=provider.issuer, audience=AUDIENCE))
    await keys.key("rsa-1", "RS256")
    await keys.key("rsa-1", "RS256")
    assert (keys.fetches, provider.jwks_requests) == (1, 1)


def test_claim_paths_reach_nested_and_dotted_names_and_a_role_list_gives_the_most_powerful_role():
    claims = {"ext": {"role": "liaison"}, "https://gob.example/role": "instructor", "realm": {"a.b": {"c": 1}}}
    assert claim(claims, "ext.role") == "liaison"
    assert claim(claims, "https://gob.example/role") == "instructor"
    assert claim(claims, "realm.a.b.c") == 1
    assert claim(claims, "ext.missing") is None
    assert role_of(["instructor", "comptroller"], ("comptroller", "liaison", "instructor")) == "comptroller"
    assert role_of("janitor", ("comptroller",)) is None


def test_an_issuer_without_an_audience_is_refused_at_start_up():
    with pytest.raises(ValidationError, match="PROBIDAD_OIDC_AUDIENCE"):
        ServiceSettings(oidc_issuer="https://idp.example")
    with pytest.raises(ValidationError, match="PROBIDAD_OIDC_ISSUER must be an https"):
        ServiceSettings(environment="production", jwt_secret="x" * 40, oidc_issuer="http://idp.example",
                        oidc_audience=AUDIENCE)
