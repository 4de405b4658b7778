"""Fixtures shared by the three tiers of tests.

* ``database_url``: a fresh, empty database — SQLite file and PostgreSQL (parametrised), so the
  same test runs on both. PostgreSQL comes from ``PROBIDAD_TEST_POSTGRES_URL`` (an admin URL to a
  server the test may create databases on; default postgresql+asyncpg://probidad@127.0.0.1:5433/probidad).
* ``kafka_bootstrap``: a real Kafka broker — ``PROBIDAD_TEST_KAFKA_BOOTSTRAP``, else one answering
  on 127.0.0.1:9092, else one the fixture starts and stops.
* ``topic_prefix``: a namespace per test, so tests sharing the broker never see each other's events.

With ``PROBIDAD_REQUIRE_REAL=1`` (CI) a missing broker or database fails the run instead of skipping.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
import uuid
from pathlib import Path

import pytest

from probidad.ops.localhost import port_answers
from tests.support.identity import hydra_fixture, token_minter  # noqa: F401 — fixtures: Ory Hydra, the tokens a test bears

REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "PROBIDAD_TEST_POSTGRES_URL", "postgresql+asyncpg://probidad@127.0.0.1:5433/probidad"
)


def _unavailable(what: str) -> None:
    if REQUIRE_REAL:
        pytest.fail(f"{what} is required (PROBIDAD_REQUIRE_REAL=1) but not reachable")
    pytest.skip(f"{what} not reachable")


def _answers(host: str, port: int) -> bool:
    return port_answers(port, timeout=1, host=host)


# ------------------------------------------------------------------ PostgreSQL


async def _admin_execute(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def _fresh_postgres(admin_url: str):
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"probidad_t_{uuid.uuid4().hex[:12]}"
    await _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    host_port = POSTGRES_ADMIN_URL.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    if not _answers(host, int(port or 5432)):
        _unavailable(f"PostgreSQL at {host_port}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
async def postgres_url(postgres_admin_url: str):
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    async with _fresh_postgres(postgres_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path):
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    async with _fresh_postgres(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


# ------------------------------------------------------------------ Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    configured = os.environ.get("PROBIDAD_TEST_KAFKA_BOOTSTRAP")
    if configured:
        host, _, port = configured.split(",")[0].partition(":")
        if not _answers(host, int(port)):
            _unavailable(f"Kafka at {configured}")
        yield configured
        return
    if _answers("127.0.0.1", 9092):
        yield "127.0.0.1:9092"
        return
    try:
        from probidad.ops import kafkactl
    except ImportError:
        _unavailable("Kafka (no launcher)")
    state = tmp_path_factory.mktemp("kafka-state")
    try:
        cluster = kafkactl.start_cluster(nodes=1, state_dir=state, base_port=39092)
    except Exception as error:  # noqa: BLE001
        _unavailable(f"Kafka (could not start: {error})")
    try:
        yield cluster.bootstrap
    finally:
        kafkactl.stop_cluster(state)


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def kcat() -> str:
    import shutil

    path = shutil.which("kcat") or shutil.which("kafkacat")
    if not path:
        _unavailable("kcat (apt-get install kcat)")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/e2e/" in path:
            item.add_marker(pytest.mark.kafka)
    # Tests that run a Go program (Jaeger, Ory Hydra) go last: on a fresh machine ./scripts/test builds those
    # programs in the background meanwhile (a first build takes minutes).
    items.sort(key=lambda item: item.get_closest_marker("go_program") is not None)


# ------------------------------------------------------------------ Go programs (Jaeger, Ory Hydra)
@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """Before a test marked ``go_program("jaeger")`` (or "hydra") starts — and before its time limit starts — wait
    for the program's cached binary (built on first use, or by ./scripts/test's background build)."""
    marker = item.get_closest_marker("go_program")
    if marker is not None:
        from probidad.ops.gotools import GoToolError, tool_binary

        for name in marker.args:
            try:
                tool_binary(name, quiet=True)
            except GoToolError:
                pass  # the test's own fixture asks again and fails with the reason
    return (yield)
