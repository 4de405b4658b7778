"""Handing one e-mail to an SMTP server, and saying exactly how far it got.

The outcome is what lets a caller deliver a message once: ``send`` awaits ``before_data`` (where the caller
commits its "sending" mark) only after the server accepted the recipient, and just before the content goes
out. So a failure before that point is safe to retry (``transient``) or final (``refused``: a hard bounce),
and only a connection lost while the content was in flight is ``unknown`` — the server may have taken it,
and resending blindly could deliver it twice.

SMTP and network faults never raise: they become the outcome. Only programming errors (and whatever
``before_data`` itself raises, after the connection is closed) propagate.
"""

from __future__ import annotations

import asyncio
import email.policy
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal

import aiosmtplib

Outcome = Literal["accepted", "transient", "refused", "unknown"]


@dataclass(frozen=True)
class SmtpServer:
    """Where mail is handed over, and how. ``cert_bundle``: a CA file to trust besides the system's (a
    private relay's own certificate authority; tests use a self-signed certificate)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0
    cert_bundle: str | None = None

    @classmethod
    def of(cls, settings: Any) -> SmtpServer:
        """The server a service's settings name (``smtp_host``, ``smtp_port``, ``smtp_user``,
        ``smtp_password`` as a SecretStr or None, ``smtp_starttls``, ``smtp_timeout_s``)."""
        secret = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user or None,
            password=secret.get_secret_value() if secret is not None else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )

    def __repr__(self) -> str:
        # The password stays out of logs and tracebacks.
        return (f"SmtpServer(host={self.host!r}, port={self.port}, user={self.user!r}, "
                f"starttls={self.starttls}, timeout_s={self.timeout_s})")


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient. ``message_id`` is written without angle brackets."""

    message_id: str
    sender: str
    to: str
    subject: str
    text: str
    html: str
    language: str = "es"
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.message_id or any(c in self.message_id for c in "<> \r\n"):
            raise ValueError(f"a Message-ID is written without angle brackets or spaces: {self.message_id!r}")


def build_message(outgoing: Outgoing, *, date: datetime | None = None) -> EmailMessage:
    """The message as it goes out: multipart/alternative (plain text, then HTML), UTF-8, marked as sent by
    a machine (RFC 3834's Auto-Submitted, so vacation responders stay quiet), with the extra headers."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = outgoing.sender
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = f"<{outgoing.message_id}>"
    message["Auto-Submitted"] = "auto-generated"
    for name, value in outgoing.headers:
        message[name] = value
    # quoted-printable keeps the message 7-bit, so no server needs 8BITMIME to carry accented text.
    message.set_content(outgoing.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(outgoing.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the parts: set_content and add_alternative move or drop the Content-* headers set before them.
    message["Content-Language"] = outgoing.language
    return message


@dataclass(frozen=True)
class SendOutcome:
    outcome: Outcome
    code: int | None  # the SMTP reply code when there was one
    detail: str  # the server's text or the error, for the log and the message's row


def _address(header_value: str) -> str:
    """The bare address of ``Name <address>``, for the envelope."""
    return parseaddr(header_value)[1] or header_value


def _response_fault(error: aiosmtplib.SMTPResponseException, step: str, *, final_on_5xx: bool) -> SendOutcome:
    code = error.code
    text = f"{step}: {code} {error.message}".strip()
    if final_on_5xx and 500 <= code < 600:
        return SendOutcome("refused", code, text)
    return SendOutcome("transient", code, text)


def _tls_context(server: SmtpServer) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if server.cert_bundle:
        context.load_verify_locations(cafile=server.cert_bundle)
    return context


async def _open(client: aiosmtplib.SMTP, server: SmtpServer, steps: list[str]) -> SendOutcome | None:
    """Connect, greet, upgrade and log in: None when ready for MAIL FROM, else why not (never ``refused``:
    nothing here is the recipient's fault, and an operator can mend the server or the settings). Each step
    is appended to ``steps`` as it begins, so a fault names the step it happened in."""
    steps.append("connect")
    await client.connect()
    steps.append("EHLO")
    await client.ehlo()
    if server.starttls:
        if not client.supports_extension("starttls"):
            return SendOutcome("transient", None, (
                f"{server.host}:{server.port} does not offer STARTTLS; not sending in clear text "
                "(smtp_starttls is on)"))
        steps.append("STARTTLS")
        await client.starttls(tls_context=_tls_context(server), server_hostname=server.host)
        steps.append("EHLO")
        await client.ehlo()
    if server.user:
        if not client.supports_extension("auth"):
            return SendOutcome("transient", None, (
                f"{server.host}:{server.port} offers no AUTH on this connection; not logged in as {server.user}"))
        steps.append("AUTH")
        await client.login(server.user, server.password or "")
    return None


async def send(server: SmtpServer, outgoing: Outgoing, *,
               before_data: Callable[[], Awaitable[None]] | None = None) -> SendOutcome:
    """Hand ``outgoing`` to ``server``; see the module's docstring for what each outcome promises."""
    international = not (_address(outgoing.sender).isascii() and _address(outgoing.to).isascii())
    # An address with an accent (josé@…) travels as UTF-8 (RFC 6531), which the server must offer: see _deliver.
    content = build_message(outgoing).as_bytes(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
    client = aiosmtplib.SMTP(hostname=server.host, port=server.port, timeout=server.timeout_s, start_tls=False)
    try:
        return await _deliver(client, server, outgoing, content, before_data)
    except asyncio.CancelledError:
        client.close()  # the service is stopping: no polite QUIT to wait for
        raise
    finally:
        await _close(client)


async def _deliver(client: aiosmtplib.SMTP, server: SmtpServer, outgoing: Outgoing, content: bytes,
                   before_data: Callable[[], Awaitable[None]] | None) -> SendOutcome:
    steps: list[str] = []
    try:
        not_ready = await _open(client, server, steps)
        if not_ready is not None:
            return not_ready
        sender, recipient = _address(outgoing.sender), _address(outgoing.to)
        international = not (sender.isascii() and recipient.isascii())
        if international and not client.supports_extension("smtputf8"):
            return SendOutcome("refused", None, (
                f"{recipient} is an internationalised address and {server.host}:{server.port} does not offer "
                "SMTPUTF8, so it cannot take it"))
        encoding = "utf-8" if international else "ascii"
        steps.append("MAIL FROM")
        await client.mail(sender, options=["SMTPUTF8"] if international else None, encoding=encoding)
        steps.append("RCPT TO")
        await client.rcpt(recipient, encoding=encoding)
    except aiosmtplib.SMTPResponseException as error:
        return _response_fault(error, steps[-1], final_on_5xx=steps[-1] in ("MAIL FROM", "RCPT TO"))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        return SendOutcome("transient", None, f"{steps[-1]}: {type(error).__name__}: {error}")

    if before_data is not None:
        await before_data()
    if not client.is_connected:
        # Dropped while the caller marked the message: nothing of it reached the server.
        return SendOutcome("transient", None, "the server closed the connection before DATA")

    # aiosmtplib sends DATA and the content in one call, so a connection lost anywhere in it counts as in
    # flight: reporting a message the server never saw as unknown errs towards not sending it twice.
    try:
        response = await client.data(content)
    except aiosmtplib.SMTPResponseException as error:
        return _response_fault(error, "DATA", final_on_5xx=True)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        return SendOutcome("unknown", None, (
            f"DATA: {type(error).__name__}: {error} (the server may or may not have taken the message)"))
    return SendOutcome("accepted", response.code, response.message)


async def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass  # the outcome is decided; a QUIT the server does not answer changes nothing
    client.close()
