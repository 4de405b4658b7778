"""``probidad mail-sink`` as an operator runs it: it prints each message as it arrives, keeps it in the
maildir, refuses the mailboxes named on the command line, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

from probidad.ops.localhost import free_port, port_answers
from probidad.shared.mail import Outgoing, SmtpServer, send
from tests.support.processes import ROOT


def letter(to: str, subject: str, text: str) -> Outgoing:
    return Outgoing(message_id=f"{to.split('@')[0]}.1@probidad.example", sender="Probidad <no-reply@probidad.example>",
                    to=to, subject=subject, text=text, html=f"<p>{text}</p>")


async def test_the_sink_prints_keeps_and_refuses_then_stops_cleanly(tmp_path):
    port = free_port()
    maildir = tmp_path / "mail"
    sink = subprocess.Popen(
        [sys.executable, "-c", "from probidad.ops.cli import app; app()", "mail-sink", "--port", str(port),
         "--maildir", str(maildir), "--refuse", "nadie@sfp.example"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8")
    try:
        assert sink.stdout is not None
        assert f"listening on 127.0.0.1:{port}" in sink.stdout.readline()
        assert port_answers(port)
        server = SmtpServer("127.0.0.1", port, timeout_s=10)

        kept = await send(server, letter("luisa@sfp.example", "Recordatorio: curso de ética pública",
                                         "Le quedan 5 días para terminar el curso."))
        refused = await send(server, letter("nadie@sfp.example", "Aviso", "No llega."))
    finally:
        sink.send_signal(signal.SIGTERM)
        output, _ = sink.communicate(timeout=20)

    assert kept.outcome == "accepted"
    assert (refused.outcome, refused.code) == ("refused", 550)
    assert sink.returncode == 0, output
    assert "To:         luisa@sfp.example\n" in output
    assert "Subject:    Recordatorio: curso de ética pública" in output
    assert "Message-ID: <luisa.1@probidad.example>" in output
    assert "Le quedan 5 días para terminar el curso." in output
    assert "nadie@sfp.example" not in output
    assert [path.name for path in maildir.iterdir()] == ["1.eml"]
