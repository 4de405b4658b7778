"""The podman override (deploy/podman/compose.local.yml) and `probidad stack`'s settings, checked without an
engine; tests/stack runs them for real."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from probidad.ops import kafkactl, stack
from tests.unit.test_deploy_compose import COMPOSE_FILE, INTERPOLATION, SERVICE_KEYS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = yaml.safe_load(stack.LOCAL_OVERRIDE.read_text(encoding="utf-8"))


def test_the_override_names_only_services_of_the_stack_and_known_keys() -> None:
    assert set(OVERRIDE) == {"services"}
    for name, service in OVERRIDE["services"].items():
        assert name in SERVICES, name
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)


def test_production_keeps_the_official_images_and_the_override_replaces_only_those_that_cannot_be_pulled() -> None:
    official = {"kafka": "apache/kafka:", "postgres": "postgres:", "prometheus": "prom/prometheus:",
                "grafana": "grafana/grafana:"}
    for name, prefix in official.items():
        assert SERVICES[name]["image"].startswith(prefix), name
    replaced = {name for name, service in OVERRIDE["services"].items() if "image" in service}
    assert replaced == {"kafka", "postgres", "prometheus"}


def test_every_image_of_the_override_is_one_probidad_stack_builds_from_a_containerfile_here() -> None:
    built = {tag: folder for tag, folder in stack.LOCAL_IMAGES.values()}
    built[f"localhost/probidad-kafka:{kafkactl.kafka_version()}"] = "kafka"
    for name, service in OVERRIDE["services"].items():
        if "image" in service:
            assert service["image"] in built, f"{name}: {service['image']} is not built by probidad stack"
            assert (stack.PODMAN_DIR / built[service["image"]] / "Containerfile").is_file()
            assert service.get("pull_policy") == "never", f"{name}: nothing can be pulled for it"
    assert (stack.PODMAN_DIR / "python" / "Containerfile").is_file()


def test_the_local_kafka_image_has_the_script_the_health_check_runs() -> None:
    test = " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    scripts = re.findall(r"/opt/kafka/bin/([\w.-]+\.sh)", test)
    assert scripts
    for script in scripts:
        assert (stack.PODMAN_DIR / "kafka" / "bin" / script).is_file(), script


def test_grafana_stays_in_production_and_is_behind_a_profile_in_the_override() -> None:
    assert "profiles" not in SERVICES["grafana"]
    assert OVERRIDE["services"]["grafana"]["profiles"] == ["grafana"]


def test_the_stack_env_file_sets_every_variable_the_compose_file_requires(tmp_path: Path) -> None:
    required = {m.group("name") for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))
                if m.group("op") in ("?", ":?")}
    path = stack.ensure_env(tmp_path)
    values = stack.read_env(path)
    assert required and required <= set(values)
    assert all(values[name] for name in stack.SECRETS)
    assert path.stat().st_mode & 0o077 == 0, "the secrets file is readable by its owner only"
    assert stack.read_env(stack.ensure_env(tmp_path)) == values, "a second call keeps the secrets"


def test_the_stack_publishes_away_from_the_development_servers_and_every_host_port_is_a_variable() -> None:
    development = {5433, 9092, 9090, 8001, 8002, 8003, 8004}
    assert not development & {int(port) for port in stack.DEFAULT_PORTS.values()}
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert re.search(r"\$\{(\w+):-\d+\}:\d+$", port), f"{name}: the host port of {port} is not a variable"
    used = set(re.findall(r"\$\{(\w+_HOST_PORT|KAFKA_EXTERNAL_PORT):-", text))
    assert used == set(stack.DEFAULT_PORTS)
