"""Every connection a Kafka client of this process opens waits its turn while a broker is away: one
attempt per broker address at a time, on a bounded exponential schedule with jitter, and everyone at
once as soon as one attempt gets through.

aiokafka retries a lost broker every ``retry_backoff_ms`` (100 ms), in many loops of its own (the
metadata refresh, each group coordinator, each fetcher, the admin client, the producers) and with the
backoff captured when each loop begins, so it cannot be stretched from outside: with every broker
down a service made dozens of connection attempts a second. All of those loops open their connections
through one function, ``aiokafka.client.create_conn``; ``install()`` puts ``_create_conn`` in its place,
which asks the address's ``_Gate`` for a turn first. Nothing else in aiokafka changes: a loop whose
connection fails still sleeps its own 100 ms and asks again, and then waits here for the next turn.
A bootstrap (a client starting, the relay's fresh producer) does not wait: it skips an address that
is backing off for the next one of its list, and fails at once if all are (its caller retries on a
backoff of its own).

The schedule (``Backoff``): 100 ms, doubling, up to ``configure(cap_s=…)`` (5 s by default,
``PROBIDAD_KAFKA_RECONNECT_MAX_MS``), each delay drawn between half and all of it, so the processes of a
platform do not all knock together. There is one gate per broker address (and event loop: a service
has one), shared by all the process's clients: while a broker is down the whole service tries it
about once every 2.5–5 s, whatever its number of clients. Attempts are counted in
``probidad_kafka_connection_attempts_total{outcome}``.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field

from aiokafka import client as _client
from aiokafka.errors import KafkaConnectionError

from probidad.shared.metrics import KAFKA_CONNECTION_ATTEMPTS

FIRST_DELAY_S = 0.1  # aiokafka's own retry_backoff_ms, for the first retry of a short blip
DEFAULT_CAP_S = 5.0
_MAX_DOUBLINGS = 30  # past this the cap has long been reached (and 2 ** n stays a small float)


@dataclass
class Backoff:
    """Delays between failed attempts: ``first_s`` doubling up to ``cap_s``, each drawn uniformly
    between half and all of its value ("equal jitter": spread, yet never much shorter than planned);
    ``reset()`` after a success starts again from ``first_s``."""

    first_s: float = FIRST_DELAY_S
    cap_s: float = DEFAULT_CAP_S
    uniform: Callable[[float, float], float] = random.uniform
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.first_s * 2.0 ** min(self.failures, _MAX_DOUBLINGS))
        self.failures += 1
        return self.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class Turn:
    """A caller's permission to try: the outcome ``round`` it started in, and whether it is the one
    attempt of the moment while the address is failing (the probe)."""

    round: int
    probe: bool


@dataclass
class _Gate:
    """One broker address, in one event loop."""

    loop: asyncio.AbstractEventLoop
    backoff: Backoff
    failing: bool = False  # the last attempt judged failed, and none has connected since
    probing: bool = False  # a probe is under way
    not_before: float = 0.0  # loop time of the next probe, while failing
    round: int = 0  # bumped by every outcome that changes the schedule
    _settled: asyncio.Future | None = field(default=None, repr=False)

    def turn_now(self) -> Turn | None:
        """A turn if this caller may try at once (the address answers, or its next probe is due and
        nobody is probing); None if it would have to wait."""
        if not self.failing:
            return Turn(self.round, probe=False)
        if not self.probing and self.loop.time() >= self.not_before:
            self.probing = True
            return Turn(self.round, probe=True)
        return None

    async def turn(self) -> Turn:
        """Wait until this caller may try: at once while the address answers; while it fails, when the
        schedule says so, one caller at a time; everyone at once again as soon as one got through."""
        while (turn := self.turn_now()) is None:
            if self._settled is None:
                self._settled = self.loop.create_future()
            # Until the probe under way has an outcome, or the next one is due.
            wait = None if self.probing else self.not_before - self.loop.time()
            try:
                await asyncio.wait_for(asyncio.shield(self._settled), wait)
            except TimeoutError:
                pass
        return turn

    def connected(self, turn: Turn) -> None:
        if turn.probe:
            self.probing = False
        self.failing = False
        self.backoff.reset()
        self.round += 1
        self._settle()

    def failed(self, turn: Turn) -> None:
        if turn.probe:
            self.probing = False
        # Only an attempt made since the last outcome moves the schedule: when a broker goes, every
        # client's attempt of that moment fails together, and that is one failure, not twenty.
        if turn.round == self.round:
            self.failing = True
            self.not_before = self.loop.time() + self.backoff.next_delay()
            self.round += 1
        self._settle()

    def abandoned(self, turn: Turn) -> None:
        """A caller cancelled mid-attempt (its own timeout, a shutdown): no outcome, the next may try."""
        if turn.probe:
            self.probing = False
            self._settle()

    def _settle(self) -> None:
        if self._settled is not None:
            if not self._settled.done():
                self._settled.set_result(None)
            self._settled = None


# Per event loop (a test or a tool may run several, in threads), then per broker address.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], _Gate]] = weakref.WeakKeyDictionary()
_cap_s = DEFAULT_CAP_S
_original = _client.create_conn


def configure(*, cap_s: float) -> None:
    """The longest wait between two attempts (seconds); 0 turns the gate off (aiokafka's own fixed
    retry, attempts still counted). Applies to addresses met from now on."""
    global _cap_s
    _cap_s = cap_s
    _gates.clear()


def gate(host: str, port: int) -> _Gate:
    loop = asyncio.get_running_loop()
    gates = _gates.setdefault(loop, {})
    found = gates.get((host, port))
    if found is None:
        found = gates[(host, port)] = _Gate(loop, Backoff(cap_s=_cap_s))
    return found


async def _create_conn(host: str, port: int, **options: Any) -> Any:  # aiokafka's signature; its connection
    if _cap_s <= 0:
        return await _counted(host, port, **options)
    address = gate(host, port)
    if options.get("on_close") is None:
        # A bootstrap connection (the only kind aiokafka opens without a close callback) walks the
        # list of bootstrap servers: one backing off is skipped for the next at once, as if refused,
        # so a client starting while one broker of the list is down never waits on it.
        turn = address.turn_now()
        if turn is None:
            raise KafkaConnectionError(f"{host}:{port} not tried: backing off after failed connections")
    else:
        turn = await address.turn()
    try:
        connection = await _counted(host, port, **options)
    except asyncio.CancelledError:
        address.abandoned(turn)
        raise
    except BaseException:
        address.failed(turn)
        raise
    address.connected(turn)
    return connection


async def _counted(host: str, port: int, **options: Any) -> Any:
    try:
        connection = await _original(host, port, **options)
    except asyncio.CancelledError:
        raise
    except BaseException:
        KAFKA_CONNECTION_ATTEMPTS.labels("failed").inc()
        raise
    KAFKA_CONNECTION_ATTEMPTS.labels("connected").inc()
    return connection


def install() -> None:
    """Route every aiokafka connection of this process through the gate (idempotent)."""
    _client.create_conn = _create_conn
