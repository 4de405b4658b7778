"""Handing e-mail to a real SMTP server (the mail sink in its own process): what arrives, and what each
outcome promises about the ``before_data`` mark that makes "delivered once" possible."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from probidad.shared.mail import Outgoing, SmtpServer, send
from tests.support.smtp import SmtpSink, self_signed_certificate, smtp_sink  # noqa: F401

UNSUBSCRIBE = "<https://probidad.example/baja/7f3a>"


def outgoing(to: str = "Ana Núñez <ana.nunez@sfp.example>", message_id: str = "digest-41.a7@probidad.example",
             ) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        sender="Probidad <no-reply@probidad.example>",
        to=to,
        subject="Resumen semanal: 3 servidores públicos pendientes de capacitación",
        text="Estimada Ana:\nSu institución tiene 3 servidores con capacitación pendiente.\n.\nAtentamente, Probidad",
        html="<p>Estimada Ana:</p><p>Su institución tiene <b>3</b> servidores con capacitación pendiente.</p>",
        language="es-MX",
        headers=(("List-Unsubscribe", UNSUBSCRIBE), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")),
    )


class Marks:
    """A ``before_data`` that records, at each call, how many messages the sink already held."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self.seen: list[int] = []

    async def __call__(self) -> None:
        self.seen.append(len(self.sink.messages()))


def server_of(sink: SmtpSink, **options: object) -> SmtpServer:
    return SmtpServer(host=sink.host, port=sink.port, timeout_s=10, **options)  # type: ignore[arg-type]


async def test_a_message_reaches_the_server_whole(smtp_sink):
    result = await send(server_of(smtp_sink), outgoing())

    assert (result.outcome, result.code) == ("accepted", 250)
    [message] = await smtp_sink.wait_for(1)
    assert message["Message-ID"] == "<digest-41.a7@probidad.example>"
    assert message["From"] == "Probidad <no-reply@probidad.example>"
    assert message["To"] == "Ana Núñez <ana.nunez@sfp.example>"
    assert message["Subject"] == "Resumen semanal: 3 servidores públicos pendientes de capacitación"
    assert message["Date"] is not None
    assert message["Content-Language"] == "es-MX"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] == UNSUBSCRIBE
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    plain, html = message.iter_parts()
    assert plain.get_content() == ("Estimada Ana:\nSu institución tiene 3 servidores con capacitación pendiente.\n"
                                   ".\nAtentamente, Probidad\n")
    assert "<b>3</b> servidores con capacitación pendiente" in html.get_content()
    assert {part.get_content_charset() for part in (plain, html)} == {"utf-8"}


async def test_a_successful_send_marks_the_message_once_before_it_exists_on_the_server(smtp_sink):
    marks = Marks(smtp_sink)

    result = await send(server_of(smtp_sink), outgoing(), before_data=marks)

    assert result.outcome == "accepted"
    assert marks.seen == [0]
    assert len(await smtp_sink.wait_for(1)) == 1


async def test_a_server_that_is_away_is_a_transient_failure_and_nothing_is_marked(smtp_sink):
    smtp_sink.stop()
    marks = Marks(smtp_sink)

    result = await send(server_of(smtp_sink), outgoing(), before_data=marks)

    assert result.outcome == "transient"
    assert result.code is None
    assert "connect" in result.detail
    assert marks.seen == []


async def test_a_server_back_after_an_outage_takes_the_retry_and_keeps_its_numbering(smtp_sink):
    await send(server_of(smtp_sink), outgoing(message_id="first@probidad.example"))
    smtp_sink.stop()
    assert (await send(server_of(smtp_sink), outgoing(message_id="retry@probidad.example"))).outcome == "transient"

    smtp_sink.start()
    result = await send(server_of(smtp_sink), outgoing(message_id="retry@probidad.example"))

    assert result.outcome == "accepted"
    messages = await smtp_sink.wait_for(2)
    assert [m["Message-ID"] for m in messages] == ["<first@probidad.example>", "<retry@probidad.example>"]


async def test_a_refused_mailbox_is_a_hard_bounce_with_the_servers_code_and_nothing_is_marked(smtp_sink):
    smtp_sink.refuse("ana.nunez@sfp.example")
    marks = Marks(smtp_sink)

    result = await send(server_of(smtp_sink), outgoing(), before_data=marks)

    assert (result.outcome, result.code) == ("refused", 550)
    assert "5.1.1 mailbox unavailable" in result.detail
    assert marks.seen == []
    # Others still get through: the refusal is the one mailbox's.
    other = await send(server_of(smtp_sink), outgoing(to="pedro@sfp.example"))
    assert other.outcome == "accepted"
    [message] = await smtp_sink.wait_for(1)
    assert message["To"] == "pedro@sfp.example"


async def test_a_server_that_offers_no_starttls_is_not_sent_to_in_clear_text(smtp_sink):
    marks = Marks(smtp_sink)

    result = await send(server_of(smtp_sink, starttls=True), outgoing(), before_data=marks)

    assert result.outcome == "transient"
    assert "does not offer STARTTLS" in result.detail
    assert marks.seen == []
    assert smtp_sink.messages() == []


@pytest.fixture
def tls_sink(tmp_path: Path):
    cert, key = self_signed_certificate(tmp_path)
    sink = SmtpSink(tmp_path, extra_args=["--tls-cert", str(cert), "--tls-key", str(key),
                                          "--auth", "probidad:s3cret-relay"]).start()
    try:
        yield sink, str(cert)
    finally:
        sink.stop()


async def test_over_starttls_with_the_right_login_the_message_is_delivered(tls_sink):
    sink, ca = tls_sink
    marks = Marks(sink)

    result = await send(server_of(sink, starttls=True, user="probidad", password="s3cret-relay", cert_bundle=ca),
                        outgoing(), before_data=marks)

    assert result.outcome == "accepted", result.detail
    assert marks.seen == [0]
    [message] = await sink.wait_for(1)
    assert message["Message-ID"] == "<digest-41.a7@probidad.example>"


async def test_over_starttls_a_wrong_password_is_transient_and_nothing_is_sent(tls_sink):
    sink, ca = tls_sink
    marks = Marks(sink)

    result = await send(server_of(sink, starttls=True, user="probidad", password="wrong", cert_bundle=ca),
                        outgoing(), before_data=marks)

    # The settings are wrong, not the recipient's address: an operator can mend them and the message still go.
    assert result.outcome == "transient"
    assert result.code == 535
    assert marks.seen == []
    assert sink.messages() == []


async def test_a_certificate_the_client_does_not_trust_is_transient_and_nothing_is_sent(tls_sink):
    sink, _ = tls_sink

    result = await send(server_of(sink, starttls=True, user="probidad", password="s3cret-relay"), outgoing())

    assert result.outcome == "transient"
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail or "certificate" in result.detail.lower()
    assert sink.messages() == []


async def test_an_address_with_an_accent_is_delivered_as_utf8_to_a_server_that_offers_smtputf8(smtp_sink):
    result = await send(server_of(smtp_sink), outgoing(to="José Núñez <josé.núñez@sfp.example>"))

    assert result.outcome == "accepted"
    [message] = await smtp_sink.wait_for(1)
    assert message["To"] == "José Núñez <josé.núñez@sfp.example>"


async def test_an_address_with_an_accent_is_refused_not_raised_by_a_server_without_smtputf8():
    calls = Calls()
    async with scripted_server(end_of_content="250 OK") as server:  # it offers 8BITMIME only
        result = await send(server, outgoing(to="josé@sfp.example"), before_data=calls)

    assert result.outcome == "refused"
    assert "SMTPUTF8" in result.detail and "josé@sfp.example" in result.detail
    assert calls.count == 0


@asynccontextmanager
async def scripted_server(end_of_content: str | None):
    """A bare SMTP server on loopback that accepts everything up to the content, then answers
    ``end_of_content`` to it — or, when that is None, drops the connection once the content starts."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-scripted\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.readline()  # the first line of the content
                if end_of_content is None:
                    break
                while await reader.readline() not in (b".\r\n", b""):
                    pass
                writer.write(end_of_content.encode() + b"\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield SmtpServer(host="127.0.0.1", port=server.sockets[0].getsockname()[1], timeout_s=10)
    finally:
        server.close()
        await server.wait_closed()


class Calls:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


async def test_a_connection_lost_while_the_content_is_in_flight_is_unknown_after_the_mark():
    calls = Calls()
    async with scripted_server(end_of_content=None) as server:
        result = await send(server, outgoing(), before_data=calls)

    assert result.outcome == "unknown"
    assert "may or may not" in result.detail
    assert calls.count == 1


@pytest.mark.parametrize(("answer", "outcome", "code"), [
    ("451 4.3.0 try again later", "transient", 451),
    ("554 5.6.0 message content rejected", "refused", 554),
])
async def test_the_servers_answer_to_the_content_decides_the_outcome(answer, outcome, code):
    calls = Calls()
    async with scripted_server(end_of_content=answer) as server:
        result = await send(server, outgoing(), before_data=calls)

    assert (result.outcome, result.code) == (outcome, code)
    assert answer.split(" ", 1)[1] in result.detail
    assert calls.count == 1


def test_the_server_is_the_one_the_services_settings_name_and_its_password_stays_out_of_logs(monkeypatch):
    from services.enrollment.settings import EnrollmentSettings

    for name, value in {"HOST": "relay.sfp.example", "PORT": "587", "USER": "probidad", "PASSWORD": "s3cret-relay",
                        "STARTTLS": "true", "TIMEOUT_S": "12"}.items():
        monkeypatch.setenv(f"PROBIDAD_SMTP_{name}", value)

    server = SmtpServer.of(EnrollmentSettings())

    assert server == SmtpServer(host="relay.sfp.example", port=587, user="probidad", password="s3cret-relay",
                                starttls=True, timeout_s=12.0)
    assert "s3cret-relay" not in repr(server)
