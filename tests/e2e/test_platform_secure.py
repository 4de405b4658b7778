"""``probidad up --secure``, run as a user runs it: it starts its own secure broker (SASL/SCRAM over TLS for
the services, mutual TLS for agencies, ACLs), the four services each connect as their own principal and
answer /health, and Ctrl-C stops everything it started — nothing is left listening."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from probidad.ops.localhost import port_answers
from tests.support.processes import free_port_offset
from tests.e2e.test_platform_stop import Up, nothing_left, started  # noqa: F401 — `started` is a fixture
from tests.e2e.test_secure_kafka import _free_block

pytestmark = pytest.mark.kafka


def test_probidad_up_secure_serves_every_service_on_its_own_secure_broker_and_ctrl_c_stops_it_all(
        tmp_path: Path, started) -> None:  # noqa: F811
    kafka_port = _free_block(3)  # the services' listener, the controller's, the agencies'
    up = started(Up(tmp_path, "--secure", "--kafka-port", str(kafka_port),
                    offset=free_port_offset(f"secure-{tmp_path.name}")))
    up.wait_until_up()
    shown = up.shown()
    assert f"Kafka answers at 127.0.0.1:{kafka_port}" in shown, shown[-3000:]
    for name, port in up.urls.items():
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200, (name, health.text)
        assert health.json()["checks"]["kafka"] == "ok", (name, health.json())
    # The broker it started is the secure one: its secrets were made in the state dir.
    assert (up.state_dir / "kafka" / "secrets" / "ca.crt").is_file()
    assert all(port_answers(port) for port in (kafka_port, kafka_port + 2))
    pids = up.service_pids()

    up.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert up.exits() == 0, up.shown()[-3000:]
    assert up.shown().rstrip().endswith("stopped."), up.shown()[-2000:]
    nothing_left(up, pids, other_ports=(kafka_port, kafka_port + 1, kafka_port + 2))
