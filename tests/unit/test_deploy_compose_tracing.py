"""docker-compose.yml's tracing: Jaeger only with the `tracing` profile, and the services trace only when the
operator names the OTLP endpoint — the compose defaults leave tracing off by the services' own rule."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from probidad.shared.tracing import wanted_exporter

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
FOUR = ("enrollment", "attendance", "certification", "reporting")


def interpolated(value: str, given: dict[str, str]) -> str:
    """``${NAME:-default}`` as compose fills it from ``given`` (the operator's environment or .env)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: given.get(m.group(1)) or m.group(2), value)


def test_jaeger_runs_only_with_the_tracing_profile_and_shows_its_ui_on_loopback_only() -> None:
    jaeger = SERVICES["jaeger"]
    assert jaeger["profiles"] == ["tracing"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")
    # In a container it must listen beyond its own loopback, or the services could not reach it.
    assert jaeger["environment"]["JAEGER_LISTEN_HOST"] == "0.0.0.0"
    assert [port.rsplit(":", 1)[1] for port in jaeger["ports"]] == ["16686"]
    assert all(port.startswith("127.0.0.1:") for port in jaeger["ports"])
    assert "healthcheck" in jaeger
    assert all("profiles" not in SERVICES[name] for name in FOUR)


def test_the_services_trace_only_when_the_operator_names_the_endpoint() -> None:
    for name in FOUR:
        endpoint = SERVICES[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert wanted_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": interpolated(endpoint, {})}) is None, name
        given = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}
        assert interpolated(endpoint, given) == "http://jaeger:4318"
        assert wanted_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": interpolated(endpoint, given)}) == "otlp", name
