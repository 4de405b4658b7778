"""Tracing is off unless the environment says where spans go; when it is on, log lines name their span.
Each case runs in a process of its own: OpenTelemetry's global provider can be set once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from probidad.shared.tracing import wanted_exporter

ROOT = Path(__file__).parents[2]

# A service's start-up as ``serve`` does it, then one event written inside a span of the SDK (had one been
# installed by anybody), and what the process ended up with.
START = """
import orjson, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from probidad.shared import tracing
from probidad.shared.logs import configure_logging
from probidad.shared.outbox import Outbox
from contracts.events import InstitutionRegistered
configure_logging('enrollment')
made = tracing.configure_tracing('enrollment')
event = InstitutionRegistered(institution_id='in-a', name='Salud', government_level='state', headcount=1,
                              headcount_year=2026)
with TracerProvider().get_tracer('elsewhere').start_as_current_span('a span of somebody else'):
    row, _envelope = Outbox().row(event)
print(orjson.dumps({'global': type(trace.get_tracer_provider()).__name__, 'active': tracing.active(),
                    'service': made.resource.attributes['service.name'] if made else None,
                    'headers': orjson.loads(row['headers'])}).decode())
tracing.shutdown_tracing()
"""


def start(env: dict[str, str], script: str = START) -> list[dict]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=ROOT, timeout=60, check=True,
                          env={**clean, **env})
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def test_a_service_started_without_otel_variables_installs_no_provider_and_writes_no_traceparent() -> None:
    *_logs, outcome = start({})
    assert outcome["global"] == "ProxyTracerProvider" and outcome["active"] is False
    assert "traceparent" not in outcome["headers"]


def test_an_otlp_endpoint_turns_tracing_on_under_the_services_name_and_events_carry_the_current_span() -> None:
    *_logs, outcome = start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert outcome["global"] == "TracerProvider" and outcome["active"] is True
    assert outcome["service"] == "enrollment"
    assert outcome["headers"]["traceparent"].startswith("00-")


def test_otel_service_name_overrides_the_services_name() -> None:
    *_logs, outcome = start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "inscripciones"})
    assert outcome["service"] == "inscripciones"


def test_sdk_disabled_wins_over_an_endpoint() -> None:
    *_logs, outcome = start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"})
    assert outcome["global"] == "ProxyTracerProvider" and "traceparent" not in outcome["headers"]


def test_grpc_is_refused_with_a_line_saying_why_and_tracing_stays_off() -> None:
    *logs, outcome = start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert outcome["active"] is False
    assert any(line.get("level") == "error" and "4318" in line["event"] for line in logs)


@pytest.mark.parametrize(("env", "exporter"), [
    ({}, None),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://j:4318/v1/traces"}, "otlp"),
    ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, None),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
])
def test_the_exporter_the_environment_asks_for(env: dict[str, str], exporter: str | None) -> None:
    assert wanted_exporter(env) == exporter


LINES = """
from opentelemetry.sdk.trace import TracerProvider
from probidad.shared import tracing
from probidad.shared.logs import configure_logging, get_logger
configure_logging('attendance', cache=True)
log = get_logger('t')
provider = TracerProvider()
other = provider.get_tracer('t')
with other.start_as_current_span('before tracing is on'):
    log.info('untraced')
tracing.install(provider)
log.info('outside any span')
with tracing.span('unit_of_work') as span:
    log.info('inside', expected=[format(span.get_span_context().trace_id, '032x'),
                                 format(span.get_span_context().span_id, '016x')])
"""


def test_log_lines_written_inside_a_span_carry_its_trace_and_span_ids_and_none_otherwise() -> None:
    untraced, outside, inside = start({}, LINES)
    assert "trace_id" not in untraced and "span_id" not in untraced
    assert "trace_id" not in outside
    assert [inside["trace_id"], inside["span_id"]] == inside["expected"]
    assert len(inside["trace_id"]) == 32 and len(inside["span_id"]) == 16
