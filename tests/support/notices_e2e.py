"""Enrollment as a real process sending its digests and reminders, for the notices' end-to-end tests.

``NoticesEnrollment`` runs ``services.enrollment`` on a port of its own with its scheduler on and its mail going to a
``SmtpSink``; ``kill()`` is a SIGKILL, ``start()`` brings it back on the same port and database. ``notify(...)`` runs
``probidad notify run --now`` as an operator would, and ``arrived(...)`` reads what reached the sink.
"""

from __future__ import annotations

import re
import subprocess
import sys
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
        return httpx.AsyncClient(base_url=self.url, headers=headers or COMPTROLLER, timeout=120)

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
