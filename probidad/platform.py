"""``probidad up``: the whole platform on one machine — Kafka, then the four services, each its own process.

Each service gets its own SQLite file in the state dir (or its own PostgreSQL database when
``--postgres URL`` is given: ``postgresql+asyncpg://user@host:port/probidad_{service}``), waits
until every ``/health`` answers, prints where everything is, and stops it all cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from probidad.localhost import tail as _tail

console = Console()

SERVICES: tuple[tuple[str, int], ...] = (
    ("enrollment", 8001),
    ("attendance", 8002),
    ("certification", 8003),
    ("reporting", 8004),
)


@dataclass
class RunningService:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class PlatformError(RuntimeError):
    pass


ROOT = Path(__file__).resolve().parents[1]


def launch(name: str, port: int, env: dict[str, str], log: Path, *,
           command: list[str] | None = None) -> RunningService:
    """Start ``services.<name>`` (or ``command``, serving ``/health`` on ``port``) as its own process.

    It gets its own process group, so stopping it stops anything it started.
    """
    env = {**env, "PROBIDAD_HTTP_HOST": "127.0.0.1", "PROBIDAD_HTTP_PORT": str(port)}
    with open(log, "ab") as sink:
        process = subprocess.Popen(command or [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    return RunningService(name, port, process, log)


def wait_until_healthy(running: list[RunningService], timeout_s: float = 90.0) -> None:
    """Return when every service answers ``/health``; otherwise stop them all and raise PlatformError."""
    deadline = time.monotonic() + timeout_s
    pending = {s.name: s for s in running}
    while pending:
        for name, service in list(pending.items()):
            if service.process.poll() is not None:
                stop_services(running)
                raise PlatformError(f"{name} exited with {service.process.returncode}:\n{_tail(service.log)}")
            try:
                if httpx.get(f"{service.url}/health", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if not pending:
            return
        if time.monotonic() > deadline:
            stop_services(running)
            names = ", ".join(pending)
            raise PlatformError(f"not healthy within {timeout_s:.0f}s: {names}\n" +
                                "\n".join(_tail(pending[n].log) for n in pending))
        time.sleep(0.2)


def start_services(state_dir: Path, bootstrap: str, *, postgres: str | None = None, topic_prefix: str = "",
                   base_port_offset: int = 0, extra_env: dict[str, str] | None = None,
                   timeout_s: float = 90.0, instances: dict[str, int] | None = None) -> list[RunningService]:
    """Start the four services as processes and wait until all are healthy.

    ``instances``: how many processes of a service to run (default one each); more than one needs
    ``postgres``, since they share the service's database. The k-th extra one listens on port + 100·k.
    """
    instances = instances or {}
    for name, count in instances.items():
        if count > 1 and not postgres:
            raise PlatformError(f"{count} instances of {name} need a PostgreSQL database to share")
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: list[RunningService] = []
    extras: list[tuple[str, int, dict[str, str], Path]] = []
    for name, port in SERVICES:
        count = instances.get(name, 1)
        env = {
            **os.environ,
            "PROBIDAD_STATE_DIR": str(state_dir),
            "PROBIDAD_KAFKA_BOOTSTRAP": bootstrap,
            "PROBIDAD_TOPIC_PREFIX": topic_prefix,
            **(extra_env or {}),
        }
        env.pop("PROBIDAD_DATABASE_URL", None)
        if postgres:
            env["PROBIDAD_DATABASE_URL"] = postgres.format(service=name)
        running.append(launch(name, port + base_port_offset, env, logs / f"{name}.log"))
        extras += [(name, port + base_port_offset + 100 * k, env, logs / f"{name}-{k + 1}.log") for k in range(1, count)]
    wait_until_healthy(running, timeout_s)
    if extras:  # once the first instance has made the schema (and the signing key) they share
        more = [launch(name, port, env, log) for name, port, env, log in extras]
        running += more
        try:
            wait_until_healthy(more, timeout_s)
        except PlatformError:
            stop_services(running)
            raise
    return running


def stop_services(running: list[RunningService], timeout_s: float = 20.0) -> None:
    """SIGTERM every service (they drain and close cleanly), SIGKILL any still running after ``timeout_s``."""
    for service in running:
        if service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for service in running:
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


def kill_service(service: RunningService) -> None:
    """SIGKILL: the crash the reliability tests simulate."""
    if service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()


def endpoints_table(running: list[RunningService]) -> Table:
    table = Table(title="Probidad is up", show_lines=False, expand=False)
    table.add_column("service", no_wrap=True)
    table.add_column("where", overflow="fold")
    for s in running:
        table.add_row(s.name, f"API {s.url}/docs\nAsyncAPI {s.url}/asyncapi\nmetrics {s.url}/metrics\nlog {s.log}")
    reporting = next((s for s in running if s.name == "reporting"), None)
    if reporting:
        table.caption = f"Dashboard: {reporting.url}/dashboard   ·   Ctrl-C stops everything"
    return table


def up(
    demo: bool = typer.Option(False, "--demo", help="Load a year of a realistic programme through the public APIs."),
    demo_scale: float = typer.Option(1.0, help="Demo size factor (1.0 ≈ a state programme's year)."),
    postgres: str | None = typer.Option(None, help="PostgreSQL URL template, e.g. "
                                        "postgresql+asyncpg://probidad@127.0.0.1:5433/probidad_{service}"),
    kafka_nodes: int = typer.Option(1, min=1, max=3, help="Kafka nodes to start."),
    state_dir: Path = typer.Option(Path(os.environ.get("PROBIDAD_STATE_DIR", ".probidad")), help="Where state lives."),
    bootstrap: str | None = typer.Option(None, help="Use this running Kafka (host:port) instead of starting one; "
                                         "it is left running on exit."),
    topic_prefix: str = typer.Option("", envvar="PROBIDAD_TOPIC_PREFIX",
                                     help="Namespace for every topic, e.g. 'staging.' (default: none)."),
    port_offset: int = typer.Option(0, min=0, help="Added to each service's port (8001–8004), when those are taken."),
) -> None:
    """Run the platform: Kafka + enrollment, attendance, certification, reporting (Ctrl-C stops)."""
    from probidad import kafkactl

    state_dir = state_dir.resolve()
    os.environ["PROBIDAD_STATE_DIR"] = str(state_dir)
    started_kafka = bootstrap is None
    try:
        if started_kafka:
            with console.status("starting Kafka (first run resolves the jars from Maven Central)…"):
                cluster = kafkactl.start_cluster(nodes=kafka_nodes, state_dir=state_dir, topic_prefix=topic_prefix,
                                                 echo=lambda m: console.log(m))
            bootstrap = cluster.bootstrap
        console.log(f"Kafka answers at {bootstrap}")
        with console.status("starting the four services…"):
            running = start_services(state_dir, bootstrap, postgres=postgres, topic_prefix=topic_prefix,
                                     base_port_offset=port_offset)
    except (kafkactl.KafkaCtlError, PlatformError) as error:
        console.print(f"[red]error:[/red] {error}")
        if started_kafka:
            kafkactl.stop_cluster(state_dir)
        raise typer.Exit(1) from error
    console.print(endpoints_table(running))
    urls = {s.name: s.url for s in running}
    stopping = {"now": False}

    def _stop(_sig, _frame) -> None:  # noqa: ANN001
        stopping["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if demo:
            from probidad import demo as demo_loader

            try:
                demo_loader.load(urls, bootstrap, scale=demo_scale, console=console,
                                 should_stop=lambda: stopping["now"], topic_prefix=topic_prefix)
                console.print(f"[green]demo loaded[/green] — open {urls['reporting']}/dashboard")
            except demo_loader.DemoAlreadyLoaded:
                console.print(f"the demo programme is already loaded — open {urls['reporting']}/dashboard")
            except demo_loader.DemoError as error:
                console.print(f"[red]demo not loaded:[/red] {error}\nThe platform keeps running; see the logs.")
        while not stopping["now"]:
            for s in running:
                if s.process.poll() is not None:
                    console.print(f"[red]{s.name} stopped unexpectedly[/red]:\n{_tail(s.log)}")
                    stopping["now"] = True
            time.sleep(0.5)
    finally:
        console.print("stopping services…")
        stop_services(running)
        if started_kafka:
            kafkactl.stop_cluster(state_dir)
        console.print("stopped.")


TOP_LEVEL_COMMANDS = {"up": up}
