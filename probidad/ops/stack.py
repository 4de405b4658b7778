"""``probidad stack up|down|status``: the production stack (docker-compose.yml) run for real with podman.

``up`` builds the service image from the repository's Dockerfile and runs the compose file with podman-compose.
With ``--images local`` (the default) nothing is pulled: the Python base, Kafka (on Debian's Java, from the
jars ``probidad kafka`` resolves with Maven), PostgreSQL and Prometheus images are built from Debian's
packages (deploy/podman/*/Containerfile) on a ``localhost/debian:bookworm`` base made with debootstrap
(``scripts/test-stack`` makes it), and deploy/podman/compose.local.yml points the stack at them. With
``--images official`` the compose file runs alone, on the official images (a machine with a registry).

State (``$PROBIDAD_STATE_DIR/stack``): ``stack.env``, the secrets the compose file requires (generated on the
first ``up``, never in git) and the host ports, which default away from the development servers (18001-18004,
Kafka 19092, Prometheus 19090). Edit the file to move them.

Health: the containers' health checks are those of the compose file. ``up`` starts Kafka and PostgreSQL, runs
their checks until they pass, then the services, then the rest: podman-compose before podman 4.6 cannot wait
for ``service_healthy`` itself, and podman without systemd schedules no health check, so ``up`` and
``status`` run them (``podman healthcheck run``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from probidad.ops.localhost import StateDirOption

Echo = Callable[[str], object]  # where progress lines go: print, typer.echo

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
LOCAL_OVERRIDE = REPO_ROOT / "deploy" / "podman" / "compose.local.yml"
PODMAN_DIR = REPO_ROOT / "deploy" / "podman"
BASE_IMAGE = "localhost/debian:bookworm"
PYTHON_IMAGE = "localhost/probidad-python:bookworm"
SERVICE_IMAGE = "localhost/probidad:latest"
LOCAL_IMAGES = {  # compose service -> the image compose.local.yml names, built from deploy/podman/<dir>
    "postgres": ("localhost/probidad-postgres:15", "postgres"),
    "prometheus": ("localhost/probidad-prometheus:bookworm", "prometheus"),
}
SERVICES = ("enrollment", "attendance", "certification", "reporting")
DEFAULT_PROJECT = "probidad"
# Away from the development servers (8001-8004, Kafka 9092, PostgreSQL 5433, Prometheus 9090, Jaeger 16686).
DEFAULT_PORTS = {
    "ENROLLMENT_HOST_PORT": 18001, "ATTENDANCE_HOST_PORT": 18002, "CERTIFICATION_HOST_PORT": 18003,
    "REPORTING_HOST_PORT": 18004, "KAFKA_EXTERNAL_PORT": 19092, "PROMETHEUS_HOST_PORT": 19090,
    "GRAFANA_HOST_PORT": 13000, "JAEGER_HOST_PORT": 26686,
}
SECRETS = ("POSTGRES_PASSWORD", "PROBIDAD_JWT_SECRET", "PROBIDAD_EMAIL_DIGEST_KEY", "PROBIDAD_CHECK_IN_KEY",
           "PROBIDAD_CERTIFICATE_CODE_KEY", "GRAFANA_ADMIN_PASSWORD")
# The host's trusted certificates, lent to the builds (not copied into the images) so that pip works behind
# a TLS-inspecting proxy. Mounted beside, never over, the image's own bundle: ca-certificates, installed
# in the builds, rewrites that file and fails on a mount there.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_BUNDLE = "/run/host-ca-certificates.crt"

app = typer.Typer(help="The production stack (docker-compose.yml) under podman.", no_args_is_help=True)


class StackError(RuntimeError):
    """A problem the operator can act on; the CLI prints it without a traceback."""


# ------------------------------------------------------------------ settings


def stack_dir(state_dir: Path | None = None) -> Path:
    base = state_dir or Path(os.environ.get("PROBIDAD_STATE_DIR") or "./.probidad")
    return (base.expanduser() / "stack").resolve()


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def ensure_env(directory: Path) -> Path:
    """The stack's env file: made once with fresh secrets and the default ports; later calls add what is missing."""
    path = directory / "stack.env"
    directory.mkdir(parents=True, exist_ok=True)
    have = read_env(path) if path.is_file() else {}
    wanted = {name: secrets.token_urlsafe(32) for name in SECRETS}
    wanted |= {name: str(port) for name, port in DEFAULT_PORTS.items()}
    wanted["KAFKA_EXTERNAL_HOST"] = "127.0.0.1"
    # The bulletin's links and issuer block (reporting refuses production without them): the stack's own
    # address on this machine, and a signatory the operator replaces with the real one.
    reporting_port = have.get("REPORTING_HOST_PORT", DEFAULT_PORTS["REPORTING_HOST_PORT"])
    wanted["PROBIDAD_REPORTING_PUBLIC_URL"] = f"http://127.0.0.1:{reporting_port}"
    wanted["PROBIDAD_BULLETIN_SIGNATORY_NAME"] = "Persona titular (por designar)"
    wanted["PROBIDAD_BULLETIN_SIGNATORY_POSITION"] = (
        "Titular de la Unidad de Ética, Integridad y Prevención de Conflictos de Interés")
    missing = {name: value for name, value in wanted.items() if name not in have}
    if missing:
        header = ("" if path.is_file()
                  else "# Secrets and host ports of the probidad stack (probidad stack up). Never commit.\n")
        with path.open("a") as out:
            out.write(header + "".join(f"{name}={value}\n" for name, value in missing.items()))
        path.chmod(0o600)
    return path


def settings(state_dir: Path | None = None) -> dict[str, str]:
    """The stack's env file values (secrets, ports): what a client of the running stack needs."""
    return read_env(ensure_env(stack_dir(state_dir)))


def urls(values: dict[str, str]) -> dict[str, str]:
    names = {"enrollment": "ENROLLMENT_HOST_PORT", "attendance": "ATTENDANCE_HOST_PORT",
             "certification": "CERTIFICATION_HOST_PORT", "reporting": "REPORTING_HOST_PORT",
             "prometheus": "PROMETHEUS_HOST_PORT"}
    return {service: f"http://127.0.0.1:{values[name]}" for service, name in names.items()}


# ------------------------------------------------------------------ podman


def _run(command: list[str], *, check: bool = True, capture: bool = False,
         **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(command, text=True, capture_output=capture, **kwargs)
    if check and result.returncode != 0:
        detail = ((result.stdout or "") + (result.stderr or "")).strip()[-3000:] if capture else ""
        raise StackError(f"{' '.join(command[:4])} ... failed (exit {result.returncode})\n{detail}".rstrip())
    return result


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise StackError("podman is not installed (apt-get install podman; scripts/test-stack sets it up)")
    return _run(["podman", *args], check=check, capture=capture)


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def _build(tag: str, context: Path, *, containerfile: Path | None = None, build_args: dict[str, str] | None = None,
           echo: Echo = print) -> None:
    echo(f"building {tag}")
    command = ["build", "--format", "docker", "--network", "host", "-t", tag]
    build_args = dict(build_args or {})
    if HOST_CA_BUNDLE.is_file():
        command += ["--volume", f"{HOST_CA_BUNDLE}:{BUILD_CA_BUNDLE}:ro"]
        build_args.setdefault("PIP_CERT", BUILD_CA_BUNDLE)  # the Dockerfile's build stage declares it
    for name, value in build_args.items():
        command += ["--build-arg", f"{name}={value}"]
    if containerfile is not None:
        command += ["-f", str(containerfile)]
    podman(*command, str(context))


def build_images(directory: Path, images: str, *, rebuild: bool = False, echo: Echo = print) -> None:
    """The service image from the Dockerfile; with local images also the base images compose.local.yml names."""
    if images == "official":
        _build(SERVICE_IMAGE, REPO_ROOT, containerfile=REPO_ROOT / "Dockerfile", echo=echo)
        return
    if not image_exists(BASE_IMAGE):
        raise StackError(f"no {BASE_IMAGE} image: make it with debootstrap (scripts/test-stack does: "
                         "debootstrap --variant=minbase bookworm ROOTFS && "
                         f"tar -C ROOTFS -c . | podman import - {BASE_IMAGE})")
    base = {"BASE_IMAGE": BASE_IMAGE}
    if rebuild or not image_exists(PYTHON_IMAGE):
        _build(PYTHON_IMAGE, PODMAN_DIR / "python", build_args=base, echo=echo)
    _build(SERVICE_IMAGE, REPO_ROOT, containerfile=REPO_ROOT / "Dockerfile", build_args={"PYTHON_IMAGE": PYTHON_IMAGE},
           echo=echo)
    from probidad.ops import kafkactl

    kafka_image = f"localhost/probidad-kafka:{kafkactl.kafka_version()}"
    if rebuild or not image_exists(kafka_image):
        # The build context: the Containerfile and scripts, with the Maven-resolved jars copied in.
        lib = kafkactl.resolve_jars(echo=echo)
        context = directory / "kafka-context"
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(PODMAN_DIR / "kafka", context)
        shutil.copytree(lib, context / "libs")
        _build(kafka_image, context, build_args=base, echo=echo)
        shutil.rmtree(context, ignore_errors=True)
    for tag, folder in LOCAL_IMAGES.values():
        if rebuild or not image_exists(tag):
            _build(tag, PODMAN_DIR / folder, build_args=base, echo=echo)


def compose_command(directory: Path, images: str, project: str) -> list[str]:
    try:
        import podman_compose  # noqa: F401

        command = [sys.executable, "-m", "podman_compose"]
    except ModuleNotFoundError:
        found = shutil.which("podman-compose")
        if found is None:
            raise StackError("podman-compose is not installed (pip install 'probidad[stack]')") from None
        command = [found]
    files = ["-f", str(COMPOSE_FILE)] + (["-f", str(LOCAL_OVERRIDE)] if images == "local" else [])
    return [*command, "-p", project, "--env-file", str(ensure_env(directory)), *files]


def containers(project: str) -> list[dict]:
    listed = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={project}", "--format", "json")
    return json.loads(listed.stdout or "[]")


def _service(container: dict) -> str:
    return (container.get("Labels") or {}).get("com.docker.compose.service", "?")


def check_health(name: str) -> bool:
    """Run the container's own health check now; True when it passes."""
    return podman("healthcheck", "run", name, check=False).returncode == 0


def wait_healthy(project: str, services: tuple[str, ...] | None, timeout: float, echo: Echo = print) -> None:
    deadline = time.monotonic() + timeout
    pending: dict[str, str] = {}
    while True:
        pending = {_service(c): c["Names"][0] for c in containers(project)
                   if services is None or _service(c) in services}
        pending = {service: name for service, name in pending.items() if not check_health(name)}
        if not pending:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name} ---\n{podman('logs', '--tail', '30', name, check=False).stdout}"
                             for name in pending.values())
            raise StackError(f"not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}\n{logs}")
        time.sleep(3)


def stack_up(state_dir: Path | None = None, *, images: str = "local", project: str = DEFAULT_PROJECT,
             build: bool = True, rebuild: bool = False, timeout: float = 300,
             echo: Echo = print) -> dict[str, str]:
    directory = stack_dir(state_dir)
    ensure_env(directory)
    if build or not image_exists(SERVICE_IMAGE):
        build_images(directory, images, rebuild=rebuild, echo=echo)
    compose = compose_command(directory, images, project)
    # In dependency order, each stage healthy before the next: the services need the broker and the database.
    for stage in (("kafka", "postgres"), SERVICES, None):
        echo(f"starting {', '.join(stage) if stage else 'the rest'}")
        _run([*compose, "up", "-d", "--no-build", *(stage or ())], capture=True)
        wait_healthy(project, stage, timeout, echo=echo)
    return urls(settings(state_dir))


def stack_down(state_dir: Path | None = None, *, images: str = "local", project: str = DEFAULT_PROJECT,
               volumes: bool = False) -> None:
    compose = compose_command(stack_dir(state_dir), images, project)
    _run([*compose, "down", *(["--volumes"] if volumes else [])], capture=True)
    network = f"{project}_default"
    if podman("network", "exists", network, check=False).returncode == 0:
        podman("network", "rm", network, check=False)


# ------------------------------------------------------------------ command line

ImagesOption = typer.Option("local", "--images", help="local: built from Debian's packages, nothing pulled "
                            "(deploy/podman/compose.local.yml); official: the compose file's own images.")
ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Compose project name.")


def _fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(1)


@app.command("up")
def up(state_dir: Path | None = StateDirOption, images: str = ImagesOption, project: str = ProjectOption,
       build: bool = typer.Option(True, "--build/--no-build", help="Build the images first (the service image "
                                  "always; the base images only when missing)."),
       rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the base images too."),
       timeout: float = typer.Option(300, help="Seconds each stage may take to become healthy.")) -> None:
    """Build the images and start the stack; returns when every health check passes."""
    try:
        shown = stack_up(state_dir, images=images, project=project, build=build, rebuild=rebuild, timeout=timeout,
                         echo=typer.echo)
    except StackError as error:
        _fail(error)
        return
    for service, url in shown.items():
        typer.echo(f"{service:<14} {url}")
    typer.echo(f"secrets and ports: {stack_dir(state_dir) / 'stack.env'}")


@app.command("down")
def down(state_dir: Path | None = StateDirOption, images: str = ImagesOption, project: str = ProjectOption,
         volumes: bool = typer.Option(False, "--volumes", "-v", help="Remove the volumes too (all data).")) -> None:
    """Stop and remove the stack's containers and network (and volumes with --volumes)."""
    try:
        stack_down(state_dir, images=images, project=project, volumes=volumes)
    except StackError as error:
        _fail(error)


@app.command("status")
def status(project: str = ProjectOption) -> None:
    """Each container's state and health check result now; exits 1 unless all run and pass."""
    try:
        listed = containers(project)
    except StackError as error:
        _fail(error)
        return
    if not listed:
        typer.echo(f"no container of project {project}")
        raise typer.Exit(1)
    healthy = True
    for container in sorted(listed, key=_service):
        passes = container.get("State") == "running" and check_health(container["Names"][0])
        healthy &= passes
        health = "healthy" if passes else "UNHEALTHY"
        typer.echo(f"{_service(container):<14} {container.get('State', '?'):<10} {health}")
    if not healthy:
        raise typer.Exit(1)
