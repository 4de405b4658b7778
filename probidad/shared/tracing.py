"""Distributed tracing (OpenTelemetry): one fact, one trace across the four services.

**Off unless configured.** A service process traces when its environment names where spans go; otherwise no
SDK provider is installed, no span is made, no header is written, and the hooks below cost one test of a
module variable. The rule, from the standard OpenTelemetry variables, at start (``configure_tracing``):

* ``OTEL_SDK_DISABLED=true``, or ``OTEL_TRACES_EXPORTER=none``: off;
* ``OTEL_TRACES_EXPORTER=otlp`` or ``console``: on (``console`` writes spans to standard error);
* ``OTEL_TRACES_EXPORTER`` unset: on, exporting OTLP, if ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise off (unlike the SDK's own default, which exports to
  localhost whether or not anything listens there).

OTLP goes over HTTP/protobuf (``OTEL_EXPORTER_OTLP_PROTOCOL`` unset or ``http/protobuf``; gRPC is refused
with an error line and tracing stays off). Jaeger's OTLP/HTTP port is 4318. To turn tracing on for a
service process, set in its environment::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318      # spans go to <endpoint>/v1/traces

and optionally ``OTEL_SERVICE_NAME`` (default: the service's name — enrollment, attendance, certification,
reporting), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (default
``parentbased_always_on``), ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT``, and the batch
processor's ``OTEL_BSP_SCHEDULE_DELAY`` (ms, default 5000: how long a finished span may wait before export)
and ``OTEL_BSP_MAX_QUEUE_SIZE``. A stopping service flushes its spans before it exits.

**Spans** (what one trace holds, service by service):

* ``POST /route`` (server) with ``fastapi.dependencies``, ``fastapi.endpoint`` (the handler) and
  ``fastapi.serialization`` inside — FastAPI's own telemetry, given this module's provider (``http_telemetry``);
  an incoming ``traceparent`` header continues the caller's trace; ``/health`` and ``/metrics`` make none;
* ``unit_of_work`` — one transaction of an HTTP request or a consumer batch, commit included;
* ``publish <topic>`` (producer) — the outbox relay sending one event, a child of the context the event was
  written in, even minutes later and from another process (the context travels in the outbox row);
* ``process <topic>`` (consumer) — one consumed record, a child of the context its headers carry (a new trace
  without one), and inside it ``handle <ce_type>``: the events that handler records carry its context on.

No statement-level SQL spans: the contrib SQLAlchemy instrumentation does not declare the SQLAlchemy release in
use (2.1), and it would make every idle outbox poll (20 a second per service) a trace of its own; the
``unit_of_work`` span is where database time shows.

**Headers** (the CloudEvents distributed-tracing extension, W3C Trace Context): an event is written with the
``traceparent`` (and ``tracestate``, if any) of the span current when it was recorded, stored with the event
in the outbox row, and sent as Kafka headers ``traceparent``/``tracestate``. Consumers read those, or
``ce_traceparent``/``ce_tracestate`` (the CloudEvents Kafka binding's spelling) from other producers.

Log lines written inside a span carry its ``trace_id`` and ``span_id`` (``probidad.shared.logs``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, ContextManager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from probidad.shared import logs
from probidad.shared.logs import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = get_logger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# The CloudEvents Kafka binding prefixes extension attributes with ce_; accepted on input.
CE_TRACEPARENT = "ce_traceparent"
CE_TRACESTATE = "ce_tracestate"

# What the operations endpoints answer is not a business flow: a trace per scrape would drown the rest.
UNTRACED_PATHS = frozenset({"/health", "/metrics"})

_W3C = TraceContextTextMapPropagator()
_NOTHING = nullcontext()  # what every hook enters when tracing is off (reusable, so nothing is allocated)
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_configured_by_env = False


def active() -> bool:
    """Whether this process traces (the hooks' one test when it does not)."""
    return _tracer is not None


def provider() -> TracerProvider | None:
    return _provider


def install(tracer_provider: TracerProvider) -> None:
    """Trace with ``tracer_provider`` from now on (``configure_tracing`` does it from the environment; tests
    and the benchmark hand one with their own exporter). Apps made afterwards use it for HTTP spans."""
    global _provider, _tracer
    _provider = tracer_provider
    _tracer = tracer_provider.get_tracer("probidad")
    logs.include_trace_ids(True)


def uninstall() -> None:
    """Stop tracing (the provider is left to its owner)."""
    global _provider, _tracer, _configured_by_env
    _provider = _tracer = None
    _configured_by_env = False
    logs.include_trace_ids(False)


def wanted_exporter(environ: MutableMapping[str, str] | None = None) -> str | None:
    """The exporter the environment asks for (``otlp``, ``console``, …), or None: tracing off (the rule above)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = env.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower()
    if named:
        return None if named == "none" else named
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


def configure_tracing(service_name: str) -> TracerProvider | None:
    """Install the SDK provider the environment asks for (see the module's docstring), once per process;
    returns it, or None when tracing is off."""
    global _configured_by_env
    if _provider is not None:
        return _provider
    exporter_name = wanted_exporter()
    if exporter_name is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "otlp":
        protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                    or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()
        if protocol != "http/protobuf":
            log.error("tracing off: only OTLP over HTTP/protobuf is installed (Jaeger's port 4318)",
                      protocol=protocol)
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter()
    elif exporter_name == "console":
        exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        log.error("tracing off: unknown OTEL_TRACES_EXPORTER (otlp, console or none)", exporter=exporter_name)
        return None
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service_name}))
    resource = resource.merge(Resource({"service.namespace": "probidad"}))
    made = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER (parent-based, always on)
    made.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(made)  # for any library that looks for the global one
    install(made)
    _configured_by_env = True
    log.info("tracing on", exporter=exporter_name, service=resource.attributes.get("service.name"),
             endpoint=getattr(exporter, "_endpoint", None))
    return made


def flush(timeout_ms: int = 5000) -> None:
    """Export every finished span now (a stopping service: a trace backend queried right after finds them)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def shutdown_tracing() -> None:
    """Flush and close the provider ``configure_tracing`` installed (at the end of a service process)."""
    if _provider is not None and _configured_by_env:
        _provider.shutdown()
        uninstall()


def http_telemetry() -> dict[str, Any]:
    """FastAPI's ``telemetry`` settings: server and endpoint spans from this module's provider, none when off
    (FastAPI's own metrics and log records stay off: Prometheus and the JSON logs say those)."""
    return {"tracing": _provider is not None, "tracer_provider": _provider, "metrics": False, "logs": False,
            "auto_configure": False, "exclude": _untraced}


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


# --- the context an event carries -------------------------------------------------------------------------

def inject(headers: dict[str, str]) -> None:
    """Add the current span's ``traceparent``/``tracestate`` to an event's headers (nothing outside a span)."""
    if _tracer is not None:
        _W3C.inject(headers)


def extract(headers: Mapping[str, str]) -> otel_context.Context | None:
    """The context a record's headers carry (``traceparent`` or ``ce_traceparent``), or None."""
    parent = headers.get(TRACEPARENT) or headers.get(CE_TRACEPARENT)
    if not parent:
        return None
    carrier = {TRACEPARENT: parent}
    if state := headers.get(TRACESTATE) or headers.get(CE_TRACESTATE):
        carrier[TRACESTATE] = state
    found = _W3C.extract(carrier)
    return found if trace.get_current_span(found).get_span_context().is_valid else None


# --- spans ------------------------------------------------------------------------------------------------

def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: dict[str, Any] | None = None,
         context: otel_context.Context | None = None) -> ContextManager[Any]:
    """A current span around a block (a no-op when tracing is off)."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes)


def start(name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: dict[str, Any] | None = None,
          context: otel_context.Context | None = None) -> Span | None:
    """A span not made current, ended by its owner (``end``); None when tracing is off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, context=context, kind=kind, attributes=attributes)


def end(span_: Span | None, error: BaseException | str | None = None) -> None:
    if span_ is None:
        return
    if error is not None:
        if isinstance(error, BaseException):
            span_.record_exception(error)
        span_.set_status(Status(StatusCode.ERROR, str(error)[:500]))
    span_.end()


def current(span_: Span | None) -> ContextManager[Any]:
    """Make ``span_`` current for a block without ending it (nothing when it is None)."""
    if span_ is None:
        return _NOTHING
    # What fails inside is noted by the spans it fails in (a unit of work retried after a passing fault), and
    # the owner says what became of the record: a retry that succeeds must not leave this span marked failed.
    return trace.use_span(span_, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def publishing(topic: str, headers: dict[str, str]) -> Span | None:
    """The relay's span for sending one event, child of the context stored with it; the event leaves with this
    span's context in its headers (so the consumer's span is its child). None — and the headers untouched —
    when tracing is off or the event was written outside any trace."""
    if _tracer is None:
        return None
    parent = extract(headers)
    if parent is None:
        return None
    # Few attributes: the SDK checks each one, and a span is made per event (the name says the operation).
    sent = _tracer.start_span(f"publish {topic}", context=parent, kind=SpanKind.PRODUCER, attributes={
        "messaging.system": "kafka", "messaging.destination.name": topic,
        "cloudevents.event_id": headers.get("ce_id", ""), "cloudevents.event_type": headers.get("ce_type", "")})
    headers.pop(TRACESTATE, None)
    _W3C.inject(headers, context=trace.set_span_in_context(sent))
    return sent


def processing(topic: str, partition: int, offset: int, group: str, event_id: str, event_type: str,
               headers: Mapping[str, str]) -> Span | None:
    """The consumer's span for one record: a child of the context its headers carry, else a new trace."""
    if _tracer is None:
        return None
    return _tracer.start_span(f"process {topic}", context=extract(headers) or otel_context.Context(),
                              kind=SpanKind.CONSUMER, attributes={
        "messaging.system": "kafka", "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset,
        "messaging.consumer.group.name": group, "cloudevents.event_id": event_id, "cloudevents.event_type": event_type})


def handling(record_span: Span | None, event_type: str) -> ContextManager[Any]:
    """The handler's span, inside its record's: what the handler records carries this span's context."""
    if _tracer is None or record_span is None:
        return _NOTHING
    return _tracer.start_as_current_span(f"handle {event_type}", context=trace.set_span_in_context(record_span))


def end_all(spans: Sequence[Span | None], error: BaseException | str | None = None) -> None:
    for one in spans:
        end(one, error)



def outcome(span_: Span | None, decided: str, error: BaseException | str | None = None) -> None:
    """Note on a record's span what became of it (applied, duplicate, dead_lettered)."""
    if span_ is None:
        return
    span_.set_attribute("probidad.outcome", decided)
    if error is not None:
        if isinstance(error, BaseException):
            span_.record_exception(error)
        span_.set_status(Status(StatusCode.ERROR, str(error)[:500]))
