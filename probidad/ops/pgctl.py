"""Run a throwaway PostgreSQL server from Debian's packages, for development and tests.

Command line (registered by ``probidad.cli`` as ``probidad postgres``)::

    probidad postgres start [--port 5433] [--database NAME ...] [--state-dir DIR] [--reset]
    probidad postgres status [--state-dir DIR]
    probidad postgres stop [--state-dir DIR]

* Binaries come from ``/usr/lib/postgresql/<version>/bin`` (the highest version installed;
  ``apt-get install postgresql``). Nothing is registered with the system's cluster manager.
* The cluster lives in ``$PROBIDAD_STATE_DIR/postgres`` (default ``./.probidad/postgres``): ``data/``
  (initdb), ``run/`` (Unix socket), ``postgres.log`` and ``server.json`` (port, version).
* It listens on 127.0.0.1 only (default port 5433, so it never clashes with a system server on
  5432), trusts every local and loopback connection, and its superuser is ``probidad``. It is tuned
  for throwaway use (``fsync=off``, ``synchronous_commit=off``): fast, not crash-safe.
* PostgreSQL refuses to run as root. When run as root the data directory is owned by the
  ``postgres`` OS user and the server tools run through ``runuser -u postgres --``.
* ``start`` creates the databases asked for with ``--database`` (repeatable) or, by default,
  ``DEFAULT_DATABASES``; existing ones are kept. It prints one SQLAlchemy URL per database:
  ``postgresql+asyncpg://probidad@127.0.0.1:5433/<db>``.
* If the port is already served by a PostgreSQL that accepts the ``probidad`` user (another
  checkout's server, a CI service container), ``start`` reuses it and only creates the databases.

Python API (synchronous)::

    start_postgres(state_dir=None, port=5433, databases=DEFAULT_DATABASES, reset=False) -> PostgresServer
    stop_postgres(state_dir=None) -> bool                     # True if a server was stopped
    postgres_status(state_dir=None) -> PostgresStatus
    database_url(database, port=5433, host="127.0.0.1") -> str
    find_bin_dir() -> Path

Problems the operator can fix raise ``PgCtlError``; the CLI prints the message and exits with 1.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import typer

from probidad.ops.localhost import port_free as _port_free
from probidad.ops.localhost import StateDirOption
from probidad.ops.localhost import fail as _fail
from probidad.ops.localhost import tail as _tail
from probidad.ops.localhost import state_subdir

__all__ = [
    "DEFAULT_DATABASES",
    "DEFAULT_PORT",
    "PgCtlError",
    "PostgresServer",
    "PostgresStatus",
    "app",
    "database_url",
    "find_bin_dir",
    "postgres_status",
    "start_postgres",
    "stop_postgres",
]

DEFAULT_PORT = 5433
USER = "probidad"
OS_USER = "postgres"
DEFAULT_DATABASES: tuple[str, ...] = (
    "probidad",
    "probidad_enrollment",
    "probidad_attendance",
    "probidad_certification",
    "probidad_reporting",
    "probidad_test",
)
PG_ROOT = Path("/usr/lib/postgresql")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PgCtlError(RuntimeError):
    """A problem the operator can act on; the CLI prints the message without a traceback."""


@dataclass
class PostgresServer:
    port: int
    data_dir: Path | None
    version: str = ""
    reused: bool = False
    created: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    startup_seconds: float = 0.0

    def url(self, database: str = "probidad") -> str:
        return database_url(database, self.port)


@dataclass
class PostgresStatus:
    configured: bool
    running: bool  # the server of this state dir runs (pg_ctl status)
    answering: bool  # something accepts PostgreSQL connections on the port
    port: int
    pid: int | None
    data_dir: Path


def database_url(database: str, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> str:
    return f"postgresql+asyncpg://{USER}@{host}:{port}/{database}"


# --------------------------------------------------------------------------------------------------
# Environment


def _pg_state(state_dir: Path | str | None) -> Path:
    return state_subdir(state_dir, "postgres")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (0,)


def find_bin_dir() -> Path:
    """The ``bin`` directory of the highest PostgreSQL version installed from Debian packages."""
    candidates = [
        path / "bin"
        for path in (PG_ROOT.iterdir() if PG_ROOT.is_dir() else [])
        if (path / "bin" / "initdb").is_file() and (path / "bin" / "pg_ctl").is_file()
    ]
    if not candidates:
        raise PgCtlError(
            f"PostgreSQL server binaries not found under {PG_ROOT}/<version>/bin.\n"
            "Install them with: apt-get install postgresql"
        )
    return max(candidates, key=lambda path: _version_key(path.parent))


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(command: Sequence[str]) -> list[str]:
    """Prefix a server-side command so it runs as the ``postgres`` OS user when we are root."""
    if not _is_root():
        return list(command)
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", OS_USER, "--", *command]


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError as error:
        raise PgCtlError(
            f"running as root, but there is no '{OS_USER}' OS user to run PostgreSQL as "
            "(it comes with apt-get install postgresql)"
        ) from error


def _run(command: Sequence[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, cwd="/")
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PgCtlError(f"`{' '.join(command)}` failed:\n{output}")
    return result


# --------------------------------------------------------------------------------------------------
# Client side (psql over TCP; trust auth)


def _psql(bin_dir: Path, port: int, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "3"}
    env.pop("PGPASSWORD", None)
    command = [
        str(bin_dir / "psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        USER,
        "-d",
        database,
        "-tAc",
        sql,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, cwd="/")


def _answers_as_probidad(bin_dir: Path, port: int) -> bool:
    return _psql(bin_dir, port, "SELECT 1").stdout.strip() == "1"


def _pg_isready(bin_dir: Path, port: int) -> bool:
    result = subprocess.run(
        [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
        capture_output=True,
        cwd="/",
    )
    return result.returncode == 0


def _create_databases(bin_dir: Path, port: int, databases: Sequence[str]) -> list[str]:
    created = []
    for name in databases:
        exists = _psql(bin_dir, port, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.returncode != 0:
            raise PgCtlError(f"could not query PostgreSQL on port {port}:\n{exists.stderr.strip()}")
        if exists.stdout.strip() == "1":
            continue
        result = _psql(bin_dir, port, f'CREATE DATABASE "{name}" OWNER "{USER}"')
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise PgCtlError(f"could not create database {name}:\n{result.stderr.strip()}")
        created.append(name)
    return created


# --------------------------------------------------------------------------------------------------
# Server side


def _paths(pg_dir: Path) -> tuple[Path, Path, Path]:
    return pg_dir / "data", pg_dir / "run", pg_dir / "postgres.log"


def _check_reachable_by_server_user(path: Path) -> None:
    """As root the server runs as ``postgres``: every ancestor of its files must be traversable."""
    if not _is_root():
        return
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        mode = ancestor.stat().st_mode
        owner = ancestor.stat().st_uid
        if owner != _server_user().pw_uid and not mode & 0o001:
            raise PgCtlError(
                f"the '{OS_USER}' OS user cannot enter {ancestor} (mode {oct(mode & 0o777)}), so PostgreSQL "
                f"cannot use {path}.\nChoose a state dir it can reach, e.g. --state-dir /var/tmp/probidad, "
                f"or run: chmod o+x {ancestor}"
            )


def _chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def _initdb(bin_dir: Path, pg_dir: Path) -> None:
    data, run, log = _paths(pg_dir)
    pg_dir.mkdir(parents=True, exist_ok=True)
    run.mkdir(exist_ok=True)
    if _is_root():
        _check_reachable_by_server_user(pg_dir)
        user = _server_user()
        os.chown(pg_dir, user.pw_uid, user.pw_gid)
        os.chown(run, user.pw_uid, user.pw_gid)
    _run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]
        )
    )
    conf = data / "postgresql.conf"
    _append_as_server_user(conf, "\n# Added by probidad postgres start\ninclude_if_exists = 'probidad.conf'\n")


def _append_as_server_user(path: Path, text: str) -> None:
    with path.open("a") as handle:  # root may write anywhere; ownership stays the server user's
        handle.write(text)


def _write_settings(pg_dir: Path, port: int) -> None:
    data, run, _log = _paths(pg_dir)
    settings = (
        "# Written by probidad postgres start on every start: a throwaway server for development and tests.\n"
        f"port = {port}\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{run}'\n"
        "max_connections = 200\n"
        "shared_buffers = 128MB\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "log_min_messages = warning\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
    )
    target = data / "probidad.conf"
    target.write_text(settings)
    if _is_root():
        user = _server_user()
        os.chown(target, user.pw_uid, user.pw_gid)


def _server_pid(data: Path) -> int | None:
    try:
        first = (data / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _running(bin_dir: Path, data: Path) -> bool:
    if not (data / "PG_VERSION").is_file():
        return False
    return _run(_as_server_user([str(bin_dir / "pg_ctl"), "status", "-D", str(data)]), check=False).returncode == 0


def _load_meta(pg_dir: Path) -> dict:
    try:
        return json.loads((pg_dir / "server.json").read_text())
    except (OSError, ValueError):
        return {}


def _validate(databases: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(databases))
    bad = [name for name in names if not _NAME.match(name)]
    if bad:
        raise PgCtlError(f"invalid database name(s): {', '.join(bad)} (letters, digits, underscore)")
    return names


def start_postgres(
    state_dir: Path | str | None = None,
    port: int = DEFAULT_PORT,
    databases: Sequence[str] = DEFAULT_DATABASES,
    reset: bool = False,
    timeout: float = 60.0,
    echo: Callable[[str], object] | None = None,
) -> PostgresServer:
    """Start (or reuse) the server and create ``databases``; idempotent."""
    say = echo or (lambda _message: None)
    started = time.monotonic()
    names = _validate(databases)
    bin_dir = find_bin_dir()
    version = bin_dir.parent.name
    pg_dir = _pg_state(state_dir)
    data, _run_dir, log = _paths(pg_dir)

    if reset and pg_dir.exists():
        stop_postgres(state_dir)
        shutil.rmtree(pg_dir)

    meta = _load_meta(pg_dir)
    if _running(bin_dir, data):
        running_port = int(meta.get("port", port))
        if running_port != port:
            raise PgCtlError(
                f"the PostgreSQL of {pg_dir} is running on port {running_port}; stop it before changing ports"
            )
        say(f"PostgreSQL of {pg_dir} already running on port {port}")
    elif not _port_free(port):
        if _answers_as_probidad(bin_dir, port):
            say(f"A PostgreSQL server already answers on 127.0.0.1:{port} as user {USER}; reusing it.")
            created = _create_databases(bin_dir, port, names)
            return PostgresServer(port, None, version, reused=True, created=created, databases=names,
                                  startup_seconds=time.monotonic() - started)
        raise PgCtlError(
            f"port {port} on 127.0.0.1 is already in use by another program (not a PostgreSQL accepting "
            f"user {USER}); stop it or choose another --port"
        )
    else:
        _check_reachable_by_server_user(pg_dir)
        if not (data / "PG_VERSION").is_file():
            if data.exists() and any(data.iterdir()):
                raise PgCtlError(f"{data} exists but is not a PostgreSQL data directory; use --reset")
            say(f"Initialising a PostgreSQL {version} cluster in {data} ...")
            _initdb(bin_dir, pg_dir)
        else:
            existing = (data / "PG_VERSION").read_text().strip()
            if existing != version.split(".")[0]:
                raise PgCtlError(
                    f"{data} was created by PostgreSQL {existing} but {version} is installed; use --reset"
                )
        _write_settings(pg_dir, port)
        if _is_root():
            user = _server_user()
            for path in (pg_dir, pg_dir / "run"):
                path.mkdir(exist_ok=True)
                os.chown(path, user.pw_uid, user.pw_gid)
            if log.exists():
                os.chown(log, user.pw_uid, user.pw_gid)
        say(f"Starting PostgreSQL {version} on 127.0.0.1:{port} ...")
        result = _run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    str(int(timeout)),
                ]
            ),
            check=False,
            timeout=timeout + 30,
        )
        if result.returncode != 0:
            raise PgCtlError(
                f"PostgreSQL did not start:\n{(result.stdout + result.stderr).strip()}\n"
                f"--- last lines of {log} ---\n{_tail(log)}"
            )
    (pg_dir / "server.json").write_text(json.dumps({"port": port, "version": version}, indent=2) + "\n")

    deadline = time.monotonic() + timeout
    while not _answers_as_probidad(bin_dir, port):
        if time.monotonic() >= deadline:
            raise PgCtlError(f"PostgreSQL on port {port} does not accept connections\n{_tail(log)}")
        time.sleep(0.2)
    created = _create_databases(bin_dir, port, names)
    return PostgresServer(port, data, version, created=created, databases=names,
                          startup_seconds=time.monotonic() - started)


def stop_postgres(state_dir: Path | str | None = None, timeout: float = 60.0) -> bool:
    """Fast shutdown of this state dir's server (data kept). True if one was running."""
    pg_dir = _pg_state(state_dir)
    data, _run_dir, _log = _paths(pg_dir)
    if not (data / "PG_VERSION").is_file():
        return False
    bin_dir = find_bin_dir()
    if not _running(bin_dir, data):
        return False
    _run(
        _as_server_user([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w",
                         "-t", str(int(timeout))]),
        timeout=timeout + 30,
    )
    return True


def postgres_status(state_dir: Path | str | None = None) -> PostgresStatus:
    pg_dir = _pg_state(state_dir)
    data, _run_dir, _log = _paths(pg_dir)
    port = int(_load_meta(pg_dir).get("port", DEFAULT_PORT))
    bin_dir = find_bin_dir()
    configured = (data / "PG_VERSION").is_file()
    running = configured and _running(bin_dir, data)
    return PostgresStatus(
        configured=configured,
        running=running,
        answering=_pg_isready(bin_dir, port),
        port=port,
        pid=_server_pid(data) if running else None,
        data_dir=data,
    )


# --------------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(help="Run a throwaway local PostgreSQL for development and tests.", no_args_is_help=True)

@app.command()
def start(
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="TCP port on 127.0.0.1."),
    database: list[str] = typer.Option(
        None,
        "--database",
        "-d",
        help="Database to create (repeatable). Default: " + ", ".join(DEFAULT_DATABASES),
        show_default=False,
    ),
    state_dir: Path | None = StateDirOption,
    reset: bool = typer.Option(False, "--reset", help="Delete the data directory and initialise it anew."),
) -> None:
    """Start the server (or reuse a running one) and create the databases."""
    try:
        server = start_postgres(
            state_dir=state_dir, port=port, databases=database or DEFAULT_DATABASES, reset=reset, echo=typer.echo
        )
    except (PgCtlError, subprocess.TimeoutExpired) as error:
        _fail(error)
        return
    if server.created:
        typer.echo("Created databases: " + ", ".join(server.created))
    typer.echo(f"PostgreSQL {server.version} is up on 127.0.0.1:{server.port} after {server.startup_seconds:.1f}s")
    for name in server.databases:
        typer.echo(server.url(name))


@app.command()
def stop(state_dir: Path | None = StateDirOption) -> None:
    """Stop the server (fast shutdown; data kept)."""
    try:
        stopped = stop_postgres(state_dir)
    except PgCtlError as error:
        _fail(error)
        return
    typer.echo("PostgreSQL stopped" if stopped else f"No PostgreSQL of {_pg_state(state_dir)} was running")


@app.command()
def status(state_dir: Path | None = StateDirOption) -> None:
    """Show whether the server runs and answers; exit status 1 if it does not answer."""
    try:
        state = postgres_status(state_dir)
    except PgCtlError as error:
        _fail(error)
        return
    if not state.configured:
        typer.echo(f"No PostgreSQL cluster in {state.data_dir}")
    else:
        typer.echo(f"server of {state.data_dir}: " + (f"running (pid {state.pid})" if state.running else "not running"))
    typer.echo(f"127.0.0.1:{state.port}: " + ("accepting connections" if state.answering else "not answering"))
    if state.answering:
        typer.echo(database_url("probidad", state.port))
    else:
        raise typer.Exit(1)
