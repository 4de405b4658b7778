"""Enrollment as a real process sending its digests and reminders, for the notices' end-to-end tests.

``NoticesEnrollment`` runs ``services.enrollment`` on a port of its own with its scheduler on and its mail going to a
``SmtpSink``; ``kill()`` is a SIGKILL, ``start()`` brings it back on the same port and database. ``notify(...)`` runs
``probidad notify run --now`` as an operator would, and ``arrived(...)`` reads what reached the sink. ``SmtpRelay``
stands between a service and the sink and can hold back the sink's answer to a message it has already taken: the
moment a crash leaves it unknown whether the message went.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import httpx

from probidad.ops.localhost import eventually, free_port
from probidad.shared.auth import issue_token
from probidad.shared.settings import DEV_JWT_SECRET
from tests.support.processes import ROOT, ServiceProcess
from tests.support.smtp import SmtpSink

COMPTROLLER = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}
CLI = [sys.executable, "-c", "from probidad.ops.cli import app; app()"]
_ROUND = re.compile(r"decided (\d+) new message\(s\); sent (\d+), retrying (\d+), bounced (\d+), failed (\d+), "
                    r"uncertain (\d+), cancelled (\d+)")


def liaison(institution_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'liaison', institution_id=institution_id)}"}


class NoticesEnrollment:
    """The enrollment process, as the notices' tests run it."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Links in the messages lead back here, so a test can follow them.
        self.env = {**env, "PROBIDAD_PUBLIC_URL": self.url, "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET}
        self.process: ServiceProcess | None = None
        self.starts = 0

    async def start(self) -> NoticesEnrollment:
        """Start it (again) and return once its scheduler's first round is over: that round decides for the
        machine's day as soon as the service is up, and a test's own round must come after it, not race it."""
        self.starts += 1
        self.process = ServiceProcess("services.enrollment", self.env, self.port,
                                      self.directory / f"enrollment-{self.starts}.log").start()

        async def after_the_first_round() -> bool:
            # Rounds in one process take turns, so this one ends after the loop's first.
            async with self.client() as c:
                return (await c.post("/notifications/run", params={"decide": "false"})).json()["held_turn"]

        await eventually(after_the_first_round, timeout_s=60, what="a round of enrollment's scheduler")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """A client bearing a comptroller's token, or ``headers`` (``{}``: anyone, no token)."""
        return httpx.AsyncClient(base_url=self.url, headers=COMPTROLLER if headers is None else headers, timeout=120)

    def notify_command(self, *args: str) -> list[str]:
        return [*CLI, "notify", "run", "--now", "--url", self.url, *args]

    def notify(self, *args: str) -> dict[str, int]:
        """``probidad notify run --now [args]``: what the round did, as the command prints it."""
        done = subprocess.run(self.notify_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=cli_env())
        assert done.returncode == 0, done.stdout + done.stderr
        said = _ROUND.search(done.stdout)
        assert said, done.stdout
        names = ("decided", "sent", "retrying", "bounced", "failed", "uncertain", "cancelled")
        return dict(zip(names, map(int, said.groups()), strict=True))

    async def messages(self, institution_id: str, status: str | None = None) -> list[dict]:
        params: dict[str, str | int] = {"limit": 1000, **({"status": status} if status else {})}
        async with self.client() as c:
            answer = await c.get(f"/institutions/{institution_id}/messages", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def metric(self, name: str, **labels: str) -> float:
        """A sample of enrollment's /metrics (0 when the series is not there yet)."""
        async with self.client() as c:
            text = (await c.get("/metrics")).text
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if not series.startswith(name) or series[len(name):len(name) + 1] not in ("", "{"):
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', series[len(name):]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(value)
        return 0.0


def cli_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PROBIDAD_TOKEN", "PROBIDAD_ENROLLMENT_URL")}
    return {**env, "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET, "COLUMNS": "200"}


def arrived(sink: SmtpSink, domain: str) -> list[EmailMessage]:
    """The messages the sink kept for addresses at ``domain``, in arrival order."""
    return [m for m in sink.messages() if str(m["To"]).endswith(f"@{domain}")]


def kept_count(sink: SmtpSink) -> int:
    """How many messages the sink kept (without reading them: cheap enough to poll)."""
    return len(list(sink.maildir.glob("*.eml"))) if sink.maildir.is_dir() else 0


def message_id(message: EmailMessage) -> str:
    return str(message["Message-ID"]).strip().removeprefix("<").removesuffix(">")


def kind_of(message: EmailMessage) -> str:
    """The kind a Message-ID names: probidad.<kind>.<period>.<hash>@<domain>."""
    return message_id(message).split(".")[1]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def twice(messages: list[EmailMessage]) -> list[str]:
    """The Message-IDs that arrived more than once."""
    return [mid for mid, n in Counter(message_id(m) for m in messages).items() if n > 1]


class SmtpRelay:
    """A TCP relay to an SMTP server on loopback, in a thread of its own. After ``hold_next()``, the server's answer
    to the next message's content is never passed on: the server has taken the message, the sender waits to hear
    so, and ``held`` is set."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.held = threading.Event()
        self._armed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-relay", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, "127.0.0.1", 0), self._loop).result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def env(self) -> dict[str, str]:
        return {"PROBIDAD_SMTP_HOST": "127.0.0.1", "PROBIDAD_SMTP_PORT": str(self.port)}

    def hold_next(self) -> None:
        self._armed.set()

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            relaying = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relaying:
                task.cancel()
            await asyncio.gather(*relaying, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _connection(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_out.close()
            return
        content_sent = asyncio.Event()

        async def to_server() -> None:
            tail = b""
            while data := await client_in.read(65536):
                # Dot-stuffing leaves CRLF.CRLF only at the end of a message's content.
                if b"\r\n.\r\n" in tail + data:
                    content_sent.set()  # before it leaves: the answer cannot come first
                tail = (tail + data)[-4:]
                server_out.write(data)
                await server_out.drain()

        async def to_client() -> None:
            while data := await server_in.read(65536):
                if content_sent.is_set() and self._armed.is_set() and not self.held.is_set():
                    self.held.set()
                    await asyncio.Event().wait()  # held for good: the sender is killed meanwhile
                client_out.write(data)
                await client_out.drain()

        try:
            await asyncio.gather(to_server(), to_client())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            client_out.close()
            server_out.close()
