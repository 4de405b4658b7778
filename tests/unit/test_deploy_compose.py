"""docker-compose.yml, the Dockerfile and the PostgreSQL init script stay valid without a Docker engine.

The production-like stack is never started by the tests; these checks parse it and hold it to the code:
every file it references exists, every PROBIDAD_* variable it sets is a setting some service reads (and the
service's settings accept the values), ports do not clash, every container has a health check, the
services wait for healthy dependencies, and no secret is written in the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from probidad.shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
POSTGRES_INIT = ROOT / "deploy" / "postgres" / "init"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $VAR; "$$" is a literal "$".
INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# Keys of a service in the Compose specification (a typo such as `healtcheck` would silently do nothing).
SERVICE_KEYS = {
    "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "group_add", "healthcheck", "hostname",
    "image", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit",
    "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "privileged", "profiles", "pull_policy",
    "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode",
    "uts", "volumes", "volumes_from", "working_dir",
}
TOP_LEVEL_KEYS = {"name", "services", "networks", "volumes", "configs", "secrets", "include"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY", re.IGNORECASE)


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


COMPOSE = load_compose()
SERVICES: dict[str, dict] = COMPOSE["services"]


def interpolate(value: object, env: dict[str, str] | None = None) -> str:
    """Resolve compose interpolation as `docker compose config` would, with a placeholder for required vars."""
    env = env or {}
    text = str(value).replace("$$", "\0")

    def resolve(match: re.Match) -> str:
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        if name in env:
            return env[name]
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            return f"placeholder-{name.lower()}"
        return ""

    return INTERPOLATION.sub(resolve, text).replace("\0", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {str(k): ("" if v is None else str(v)) for k, v in env.items()}


def command_module(service: dict) -> str | None:
    command = service.get("command")
    if isinstance(command, str):
        command = command.split()
    if command and len(command) >= 3 and command[0].startswith("python") and command[1] == "-m":
        return command[2]
    return None


def probidad_services() -> dict[str, dict]:
    """Compose services that run one of ours: `python -m services.<name>`, keyed by <name>."""
    found = {}
    for key, service in SERVICES.items():
        module = command_module(service)
        if module and module.startswith("services."):
            found[module.split(".", 1)[1]] = service
    return found


PROBIDAD = probidad_services()
SERVICE_PACKAGES = sorted(p.parent.name for p in (ROOT / "services").glob("*/__init__.py"))


def settings_classes(name: str) -> list[type[BaseSettings]]:
    """The BaseSettings classes of services.<name>.settings, or the shared ServiceSettings if it has none yet."""
    module_name = f"services.{name}.settings"
    if importlib.util.find_spec(module_name) is None:
        return [ServiceSettings]
    module = importlib.import_module(module_name)  # a settings module that exists must import
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, BaseSettings) and obj is not BaseSettings]
    return classes or [ServiceSettings]


def service_settings_class(name: str) -> type[ServiceSettings]:
    own = [c for c in settings_classes(name) if issubclass(c, ServiceSettings) and c is not ServiceSettings
           and c.__module__ == f"services.{name}.settings"]
    assert len(own) <= 1, f"services.{name}.settings defines several ServiceSettings subclasses: {own}"
    return own[0] if own else ServiceSettings


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable -> field name, as pydantic-settings reads them (prefix + field, upper case)."""
    prefix = cls.model_config.get("env_prefix", "") or ""
    names = {}
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        names[(alias or f"{prefix}{field_name}").upper()] = field_name
    return names


def all_setting_env_names() -> set[str]:
    names = set(env_names(ServiceSettings))
    for package in SERVICE_PACKAGES:
        for cls in settings_classes(package):
            names |= set(env_names(cls))
    return names


# ------------------------------------------------------------------ the stack


def test_the_stack_has_kafka_postgres_the_four_services_prometheus_and_grafana() -> None:
    assert "version" not in COMPOSE, "the top-level `version` key is obsolete in the Compose specification"
    unknown = {key for key in COMPOSE if not key.startswith("x-")} - TOP_LEVEL_KEYS
    assert not unknown, f"unknown top-level keys {sorted(unknown)}"
    for key, service in SERVICES.items():
        assert not set(service) - SERVICE_KEYS, f"{key}: unknown keys {sorted(set(service) - SERVICE_KEYS)}"
        assert not set(service.get("healthcheck", {})) - HEALTHCHECK_KEYS, f"{key}: unknown healthcheck keys"
        assert "image" in service or "build" in service, f"{key}: needs an image or a build"
        depends = service.get("depends_on") or {}
        for how in (depends.values() if isinstance(depends, dict) else []):
            assert how.get("condition", "service_started") in (
                "service_started", "service_healthy", "service_completed_successfully"), f"{key}: {how}"
    assert sorted(PROBIDAD) == SERVICE_PACKAGES == ["attendance", "certification", "enrollment", "reporting"]
    for name, service in PROBIDAD.items():
        assert service.get("build", {}).get("dockerfile", "Dockerfile") == "Dockerfile", name
    images = {key: service.get("image", "") for key, service in SERVICES.items()}
    assert len({images[k] for k in PROBIDAD}) == 1, f"the four services must run the one image: {images}"

    kafka = SERVICES["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    kafka_env = environment(kafka)
    assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "single combined KRaft node"
    assert kafka_env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{kafka_env['KAFKA_NODE_ID']}@kafka:")
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert "zookeeper" not in str(kafka).lower()
    for setting in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert kafka_env[setting] == "1", f"{setting}: a single node cannot hold more than one replica"

    assert SERVICES["postgres"]["image"].split(":")[1].startswith("16")
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    for key, service in SERVICES.items():
        image = service.get("image", "")
        if key not in PROBIDAD:
            assert ":" in image and not image.endswith(":latest"), f"{key}: pin the image version ({image!r})"


def test_every_file_and_directory_the_stack_references_exists() -> None:
    referenced: list[tuple[str, str]] = []
    for key, service in SERVICES.items():
        build = service.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            referenced.append((key, context))
            if isinstance(build, dict):
                referenced.append((key, str(Path(context) / build.get("dockerfile", "Dockerfile"))))
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                if volume.get("type") == "bind":
                    referenced.append((key, volume["source"]))
                continue
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):  # otherwise a named volume
                referenced.append((key, source))
            else:
                assert source in (COMPOSE.get("volumes") or {}), f"{key}: named volume {source!r} is not declared"
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            if isinstance(env_file, str) or env_file.get("required", True):
                referenced.append((key, path))
    for section in ("configs", "secrets"):
        for name, item in (COMPOSE.get(section) or {}).items():
            if "file" in item:
                referenced.append((f"{section}.{name}", item["file"]))

    assert referenced, "expected build contexts and bind mounts"
    for owner, reference in referenced:
        assert "$" not in reference, f"{owner}: {reference!r} depends on the environment; reference repo files"
        assert not reference.startswith(("/", "~")), f"{owner}: {reference!r} is a machine path, not a repo path"
        path = (ROOT / reference).resolve()
        assert path.is_relative_to(ROOT), f"{owner}: {reference!r} points outside the repository"
        assert path.exists(), f"{owner}: {reference!r} does not exist in the repository"


def test_the_image_is_built_from_what_the_package_needs() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    # Both stages on one base, a build argument whose default is the official Python image.
    assert stages and all(image == "${PYTHON_IMAGE}" for image in stages), stages
    default = re.search(r"^ARG\s+PYTHON_IMAGE=(\S+)", text[:text.find("\nFROM ")], re.MULTILINE)
    assert default and default.group(1) == "python:3.11-slim", "production builds on the official Python image"
    final_stage = text[text.rfind("\nFROM "):]
    users = re.findall(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service must not run as root"
    assert re.search(r"^HEALTHCHECK\s", text, re.MULTILINE), "the image needs a HEALTHCHECK"
    assert re.search(r"pip install \.", text), "the image installs the package with `pip install .`"
    for env_name in re.findall(r"\b(PROBIDAD_[A-Z0-9_]+)=", text):
        assert env_name in env_names(ServiceSettings), f"Dockerfile sets {env_name}, which no setting reads"
    assert not re.search(r"^ENV\s.*(SECRET|PASSWORD|_KEY)\w*=", text, re.MULTILINE), "no secrets in the image"

    # COPY sources exist (the build context is the repository; "." is filtered by .dockerignore)
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.MULTILINE):
        *sources, _destination = [part for part in line.split() if not part.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source!r}, which does not exist"

    # .dockerignore excludes everything and lets the package back in: what pyproject builds must be let in.
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", ".dockerignore is an allow-list: it starts by excluding everything"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert "pyproject.toml" in allowed
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for include in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = include.rstrip("*").rstrip(".")
        assert package in allowed, f".dockerignore must let {package}/ into the build context"
        assert (ROOT / package / "__init__.py").exists(), f"package {package} is missing"
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        assert readme in allowed, f".dockerignore must let {readme} in (pyproject names it)"


# ------------------------------------------------------------------ environment and settings


def test_every_probidad_variable_set_is_a_setting_the_service_reads() -> None:
    everywhere = all_setting_env_names()
    for key, service in SERVICES.items():
        for name in environment(service):
            if not name.startswith("PROBIDAD_"):
                continue
            assert name in everywhere, f"{key}: {name} is read by no settings class"
            module = command_module(service) or ""
            if module.startswith("services."):
                service_name = module.split(".", 1)[1]
                readable = set().union(*(env_names(c) for c in settings_classes(service_name)))
                assert name in readable, f"{key}: services.{service_name} does not read {name}"


def test_the_services_settings_accept_the_compose_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    databases = created_databases()
    seen_databases = set()
    for name, service in PROBIDAD.items():
        for variable in [v for v in os.environ if v.startswith("PROBIDAD_")]:
            monkeypatch.delenv(variable)
        env = {k: interpolate(v) for k, v in environment(service).items()}
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        cls = service_settings_class(name)
        settings = cls() if cls is not ServiceSettings else cls(service_name=name)

        assert settings.service_name == name
        assert settings.environment == "production"
        assert settings.http_host == "0.0.0.0"
        assert settings.kafka_bootstrap == "kafka:9092"
        assert container_ports(service) == {settings.http_port}, f"{name}: publish the port it listens on"
        if cls is not ServiceSettings:
            assert settings.http_port == cls.model_fields["http_port"].default, f"{name}: port differs from default"

        url = urlsplit(settings.database_url)
        assert url.scheme == "postgresql+asyncpg" and url.hostname == "postgres", f"{name}: {url.geturl()}"
        database = url.path.lstrip("/")
        assert database in databases, f"{name}: database {database!r} is not created by {POSTGRES_INIT}"
        assert database not in seen_databases, f"{name}: shares database {database!r} with another service"
        seen_databases.add(database)
        assert url.username == environment(SERVICES["postgres"])["POSTGRES_USER"]


def test_production_secrets_are_set_for_every_service() -> None:
    for name, service in PROBIDAD.items():
        cls = service_settings_class(name)
        env = environment(service)
        wanted = {"PROBIDAD_JWT_SECRET"}
        if name in ("enrollment", "attendance"):  # the e-mail digest is computed by one, matched by the other
            wanted.add("PROBIDAD_EMAIL_DIGEST_KEY")
        own_fields = set(cls.model_fields) - set(ServiceSettings.model_fields)
        names = env_names(cls)
        wanted |= {variable for variable, field in names.items()
                   if field in own_fields and cls.model_fields[field].annotation is SecretStr}
        missing = wanted - set(env)
        assert not missing, f"{name}: set {sorted(missing)} (dev defaults must not reach production)"
    assert environment(PROBIDAD["enrollment"])["PROBIDAD_EMAIL_DIGEST_KEY"] == \
        environment(PROBIDAD["attendance"])["PROBIDAD_EMAIL_DIGEST_KEY"], "one digest key for both services"


def test_no_secret_is_written_in_the_file() -> None:
    for key, service in SERVICES.items():
        for name, value in environment(service).items():
            if SECRET_NAME.search(name):
                match = INTERPOLATION.fullmatch(value.strip())
                assert match, f"{key}: {name} must come from the environment (${{VAR:?…}}), not be written here"
                assert match.group("op") not in ("-", ":-", "+", ":+"), \
                    f"{key}: {name} has a default in the file; a default secret is a written secret"
            for credentials in re.findall(r"://([^/@\s]+)@", value):
                user, _, password = credentials.partition(":")
                if password:
                    match = INTERPOLATION.fullmatch(password)
                    assert match and match.group("op") not in ("-", ":-"), \
                        f"{key}: {name} embeds a password; interpolate it (${{POSTGRES_PASSWORD:?…}})"
    for name, item in (COMPOSE.get("secrets") or {}).items():
        assert "file" in item or "environment" in item, f"secret {name} must come from a file or the environment"


# ------------------------------------------------------------------ ports, health, start order


def published_ports(service: dict) -> list[tuple[str, int, str]]:
    """(host ip, host port, protocol) of every port the service publishes on the host."""
    published = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published") is None:
                continue
            host_ip, host, protocol = port.get("host_ip", ""), str(port["published"]), port.get("protocol", "tcp")
        else:
            spec, _, protocol = interpolate(port).partition("/")
            parts = spec.rsplit(":", 2)
            if len(parts) == 1:
                continue  # container port only: an ephemeral host port
            host_ip, host = (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0])
            protocol = protocol or "tcp"
        first, _, last = host.partition("-")
        for number in range(int(first), int(last or first) + 1):
            published.append((host_ip, number, protocol))
    return published


def container_ports(service: dict) -> set[int]:
    ports = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add(int(port["target"]))
        else:
            ports.add(int(interpolate(port).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def test_published_host_ports_do_not_clash() -> None:
    wildcard = ("", "0.0.0.0", "::")
    seen: list[tuple[str, int, str, str]] = []
    for key, service in SERVICES.items():
        for host_ip, number, protocol in published_ports(service):
            assert 0 < number < 65536, f"{key}: port {number}"
            for other_ip, other_number, other_protocol, other in seen:
                same_address = host_ip == other_ip or host_ip in wildcard or other_ip in wildcard
                assert not (number == other_number and protocol == other_protocol and same_address), \
                    f"host port {number}/{protocol} is published by both {other} and {key}"
            seen.append((host_ip, number, protocol, key))
    assert {number for _ip, number, _protocol, _key in seen} >= {8001, 8002, 8003, 8004}


def test_every_container_has_a_health_check() -> None:
    for key, service in SERVICES.items():
        check = service.get("healthcheck")
        assert check, f"{key} has no healthcheck"
        assert not check.get("disable") and check.get("test") not in (["NONE"], "NONE"), f"{key}: healthcheck off"
        assert check["test"], f"{key}: empty healthcheck"
    for name, service in PROBIDAD.items():
        test = " ".join(service["healthcheck"]["test"]) if isinstance(service["healthcheck"]["test"], list) \
            else service["healthcheck"]["test"]
        port = environment(service)["PROBIDAD_HTTP_PORT"]
        assert f":{port}/health" in test, f"{name}: the healthcheck must ask /health on port {port}: {test}"
        assert "curl" not in test, f"{name}: the python slim image has no curl; use python"


def test_services_start_after_their_dependencies_are_healthy() -> None:
    for key, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {name: {"condition": "service_started"} for name in depends}
        for dependency, how in depends.items():
            assert dependency in SERVICES, f"{key} depends on unknown service {dependency}"
            if how.get("condition") == "service_healthy":
                assert SERVICES[dependency].get("healthcheck"), f"{dependency} has no healthcheck to wait for"
    for name, service in PROBIDAD.items():
        depends = service.get("depends_on") or {}
        for dependency in ("kafka", "postgres"):
            assert isinstance(depends, dict) and depends.get(dependency, {}).get("condition") == "service_healthy", \
                f"{name} must wait for {dependency} to be healthy"


def created_databases() -> set[str]:
    names = set()
    for script in sorted(POSTGRES_INIT.iterdir()):
        text = script.read_text(encoding="utf-8")
        names |= set(re.findall(r'CREATE\s+DATABASE\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', text, re.IGNORECASE))
    return names


def test_postgres_creates_one_database_per_service() -> None:
    postgres = SERVICES["postgres"]
    mounts = [v for v in postgres.get("volumes", []) if isinstance(v, str)]
    init = [v for v in mounts if v.split(":")[1] == "/docker-entrypoint-initdb.d"]
    assert init and (ROOT / init[0].split(":")[0]).resolve() == POSTGRES_INIT.resolve()
    scripts = [p for p in POSTGRES_INIT.iterdir() if p.suffix in (".sql", ".sh")]
    assert scripts, "the init directory holds .sql or .sh scripts"
    databases = created_databases()
    assert len(databases) >= len(PROBIDAD)
    assert all(any(name in database for database in databases) for name in PROBIDAD), databases
