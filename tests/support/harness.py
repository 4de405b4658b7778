"""One service running in-process for the integration tests: its runtime on the in-memory broker
(FastStream ``TestKafkaBroker``), an HTTP client per role, events delivered to its consumer as the
broker would, and every event its outbox relay published, in order.

    async with serving(create_app, EnrollmentSettings(database_url=database_url, state_dir=tmp_path)) as service:
        async with service.client("liaison", institution="in-a") as http:
            await http.post(...)
        await service.send(SessionScheduled(...))
        (scheduled,) = await service.published("session.scheduled.v1")

``create`` is a service's ``create_app`` (the HTTP API is then reachable) or ``create_runtime`` (no
HTTP). The harness collects what the relay writes on the service's own topics and what its consumers
dead-letter; a fixture wrapping it keeps whatever names its tests already use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts.envelope import Envelope, open_envelope, seal, to_record
from contracts.topics import dead_letter_topic
from probidad.shared.auth import issue_token
from probidad.shared.service import ServiceRuntime
from probidad.shared.settings import ServiceSettings


def written_topics(runtime: ServiceRuntime) -> list[str]:
    """The topics the service's events are written to (a per-institution topic template excluded)."""
    from contracts.events import ALL_EVENTS

    topics = (cls.kafka_topic for cls in ALL_EVENTS if cls.source == f"probidad/{runtime.name}")
    return [runtime.settings.topic(t) for t in dict.fromkeys(topics) if "{" not in t]


class ServiceHarness:
    """A service's runtime (and app, if built with ``create_app``) on the in-memory broker.

    * ``messages``: the records the relay published on ``topics`` (raw ``KafkaMessage``), in order;
      ``envelopes``: the same, opened. Both are live lists a test may clear.
    * ``dead_letters``: the records the service's consumers dead-lettered.
    * ``broker``: the in-memory broker once started (publish to it to reach a consumer by hand).
    """

    def __init__(self, service: FastAPI | ServiceRuntime, *, topics: Iterable[str] | None = None,
                 dead_letters: bool = True, base_url: str | None = None, tokens: Any = None) -> None:
        if isinstance(service, FastAPI):
            self.app: FastAPI | None = service
            self.runtime: ServiceRuntime = service.state.runtime
        else:
            self.app, self.runtime = None, service
        self.settings: ServiceSettings = self.runtime.settings
        self.base_url = base_url or f"http://{self.runtime.name}"
        self.topics = list(written_topics(self.runtime) if topics is None else topics)
        self.collect_dead_letters = dead_letters
        self.messages: list[KafkaMessage] = []
        self.envelopes: list[Envelope] = []
        self.dead_letters: list[KafkaMessage] = []
        self.broker: Any = None
        self._clients: list[httpx.AsyncClient] = []
        self._stack: AsyncExitStack | None = None
        # tests.support.identity's minters: the app is made to trust their tokens, which token() then mints.
        self.tokens = tokens
        if tokens is not None and self.app is not None:
            tokens.trust(self.app)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> ServiceHarness:
        runtime = self.runtime
        runtime.in_memory_broker = True
        for topic in self.topics:
            self._subscribe(topic, self._published)
        if self.collect_dead_letters:
            letters = dict.fromkeys(dead_letter_topic(t, c.group) for c, topics in runtime.consumers for t in topics)
            for topic in letters:
                self._subscribe(topic, self.dead_letters.append)
        stack = AsyncExitStack()
        try:
            self.broker = await stack.enter_async_context(TestKafkaBroker(runtime.broker))
            await runtime.start()
            stack.push_async_callback(runtime.stop)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def stop(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> ServiceHarness:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _subscribe(self, topic: str, keep: Callable[[KafkaMessage], None]) -> None:
        @self.runtime.broker.subscriber(topic)
        async def collect(message: KafkaMessage) -> None:
            keep(message)

    def _published(self, message: KafkaMessage) -> None:
        self.messages.append(message)
        self.envelopes.append(open_envelope(message.headers, message.body))

    # ------------------------------------------------------------------ HTTP

    def token(self, role: str = "comptroller", *, institution: str | None = None, instructor: str | None = None,
              subject: str | None = None) -> str:
        if self.tokens is not None:
            return self.tokens.token(role, institution=institution, instructor=instructor, subject=subject)
        return issue_token(self.settings.jwt_secret.get_secret_value(), role,  # type: ignore[arg-type]
                           subject=subject, institution_id=institution, instructor_id=instructor)

    def client(self, role: str | None = "comptroller", *, institution: str | None = None,
               instructor: str | None = None, subject: str | None = None, token: str | None = None,
               headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
        """An HTTP client of the app, bearing a token of ``role`` (``role=None``: no token, unless
        ``token`` is given). Closed when the harness stops, if the test did not close it first."""
        if self.app is None:
            raise RuntimeError(f"{self.runtime.name} was started without its app (pass create_app)")
        if token is None and role is not None:
            token = self.token(role, institution=institution, instructor=instructor, subject=subject)
        sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.base_url,
                                   headers=sent)
        self._clients.append(client)
        return client

    # ------------------------------------------------------------------ events

    async def send(self, *events: Any, correlation_id: str | None = None, time: datetime | None = None,
                   topic: str | None = None, headers: Mapping[str, str] | None = None) -> list[Envelope]:
        """Seal each event and deliver it to the service's consumer as the broker would (on its own
        topic, or ``topic``); returns the envelopes sent."""
        envelopes = [seal(event, correlation_id=correlation_id, time=time) for event in events]
        await self.deliver(*envelopes, topic=topic, headers=headers)
        return envelopes

    async def deliver(self, *envelopes: Envelope, topic: str | None = None,
                      headers: Mapping[str, str] | None = None) -> None:
        """Deliver envelopes already sealed (a redelivery, an envelope with a chosen id or time)."""
        for envelope in envelopes:
            key, value, record_headers = to_record(envelope)
            await self.broker.publish(value, topic or self.settings.topic(envelope.event.kafka_topic), key=key,
                                      headers={**record_headers, **(headers or {})})

    async def drain(self) -> None:
        """Publish until the outbox is empty."""
        await self.runtime.relay.drain()

    async def published(self, type_suffix: str | None = None) -> list[Envelope]:
        """What the relay published (after draining the outbox), in order; only the event types ending
        in ``type_suffix`` if given."""
        await self.drain()
        return [e for e in self.envelopes if type_suffix is None or e.type.endswith(type_suffix)]


@asynccontextmanager
async def serving(create: Callable[[Any], FastAPI | ServiceRuntime], settings: ServiceSettings,
                  **options: Any) -> AsyncIterator[ServiceHarness]:
    """The service ``create(settings)`` builds, started on the in-memory broker, stopped on leaving;
    ``options`` go to ``ServiceHarness``."""
    async with ServiceHarness(create(settings), **options) as harness:
        yield harness
