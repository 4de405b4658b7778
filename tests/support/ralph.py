"""A real Ralph LRS for the tests (``probidad.ops.ralphctl``: its own virtualenv, its file backend), and a
client reading its statements back through the xAPI API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from probidad.ops.localhost import free_port
from probidad.ops.ralphctl import RalphServer, start_ralph, stop_ralph

VERSION_HEADER = {"X-Experience-API-Version": "1.0.3"}


class Lrs:
    """A running Ralph, read through its xAPI API (following ``more`` links)."""

    def __init__(self, server: RalphServer, state: Path) -> None:
        self.server, self.state = server, state
        self.url = server.url
        self.auth = (server.username, server.password)

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Reporting's settings pointing at this LRS, under a base URL of the test's own (so a test counts its
        statements only, by their actor's homePage)."""
        return {"lrs_url": self.url, "lrs_username": self.server.username, "lrs_password": self.server.password,
                "xapi_public_url": f"https://probidad.test/{uuid.uuid4().hex[:12]}", **changes}

    async def statements(self, **params: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with httpx.AsyncClient(base_url=self.url, auth=self.auth, headers=VERSION_HEADER, timeout=30) as c:
            response = await c.get("/xAPI/statements", params={"limit": "500", **params})
            while True:
                assert response.status_code == 200, response.text
                page = response.json()
                out.extend(page["statements"])
                if not page.get("more"):
                    return out
                response = await c.get(page["more"])

    async def of(self, base: str) -> list[dict[str, Any]]:
        """Every statement whose actor is an account under ``base`` (a test's own)."""
        return [s for s in await self.statements() if s["actor"].get("account", {}).get("homePage") == base]


@pytest.fixture(scope="module", name="ralph")
def ralph_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lrs]:
    """One Ralph for a test module (each test keeps to its own base URL)."""
    state = tmp_path_factory.mktemp("ralph")
    server = start_ralph(state, port=free_port())
    try:
        yield Lrs(server, state)
    finally:
        stop_ralph(state)


class LaterLrs:
    """A port where no LRS answers yet: ``start()`` brings Ralph up there (an LRS away, then back)."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lrs: Lrs | None = None

    def start(self) -> Lrs:
        self.lrs = Lrs(start_ralph(self.state, port=self.port), self.state)
        return self.lrs

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Settings naming the port; the password is the one Ralph will be started with."""
        (self.state / "ralph").mkdir(parents=True, exist_ok=True)
        password_file = self.state / "ralph" / "password"
        if not password_file.is_file():
            password_file.write_text(uuid.uuid4().hex)
        return {"lrs_url": self.url, "lrs_username": "probidad", "lrs_password": password_file.read_text().strip(),
                "xapi_public_url": f"https://probidad.test/{uuid.uuid4().hex[:12]}", **changes}


@pytest.fixture(name="ralph_later")
def ralph_later_fixture(tmp_path: Path) -> Iterator[LaterLrs]:
    later = LaterLrs(tmp_path / "later-ralph")
    try:
        yield later
    finally:
        stop_ralph(later.state)
