"""A real SMTP server for tests: ``probidad mail-sink`` in its own process, on a free loopback port.

``smtp_sink`` (function scope) yields a ``SmtpSink``: ``.host``/``.port``, ``.messages()`` (every message kept,
in arrival order), ``await .wait_for(n)``, ``.stop()`` (the process is killed, so the port refuses connections
like a server that is away), ``.start()`` (same port and maildir, numbering continues), ``.refuse(address)``
and ``.env()`` for a service process. A module uses it with::

    from tests.support.smtp import smtp_sink  # noqa: F401

``SmtpSink(directory, extra_args=[...])`` starts one with other options (STARTTLS, AUTH), and
``self_signed_certificate`` makes the certificate for that.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest

from probidad.ops.localhost import free_port, port_answers, tail
from probidad.ops.mailsink import parse

ROOT = Path(__file__).resolve().parents[2]


class SmtpSink:
    host = "127.0.0.1"

    def __init__(self, directory: Path, *, extra_args: Sequence[str] = ()) -> None:
        self.directory = directory
        self.maildir = directory / "maildir"
        self.refusals_file = directory / "refusals.txt"
        self.log_path = directory / "mail-sink.log"
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> SmtpSink:
        """Start the sink (again) and return once its port answers."""
        if self.process is not None:
            raise RuntimeError("the mail sink is already running")
        command = [sys.executable, "-m", "probidad.ops.mailsink", "--host", self.host, "--port", str(self.port),
                   "--maildir", str(self.maildir), "--refusals-file", str(self.refusals_file), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        while not port_answers(self.port, timeout=0.5, host=self.host):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the mail sink did not come up on {self.port}:\n{tail(self.log_path)}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Kill the sink: from now on its port refuses connections."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def refuse(self, address: str) -> None:
        """From the next RCPT on, ``address`` is answered 550 5.1.1 (besides those refused already)."""
        with open(self.refusals_file, "a", encoding="utf-8") as out:
            out.write(address + "\n")

    def messages(self) -> list[EmailMessage]:
        """Every message the sink kept, in arrival order."""
        if not self.maildir.is_dir():
            return []
        paths = sorted((p for p in self.maildir.glob("*.eml") if p.stem.isdigit()), key=lambda p: int(p.stem))
        return [parse(path.read_bytes()) for path in paths]

    async def wait_for(self, n: int, timeout_s: float = 30.0) -> list[EmailMessage]:
        """The messages, once there are at least ``n``; TimeoutError saying how many came otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.messages()
            if len(found) >= n:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {n} messages reached the mail sink within {timeout_s:.0f}s")
            await asyncio.sleep(0.1)

    def env(self) -> dict[str, str]:
        """What a service process needs to send its mail here."""
        return {"PROBIDAD_SMTP_HOST": self.host, "PROBIDAD_SMTP_PORT": str(self.port)}

    def log(self) -> str:
        return tail(self.log_path, 60)


@pytest.fixture
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path_factory.mktemp("smtp-sink")).start()
    try:
        yield sink
    finally:
        sink.stop()


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for ``host`` (and localhost) signed by itself, and its key: ``(cert.pem, key.pem)``.
    A client trusts it by loading cert.pem as its CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probidad test mail sink")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
