"""``probidad up``: the whole platform on one machine — Kafka, then the four services, each its own process.

Each service gets its own SQLite file in the state dir (or its own PostgreSQL database when
``--postgres URL`` is given: ``postgresql+asyncpg://user@host:port/probidad_{service}``), waits
until every ``/health`` answers, prints where everything is, and stops it all cleanly on Ctrl-C.
With ``--tracing`` it starts Jaeger too (``probidad.ops.jaegerctl``) and the services export their traces to it.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table

from probidad.ops.localhost import alive, command_line, default_state_dir, signal_group, wait_dead
from probidad.ops.localhost import tail as _tail

if TYPE_CHECKING:
    from probidad.shared.kafka_security import KafkaSecurity, Secrets

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


ROOT = Path(__file__).resolve().parents[2]


def launch(name: str, port: int, env: dict[str, str], log: Path, *,
           command: list[str] | None = None) -> RunningService:
    """Start ``services.<name>`` (or ``command``, serving ``/health`` on ``port``) as its own process.

    It gets its own process group, so stopping it stops anything it started, and it watches this
    process: if we die without stopping it (SIGKILL), it stops by itself within seconds.
    """
    env = {**env, "PROBIDAD_HTTP_HOST": "127.0.0.1", "PROBIDAD_HTTP_PORT": str(port),
           "PROBIDAD_PARENT_PID": str(os.getpid())}
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
                   timeout_s: float = 90.0, instances: dict[str, int] | None = None,
                   kafka_secrets: Secrets | None = None) -> list[RunningService]:
    """Start the four services as processes and wait until all are healthy.

    ``kafka_secrets`` (a ``kafka_security.Secrets``, from a secure cluster): each service connects as
    its own principal.

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
    try:
        _start_all(running, logs, bootstrap, state_dir, postgres=postgres, topic_prefix=topic_prefix,
                   base_port_offset=base_port_offset, extra_env=extra_env, timeout_s=timeout_s, instances=instances,
                   kafka_secrets=kafka_secrets)
    except BaseException:  # an error, or Ctrl-C while starting: leave nothing half-started behind
        stop_services(running)
        raise
    return running


def _start_all(running: list[RunningService], logs: Path, bootstrap: str, state_dir: Path, *, postgres: str | None,
               topic_prefix: str, base_port_offset: int, extra_env: dict[str, str] | None, timeout_s: float,
               instances: dict[str, int], kafka_secrets: Secrets | None = None) -> None:
    extras: list[tuple[str, int, dict[str, str], Path]] = []
    for name, port in SERVICES:
        count = instances.get(name, 1)
        env = {
            **os.environ,
            "PROBIDAD_STATE_DIR": str(state_dir),
            "PROBIDAD_KAFKA_BOOTSTRAP": bootstrap,
            "PROBIDAD_TOPIC_PREFIX": topic_prefix,
            **(kafka_secrets.service(name).environment() if kafka_secrets else {}),
            # A named constancia's QR code opens certification's verification page, wherever it listens.
            "PROBIDAD_CERTIFICATION_PUBLIC_URL":
                f"http://127.0.0.1:{dict(SERVICES)['certification'] + base_port_offset}",
            # E-mail on a development machine goes to a local sink (`probidad mail-sink`, port 1025) unless told
            # otherwise, and its links lead to enrollment where it listens.
            "PROBIDAD_SMTP_PORT": os.environ.get("PROBIDAD_SMTP_PORT", "1025"),
            "PROBIDAD_PUBLIC_URL": os.environ.get(
                "PROBIDAD_PUBLIC_URL", f"http://127.0.0.1:{dict(SERVICES)['enrollment'] + base_port_offset}"),
            **(extra_env or {}),
        }
        env.pop("PROBIDAD_DATABASE_URL", None)
        if postgres:
            env["PROBIDAD_DATABASE_URL"] = postgres.format(service=name)
        running.append(launch(name, port + base_port_offset, env, logs / f"{name}.log"))
        extras += [(name, port + base_port_offset + 100 * k, env, logs / f"{name}-{k + 1}.log")
                   for k in range(1, count)]
    wait_until_healthy(running, timeout_s)
    if extras:  # once the first instance has made the schema (and the signing key) they share
        more = [launch(name, port, env, log) for name, port, env, log in extras]
        running += more
        wait_until_healthy(more, timeout_s)


def stop_services(running: list[RunningService], timeout_s: float = 20.0) -> None:
    """SIGTERM every service (they drain and close cleanly), SIGKILL any still running after ``timeout_s``."""
    for service in running:
        if service.process.poll() is None:
            signal_group(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for service in running:
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(service.process.pid, signal.SIGKILL)
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


class StopRequest:
    """What ends ``probidad up``: Ctrl-C, SIGTERM, SIGHUP (its terminal closed) or its output closing
    (``probidad up | tee up.log`` and the reader went away).

    While the platform starts, the first signal interrupts (KeyboardInterrupt, after which every
    start-up step removes what it had started); once the platform runs, a stop request is only a flag
    that the demo loader and the wait loop read (calling the object), so stopping always runs the
    same clean path. Signals after the first are ignored: a second Ctrl-C cannot cut the stop short."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.interrupting = True

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                continue  # started under nohup: a closing terminal is meant not to stop it
            signal.signal(sig, self._signalled)

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        if self.reason is None:
            self.request(signal.Signals(signum).name)
            if self.interrupting:
                raise KeyboardInterrupt(self.reason)

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def __call__(self) -> bool:
        """Whether to stop now."""
        if self.reason is None and output_closed(sys.stdout):
            self.request("stdout closed")
        return self.reason is not None


def output_closed(stream: IO[str]) -> bool:
    """The reader of the pipe ``stream`` writes to has gone (poll reports POLLERR on a pipe's write end
    then), found without writing anything."""
    try:
        fd = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLERR)
        return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))
    except (OSError, ValueError):
        return True


class GuardedOutput(io.TextIOBase):
    """The console's standard output, which never raises: once its reader is gone (EPIPE) or its
    terminal (EIO), it reports ``on_closed`` and discards what follows — so stopping the platform
    never depends on being able to say so."""

    def __init__(self, stream: IO[str], on_closed: Callable[[str], None]) -> None:
        self.stream, self.on_closed, self.gone = stream, on_closed, False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
            except OSError:
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError:
                self._closed()

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def _closed(self) -> None:
        self.gone = True
        try:  # the interpreter flushes stdout once more at exit: let that go nowhere instead of failing
            sink = os.open(os.devnull, os.O_WRONLY)
            os.dup2(sink, self.stream.fileno())
            os.close(sink)
        except (OSError, ValueError):
            pass
        self.on_closed("stdout closed")


RUN_RECORD = "up.json"


def _record_run(state_dir: Path, running: list[RunningService], own_kafka: bool) -> None:
    """Note in the state dir who runs the platform, so a later ``up`` can clean up after this one if it
    is killed with SIGKILL, and where each service answers (``--port-offset`` moves them), so the
    command-line tools reach this platform."""
    urls: dict[str, str] = {}
    for s in running:
        urls.setdefault(s.name, s.url)  # the first instance of each service
    (state_dir / RUN_RECORD).write_text(json.dumps({
        "pid": os.getpid(), "services": [[s.name, s.process.pid] for s in running], "kafka": own_kafka,
        "urls": urls}) + "\n")


def service_url(service: str, given: str | None = None, state_dir: Path | None = None) -> tuple[str, str]:
    """Where a command-line tool finds ``service``, and why there: the URL given (``--url`` or the
    service's environment variable), else the address of the platform ``probidad up`` runs from the
    state dir (``$PROBIDAD_STATE_DIR``, default ``./.probidad``), else the service's default port."""
    if given:
        return given.rstrip("/"), "given by --url or its environment variable"
    state_dir = state_dir or default_state_dir()
    try:
        record = json.loads((state_dir / RUN_RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    url = (record.get("urls") or {}).get(service) if isinstance(record, dict) else None
    if url and isinstance(record.get("pid"), int) and alive(record["pid"]):
        return url, f"of the platform `probidad up` runs from {state_dir}"
    return (f"http://127.0.0.1:{dict(SERVICES)[service]}",
            f"the default: no `probidad up` runs from {state_dir} (set PROBIDAD_STATE_DIR, or give --url)")


def _forget_run(state_dir: Path) -> None:
    record = state_dir / RUN_RECORD
    try:
        if json.loads(record.read_text()).get("pid") == os.getpid():
            record.unlink()
    except (OSError, ValueError):
        pass


def _take_over_earlier_run(state_dir: Path, say: Callable[[str], None]) -> bool:
    """Clean up after an earlier ``probidad up`` of this state dir that ended without stopping (SIGKILL,
    a crash): stop the services it left (they stop by themselves within seconds once their parent is
    gone, but may still hold their ports) and say that its broker, if it still runs, is reused.

    Returns whether that run's broker still runs (this run then stops it on exit, as that one would have)."""
    from probidad.ops import kafkactl

    record = state_dir / RUN_RECORD
    try:
        earlier = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    pid = earlier.get("pid")
    if pid and pid != os.getpid() and alive(pid) and " up" in command_line(pid):
        raise PlatformError(f"another `probidad up` (pid {pid}) runs with {state_dir}; stop it first "
                            "or choose another --state-dir")
    left = [service_pid for name, service_pid in earlier.get("services", [])
            if alive(service_pid) and f"services.{name}" in command_line(service_pid)]
    say(f"an earlier `probidad up` (pid {pid}) of this state dir ended without stopping"
        + (f"; stopping the {len(left)} service process(es) it left" if left else ""))
    for service_pid in left:
        signal_group(service_pid, signal.SIGTERM)
    for service_pid in wait_dead(left, 20):
        signal_group(service_pid, signal.SIGKILL)
    wait_dead(left, 5)
    inherited = bool(earlier.get("kafka")) and any(node.alive for node in kafkactl.cluster_status(state_dir))
    if inherited:
        say("the Kafka broker it started still runs in this state dir: reusing it (stopped on exit as usual)")
    record.unlink(missing_ok=True)
    return inherited


def _demo_instant(text: str | None, timezone: str) -> datetime | None:
    """``--demo-today``: an ISO date (its start) or date-time, in the programme's zone unless it says."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(f"{text!r}: give an ISO date or date-time, e.g. 2027-01-01") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    if moment > datetime.now(UTC):
        raise typer.BadParameter(f"{text}: is later than now; the services close sessions by the real clock")
    return moment


def _load_demo(console: Console, urls: dict[str, str], bootstrap: str, state_dir: Path, *, scale: float,
               today: datetime | None, timezone: str, stop: StopRequest, topic_prefix: str,
               kafka_security: KafkaSecurity | None = None) -> None:
    from probidad.ops import demo
    from probidad.ops.programme import expected_figures

    programme, note = demo.programme_for(state_dir, scale=scale, now=today, timezone=timezone)
    if note:
        console.print(note)
    bulletin = expected_figures(programme)["months"][programme.bulletin_month]
    console.print(f"demo programme: the twelve months {programme.first_day:%Y-%m} to {programme.last_day:%Y-%m} "
                  f"({len(programme.sessions)} sessions, {len(programme.servants):,} servants); bulletin month "
                  f"{programme.bulletin_month}: {bulletin['sessions_delivered']} sessions delivered, "
                  f"{bulletin['servants_trained']} servants trained")
    dashboard = f"{urls['reporting']}/dashboard"
    try:
        demo.load(urls, bootstrap, programme, console=console, should_stop=stop, topic_prefix=topic_prefix,
                  kafka_security=kafka_security)
    except demo.DemoAlreadyLoaded:
        console.print(f"the demo programme is already loaded — open {dashboard}")
    except demo.DemoIncomplete as error:
        then = ("The platform stops now" if stop() else "The platform keeps running (see the logs)")
        console.print(f"[red]demo not loaded completely:[/red] {error.reason}\nloaded so far: {error.loaded}\n"
                      f"{then}; run `probidad up --demo` again with this state dir to continue where it stopped.")
    else:
        console.print(f"[green]demo loaded[/green] — open {dashboard}")


def up(
    demo: bool = typer.Option(False, "--demo", help="Load a year of a realistic programme through the public APIs."),
    demo_scale: float = typer.Option(1.0, help="Demo size factor (1.0 ≈ a state programme's year)."),
    demo_today: str | None = typer.Option(None, "--demo-today", envvar="PROBIDAD_DEMO_TODAY", hidden=True,
                                          help="Plan the demo as on this (past) date; for date-proof tests."),
    postgres: str | None = typer.Option(None, help="PostgreSQL URL template, e.g. "
                                        "postgresql+asyncpg://probidad@127.0.0.1:5433/probidad_{service}"),
    kafka_nodes: int = typer.Option(1, min=1, max=3, help="Kafka nodes to start."),
    kafka_port: int = typer.Option(9092, min=1024, max=65000, help="Client port of the first Kafka node started "
                                   "(node i uses port + 2i, and port + 2i + 1 for its controller)."),
    state_dir: Path = typer.Option(Path(os.environ.get("PROBIDAD_STATE_DIR", ".probidad")), help="Where state lives."),
    bootstrap: str | None = typer.Option(None, help="Use this running Kafka (host:port) instead of starting one; "
                                         "it is left running on exit."),
    topic_prefix: str = typer.Option("", envvar="PROBIDAD_TOPIC_PREFIX",
                                     help="Namespace for every topic, e.g. 'staging.' (default: none)."),
    port_offset: int = typer.Option(0, min=0, help="Added to each service's port (8001–8004), when those are taken."),
    secure: bool = typer.Option(False, "--secure", help="Start Kafka with authentication and ACLs "
                                "(`probidad kafka start --secure`); each service connects as its own principal."),
    tracing: bool = typer.Option(False, "--tracing", help="Start Jaeger too (`probidad jaeger start`) and send it "
                                 "the services' traces; its query API, and its UI given PROBIDAD_JAEGER_UI_ASSETS, "
                                 "are on http://127.0.0.1:16686."),
) -> None:
    """Run the platform: Kafka + enrollment, attendance, certification, reporting (Ctrl-C stops)."""
    from probidad.shared.settings import ServiceSettings

    stop = StopRequest()
    stop.install()
    console = Console(file=GuardedOutput(sys.stdout, stop.request))
    timezone = ServiceSettings().programme_timezone
    today = _demo_instant(demo_today, timezone)
    raise typer.Exit(_run(console, stop, demo=demo, demo_scale=demo_scale, today=today, timezone=timezone,
                          postgres=postgres, kafka_nodes=kafka_nodes, kafka_port=kafka_port,
                          state_dir=state_dir.resolve(), bootstrap=bootstrap, topic_prefix=topic_prefix,
                          port_offset=port_offset, secure=secure, tracing=tracing))


def _run(console: Console, stop: StopRequest, *, demo: bool, demo_scale: float, today: datetime | None,
         timezone: str, postgres: str | None, kafka_nodes: int, kafka_port: int, state_dir: Path,
         bootstrap: str | None, topic_prefix: str, port_offset: int, secure: bool = False,
         tracing: bool = False) -> int:
    """``probidad up`` itself; returns the exit code. Whatever ends it, the ``finally`` stops what it started."""
    from probidad.ops import jaegerctl, kafkactl

    os.environ["PROBIDAD_STATE_DIR"] = str(state_dir)
    own_kafka = False  # what the finally stops: only what this run started or took over
    own_jaeger = False
    traces: dict[str, str] = {}  # the OTEL_* variables of the services, with --tracing
    where_traces = ""  # what to open to see them
    running: list[RunningService] = []
    secrets = None  # a secure cluster's credentials
    try:
        try:
            if secure and bootstrap is not None:
                raise PlatformError("--secure starts its own Kafka; it cannot be combined with --bootstrap")
            state_dir.mkdir(parents=True, exist_ok=True)
            inherited = _take_over_earlier_run(state_dir, console.log)
            if bootstrap is None:
                # A broker this state dir already ran (`probidad kafka start`) is used and left running;
                # one this run starts, or inherits from a run that was killed, is stopped on exit.
                already = any(node.alive for node in kafkactl.cluster_status(state_dir)) and not inherited
                own_kafka = not already
                with console.status("starting Kafka (first run resolves the jars from Maven Central)…"):
                    cluster = kafkactl.start_cluster(nodes=kafka_nodes, state_dir=state_dir, base_port=kafka_port,
                                                     topic_prefix=topic_prefix, echo=console.log, secure=secure)
                bootstrap = cluster.bootstrap
                secrets = cluster.secrets
                own_kafka = own_kafka and not cluster.reused
                if not own_kafka:
                    console.log("this Kafka was running before: it is left running on exit")
            console.log(f"Kafka answers at {bootstrap}")
            if tracing:
                # A Jaeger already running (`probidad jaeger start`, another one on its ports) is used and
                # left running; one this run starts is stopped on exit, with the traces it holds.
                already = jaegerctl.jaeger_status(state_dir).pid is not None
                with console.status("starting Jaeger (a first run builds it from the Go module proxy)…"):
                    jaeger = jaegerctl.start_jaeger(state_dir, echo=console.log)
                own_jaeger = not already and not jaeger.reused
                traces = jaegerctl.otel_environment(jaeger)
                where_traces = (f"Traces: {jaeger.query_url} (Jaeger; pick a service, e.g. enrollment, and Find Traces)"
                                if jaeger.ui else f"Traces: {jaeger.query_url}/api/traces?service=enrollment (Jaeger's "
                                "query API; for its web UI give PROBIDAD_JAEGER_UI_ASSETS, see `probidad jaeger start "
                                "--help`)")
                console.log(f"Jaeger takes the services' traces at {jaeger.otlp_http_endpoint}")
            with console.status("starting the four services…"):
                running = start_services(state_dir, bootstrap, postgres=postgres, topic_prefix=topic_prefix,
                                         base_port_offset=port_offset, kafka_secrets=secrets, extra_env=traces)
            _record_run(state_dir, running, own_kafka)
        except (kafkactl.KafkaCtlError, jaegerctl.JaegerCtlError, PlatformError) as error:
            console.print(f"[red]error:[/red] {error}")
            return 1
        except KeyboardInterrupt:
            return 0
        stop.interrupting = False
        console.print(endpoints_table(running))
        if where_traces:
            console.print(where_traces)
        urls = {s.name: s.url for s in running}
        if demo:
            _load_demo(console, urls, bootstrap, state_dir, scale=demo_scale, today=today, timezone=timezone,
                       stop=stop, topic_prefix=topic_prefix, kafka_security=secrets.admin() if secrets else None)
        while not stop():
            for s in running:
                if s.process.poll() is not None:
                    console.print(f"[red]{s.name} stopped unexpectedly[/red]:\n{_tail(s.log)}")
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        stop.interrupting = False
        console.print(f"stopping ({stop.reason})…" if stop.reason else "stopping…")
        stop_services(running)
        if own_kafka:
            kafkactl.stop_cluster(state_dir)
        if own_jaeger:
            jaegerctl.stop_jaeger(state_dir)
        _forget_run(state_dir)
        console.print("stopped.")


TOP_LEVEL_COMMANDS = {"up": up}
