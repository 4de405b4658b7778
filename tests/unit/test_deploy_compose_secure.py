"""deploy/compose.secure.yml (the compose stack's secure mode) stays valid and says what `probidad kafka start
--secure` does, without a Docker engine: the file is merged over docker-compose.yml the way `docker compose -f
docker-compose.yml -f deploy/compose.secure.yml` merges it, and the result is held to the code — the broker's
settings are those of probidad.shared.kafka_security.server_properties, each service connects as its own
principal with a password from a required variable, the ACLs are service_acls(), and the files the broker
reads are the ones `probidad kafka compose-secrets` makes."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from probidad.shared.kafka_security import (
    AGENCY_PRINCIPAL_RULES, COMPOSE_SECRETS_MOUNT, MECHANISM, SCRAM_ITERATIONS, compose_environment,
    compose_service_password_variable, kafka_acls_lines, load_secrets, server_properties, service_acls, service_user,
    write_compose_secrets,
)
from probidad.shared.settings import ServiceSettings
from tests.unit.test_deploy_compose import (
    COMPOSE, HEALTHCHECK_KEYS, INTERPOLATION, ROOT, SECRET_NAME, SERVICE_KEYS, command_module, environment,
    interpolate, service_settings_class,
)

SECURE_FILE = ROOT / "deploy" / "compose.secure.yml"
SECURE = yaml.safe_load(SECURE_FILE.read_text(encoding="utf-8"))
ACLS_FILE = ROOT / "deploy" / "kafka" / "secure" / "acls.txt"
FORMAT_SCRIPT = ROOT / "deploy" / "kafka" / "secure" / "format-storage.sh"


def _volume_target(volume: str | dict) -> str:
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def merge(base: dict, override: dict) -> dict:
    """Compose's merge of an override file: mappings merge key by key, ``volumes`` by container path and
    ``ports`` add up; ``command``, ``healthcheck.test`` and other values are replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key in ("volumes", "ports") and isinstance(value, list) and isinstance(merged.get(key), list):
            if key == "volumes":
                kept = [v for v in merged[key] if _volume_target(v) not in {_volume_target(o) for o in value}]
                merged[key] = kept + value
            else:
                merged[key] = merged[key] + value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


STACK = {"services": {name: merge(COMPOSE["services"].get(name, {}), service)
                      for name, service in SECURE["services"].items()}}
STACK["services"] = {**COMPOSE["services"], **STACK["services"]}
SERVICES = STACK["services"]
PROBIDAD = {command_module(s).split(".", 1)[1]: s for s in SERVICES.values()
            if (command_module(s) or "").startswith("services.")}
JOBS = {key for key, service in SERVICES.items() if service.get("restart") == "no"}


def kafka_properties(env: dict[str, str]) -> dict[str, str]:
    """The server.properties the apache/kafka image renders from KAFKA_* variables: KAFKA_ dropped, ``___`` a
    dash, ``__`` an underscore, ``_`` a dot, lower case (its ub utility's ConvertKey); ``$$`` is compose's ``$``."""
    rendered = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in ("KAFKA_OPTS", "KAFKA_HEAP_OPTS"):
            continue
        key = re.sub(r"(?<=[^_])_(?=[^_])", ".", name.removeprefix("KAFKA_"))
        rendered[key.replace("___", "-").replace("__", "_").lower()] = interpolate(value)
    return rendered


BROKER = kafka_properties(environment(SERVICES["kafka"]))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """What `probidad kafka compose-secrets` writes, in a scratch directory."""
    base = tmp_path_factory.mktemp("compose-secrets")
    return write_compose_secrets(base / "secrets", base / "ca", ["kafka", "localhost"])


def test_the_secure_override_parses_and_names_only_known_keys_and_services():
    assert set(SECURE) <= {"services"} | {k for k in SECURE if k.startswith("x-")}
    for key, service in SECURE["services"].items():
        assert not set(service) - SERVICE_KEYS, f"{key}: unknown keys {sorted(set(service) - SERVICE_KEYS)}"
        assert not set(service.get("healthcheck", {})) - HEALTHCHECK_KEYS, key
        assert key in COMPOSE["services"] or "image" in service, f"{key} overrides no service and has no image"
    assert SERVICES["kafka"]["image"] == SERVICES["kafka-format"]["image"] == SERVICES["kafka-acls"]["image"]


def test_every_file_the_override_mounts_exists_in_the_repository():
    for key, service in SECURE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).resolve().is_relative_to(ROOT) and (ROOT / source).exists(), (key, source)
            else:
                assert source in COMPOSE["volumes"], f"{key}: named volume {source!r} is not declared"
        for part in service.get("command", []):
            if part.startswith("/etc/kafka/probidad/"):
                assert (ROOT / "deploy" / "kafka" / "secure" / part.rsplit("/", 1)[1]).is_file(), (key, part)


def test_the_storage_is_formatted_with_the_scram_users_before_the_broker_starts_and_acls_added_after():
    assert SERVICES["kafka"]["depends_on"]["kafka-format"]["condition"] == "service_completed_successfully"
    assert SERVICES["kafka-acls"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in PROBIDAD.items():
        assert service["depends_on"]["kafka-acls"]["condition"] == "service_completed_successfully", name
    assert JOBS == {"kafka-format", "kafka-acls"}
    kafka_volume = next(v for v in SERVICES["kafka"]["volumes"] if v.endswith(":/var/lib/kafka/data"))
    assert kafka_volume in SERVICES["kafka-format"]["volumes"], "the job formats the broker's own storage"
    format_env = environment(SERVICES["kafka-format"])
    broker_env = environment(SERVICES["kafka"])
    for same in ("CLUSTER_ID", "KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS"):
        assert format_env[same] == broker_env[same], same
    script = FORMAT_SCRIPT.read_text()
    assert f"{MECHANISM}=[name=${{name}},password=${{password}},iterations={SCRAM_ITERATIONS}]" in script


def test_the_broker_has_the_listeners_authorizer_and_super_users_of_probidad_kafka_start_secure(made):
    local = {k: str(v) for k, v in server_properties(made, 9092, 9093, 9094).items()}
    protocols = dict(item.split(":") for item in BROKER["listener.security.protocol.map"].split(","))
    local_protocols = dict(item.split(":") for item in local["listener.security.protocol.map"].split(","))
    assert {name: protocols[name] for name in local_protocols} == local_protocols
    assert protocols["EXTERNAL"] == "SASL_SSL", "the operator's host listener authenticates too"
    listeners = {item.split("://")[0] for item in BROKER["listeners"].split(",")}
    assert listeners == set(protocols), "every listener has a protocol and every protocol a listener"
    assert not {p for p in protocols.values() if p in ("PLAINTEXT", "SASL_PLAINTEXT")}, "nothing in clear"
    for key in ("inter.broker.listener.name", "listener.name.agency.ssl.client.auth",
                "sasl.mechanism.inter.broker.protocol",
                "sasl.mechanism.controller.protocol", "listener.name.sasl_ssl.sasl.enabled.mechanisms",
                "listener.name.controller.sasl.enabled.mechanisms", "ssl.keystore.type", "ssl.truststore.type",
                "ssl.client.auth", "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found"):
        assert BROKER[key] == local[key], key
    assert BROKER["listener.name.agency.ssl.principal.mapping.rules"] == AGENCY_PRINCIPAL_RULES
    assert BROKER["listener.name.external.sasl.enabled.mechanisms"] == MECHANISM


def test_the_files_the_broker_reads_are_those_probidad_kafka_compose_secrets_makes(made):
    env = environment(SERVICES["kafka"])
    mount = next(v for v in SERVICES["kafka"]["volumes"] if v.split(":")[1] == COMPOSE_SECRETS_MOUNT)
    assert mount.split(":")[0] == "./deploy/kafka/secrets" and mount.endswith(":ro")
    for variable in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEY_CREDENTIALS"):
        assert (made.dir / env[variable]).is_file(), variable  # the image resolves them in /etc/kafka/secrets
    for path in (env["KAFKA_SSL_TRUSTSTORE_LOCATION"], env["KAFKA_OPTS"].split("=", 1)[1]):
        assert path.startswith(COMPOSE_SECRETS_MOUNT + "/") and (made.dir / Path(path).name).is_file(), path
    assert (made.dir / "broker_keystore_creds").read_text().strip() == made.keystore_password
    jaas = (made.dir / "broker_jaas.conf").read_text()
    protocols = dict(item.split(":") for item in BROKER["listener.security.protocol.map"].split(","))
    for listener in [name for name, protocol in protocols.items() if protocol.startswith("SASL_")]:
        assert f"{listener.lower()}.KafkaServer {{" in jaas, f"no login section for the {listener} listener"
    users = dict(line.split("=", 1) for line in (made.dir / "scram-credentials").read_text().split())
    assert users == {"admin": made.admin_password, **{service_user(s): p for s, p in made.services.items()}}
    assert load_secrets(made.dir.parent) is not None, "probidad tooling can read them back"
    assert (made.dir.parent / "ca" / "ca.crt").read_bytes() == made.ca_file.read_bytes()
    healthcheck = " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    assert "--command-config /etc/kafka/secrets/admin.properties" in healthcheck


def test_the_acls_added_are_those_of_the_secure_local_broker():
    listed = [line for line in ACLS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    assert listed == kafka_acls_lines(service_acls())


def test_each_service_connects_as_its_own_principal_with_a_password_from_a_required_variable(made, monkeypatch):
    for name, service in PROBIDAD.items():
        env = environment(service)
        assert env["PROBIDAD_KAFKA_SECURITY"] == "scram-tls", name
        assert env["PROBIDAD_KAFKA_USERNAME"] == service_user(name), name
        password = INTERPOLATION.fullmatch(env["PROBIDAD_KAFKA_PASSWORD"])
        assert password and password.group("name") == compose_service_password_variable(name), name
        assert password.group("op") == ":?", f"{name}: the password is required, never defaulted"
        ca_mount = next(v for v in service["volumes"] if env["PROBIDAD_KAFKA_CA_FILE"].startswith(v.split(":")[1]))
        assert ca_mount.split(":")[0] == "./deploy/kafka/ca", f"{name}: only the CA certificate, not the broker's keys"
        assert env["PROBIDAD_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert BROKER["advertised.listeners"].split(",")[0] == "SASL_SSL://kafka:9092"
    assert set(compose_environment(made)) == {compose_service_password_variable(n) for n in PROBIDAD}

    # The settings accept what the merged stack sets (with the CA where the mount would put it).
    ca_file = made.dir.parent / "ca" / "ca.crt"
    for name, service in PROBIDAD.items():
        for variable in [v for v in os.environ if v.startswith("PROBIDAD_")]:
            monkeypatch.delenv(variable)
        for variable, value in environment(service).items():
            monkeypatch.setenv(variable, interpolate(value))
        monkeypatch.setenv("PROBIDAD_KAFKA_CA_FILE", str(ca_file))
        cls = service_settings_class(name)
        settings = cls() if cls is not ServiceSettings else cls(service_name=name)
        assert (settings.kafka_security, settings.kafka_username) == ("scram-tls", service_user(name))


def test_no_secret_is_written_in_the_override():
    for key, service in SECURE["services"].items():
        for name, value in environment(service).items():
            # KAFKA_SSL_KEYSTORE_FILENAME and the like name files in the secrets mount; they hold no secret.
            if SECRET_NAME.search(name) and not name.endswith(("_FILENAME", "_CREDENTIALS", "_TYPE", "_LOCATION")):
                match = INTERPOLATION.fullmatch(value.strip())
                assert match and match.group("op") in ("?", ":?"), f"{key}: {name} must come from a required variable"


def test_the_secrets_directories_keep_everything_but_their_readme_out_of_git():
    for directory in ("secrets", "ca"):
        lines = (ROOT / "deploy" / "kafka" / directory / ".gitignore").read_text().splitlines()
        patterns = [line for line in lines if line and not line.startswith("#")]
        assert patterns[0] == "*" and set(patterns[1:]) <= {"!.gitignore", "!README.md"}, directory
