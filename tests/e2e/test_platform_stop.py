"""``probidad up`` stops cleanly whatever ends it: Ctrl-C (in test_platform.py, after the demo), SIGTERM,
SIGHUP (the terminal closed), its output closing (``probidad up | tee up.log`` and tee went away), and
SIGKILL of ``probidad up`` itself — then its services notice their parent is gone and stop by
themselves, and the next ``probidad up`` of the state dir cleans up after it and reuses its broker.
Every case ends with nothing listening and no service process left."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from probidad.ops.localhost import alive, port_answers, port_free
from probidad.ops.platform import RUN_RECORD, SERVICES
from tests.e2e.test_platform import _probidad_command
from tests.support.processes import free_port_offset

UP_TIMEOUT_S = 120


class Up:
    """One ``probidad up`` run as a user would, what it prints in a file (or a pipe)."""

    def __init__(self, tmp_path: Path, *options: str, offset: int, pipe: bool = False, name: str = "up") -> None:
        self.state_dir = tmp_path / "state"
        self.output = tmp_path / f"{name}.out"
        self.urls = {service: port + offset for service, port in SERVICES}
        command = [*_probidad_command(), "up", "--port-offset", str(offset), "--state-dir", str(self.state_dir),
                   *options]
        env = {**os.environ, "COLUMNS": "200"}
        if pipe:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        else:
            with open(self.output, "wb") as sink:
                self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)

    def shown(self) -> str:
        return self.output.read_text() if self.output.exists() else ""

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + UP_TIMEOUT_S
        while "Probidad is up" not in self.shown() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "Probidad is up" in self.shown(), self.shown()[-3000:]
        assert all(port_answers(port) for port in self.urls.values())

    def read_pipe_until_up(self) -> None:
        seen = b""
        deadline = time.monotonic() + UP_TIMEOUT_S
        while b"Probidad is up" not in seen and time.monotonic() < deadline:
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
        self.output.write_bytes(seen)
        assert b"Probidad is up" in seen, seen.decode(errors="replace")[-3000:]

    def service_pids(self) -> list[int]:
        return [pid for _name, pid in json.loads((self.state_dir / RUN_RECORD).read_text())["services"]]

    def exits(self, timeout_s: float = 60) -> int:
        return self.process.wait(timeout=timeout_s)

    def end(self) -> None:
        """After a failed test: stop it the way that works best, so nothing outlives the test."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def started():
    """Every ``Up`` a test makes (``started(Up(...))``), ended when the test ends, passed or not."""
    made: list[Up] = []
    yield lambda up: made.append(up) or up
    for up in made:
        up.end()


def nothing_left(up: Up, pids: list[int], other_ports: tuple[int, ...] = ()) -> None:
    listening = [port for port in (*up.urls.values(), *other_ports) if port_answers(port)]
    assert not listening, f"still listening on {listening}"
    assert not [pid for pid in pids if alive(pid)], "service processes left running"
    assert not (up.state_dir / RUN_RECORD).exists(), "the run record is removed on a clean stop"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_probidad_up_stops_every_service_on_sigterm_and_on_sighup(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, sig: signal.Signals, started) -> None:
    up = started(Up(tmp_path, "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix,
            offset=free_port_offset(topic_prefix)))
    up.wait_until_up()
    pids = up.service_pids()
    up.process.send_signal(sig)
    assert up.exits() == 0, up.shown()[-3000:]
    assert up.shown().rstrip().endswith("stopped."), up.shown()[-2000:]
    assert f"stopping ({sig.name})" in up.shown()
    nothing_left(up, pids)


def test_probidad_up_whose_output_is_closed_stops_by_itself(kafka_bootstrap: str, topic_prefix: str,
                                                            tmp_path: Path, started) -> None:
    up = started(Up(tmp_path, "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix,
            offset=free_port_offset(topic_prefix), pipe=True))
    up.read_pipe_until_up()
    pids = up.service_pids()
    up.process.stdout.close()  # the reader went away: nobody will see another line
    assert up.exits() == 0
    nothing_left(up, pids)


def test_ctrl_c_of_probidad_up_piped_into_tee_stops_everything_though_the_pipe_is_closed(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, started) -> None:
    up = started(Up(tmp_path, "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix,
            offset=free_port_offset(topic_prefix), pipe=True))
    up.read_pipe_until_up()
    pids = up.service_pids()
    # Ctrl-C reaches tee and probidad up alike: tee ends first, so "stopping…" goes to a closed pipe.
    up.process.stdout.close()
    up.process.send_signal(signal.SIGINT)
    assert up.exits() == 0
    nothing_left(up, pids)


def _free_kafka_port(seed: str) -> int:
    chosen = random.Random(seed)
    for _attempt in range(100):
        port = chosen.randrange(20000, 30000, 2)
        if port_free(port) and port_free(port + 1):
            return port
    raise AssertionError("no free pair of ports for a broker")


def test_after_sigkill_of_probidad_up_its_services_stop_by_themselves_and_the_next_up_reuses_then_stops_its_broker(
        topic_prefix: str, tmp_path: Path, started) -> None:
    kafka_port = _free_kafka_port(topic_prefix)
    offset = free_port_offset(topic_prefix)
    first = started(Up(tmp_path, "--kafka-port", str(kafka_port), offset=offset, name="first"))
    try:
        first.wait_until_up()
        pids = first.service_pids()
        first.process.kill()  # kill -9: no chance to stop anything
        first.exits()

        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in pids if alive(pid)], "services outlived their launcher"
        assert not [port for port in first.urls.values() if port_answers(port)]
        assert port_answers(kafka_port), "the broker of the killed run is still up (for the next run to reuse)"
        assert (first.state_dir / RUN_RECORD).exists(), "a killed run leaves its record behind"

        second = started(Up(tmp_path, "--kafka-port", str(kafka_port), offset=offset, name="second"))
        second.wait_until_up()
        shown = second.shown()
        assert "ended without stopping" in shown, shown[-3000:]
        assert "still runs in this state dir: reusing it" in shown, shown[-3000:]
        second_pids = second.service_pids()
        second.process.send_signal(signal.SIGINT)
        assert second.exits() == 0, second.shown()[-3000:]
        nothing_left(second, second_pids, other_ports=(kafka_port, kafka_port + 1))
    finally:  # whatever happened, no broker of this test outlives it
        subprocess.run([*_probidad_command(), "kafka", "stop", "--state-dir", str(first.state_dir)],
                       capture_output=True, timeout=60)
