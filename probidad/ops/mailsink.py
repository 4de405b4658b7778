"""``probidad mail-sink``: a local SMTP server that keeps every message instead of delivering it.

For development, the demo and the tests: point ``PROBIDAD_SMTP_HOST``/``PROBIDAD_SMTP_PORT`` at it and each
message is printed as it arrives (and saved as ``<n>.eml`` with ``--maildir``). ``--refuse`` and
``--refusals-file`` make it answer ``550 5.1.1`` for chosen recipients, as a real server does for a mailbox
that does not exist; the file is read again at every RCPT, so it can change while the sink runs.
``--tls-cert``/``--tls-key`` offer STARTTLS and ``--auth USER:PASSWORD`` requires a login (only over TLS), to
try a service's SMTP settings before pointing them at the real relay.

Also runnable as ``python -m probidad.ops.mailsink`` with the same options.
"""

from __future__ import annotations

import asyncio
import email.policy
import os
import signal
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any

import typer
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REFUSAL = "550 5.1.1 mailbox unavailable"
RULE = "-" * 72


class Maildir:
    """``<n>.eml`` files numbered in arrival order; a restarted sink continues after the highest number."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        numbers = [int(path.stem) for path in directory.glob("*.eml") if path.stem.isdigit()]
        self.last = max(numbers, default=0)

    def save(self, content: bytes) -> Path:
        self.last += 1
        final = self.directory / f"{self.last}.eml"
        # Written aside, then renamed: a reader never sees half a message.
        partial = self.directory / f".{self.last}.eml.tmp"
        with open(partial, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(final)
        return final


class Refusals:
    """The recipients answered 550: those given on the command line and those in the file, re-read each time."""

    def __init__(self, addresses: list[str], file: Path | None) -> None:
        self.fixed = {address.strip().lower() for address in addresses}
        self.file = file

    def __contains__(self, address: object) -> bool:
        wanted = str(address).strip().lower()
        if wanted in self.fixed:
            return True
        if self.file is None:
            return False
        try:
            lines = self.file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return False
        return wanted in {line.strip().lower() for line in lines if line.strip()}


def parse(content: bytes) -> EmailMessage:
    """A message as kept (SMTP's CRLF line ends) read as Python's email package expects it (LF)."""
    message = BytesParser(policy=email.policy.default).parsebytes(content.replace(b"\r\n", b"\n"))
    assert isinstance(message, EmailMessage)  # the default policy's message class
    return message


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return "(no plain-text part)"
    content = part.get_content()
    return content if isinstance(content, str) else repr(content)


def summary(message: EmailMessage, envelope_to: list[str]) -> str:
    to = str(message.get("To", ""))
    # The envelope is shown only when it differs from the header (a Bcc, or a sender that lies).
    header_addresses = sorted(address.lower() for _, address in getaddresses([to]))
    same = header_addresses == sorted(address.lower() for address in envelope_to)
    envelope = "" if same else f"  (envelope: {', '.join(envelope_to)})"
    lines = [
        f"time:       {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"From:       {message.get('From', '')}",
        f"To:         {to}{envelope}",
        f"Subject:    {message.get('Subject', '')}",
        f"Message-ID: {message.get('Message-ID', '')}",
        "",
        plain_text(message).rstrip("\n"),
        RULE,
    ]
    return "\n".join(lines)


class SinkHandler:
    """aiosmtpd's handler: refuse chosen recipients, print and keep every message."""

    def __init__(self, refusals: Refusals, maildir: Maildir | None, quiet: bool) -> None:
        self.refusals, self.maildir, self.quiet = refusals, maildir, quiet

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refusals:
            return REFUSAL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if self.maildir is not None:
            self.maildir.save(content)
        if not self.quiet:
            print(summary(parse(content), list(envelope.rcpt_tos)), flush=True)
        return "250 OK: kept"


class PasswordCheck:
    """The one login ``--auth USER:PASSWORD`` allows."""

    def __init__(self, credentials: str) -> None:
        user, separator, password = credentials.partition(":")
        if not separator or not user:
            raise typer.BadParameter("--auth takes USER:PASSWORD")
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        # handled=False: aiosmtpd answers a failure itself (535), as it does for its own checks.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def serve(host: str, port: int, handler: SinkHandler, *, tls: ssl.SSLContext | None,
                auth: PasswordCheck | None, announce: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def protocol() -> SMTP:
        # SMTPUTF8, as mail servers offer today: an address with an accent (josé@…) can be delivered.
        return SMTP(handler, hostname="probidad-mail-sink", ident="Probidad mail sink", loop=loop,
                    tls_context=tls, authenticator=auth, auth_required=auth is not None, enable_SMTPUTF8=True)

    server = await loop.create_server(protocol, host, port)
    if announce:
        features = ", ".join(f for f, on in (("STARTTLS", tls is not None), ("AUTH", auth is not None)) if on)
        print(f"mail sink listening on {host}:{port}" + (f" ({features})" if features else "")
              + "; Ctrl-C stops it", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def mail_sink(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 1025,
    maildir: Annotated[Path | None, typer.Option(
        help="Save each message as <n>.eml here (numbering continues after the files already there).")] = None,
    refuse: Annotated[list[str] | None, typer.Option(
        metavar="ADDRESS", help="Answer 550 5.1.1 at RCPT for this recipient (repeatable).")] = None,
    refusals_file: Annotated[Path | None, typer.Option(
        help="One recipient to refuse per line; read again at every RCPT.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Certificate (PEM) to offer STARTTLS with.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
    auth: Annotated[str | None, typer.Option(
        metavar="USER:PASSWORD", help="Require this login (AUTH PLAIN/LOGIN, offered only after STARTTLS).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="Print nothing per message (the maildir still keeps them).")] = False,
) -> None:
    """Run a local SMTP server that prints and keeps the mail the services send, instead of delivering it."""
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    if auth is not None and tls_cert is None:
        raise typer.BadParameter("--auth needs --tls-cert and --tls-key: the password goes only over TLS")
    tls = tls_context(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    password_check = PasswordCheck(auth) if auth is not None else None
    handler = SinkHandler(Refusals(refuse or [], refusals_file),
                          Maildir(maildir) if maildir is not None else None, quiet)
    try:
        asyncio.run(serve(host, port, handler, tls=tls, auth=password_check, announce=not quiet))
    except OSError as error:
        typer.echo(f"Error: cannot listen on {host}:{port}: {error}", err=True)
        raise typer.Exit(1) from None


TOP_LEVEL_COMMANDS = {"mail-sink": mail_sink}

if __name__ == "__main__":
    typer.run(mail_sink)
