"""While a broker is away, the process's Kafka clients try it on a bounded, jittered, growing schedule,
one attempt at a time, and all go again as soon as one attempt gets through."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka.errors import KafkaConnectionError

from probidad.shared import kafka_reconnect
from probidad.shared.kafka_reconnect import Backoff, _Gate


def test_the_delays_double_from_100_ms_up_to_the_cap_and_no_further() -> None:
    backoff = Backoff(first_s=0.1, cap_s=5.0, uniform=lambda _low, high: high)
    assert [round(backoff.next_delay(), 3) for _ in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    for _ in range(10_000):  # and no overflow however long the outage
        assert backoff.next_delay() == 5.0


def test_each_delay_is_drawn_between_half_and_all_of_its_step() -> None:
    backoff = Backoff(first_s=0.1, cap_s=5.0, uniform=random.Random(7).uniform)
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(2.5 <= d <= 5.0 for d in delays[10:]), "bounded by the cap, never much shorter"
    assert len({round(d, 6) for d in delays[10:]}) > 150, "jittered: processes do not knock together"
    assert delays[0] <= 0.1 < delays[6], "grows"


def test_a_success_starts_the_schedule_again_from_the_first_delay() -> None:
    backoff = Backoff(first_s=0.1, cap_s=5.0, uniform=lambda _low, high: high)
    for _ in range(20):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


class Broker:
    """A fake connection factory: refuses while ``up`` is false, counting every attempt."""

    def __init__(self) -> None:
        self.up = False
        self.attempts: list[float] = []

    async def connect(self, gate: _Gate) -> bool:
        """One client's attempt through the gate: True if it connected."""
        turn = await gate.turn()
        self.attempts.append(gate.loop.time())
        await asyncio.sleep(0)
        if self.up:
            gate.connected(turn)
            return True
        gate.failed(turn)
        return False


async def client_loop(broker: Broker, gate: _Gate, connected_at: list[float]) -> None:
    """Like an aiokafka loop: on a failed connection sleep the fixed 100 ms and ask again."""
    while not await broker.connect(gate):
        await asyncio.sleep(0.1)
    connected_at.append(gate.loop.time())


async def test_twenty_clients_of_a_process_make_one_attempt_per_step_not_ten_each_a_second() -> None:
    loop = asyncio.get_running_loop()
    gate = _Gate(loop, Backoff(first_s=0.01, cap_s=0.2))
    broker, connected_at = Broker(), []
    began = loop.time()
    clients = [asyncio.create_task(client_loop(broker, gate, connected_at)) for _ in range(20)]
    await asyncio.sleep(2.0)
    tried = len(broker.attempts)
    # Without the gate: 20 clients x 10 a second x 2 s = 400. With it: the 20 of the first moment
    # (one failure), then one per step of 0.1-0.2 s once the cap is reached.
    late = [t for t in broker.attempts if t - began > 1.0]
    assert len(late) <= 1.0 / 0.1 + 1, f"{len(late)} attempts in the last second"
    assert tried < 60, tried

    broker.up = True
    returned = loop.time()
    await asyncio.wait_for(asyncio.gather(*clients), timeout=1.0)
    assert len(connected_at) == 20
    assert max(connected_at) - returned <= 0.2 + 0.05, "everyone within one step of the broker's return"


async def test_after_one_attempt_gets_through_every_waiting_client_goes_at_once() -> None:
    loop = asyncio.get_running_loop()
    gate = _Gate(loop, Backoff(first_s=5.0, cap_s=5.0))
    broker = Broker()
    assert not await broker.connect(gate)  # the broker went: the next probe is 2.5-5 s away
    waiting = [asyncio.create_task(gate.turn()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiting)

    # A connection that was already on its way (another client's turn of before the failure) succeeds.
    gate.connected(kafka_reconnect.Turn(gate.round, probe=False))
    turns = await asyncio.wait_for(asyncio.gather(*waiting), timeout=0.1)  # nobody waits out the old schedule
    assert not any(turn.probe for turn in turns)


async def test_a_probe_cancelled_mid_attempt_lets_the_next_client_try_without_counting_a_failure() -> None:
    loop = asyncio.get_running_loop()
    gate = _Gate(loop, Backoff(first_s=0.01, cap_s=0.01))
    gate.failed(await gate.turn())
    await asyncio.sleep(0.02)
    probe = await gate.turn()
    assert probe.probe
    other = asyncio.create_task(gate.turn())
    await asyncio.sleep(0.01)
    assert not other.done(), "one attempt at a time while the broker fails"
    failures = gate.backoff.failures
    gate.abandoned(probe)
    assert (await asyncio.wait_for(other, 0.1)).probe
    assert gate.backoff.failures == failures


async def test_the_attempts_of_one_moment_failing_together_count_as_one_failure() -> None:
    gate = _Gate(asyncio.get_running_loop(), Backoff(first_s=0.1, cap_s=5.0))
    turns = [await gate.turn() for _ in range(10)]  # ten clients connecting when the broker goes
    for turn in turns:
        gate.failed(turn)
    assert gate.backoff.failures == 1, "the next try is 100 ms away, not the cap"


async def test_with_a_cap_of_zero_the_gate_is_off_and_attempts_are_still_counted(monkeypatch) -> None:
    calls = []

    async def refuse(host, port, **options):
        calls.append((host, port))
        raise OSError("connection refused")

    monkeypatch.setattr(kafka_reconnect, "_original", refuse)
    try:
        kafka_reconnect.configure(cap_s=0)
        for _ in range(5):
            with pytest.raises(OSError):
                await kafka_reconnect._create_conn("127.0.0.1", 1)
        assert len(calls) == 5

        kafka_reconnect.configure(cap_s=5.0)
        began = asyncio.get_running_loop().time()
        for _ in range(3):
            with pytest.raises(OSError):
                await kafka_reconnect._create_conn("127.0.0.1", 1, on_close=print)  # not a bootstrap: waits
        # The second attempt waited 50-100 ms, the third 100-200 ms.
        assert asyncio.get_running_loop().time() - began >= 0.15
        assert len(calls) == 8
    finally:
        kafka_reconnect.configure(cap_s=kafka_reconnect.DEFAULT_CAP_S)


def test_every_aiokafka_client_opens_its_connections_through_the_gate() -> None:
    import aiokafka.client

    import probidad.shared.kafka  # noqa: F401 — installs it

    assert aiokafka.client.create_conn is kafka_reconnect._create_conn


async def test_a_bootstrap_skips_an_address_that_is_backing_off_instead_of_waiting_on_it(monkeypatch) -> None:
    calls = []

    async def refuse(host, port, **options):
        calls.append(port)
        raise OSError("connection refused")

    monkeypatch.setattr(kafka_reconnect, "_original", refuse)
    kafka_reconnect.configure(cap_s=5.0)
    try:
        with pytest.raises(OSError):  # the broker of port 1 is found down
            await kafka_reconnect._create_conn("127.0.0.1", 1, on_close=print)
        began = asyncio.get_running_loop().time()
        with pytest.raises(KafkaConnectionError, match="backing off"):  # a bootstrap moves on at once
            await kafka_reconnect._create_conn("127.0.0.1", 1)
        assert asyncio.get_running_loop().time() - began < 0.01
        assert calls == [1], "skipped, not tried"
    finally:
        kafka_reconnect.configure(cap_s=kafka_reconnect.DEFAULT_CAP_S)


async def test_aiokafka_opens_bootstrap_connections_without_a_close_callback_and_others_with_one(monkeypatch) -> None:
    """What ``_create_conn`` tells a bootstrap by (checked against the aiokafka installed)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import BrokerMetadata

    seen = []

    async def refuse(host, port, **options):
        seen.append(options.get("on_close"))
        raise OSError("connection refused")

    monkeypatch.setattr(kafka_reconnect, "_original", refuse)
    kafka_reconnect.configure(cap_s=0)  # no waiting: only what aiokafka passes matters here
    try:
        client = AIOKafkaClient(bootstrap_servers=["127.0.0.1:1"])
        with pytest.raises(KafkaConnectionError):
            await client.bootstrap()
        monkeypatch.setattr(client.cluster, "broker_metadata", lambda _node: BrokerMetadata(0, "127.0.0.1", 1, None))
        assert await client._get_conn(0) is None
        assert seen[0] is None and seen[1] is not None, seen
        await client.close()
    finally:
        kafka_reconnect.configure(cap_s=kafka_reconnect.DEFAULT_CAP_S)
