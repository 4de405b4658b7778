"""Run a local Ralph, a Learning Record Store (xAPI), for development and tests: where reporting's xAPI statements
go when ``PROBIDAD_LRS_URL`` names it.

Command line (registered by ``probidad.ops.cli`` as ``probidad ralph``)::

    probidad ralph install                       # the virtualenv, once (PyPI: ralph-malph[lrs,cli]==5.1.0)
    probidad ralph start [--state-dir DIR] [--port 8100] [--timeout 60]
    probidad ralph status [--state-dir DIR]
    probidad ralph stop [--state-dir DIR]

* Ralph lives in a virtualenv of its own under the user's cache directory
  (``$XDG_CACHE_HOME/probidad/ralph/5.1.0/venv``, default ``~/.cache``): its pins (FastAPI, Pydantic, bcrypt)
  never meet the project's. ``ralph-malph``'s extras miss ``requests``, which it imports: it is installed beside.
  A first install takes about half a minute; a second is nothing.
* The LRS keeps statements in files (Ralph's ``fs`` backend) under ``$PROBIDAD_STATE_DIR/ralph/data``, and
  knows one user, ``probidad``, by HTTP basic auth with a bcrypt hash in ``auth.json`` (``RALPH_AUTH_FILE``);
  its password is made on the first start and kept in ``password``. ``start`` prints the ``PROBIDAD_LRS_*``
  settings that point reporting at it.
* What runs is what ``ralph runserver -b fs --fs-default-directory-path DIR`` runs (uvicorn serving
  ``ralph.api:app``), with two differences: no auto-reload (one process to stop), and Ralph 5.1.0's file
  backend appends to its statements file instead of refusing every write after the first (it opens the file
  in create mode, so a second POST answers 500: "already exists and overwrite is not allowed").

Python API (synchronous)::

    install_ralph() -> Path                               # the virtualenv's python
    start_ralph(state_dir=None, port=8100, timeout=60) -> RalphServer   # .url, .username, .password
    stop_ralph(state_dir=None) -> int | None
    ralph_status(state_dir=None) -> RalphStatus
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from probidad.ops.localhost import StateDirOption, alive, launch_detached, port_free, running_pid, state_subdir
from probidad.ops.localhost import fail as _fail
from probidad.ops.localhost import stop_groups
from probidad.ops.localhost import tail as _tail

RALPH_VERSION = "5.1.0"
REQUIREMENTS = (f"ralph-malph[lrs,cli]=={RALPH_VERSION}", "requests")
HOST = "127.0.0.1"
DEFAULT_PORT = 8100
DEFAULT_START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
USERNAME = "probidad"
PID_FILE, LOG_FILE = "ralph.pid", "ralph.log"
APP_MODULE = "probidad_ralph_app"
# Ralph 5.1.0's file backend writes in create mode; appending is what an LRS of one file needs.
APP_SOURCE = '''"""Ralph's LRS app, its file backend appending (written by probidad ralph start)."""
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

from ralph.api import app  # noqa: E402,F401
'''


class RalphCtlError(RuntimeError):
    """A problem the operator can act on; the CLI prints the message without a traceback."""


@dataclass
class RalphServer:
    pid: int | None
    port: int
    username: str
    password: str
    data: Path
    log: Path
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        """PROBIDAD_LRS_URL: statements are at <url>/xAPI/statements."""
        return f"http://{HOST}:{self.port}"

    def environment(self) -> dict[str, str]:
        return {"PROBIDAD_LRS_URL": self.url, "PROBIDAD_LRS_USERNAME": self.username,
                "PROBIDAD_LRS_PASSWORD": self.password}


@dataclass
class RalphStatus:
    pid: int | None
    port: int | None
    answering: bool
    log: Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "probidad" / "ralph" / RALPH_VERSION


def _python() -> Path:
    return cache_dir() / "venv" / "bin" / "python"


def install_ralph(echo: Callable[[str], object] | None = None) -> Path:
    """Make Ralph's virtualenv unless it is there; its python. Several callers at once: one installs."""
    say = echo or (lambda _message: None)
    home = cache_dir()
    home.mkdir(parents=True, exist_ok=True)
    done = home / "installed"
    with (home / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file() and _python().is_file():
            return _python()
        say(f"Installing Ralph {RALPH_VERSION} into {home / 'venv'} ...")
        log = home / "install.log"
        with log.open("w") as sink:
            steps = [[sys.executable, "-m", "venv", "--clear", str(home / "venv")],
                     [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS]]
            for step in steps:
                if subprocess.run(step, stdout=sink, stderr=subprocess.STDOUT, check=False).returncode:
                    raise RalphCtlError(f"installing Ralph failed ({' '.join(step[:3])} ...):\n{_tail(log)}")
        done.write_text(f"{' '.join(REQUIREMENTS)}\n")
        return _python()


def _state(state_dir: Path | str | None) -> Path:
    return state_subdir(state_dir, "ralph")


def _our_pid(ralph_dir: Path) -> int | None:
    return running_pid(ralph_dir / PID_FILE, "uvicorn")


def _port_of(ralph_dir: Path) -> int | None:
    try:
        return int((ralph_dir / "port").read_text().strip())
    except (OSError, ValueError):
        return None


def ralph_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/__heartbeat__", timeout=timeout) as response:
            return bool(json.loads(response.read() or b"{}").get("database") == "ok")
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _credentials(python: Path, ralph_dir: Path) -> str:
    """The user's password (made once), and auth.json holding its bcrypt hash (bcrypt is in Ralph's venv)."""
    password_file = ralph_dir / "password"
    if not password_file.is_file():
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    script = ("import bcrypt, json, sys; print(json.dumps([{'username': sys.argv[1], 'hash': bcrypt.hashpw("
              "sys.argv[2].encode(), bcrypt.gensalt()).decode(), 'scopes': ['all'], 'agent': {'objectType': "
              "'Agent', 'account': {'homePage': sys.argv[3], 'name': sys.argv[1]}}}]))")
    made = subprocess.run([str(python), "-c", script, USERNAME, password, "http://localhost"], capture_output=True,
                          text=True, check=False)
    if made.returncode:
        raise RalphCtlError(f"could not hash Ralph's password: {made.stderr.strip()}")
    (ralph_dir / "auth.json").write_text(made.stdout)
    return password


def start_ralph(state_dir: Path | str | None = None, *, port: int = DEFAULT_PORT,
                timeout: float = DEFAULT_START_TIMEOUT, echo: Callable[[str], object] | None = None) -> RalphServer:
    """Start Ralph (installing it first if needed) and return once it answers; idempotent for one state dir."""
    started = time.monotonic()
    ralph_dir = _state(state_dir)
    ralph_dir.mkdir(parents=True, exist_ok=True)
    data, log = ralph_dir / "data", ralph_dir / LOG_FILE
    python = install_ralph(echo)
    pid = _our_pid(ralph_dir)
    if pid is not None:
        running_port = _port_of(ralph_dir) or port
        _wait_ready(pid, ralph_dir, f"http://{HOST}:{running_port}", timeout)
        return RalphServer(pid, running_port, USERNAME, (ralph_dir / "password").read_text().strip(), data, log,
                           time.monotonic() - started)
    if not port_free(port):
        raise RalphCtlError(f"port {port} on {HOST} is already in use; give another with --port")
    data.mkdir(exist_ok=True)
    password = _credentials(python, ralph_dir)
    (ralph_dir / f"{APP_MODULE}.py").write_text(APP_SOURCE)
    (ralph_dir / "port").write_text(f"{port}\n")
    env = {**os.environ, "RALPH_RUNSERVER_BACKEND": "fs", "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(data),
           "RALPH_AUTH_FILE": str(ralph_dir / "auth.json"), "RALPH_APP_DIR": str(ralph_dir)}
    command = [str(python), "-m", "uvicorn", f"{APP_MODULE}:app", "--app-dir", str(ralph_dir), "--host", HOST,
               "--port", str(port), "--log-level", "warning"]
    pid = launch_detached(command, cwd=ralph_dir, log=log, pid_file=ralph_dir / PID_FILE,
                          banner="probidad ralph start", env=env)
    _wait_ready(pid, ralph_dir, f"http://{HOST}:{port}", timeout)
    return RalphServer(pid, port, USERNAME, password, data, log, time.monotonic() - started)


def _wait_ready(pid: int, ralph_dir: Path, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ralph_answers(url):
        if not alive(pid):
            (ralph_dir / PID_FILE).unlink(missing_ok=True)
            raise RalphCtlError(f"Ralph exited during start-up.\n--- last lines of {ralph_dir / LOG_FILE} ---\n"
                                f"{_tail(ralph_dir / LOG_FILE)}")
        if time.monotonic() >= deadline:
            stop_groups([pid], STOP_TIMEOUT)
            raise RalphCtlError(f"Ralph did not answer at {url} within {timeout:.0f}s.\n"
                                f"--- last lines of {ralph_dir / LOG_FILE} ---\n{_tail(ralph_dir / LOG_FILE)}")
        time.sleep(0.2)


def stop_ralph(state_dir: Path | str | None = None) -> int | None:
    """Stop the Ralph this state dir started (its statements stay in data/). Its pid, None if none ran."""
    ralph_dir = _state(state_dir)
    pid = _our_pid(ralph_dir)
    if pid is not None and stop_groups([pid], STOP_TIMEOUT):
        raise RalphCtlError(f"could not stop Ralph (pid {pid})")
    (ralph_dir / PID_FILE).unlink(missing_ok=True)
    return pid


def ralph_status(state_dir: Path | str | None = None) -> RalphStatus:
    ralph_dir = _state(state_dir)
    port = _port_of(ralph_dir)
    pid = _our_pid(ralph_dir)
    return RalphStatus(pid, port, bool(pid and port and ralph_answers(f"http://{HOST}:{port}")), ralph_dir / LOG_FILE)


# --------------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(help="Run a local Ralph (an xAPI Learning Record Store) for development and tests.",
                  no_args_is_help=True)


@app.command()
def install() -> None:
    """Install Ralph into its own virtualenv under the user's cache directory (once)."""
    try:
        python = install_ralph(typer.echo)
    except RalphCtlError as error:
        _fail(error)
        return
    typer.echo(f"Ralph {RALPH_VERSION} is installed: {python.parent}")


@app.command()
def start(state_dir: Path | None = StateDirOption,
          port: int = typer.Option(DEFAULT_PORT, help="Port of its xAPI API on 127.0.0.1."),
          timeout: float = typer.Option(DEFAULT_START_TIMEOUT, help="Seconds to wait for it to answer.")) -> None:
    """Start Ralph (installing it first if needed) and print the settings pointing reporting at it."""
    try:
        server = start_ralph(state_dir, port=port, timeout=timeout, echo=typer.echo)
    except RalphCtlError as error:
        _fail(error)
        return
    typer.echo(f"Ralph is up (pid {server.pid}, log {server.log}) after {server.startup_seconds:.1f}s: "
               f"{server.url}/xAPI/statements, statements kept in {server.data}")
    for name, value in server.environment().items():
        typer.echo(f"{name}={value}")


@app.command()
def stop(state_dir: Path | None = StateDirOption) -> None:
    """Stop the Ralph this state dir started (SIGTERM, then SIGKILL after 15 s); its statements stay."""
    try:
        pid = stop_ralph(state_dir)
    except RalphCtlError as error:
        _fail(error)
        return
    typer.echo(f"Stopped Ralph (pid {pid})" if pid else f"No Ralph of {_state(state_dir)} was running")


@app.command()
def status(state_dir: Path | None = StateDirOption) -> None:
    """Whether this state dir's Ralph runs and answers; exit status 1 if not."""
    state = ralph_status(state_dir)
    typer.echo(f"Ralph of {_state(state_dir)}: " + (f"running (pid {state.pid}) on {HOST}:{state.port}, "
                                                   f"log {state.log}" if state.pid else "not running"))
    if not state.answering:
        raise typer.Exit(1)
