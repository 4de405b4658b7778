"""Run a local Jaeger (traces) for development and tests: the all-in-one ``jaeger`` binary with no configuration.

Command line (registered by ``probidad.cli`` as ``probidad jaeger``)::

    probidad jaeger start [--state-dir DIR] [--timeout 60] [--ui-assets DIR]
    probidad jaeger status [--state-dir DIR]
    probidad jaeger stop [--state-dir DIR]

* The binary is Jaeger's ``cmd/jaeger`` built from the Go module proxy and cached by
  ``probidad.ops.gotools`` (``probidad tools build jaeger``; the first build takes minutes).
* Run with no configuration it keeps traces in memory (gone when it stops) and listens on the
  standard ports: OTLP over gRPC on 4317 and over HTTP on 4318 (where the services send their spans:
  ``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``), the query API and UI on 16686
  (http://127.0.0.1:16686). Its own health, metrics and legacy-protocol ports come with it. One setting is
  changed: Jaeger does not trace its own queries (it would list itself among the services, and wait 10 s on
  stopping to send those spans to the port it has just closed).
* The web UI is not in the Go module: Jaeger's release builds embed it from a separate JavaScript project
  (jaeger-ui), so the binary built here answers the query API but shows a placeholder page at 16686. Given
  the UI's built files (``--ui-assets DIR`` or ``PROBIDAD_JAEGER_UI_ASSETS``: a directory holding the UI's
  ``index.html``, e.g. a jaeger-ui release's ``packages/jaeger-ui/build``), it serves them
  (``extensions.jaeger_query.ui.assets_path``). The compose stack's Jaeger image has the UI built in.
* State lives in ``$PROBIDAD_STATE_DIR/jaeger`` (default ``./.probidad/jaeger``): ``jaeger.pid`` and
  ``jaeger.log``. The server runs detached in its own process group, so it outlives the command that
  started it; ``stop`` sends SIGTERM, waits up to 15 s, then SIGKILLs it.
* ``start`` returns once the query API answers and the OTLP ports accept connections. If a Jaeger
  already answers on the query port (another checkout's, a container), it is reused; if the ports are
  taken by anything else, ``start`` fails saying which.

Python API (synchronous)::

    start_jaeger(state_dir=None, timeout=60.0, ui_assets=None) -> JaegerServer  # .query_url, .ui, .reused
    stop_jaeger(state_dir=None) -> int | None                    # the pid stopped, None if none ran
    jaeger_status(state_dir=None) -> JaegerStatus
    otel_environment(server=None) -> dict[str, str]              # OTEL_* for a service exporting to it
    jaeger_answers(query_url) -> bool
    serves_ui(query_url) -> bool                                 # the real UI, not the placeholder page

Problems the operator can fix raise ``JaegerCtlError``; the CLI prints the message and exits with 1.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from probidad.ops.localhost import StateDirOption, alive
from probidad.ops.localhost import fail as _fail
from probidad.ops.localhost import port_answers, port_free
from probidad.ops.localhost import tail as _tail
from probidad.ops.localhost import launch_detached, running_pid, state_subdir, stop_groups

__all__ = [
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
    "QUERY_PORT",
    "JaegerCtlError",
    "JaegerServer",
    "JaegerStatus",
    "app",
    "jaeger_answers",
    "jaeger_status",
    "otel_environment",
    "serves_ui",
    "start_jaeger",
    "stop_jaeger",
]

# The ports of Jaeger's built-in all-in-one configuration (the binary run without --config).
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
QUERY_PORT = 16686
HOST = "127.0.0.1"
DEFAULT_START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
PID_FILE = "jaeger.pid"
LOG_FILE = "jaeger.log"
UI_ASSETS_VARIABLE = "PROBIDAD_JAEGER_UI_ASSETS"
# What Jaeger shows at / when its binary was built without the UI's files.
PLACEHOLDER_MARK = b"This is not the Jaeger UI"


class JaegerCtlError(RuntimeError):
    """A problem the operator can act on; the CLI prints the message without a traceback."""


@dataclass
class JaegerServer:
    pid: int | None  # None when an already running Jaeger was reused
    log: Path | None
    reused: bool = False
    startup_seconds: float = 0.0
    host: str = HOST
    ui: bool = False  # its web UI answers (not only the query API)

    @property
    def query_url(self) -> str:
        """The query API and the UI."""
        return f"http://{self.host}:{QUERY_PORT}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://{self.host}:{OTLP_HTTP_PORT}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://{self.host}:{OTLP_GRPC_PORT}"


@dataclass
class JaegerStatus:
    pid: int | None  # the server this state dir started, if it runs
    answering: bool  # a Jaeger query API answers on the query port (ours or not)
    log: Path


def otel_environment(server: JaegerServer | None = None) -> dict[str, str]:
    """The standard OpenTelemetry variables that make a service process export its spans to ``server``
    (default: the one on this machine's standard ports) over OTLP/HTTP."""
    endpoint = (server or JaegerServer(None, None)).otlp_http_endpoint
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }


def _jaeger_state(state_dir: Path | str | None) -> Path:
    return state_subdir(state_dir, "jaeger")


def jaeger_answers(query_url: str = f"http://{HOST}:{QUERY_PORT}", timeout: float = 2.0) -> bool:
    """A Jaeger query API answers at ``query_url`` (``/api/services`` gives its JSON envelope)."""
    try:
        with urllib.request.urlopen(f"{query_url}/api/services", timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(body, dict) and "data" in body


def serves_ui(query_url: str = f"http://{HOST}:{QUERY_PORT}", timeout: float = 2.0) -> bool:
    """The web UI answers at ``query_url`` (a binary built without it shows a placeholder page there)."""
    try:
        with urllib.request.urlopen(f"{query_url}/", timeout=timeout) as response:
            page = response.read()
    except (OSError, urllib.error.URLError):
        return False
    return PLACEHOLDER_MARK not in page


def _ui_assets(given: Path | str | None) -> Path | None:
    chosen = given or os.environ.get(UI_ASSETS_VARIABLE) or None
    if chosen is None:
        return None
    assets = Path(chosen).expanduser().resolve()
    if not (assets / "index.html").is_file():
        raise JaegerCtlError(f"{assets} holds no index.html: give the directory of the Jaeger UI's built files "
                             "(jaeger-ui's packages/jaeger-ui/build)")
    return assets


def _binary() -> Path:
    from probidad.ops.gotools import GoToolError, tool_binary

    try:
        return tool_binary("jaeger")
    except GoToolError as error:
        raise JaegerCtlError(str(error)) from error


def _our_pid(jaeger_dir: Path) -> int | None:
    """The pid of the Jaeger this state dir started, if it still runs (checked against its command line)."""
    return running_pid(jaeger_dir / PID_FILE, "jaeger")


def _launch(binary: Path, jaeger_dir: Path, ui_assets: Path | None = None) -> int:
    jaeger_dir.mkdir(parents=True, exist_ok=True)
    # No configuration file: the built-in all-in-one one. On top of it, the query service does not trace itself:
    # its spans would crowd the services' list, and on stopping it waits 10 s to export them to the OTLP port it
    # has just closed. And the UI's files, if given.
    command = [str(binary), "--set", "extensions.jaeger_query.enable_tracing=false",
               *(["--set", f"extensions.jaeger_query.ui.assets_path={ui_assets}"] if ui_assets else [])]
    return launch_detached(command, cwd=jaeger_dir, log=jaeger_dir / LOG_FILE, pid_file=jaeger_dir / PID_FILE,
                           banner="probidad jaeger start")


def _ready(host: str) -> bool:
    return (jaeger_answers(f"http://{host}:{QUERY_PORT}")
            and port_answers(OTLP_HTTP_PORT, host=host) and port_answers(OTLP_GRPC_PORT, host=host))


def _wait_ready(pid: int, jaeger_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _ready(HOST):
        if not alive(pid):
            (jaeger_dir / PID_FILE).unlink(missing_ok=True)
            raise JaegerCtlError(f"Jaeger exited during start-up.\n--- last lines of {jaeger_dir / LOG_FILE} ---\n"
                                 f"{_tail(jaeger_dir / LOG_FILE)}")
        if time.monotonic() >= deadline:
            _stop_pid(pid, jaeger_dir)  # leave nothing half-started behind
            raise JaegerCtlError(f"Jaeger did not answer on {HOST}:{QUERY_PORT} within {timeout:.0f}s.\n"
                                 f"--- last lines of {jaeger_dir / LOG_FILE} ---\n{_tail(jaeger_dir / LOG_FILE)}")
        time.sleep(0.2)


def start_jaeger(state_dir: Path | str | None = None, timeout: float = DEFAULT_START_TIMEOUT,
                 echo: Callable[[str], object] | None = None, ui_assets: Path | str | None = None) -> JaegerServer:
    """Start (or reuse) Jaeger and return once it accepts spans and answers queries; idempotent.

    ``ui_assets`` (default ``$PROBIDAD_JAEGER_UI_ASSETS``): the web UI's built files, for a Jaeger started here."""
    say = echo or (lambda _message: None)
    started = time.monotonic()
    assets = _ui_assets(ui_assets)
    jaeger_dir = _jaeger_state(state_dir)
    log = jaeger_dir / LOG_FILE
    pid = _our_pid(jaeger_dir)
    if pid is not None:
        say(f"Jaeger of {jaeger_dir} already running (pid {pid})")
        _wait_ready(pid, jaeger_dir, timeout)
        return JaegerServer(pid, log, startup_seconds=time.monotonic() - started, ui=serves_ui())
    if jaeger_answers():
        say(f"A Jaeger already answers on {HOST}:{QUERY_PORT}; reusing it.")
        if not port_answers(OTLP_HTTP_PORT):
            raise JaegerCtlError(f"the Jaeger answering on {HOST}:{QUERY_PORT} does not accept OTLP on "
                                 f"{HOST}:{OTLP_HTTP_PORT}; the services could not send it their spans")
        return JaegerServer(None, None, reused=True, startup_seconds=time.monotonic() - started, ui=serves_ui())
    busy = [port for port in (OTLP_GRPC_PORT, OTLP_HTTP_PORT, QUERY_PORT) if not port_free(port)]
    if busy:
        raise JaegerCtlError(f"port(s) {', '.join(map(str, busy))} on {HOST} already in use by another program "
                             "(not a Jaeger answering queries on 16686); stop it first")
    binary = _binary()
    say(f"Starting Jaeger ({binary.name}) in {jaeger_dir} ...")
    pid = _launch(binary, jaeger_dir, assets)
    try:
        _wait_ready(pid, jaeger_dir, timeout)
    except KeyboardInterrupt:
        _stop_pid(pid, jaeger_dir)
        raise
    return JaegerServer(pid, log, startup_seconds=time.monotonic() - started, ui=serves_ui())


def _stop_pid(pid: int, jaeger_dir: Path, timeout: float = STOP_TIMEOUT) -> None:
    if stop_groups([pid], timeout):
        raise JaegerCtlError(f"could not stop Jaeger (pid {pid})")
    (jaeger_dir / PID_FILE).unlink(missing_ok=True)


def stop_jaeger(state_dir: Path | str | None = None, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the Jaeger this state dir started (its traces are gone with it). Returns its pid, None if none ran."""
    jaeger_dir = _jaeger_state(state_dir)
    pid = _our_pid(jaeger_dir)
    if pid is None:
        (jaeger_dir / PID_FILE).unlink(missing_ok=True)
        return None
    _stop_pid(pid, jaeger_dir, timeout)
    return pid


def jaeger_status(state_dir: Path | str | None = None) -> JaegerStatus:
    jaeger_dir = _jaeger_state(state_dir)
    return JaegerStatus(_our_pid(jaeger_dir), jaeger_answers(), jaeger_dir / LOG_FILE)


# --------------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(help="Run a local Jaeger (traces in memory) for development and tests.", no_args_is_help=True)


@app.command()
def start(
    state_dir: Path | None = StateDirOption,
    timeout: float = typer.Option(DEFAULT_START_TIMEOUT, "--timeout", help="Seconds to wait for Jaeger to answer."),
    ui_assets: Path | None = typer.Option(None, "--ui-assets", envvar=UI_ASSETS_VARIABLE, show_default=False,
                                          help="Directory of the Jaeger UI's built files (its index.html); "
                                          "without it the UI page is a placeholder (the query API works)."),
) -> None:
    """Start Jaeger (or reuse a running one): OTLP on 4317/4318, UI and query API on 16686."""
    try:
        server = start_jaeger(state_dir, timeout=timeout, echo=typer.echo, ui_assets=ui_assets)
    except JaegerCtlError as error:
        _fail(error)
        return
    owner = "reused" if server.reused else f"pid {server.pid}, log {server.log}"
    typer.echo(f"Jaeger is up ({owner}) after {server.startup_seconds:.1f}s: " + (
        f"UI {server.query_url}" if server.ui else
        f"query API {server.query_url}/api (no web UI: give --ui-assets DIR, see `probidad jaeger start --help`)"))
    for name, value in otel_environment(server).items():
        typer.echo(f"{name}={value}")


@app.command()
def stop(state_dir: Path | None = StateDirOption) -> None:
    """Stop the Jaeger this state dir started (SIGTERM, then SIGKILL after 15 s); its traces are gone."""
    try:
        pid = stop_jaeger(state_dir)
    except JaegerCtlError as error:
        _fail(error)
        return
    typer.echo(f"Stopped Jaeger (pid {pid})" if pid else f"No Jaeger of {_jaeger_state(state_dir)} was running")


@app.command()
def status(state_dir: Path | None = StateDirOption) -> None:
    """Show whether this state dir's Jaeger runs and whether one answers; exit status 1 if none answers."""
    state = jaeger_status(state_dir)
    typer.echo(f"Jaeger of {_jaeger_state(state_dir)}: " + (f"running (pid {state.pid}), log {state.log}"
                                                            if state.pid else "not running"))
    if state.answering:
        typer.echo(f"{HOST}:{QUERY_PORT}: answering" + ("" if state.pid else " (a Jaeger not managed here)")
                   + f"   UI http://{HOST}:{QUERY_PORT}")
    else:
        typer.echo(f"{HOST}:{QUERY_PORT}: not answering")
        raise typer.Exit(1)
