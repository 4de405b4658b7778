"""What every service process is made of, wired once.

``ServiceRuntime`` holds a service's database, outbox + relay, FastStream broker and consumers;
``create_http_app`` puts a FastAPI app in front of it with ``/health``, ``/metrics``,
``/asyncapi.json`` and the service's own routers, and runs the broker in the FastAPI lifespan.
A service module builds one runtime and one app; nothing else starts processes or tasks.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Table, text
from sqlalchemy import exc as sa_exc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.topics import PLATFORM_TOPICS, dead_letter_config, dead_letter_topic, topic_config
from probidad.shared.auth import TokenVerifier
from probidad.shared import kafka_reconnect
from probidad.shared.consumer import Handler, IdempotentConsumer, Prepare, is_transient
from probidad.shared.database import Database
from probidad.shared.kafka import (
    LagMonitor, dead_letter_sender, ensure_dead_letter_topics, ensure_topics, make_broker, relay_producer, subscribe,
)
from probidad.shared.kafka_security import KafkaSecurity
from probidad.shared.logs import configure_logging, get_logger
from probidad.shared.migrations import bring_to_head, migrations_directory
from probidad.shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, KAFKA_UNREACHABLE, REGISTRY
from probidad.shared.outbox import Outbox, OutboxRelay, Publish, broker_publisher, producer_publisher
from probidad.shared.errors import RuleViolation
from probidad.shared.problems import Problem, document_problems, input_problems
from probidad.shared import tracing
from probidad.shared.settings import ServiceSettings
from probidad.shared.unit_of_work import UnitOfWork, unit_of_work

log = get_logger(__name__)
T = TypeVar("T")

COLLECTOR_THRESHOLDS = (20_000, 50, 100)  # see ``serve``
RETRY_AFTER_S = 5  # what a 503 asks a client to wait while the database is away


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    tables: list[Table]
    description: str = ""
    database: Database = field(init=False)
    outbox: Outbox = field(init=False)
    broker: KafkaBroker = field(init=False)
    relay: OutboxRelay = field(init=False)
    consumers: list[tuple[IdempotentConsumer, list[str]]] = field(default_factory=list, init=False)
    in_memory_broker: bool = False
    _tasks: list[asyncio.Task] = field(default_factory=list, init=False)
    _relay_producer: AIOKafkaProducer | None = field(default=None, init=False)
    kafka_security: KafkaSecurity = field(init=False)
    _provided: dict[type, object] = field(default_factory=dict, init=False)
    _on_stop: list[Callable[[], object]] = field(default_factory=list, init=False)
    _beside: list[Callable[[], Awaitable[None]]] = field(default_factory=list, init=False)
    _beside_tasks: list[asyncio.Task] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        configure_logging(s.service_name, s.log_level)
        tracing.configure_tracing(s.service_name)  # off unless OTEL_* variables say where spans go
        self.database = Database(s.resolved_database_url)
        self.outbox = Outbox(s.topic_prefix)
        self.kafka_security = KafkaSecurity.from_settings(s)
        kafka_reconnect.configure(cap_s=s.kafka_reconnect_max_ms / 1000)
        self.broker = make_broker(s.kafka_bootstrap, s.service_name, self.kafka_security)
        self.relay = OutboxRelay(self.database, self.outbox, broker_publisher(self.broker), service=s.service_name,
                                 batch_size=s.relay_batch_size, interval_s=s.relay_interval_ms / 1000)
        self._document_publications()

    def _document_publications(self) -> None:
        """Declare, for the AsyncAPI document, the events this service writes (the relay sends them)."""
        from typing import Union

        from contracts.events import ALL_EVENTS

        written = [cls for cls in ALL_EVENTS if cls.source == f"probidad/{self.name}"]
        for n, topic in enumerate(dict.fromkeys(cls.kafka_topic for cls in written)):
            events = tuple(cls for cls in written if cls.kafka_topic == topic)
            self.broker.publisher(
                self.settings.topic(topic),
                # A title names one channel: its own topic's, past the first (enrollment's outcome topics).
                title=f"{self.name}:publish" if n == 0 else f"{self.name}:publish:{topic}",
                description="CloudEvents binary mode (ce_* headers; with tracing on also traceparent and "
                "tracestate, the distributed-tracing extension, W3C Trace Context); ce_type is one of: "
                + ", ".join(cls.type for cls in events),
                schema=Union[events],  # noqa: UP007 — a runtime union of the event models
            )

    def on_stop(self, close: Callable[[], object]) -> None:
        """Call ``close`` when the service stops (after the consumers): a component's files, connections."""
        self._on_stop.append(close)

    def run_beside(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` as a task while the service runs (a scheduler, a delivery loop): started after the
        consumers and the relay, cancelled first when the service stops."""
        self._beside.append(work)

    def provide(self, component: object) -> None:
        """Register an object the service built at wiring (its signer, its reader), reached over HTTP
        with ``probidad.shared.dependencies.Provided(type)`` and by anyone else with ``provided``."""
        self._provided[type(component)] = component

    def provided(self, kind: type[T]) -> T:
        found = self._provided.get(kind)
        if found is None:
            found = next((c for c in self._provided.values() if isinstance(c, kind)), None)
        if found is None:
            raise LookupError(f"{self.name} registered no {kind.__name__} (runtime.provide)")
        return found  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.settings.service_name

    def consume(self, topics: Iterable[str], handlers: dict[str, Handler], *, group: str | None = None,
                description: str = "", prepare: Prepare | None = None,
                pattern: str | None = None, rewrite_record: Callable | None = None,
                member: str | None = None) -> IdempotentConsumer:
        """Subscribe ``handlers`` (by event type) to the platform topics named, in this service's group
        (``prepare``: see ``probidad.shared.consumer.Prepare``). ``pattern``: consume every topic the regex
        matches instead (``topics`` are then those the lag monitor and dead-letter set-up know of)."""
        names = [self.settings.topic(t) for t in topics]
        consumer = IdempotentConsumer(
            service=self.name, group=group or f"probidad-{self.name}", database=self.database,
            handlers=handlers, send_dead_letter=dead_letter_sender(self.broker), prepare=prepare, outbox=self.outbox,
            rewrite_record=rewrite_record,
        )
        handled = ", ".join(sorted(handlers))
        said = (description or f"Consumer group {consumer.group}; handles ce_type: {handled}").rstrip(".")
        subscribe(self.broker, consumer, names, pattern=pattern,
                  description=f"{said}. A record's traceparent/tracestate (or ce_traceparent/ce_tracestate) header "
                  "continues its trace when tracing is on",
                  instance_id=self.settings.kafka_instance_id,
                  session_timeout_ms=self.settings.kafka_session_timeout_ms, member=member)
        self.consumers.append((consumer, names))
        return consumer

    def unit_of_work(self, *, correlation_id: str | None = None,
                     traced: bool = True) -> AbstractAsyncContextManager[UnitOfWork]:
        """``async with runtime.unit_of_work() as uow:`` — one transaction that also publishes what
        ``uow.record`` was given (see ``probidad.shared.unit_of_work``); ``traced=False`` for a loop's idle poll."""
        return unit_of_work(self.database, self.outbox, correlation_id=correlation_id, traced=traced)

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(self.broker, title=f"Probidad {self.name}", version="1.0.0",
                        description=self.description or f"Event interface of the {self.name} service",
                        schema_version="3.0.0")

    async def start(self) -> None:
        s = self.settings
        await self._prepare_schema()
        if not self.in_memory_broker:
            for spec in PLATFORM_TOPICS:  # each with its own retention: agency requests (personal data) 7 days
                await ensure_topics(s.kafka_bootstrap, [s.topic(spec.name)], partitions=spec.partitions,
                                    replication=s.kafka_replication_factor, config=spec.config,
                                    security=self.kafka_security)
            if not self.kafka_security.secure:
                # A development broker creates no topic on first write: one of a family (an agency's outcome
                # topic) is made by the relay before its first event. In secure mode the operator makes them
                # with the agency's credentials, and a service may not create them.
                self.relay.ready_topics.update(s.topic(spec.name) for spec in PLATFORM_TOPICS)
                self.relay.make_topics = self._make_topics
            # A dead-letter topic keeps records as long as its source topic (personal data included).
            for topic in dict.fromkeys(t for _c, topics in self.consumers for t in topics):
                dlqs = [dead_letter_topic(topic, c.group) for c, topics in self.consumers if topic in topics]
                await ensure_dead_letter_topics(s.kafka_bootstrap, dlqs, replication=s.kafka_replication_factor,
                                                config=dead_letter_config(topic, s.topic_prefix),
                                                security=self.kafka_security)
            await self.broker.start()
            self._relay_producer = relay_producer(s.kafka_bootstrap, self.name, self.kafka_security)
            await self._relay_producer.start()
            self.relay.publish = producer_publisher(self._relay_producer)
            self.relay.reconnect = self._fresh_relay_producer
            lag = LagMonitor(s.kafka_bootstrap, self.consumers, security=self.kafka_security)
            self._tasks.append(asyncio.create_task(lag.run()))
            self._tasks.append(asyncio.create_task(self._watch_kafka()))
        self._tasks.append(asyncio.create_task(self.relay.run()))
        self._beside_tasks = [asyncio.create_task(work()) for work in self._beside]
        log.info("service started", database=self.database.engine.url.render_as_string(hide_password=True),
                 kafka=s.kafka_bootstrap)

    async def _prepare_schema(self) -> None:
        """Bring the database to the service's schema by its migrations (services/<name>/migrations); a
        service without them (a test service) gets its tables created."""
        if migrations_directory(self.name) is None:
            await self.database.create_schema(self.tables)
            return
        await bring_to_head(self.database, self.name, operator_runs=self.settings.schema_migrations == "operator")

    async def _make_topics(self, names: list[str]) -> None:
        s = self.settings
        for name in names:
            await ensure_topics(s.kafka_bootstrap, [name], replication=s.kafka_replication_factor,
                                config=topic_config(name, s.topic_prefix), security=self.kafka_security)

    async def _watch_kafka(self, interval_s: float = 5.0, remind_every_s: float = 300.0) -> None:
        """Say once that Kafka is unreachable, then every 5 minutes how long for, and once that it is
        back; count the seconds without it (probidad_kafka_unreachable_seconds)."""
        loop = asyncio.get_running_loop()
        gauge = KAFKA_UNREACHABLE.labels(self.name)
        gauge.set(0)
        away_since: float | None = None
        reminded = 0.0
        while True:
            try:
                up = await self.broker.ping(timeout=2)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — a failed ping is an unreachable broker
                up = False
            now = loop.time()
            if up and away_since is not None:
                log.info("Kafka reachable again", kafka=self.settings.kafka_bootstrap, away_s=round(now - away_since))
                away_since = None
                gauge.set(0)
            elif not up:
                if away_since is None:
                    away_since = reminded = now
                    log.warning("Kafka unreachable; retrying", kafka=self.settings.kafka_bootstrap)
                elif now - reminded >= remind_every_s:
                    reminded = now
                    log.warning(f"Kafka unreachable for {round((now - away_since) / 60)} min, retrying",
                                kafka=self.settings.kafka_bootstrap, away_s=round(now - away_since))
                gauge.set(now - away_since)
            await asyncio.sleep(interval_s)

    async def _fresh_relay_producer(self) -> Publish:
        """Replace the relay's producer by a new one (after a failed round; see ``OutboxRelay``)."""
        old, self._relay_producer = self._relay_producer, None
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), timeout=5)
            except Exception as error:  # noqa: BLE001 — a producer that cannot even stop is dropped
                log.debug("old relay producer not stopped cleanly", error=repr(error))
        producer = relay_producer(self.settings.kafka_bootstrap, self.name, self.kafka_security)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._relay_producer = producer
        return producer_publisher(producer)

    async def stop(self) -> None:
        for task in self._beside_tasks:
            task.cancel()
        await asyncio.gather(*self._beside_tasks, return_exceptions=True)
        self._beside_tasks.clear()
        self.relay.stop()
        try:
            await asyncio.wait_for(self.relay.drain(timeout_s=5), timeout=6)
        except Exception as error:  # the relay resumes the backlog at next start
            log.warning("outbox not drained at shutdown", error=repr(error))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._relay_producer is not None:
            await self._relay_producer.stop()
            self._relay_producer = None
        if not self.in_memory_broker:
            await self.broker.stop()
        for close in reversed(self._on_stop):
            close()
        await self.database.dispose()
        # A trace backend queried right after a stop finds every span (the exporter sends over HTTP: a thread).
        await asyncio.to_thread(tracing.flush)

    async def health(self) -> dict:
        checks: dict[str, str] = {}
        try:
            async with self.database.transaction() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"down: {error.__class__.__name__}"
        if not self.in_memory_broker:
            checks["kafka"] = "ok" if await self.broker.ping(timeout=2) else "down"
        try:
            age = await self.relay.oldest_age_s()
            checks["outbox"] = ("ok" if age <= self.settings.outbox_max_age_s
                                else f"behind: oldest event waits {age:.0f} s")
        except Exception as error:
            checks["outbox"] = f"unknown: {error.__class__.__name__}"
        return {"service": self.name, "status": "ok" if all(v == "ok" for v in checks.values()) else "degraded",
                "checks": checks}


class HttpMetrics:
    """Requests and latency per route, as plain ASGI middleware (cheaper than a BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, f"{status['code'] // 100}xx").inc()
            HTTP_LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)


def create_http_app(runtime: ServiceRuntime, routers: Iterable[APIRouter], *, title: str,
                    description: str = "") -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  telemetry=tracing.http_telemetry())  # a span per request when tracing is on
    app.state.runtime = runtime
    app.state.jwt_secret = runtime.settings.jwt_secret.get_secret_value()
    app.state.token_verifier = TokenVerifier.from_settings(runtime.settings)

    app.add_middleware(HttpMetrics, service=runtime.name)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = input_problems(list(error.errors()), error.body)
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(status_code=422, content={"detail": f"invalid input — {summary}", "errors": problems})

    @app.exception_handler(RuleViolation)
    async def rule_violated(_request: Request, violation: RuleViolation) -> JSONResponse:
        """A domain's broken rule: the 4xx its kind names, the field at fault first in the detail."""
        return JSONResponse(Problem(detail=str(violation)).model_dump(exclude_none=True),
                            status_code=violation.status)

    async def database_away(_request: Request, error: Exception) -> JSONResponse:
        # A fault that will pass (the database restarting, a connection refused) is not the caller's
        # nor a bug: 503 with a time to retry after, instead of a 500. Anything else stays a 500.
        if is_transient(error):
            log.warning("request failed on a passing fault", error=repr(error))
            return JSONResponse(status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
                                content={"detail": "database: unavailable for a moment; retry shortly"})
        log.error("request failed", error=repr(error), exc_info=error)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    for kind in (sa_exc.DBAPIError, OSError, TimeoutError):
        app.add_exception_handler(kind, database_away)

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        report = await runtime.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["operations"])
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(runtime.asyncapi().to_specification().to_jsonable())

    @app.get("/asyncapi", tags=["operations"], include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        spec = runtime.asyncapi().to_specification().to_json()
        return HTMLResponse(f"<html><head><title>{title} — AsyncAPI</title></head><body>"
                            f"<h1>{title} — AsyncAPI 3</h1><pre>{_escape(spec)}</pre></body></html>")

    for router in routers:
        app.include_router(router)
    document_problems(app)
    return app


def _escape(text_: str) -> str:
    return text_.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def serve(create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    """Run one service process (``python -m services.<name>``): logging first, then the app."""
    import uvicorn

    # A line per applied event is on every consumer's hot path: here loggers are built once, not per
    # call. Configured before the app is built, so the runtime keeps this configuration.
    configure_logging(settings.service_name, settings.log_level, cache=True)
    tracing.configure_tracing(settings.service_name)  # before the app, whose HTTP spans use its provider
    app = create_app(settings)
    # A consumer allocates many short-lived objects per event; with the collector's default thresholds
    # (700, 10, 10) collections took about a seventh of certification's CPU. Collect less often, and
    # keep what start-up built (modules, settings, the app) out of every collection.
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)

    if settings.parent_pid:
        threading.Thread(target=_stop_without_parent, args=(settings.parent_pid,), name="parent-watch",
                         daemon=True).start()
    try:
        uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False)
    finally:
        tracing.shutdown_tracing()


PARENT_CHECK_S = 1.0
SHUTDOWN_GRACE_S = 25.0


def _stop_without_parent(parent_pid: int) -> None:
    """Stop this service once the process that launched it is gone.

    A launcher killed with SIGKILL (or one whose terminal closed) cannot stop its services, and they
    run in process groups of their own, so no signal reaches them: left alone they would keep their
    ports and consumer-group seats for good. When the parent dies the kernel re-parents us, so
    ``getppid`` changes; then we stop as on SIGTERM (draining the outbox), and exit outright if that
    clean stop hangs."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    log.warning("launcher gone; stopping", parent_pid=parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_GRACE_S)
    log.error("clean stop did not finish; exiting", grace_s=SHUTDOWN_GRACE_S)
    os._exit(1)
