"""Bearer tokens for the tests, of either kind the services accept: shared-secret tokens (HS256), and access
tokens of a real OpenID Connect provider, Ory Hydra (``probidad.ops.hydractl``), run for the session.

    @both_kinds_of_token                     # the test runs once with each kind
    async def test_x(platform): ...           # whose fixture passes ``tokens=token_minter`` to the harness

``token_minter`` is the shared-secret kind unless a test asks for both; the Hydra kind registers one
client_credentials client per role (``comptroller``, ``liaison-<institution>``, ``instructor-<id>``, their
claims in the client's metadata, added to the token by Hydra's token hook) and makes the service trust
Hydra's issuer, audience and keys. With ``PROBIDAD_REQUIRE_REAL=1`` (CI) a Hydra that cannot be started
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from probidad.ops.hydractl import (HydraClient, HydraCtlError, HydraServer, fetch_token, register_client,
                                   service_environment, start_hydra, stop_hydra)
from probidad.ops.localhost import free_port
from probidad.shared.auth import TokenVerifier, issue_token
from probidad.shared.settings import ServiceSettings

__all__ = ["HydraTokens", "SharedSecretTokens", "both_kinds_of_token", "hydra_fixture", "token_minter", "trusting"]

POSTGRES_PORT = int(os.environ.get("PROBIDAD_TEST_POSTGRES_URL", "@127.0.0.1:5433/").split("@", 1)[-1]
                    .split("/", 1)[0].partition(":")[2] or 5433)


def _unavailable(what: str) -> None:
    if os.environ.get("PROBIDAD_REQUIRE_REAL") == "1":
        pytest.fail(f"{what} is required (PROBIDAD_REQUIRE_REAL=1) but not available")
    pytest.skip(f"{what} not available")


def trusting(server: HydraServer, secret: str, **settings: object) -> TokenVerifier:
    """A verifier taking ``server``'s tokens (and shared-secret ones), configured as an operator would."""
    environment = {name.removeprefix("PROBIDAD_").lower(): value for name, value in
                   service_environment(server).items()}
    return TokenVerifier.from_settings(ServiceSettings(jwt_secret=secret, **{**environment, **settings}))


class SharedSecretTokens:
    kind = "shared-secret"

    def __init__(self) -> None:
        self.secret = ""

    def trust(self, app: FastAPI) -> None:
        self.secret = app.state.jwt_secret

    def token(self, role: str, *, institution: str | None = None, instructor: str | None = None,
              subject: str | None = None) -> str:
        return issue_token(self.secret, role, subject=subject, institution_id=institution,  # type: ignore[arg-type]
                           instructor_id=instructor)


class HydraTokens:
    kind = "identity-provider"

    def __init__(self, server: HydraServer) -> None:
        self.server = server
        self._clients: dict[tuple[str, str | None, str | None], HydraClient] = {}

    def trust(self, app: FastAPI) -> None:
        app.state.token_verifier = trusting(self.server, app.state.jwt_secret)

    def client(self, role: str, *, institution: str | None = None, instructor: str | None = None) -> HydraClient:
        key = (role, institution, instructor)
        if key not in self._clients:
            self._clients[key] = register_client(self.server, role, institution=institution, instructor=instructor)
        return self._clients[key]

    def token(self, role: str, *, institution: str | None = None, instructor: str | None = None,
              subject: str | None = None) -> str:
        # The subject is the client (Hydra's sub for client_credentials): a test's subject is not asked for.
        return fetch_token(self.server, self.client(role, institution=institution, instructor=instructor))


@pytest.fixture(scope="session", name="hydra")
def hydra_fixture(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[HydraServer]:
    """Ory Hydra for the session, on free ports, keeping its data in a database of its own on the test
    PostgreSQL (dropped afterwards, with every client and key of the run)."""
    state = tmp_path_factory.mktemp("hydra-state")
    database = f"probidad_hydra_t_{uuid.uuid4().hex[:8]}"
    try:
        server = start_hydra(state, public_port=free_port(), admin_port=free_port(), hook_port=free_port(),
                             postgres_port=POSTGRES_PORT, database=database, audience="probidad-tests")
    except HydraCtlError as error:
        _unavailable(f"Ory Hydra (could not start: {error})")
    try:
        yield server
    finally:
        stop_hydra(state)
        _drop_database(database)


def _drop_database(database: str) -> None:
    import subprocess

    from probidad.ops.pgctl import find_bin_dir

    subprocess.run([str(find_bin_dir() / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT),
                    "-U", "probidad", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
                   capture_output=True, timeout=60, check=False)


@pytest.fixture
def token_minter(request: pytest.FixtureRequest) -> SharedSecretTokens | HydraTokens:
    """The tokens a test's clients bear: shared-secret ones, or (parametrised by ``both_kinds_of_token``)
    the identity provider's."""
    if getattr(request, "param", "shared-secret") == "identity-provider":
        return HydraTokens(request.getfixturevalue("hydra"))
    return SharedSecretTokens()


both_kinds_of_token = pytest.mark.parametrize("token_minter", [
    pytest.param("shared-secret", id="shared-secret-token"),
    pytest.param("identity-provider", id="identity-provider-token", marks=pytest.mark.go_program("hydra")),
], indirect=True)
