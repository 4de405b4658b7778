"""Run a local Ory Hydra (an OpenID Connect provider) for development and tests: it issues the JWT access
tokens a state's identity provider would, for a comptroller, a liaison and an instructor.

Command line (registered by ``probidad.cli`` as ``probidad hydra``)::

    probidad hydra start [--state-dir DIR] [--public-port 4444] [--admin-port 4445] [--hook-port 4446]
                         [--postgres-port 5433] [--database probidad_hydra] [--audience probidad]
    probidad hydra status [--state-dir DIR]
    probidad hydra stop [--state-dir DIR]
    probidad hydra client comptroller | liaison --institution ID | instructor --instructor ID
    probidad hydra rotate [--alg RS256|ES256]     # a new signing key for access tokens

* The binary is ``github.com/ory/hydra/v2`` built from the Go module proxy and cached by
  ``probidad.ops.gotools`` (``probidad tools build hydra``). It is built without SQLite, so its storage is
  the local PostgreSQL (``probidad postgres start``; reused when one answers, else started): database
  ``probidad_hydra``, brought to Hydra's schema with ``hydra migrate sql up`` on every start.
* Access tokens are JWTs (``strategies.access_token: jwt``) signed with the key set
  ``hydra.jwt.access-token`` (RS256 at first; ``rotate`` adds a newer key, which Hydra signs with from then
  on, and publishes beside the old one at ``/.well-known/jwks.json``).
* Machine clients use the client_credentials grant. Each client's role, institution and instructor live in
  its metadata; Hydra's token hook (``oauth2.token_hook``) calls a small endpoint started beside Hydra,
  which reads the client's metadata from Hydra's admin API and answers them as the token's extra claims.
  Hydra puts extra claims under ``ext``: the services read them with ``PROBIDAD_OIDC_ROLE_CLAIM=ext.role``,
  ``..._INSTITUTION_CLAIM=ext.institution``, ``..._INSTRUCTOR_CLAIM=ext.instructor`` (``start`` prints them).
* State lives in ``$PROBIDAD_STATE_DIR/hydra``: ``hydra.yml`` (written on every start), ``secret`` (the
  system secret encrypting the keys in the database; kept, since a new one could not read them), the pid
  files and logs of Hydra and of the hook. Both run detached, in their own process groups.
* Hydra runs with ``--dev`` (plain HTTP on loopback): fine for a local provider, never for a real one.

Python API (synchronous)::

    start_hydra(state_dir=None, ...) -> HydraServer   # .issuer, .token_url, .admin_url, .jwks_url
    stop_hydra(state_dir=None) -> bool
    hydra_status(state_dir=None) -> HydraStatus
    register_client(server, role, institution=None, instructor=None) -> HydraClient
    fetch_token(server, client) -> str
    rotate_signing_key(server, alg="RS256") -> str   # the new key's id
    service_environment(server) -> dict[str, str]     # PROBIDAD_OIDC_* for a service trusting it

Problems the operator can fix raise ``HydraCtlError``; the CLI prints the message and exits with 1.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import typer

from probidad.ops.localhost import StateDirOption, alive, port_free
from probidad.ops.localhost import fail as _fail
from probidad.ops.localhost import tail as _tail
from probidad.ops.localhost import launch_detached, running_pid, state_subdir, stop_groups

PUBLIC_PORT = 4444
ADMIN_PORT = 4445
HOOK_PORT = 4446
POSTGRES_PORT = 5433
DATABASE = "probidad_hydra"
AUDIENCE = "probidad"
HOST = "127.0.0.1"
ACCESS_TOKEN_KEYS = "hydra.jwt.access-token"
CLAIMS = ("role", "institution", "instructor")
DEFAULT_START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class HydraCtlError(RuntimeError):
    """A problem the operator can act on; the CLI prints the message without a traceback."""


@dataclass(frozen=True)
class HydraServer:
    public_port: int = PUBLIC_PORT
    admin_port: int = ADMIN_PORT
    audience: str = AUDIENCE
    issuer: str = ""  # as Hydra's discovery document states it (the tokens' iss)
    pid: int | None = None
    hook_pid: int | None = None
    startup_seconds: float = 0.0

    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.public_port}"

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.admin_port}"

    @property
    def token_url(self) -> str:
        return f"{self.public_url}/oauth2/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.public_url}/.well-known/jwks.json"


@dataclass(frozen=True)
class HydraClient:
    client_id: str
    client_secret: str
    role: str
    institution: str | None = None
    instructor: str | None = None


@dataclass
class HydraStatus:
    pid: int | None
    hook_pid: int | None
    answering: bool
    server: HydraServer | None
    log: Path


def service_environment(server: HydraServer) -> dict[str, str]:
    """The settings that make a service accept ``server``'s access tokens (with the claims the hook adds)."""
    return {
        "PROBIDAD_OIDC_ISSUER": server.issuer,
        "PROBIDAD_OIDC_AUDIENCE": server.audience,
        "PROBIDAD_OIDC_ROLE_CLAIM": "ext.role",
        "PROBIDAD_OIDC_INSTITUTION_CLAIM": "ext.institution",
        "PROBIDAD_OIDC_INSTRUCTOR_CLAIM": "ext.instructor",
    }


# --------------------------------------------------------------------------------------------------
# State and processes


def _hydra_state(state_dir: Path | str | None) -> Path:
    return state_subdir(state_dir, "hydra")


def _binary() -> Path:
    from probidad.ops.gotools import GoToolError, tool_binary

    try:
        return tool_binary("hydra")
    except GoToolError as error:
        raise HydraCtlError(str(error)) from error


def _pid_of(hydra_dir: Path, name: str, marker: str) -> int | None:
    return running_pid(hydra_dir / f"{name}.pid", marker)


def _system_secret(hydra_dir: Path) -> str:
    path = hydra_dir / "secret"
    if path.is_file():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def _dsn(postgres_port: int, database: str) -> str:
    return f"postgres://probidad@{HOST}:{postgres_port}/{database}?sslmode=disable"


def _write_config(hydra_dir: Path, public_port: int, admin_port: int, hook_port: int) -> Path:
    config = {
        "serve": {"public": {"host": HOST, "port": public_port}, "admin": {"host": HOST, "port": admin_port}},
        "urls": {"self": {"issuer": f"http://{HOST}:{public_port}"},
                 # No person logs in here (client_credentials only), but Hydra wants somewhere to send them.
                 "login": f"http://{HOST}:{hook_port}/login", "consent": f"http://{HOST}:{hook_port}/consent"},
        "secrets": {"system": [_system_secret(hydra_dir)]},
        "strategies": {"access_token": "jwt"},
        "oauth2": {"token_hook": f"http://{HOST}:{hook_port}/token-hook"},
        "log": {"level": "info", "format": "json"},
    }
    path = hydra_dir / "hydra.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    return path


def _launch(command: list[str], hydra_dir: Path, name: str, env: dict[str, str] | None = None) -> int:
    return launch_detached(command, cwd=hydra_dir, log=hydra_dir / f"{name}.log",
                           pid_file=hydra_dir / f"{name}.pid", banner="probidad hydra start", env=env)


def _discovered_issuer(public_url: str) -> str | None:
    try:
        answer = httpx.get(f"{public_url}/.well-known/openid-configuration", timeout=2)
        return str(answer.json()["issuer"]) if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _admin_ready(admin_url: str) -> bool:
    try:
        return httpx.get(f"{admin_url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _migrate(binary: Path, hydra_dir: Path, env: dict[str, str]) -> None:
    done = subprocess.run([str(binary), "migrate", "sql", "up", "--read-from-env", "--yes"], env=env,
                          cwd=hydra_dir, capture_output=True, text=True, timeout=300)
    (hydra_dir / "migrate.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise HydraCtlError(f"hydra migrate sql up failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")


def _ensure_database(postgres_port: int, database: str, state_dir: Path | str | None,
                     say: Callable[[str], object]) -> None:
    from probidad.ops import pgctl

    try:
        pgctl.start_postgres(state_dir=state_dir, port=postgres_port, databases=[database], echo=say)
    except pgctl.PgCtlError as error:
        raise HydraCtlError(f"Hydra keeps its data in PostgreSQL, which could not be had: {error}") from error


def start_hydra(state_dir: Path | str | None = None, *, public_port: int = PUBLIC_PORT, admin_port: int = ADMIN_PORT,
                hook_port: int = HOOK_PORT, postgres_port: int = POSTGRES_PORT, database: str = DATABASE,
                audience: str = AUDIENCE, timeout: float = DEFAULT_START_TIMEOUT,
                echo: Callable[[str], object] | None = None) -> HydraServer:
    """Start Hydra and its token hook (or find this state dir's running) and return once tokens can be had."""
    say = echo or (lambda _message: None)
    started = time.monotonic()
    hydra_dir = _hydra_state(state_dir)
    hydra_dir.mkdir(parents=True, exist_ok=True)
    meta_path = hydra_dir / "server.json"
    pid, hook_pid = _pid_of(hydra_dir, "hydra", "hydra"), _pid_of(hydra_dir, "hook", "hydractl")
    if pid is not None and hook_pid is not None:
        server = HydraServer(**{**json.loads(meta_path.read_text()), "pid": pid, "hook_pid": hook_pid})
        say(f"Hydra of {hydra_dir} already running (pid {pid})")
        return server
    _stop_pids(hydra_dir)  # one of the two died: start both afresh
    busy = [port for port in (public_port, admin_port, hook_port) if not port_free(port)]
    if busy:
        raise HydraCtlError(f"port(s) {', '.join(map(str, busy))} on {HOST} already in use; stop what holds them "
                            "or choose others (--public-port, --admin-port, --hook-port)")
    binary = _binary()
    _ensure_database(postgres_port, database, state_dir, say)
    env = {**os.environ, "DSN": _dsn(postgres_port, database)}
    say(f"Bringing {database} to Hydra's schema ...")
    _migrate(binary, hydra_dir, env)
    config = _write_config(hydra_dir, public_port, admin_port, hook_port)
    admin_url = f"http://{HOST}:{admin_port}"
    hook_pid = _launch([sys.executable, "-m", "probidad.ops.hydractl", "hook", "--port", str(hook_port),
                        "--admin-url", admin_url], hydra_dir, "hook")
    say(f"Starting Hydra ({binary.name}) on {HOST}:{public_port} (public) and {admin_port} (admin) ...")
    pid = _launch([str(binary), "serve", "all", "--dev", "--config", str(config)], hydra_dir, "hydra", env)
    public_url = f"http://{HOST}:{public_port}"
    deadline = time.monotonic() + timeout
    issuer = None
    while True:
        if _admin_ready(admin_url) and (issuer := _discovered_issuer(public_url)):
            break
        problem = ("Hydra exited during start-up" if not alive(pid) else
                   "the token hook exited during start-up" if not alive(hook_pid) else
                   f"Hydra did not answer within {timeout:.0f}s" if time.monotonic() > deadline else None)
        if problem:
            _stop_pids(hydra_dir)
            raise HydraCtlError(f"{problem}.\n--- last lines of {hydra_dir / 'hydra.log'} ---\n"
                                f"{_tail(hydra_dir / 'hydra.log')}\n--- {hydra_dir / 'hook.log'} ---\n"
                                f"{_tail(hydra_dir / 'hook.log', 10)}")
        time.sleep(0.2)
    server = HydraServer(public_port, admin_port, audience, issuer, pid, hook_pid, time.monotonic() - started)
    meta_path.write_text(json.dumps({"public_port": public_port, "admin_port": admin_port, "audience": audience,
                                     "issuer": issuer}, indent=2) + "\n")
    return server


def _stop_pids(hydra_dir: Path, timeout: float = STOP_TIMEOUT) -> list[int]:
    pids = [pid for pid in (_pid_of(hydra_dir, "hydra", "hydra"), _pid_of(hydra_dir, "hook", "hydractl"))
            if pid is not None]
    if left := stop_groups(pids, timeout):
        raise HydraCtlError(f"could not stop Hydra (pids {sorted(left)})")
    for name in ("hydra", "hook"):
        (hydra_dir / f"{name}.pid").unlink(missing_ok=True)
    return pids


def stop_hydra(state_dir: Path | str | None = None) -> bool:
    """Stop this state dir's Hydra and hook (its database is kept). True if something was running."""
    return bool(_stop_pids(_hydra_state(state_dir)))


def hydra_status(state_dir: Path | str | None = None) -> HydraStatus:
    hydra_dir = _hydra_state(state_dir)
    pid, hook_pid = _pid_of(hydra_dir, "hydra", "hydra"), _pid_of(hydra_dir, "hook", "hydractl")
    try:
        server: HydraServer | None = HydraServer(**json.loads((hydra_dir / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        server = None
    answering = server is not None and _admin_ready(server.admin_url)
    return HydraStatus(pid, hook_pid, answering, server, hydra_dir / "hydra.log")


# --------------------------------------------------------------------------------------------------
# Clients, tokens, keys (Hydra's admin and public APIs)


def register_client(server: HydraServer, role: str, *, institution: str | None = None,
                    instructor: str | None = None, client_id: str | None = None) -> HydraClient:
    """A client_credentials client for ``role`` (named ``comptroller``, ``liaison-<institution>``,
    ``instructor-<id>`` unless ``client_id`` says otherwise), replaced when it exists, with a new secret."""
    if role == "liaison" and not institution:
        raise HydraCtlError("a liaison's client needs --institution")
    if role == "instructor" and not instructor:
        raise HydraCtlError("an instructor's client needs --instructor")
    name = client_id or {"liaison": f"liaison-{institution}", "instructor": f"instructor-{instructor}"}.get(role, role)
    metadata = {key: value for key, value in
                (("role", role), ("institution", institution), ("instructor", instructor)) if value}
    secret = secrets.token_urlsafe(24)
    body = {"client_id": name, "client_secret": secret, "client_name": f"probidad {role}",
            "grant_types": ["client_credentials"], "response_types": ["token"],
            "token_endpoint_auth_method": "client_secret_basic", "audience": [server.audience],
            "access_token_strategy": "jwt", "metadata": metadata}
    with httpx.Client(base_url=server.admin_url, timeout=10) as admin:
        admin.delete(f"/admin/clients/{name}")
        answer = admin.post("/admin/clients", json=body)
    if answer.status_code != 201:
        raise HydraCtlError(f"Hydra refused client {name}: {answer.status_code} {answer.text}")
    return HydraClient(name, secret, role, institution, instructor)


def fetch_token(server: HydraServer, client: HydraClient) -> str:
    """An access token for ``client`` (client_credentials grant, audience the platform's)."""
    answer = httpx.post(server.token_url, auth=(client.client_id, client.client_secret), timeout=10,
                        data={"grant_type": "client_credentials", "audience": server.audience})
    if answer.status_code != 200:
        raise HydraCtlError(f"Hydra gave no token to {client.client_id}: {answer.status_code} {answer.text}")
    return str(answer.json()["access_token"])


def rotate_signing_key(server: HydraServer, alg: str = "RS256") -> str:
    """Add a new key to the access tokens' key set; Hydra signs with the newest. Returns its key id."""
    kid = f"probidad-{alg.lower()}-{uuid.uuid4().hex[:8]}"
    answer = httpx.post(f"{server.admin_url}/admin/keys/{ACCESS_TOKEN_KEYS}", timeout=30,
                        json={"alg": alg, "kid": kid, "use": "sig"})
    if answer.status_code != 201:
        raise HydraCtlError(f"Hydra made no {alg} key: {answer.status_code} {answer.text}")
    return kid


# --------------------------------------------------------------------------------------------------
# The token hook: the client's metadata as the token's claims


def token_claims(request: dict[str, Any], client_metadata: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The extra claims of the token Hydra is about to issue: the role, institution and instructor its
    client's metadata holds (nothing else of the metadata)."""
    client_id = str(request.get("request", {}).get("client_id") or "")
    metadata = client_metadata(client_id) if client_id else {}
    return {key: metadata[key] for key in CLAIMS if isinstance(metadata.get(key), str)}


def serve_token_hook(port: int, admin_url: str) -> None:
    def client_metadata(client_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{admin_url}/admin/clients/{client_id}", timeout=5)
        answer.raise_for_status()
        metadata = answer.json().get("metadata") or {}
        return metadata if isinstance(metadata, dict) else {}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's name
            if self.path != "/token-hook":
                self.send_error(404)
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                claims = token_claims(body, client_metadata)
            except (ValueError, httpx.HTTPError) as error:
                self.send_error(500, f"token hook: {error}")  # Hydra then issues no token
                return
            data = json.dumps({"session": {"access_token": claims, "id_token": {}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 — http.server's name
            print(f"token hook: {format % args}", file=sys.stderr, flush=True)

    ThreadingHTTPServer((HOST, port), Hook).serve_forever()


# --------------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(help="Run a local Ory Hydra (OpenID Connect provider) for development and tests.",
                  no_args_is_help=True)


def _running(state_dir: Path | None) -> HydraServer:
    state = hydra_status(state_dir)
    if state.server is None or not state.answering:
        raise HydraCtlError(f"no Hydra of {_hydra_state(state_dir)} answers; run: probidad hydra start")
    return state.server


@app.command()
def start(
    state_dir: Path | None = StateDirOption,
    public_port: int = typer.Option(PUBLIC_PORT, help="Hydra's public port (tokens, discovery, JWKS)."),
    admin_port: int = typer.Option(ADMIN_PORT, help="Hydra's admin port (clients, keys)."),
    hook_port: int = typer.Option(HOOK_PORT, help="The token hook's port."),
    postgres_port: int = typer.Option(POSTGRES_PORT, help="The local PostgreSQL Hydra keeps its data in."),
    database: str = typer.Option(DATABASE, help="Hydra's database (created when missing)."),
    audience: str = typer.Option(AUDIENCE, help="The audience clients ask tokens for (PROBIDAD_OIDC_AUDIENCE)."),
    timeout: float = typer.Option(DEFAULT_START_TIMEOUT, help="Seconds to wait for Hydra to answer."),
) -> None:
    """Start Hydra and its token hook; print the settings that make the services accept its tokens."""
    try:
        server = start_hydra(state_dir, public_port=public_port, admin_port=admin_port, hook_port=hook_port,
                             postgres_port=postgres_port, database=database, audience=audience, timeout=timeout,
                             echo=typer.echo)
    except HydraCtlError as error:
        _fail(error)
        return
    typer.echo(f"Hydra is up (pid {server.pid}) after {server.startup_seconds:.1f}s: issuer {server.issuer}, "
               f"admin {server.admin_url}")
    for name, value in service_environment(server).items():
        typer.echo(f"{name}={value}")


@app.command()
def stop(state_dir: Path | None = StateDirOption) -> None:
    """Stop Hydra and its token hook (clients and keys stay in its database)."""
    try:
        stopped = stop_hydra(state_dir)
    except HydraCtlError as error:
        _fail(error)
        return
    typer.echo("Hydra stopped" if stopped else f"No Hydra of {_hydra_state(state_dir)} was running")


@app.command()
def status(state_dir: Path | None = StateDirOption) -> None:
    """Show whether this state dir's Hydra runs and answers; exit status 1 if it does not answer."""
    state = hydra_status(state_dir)
    typer.echo(f"Hydra of {_hydra_state(state_dir)}: " + (f"running (pid {state.pid}, hook pid {state.hook_pid})"
                                                           if state.pid else "not running"))
    if state.server is None or not state.answering:
        typer.echo("not answering")
        raise typer.Exit(1)
    typer.echo(f"issuer {state.server.issuer}, admin {state.server.admin_url}: answering")


@app.command("client")
def client_command(
    role: str = typer.Argument(..., help="comptroller, liaison or instructor."),
    institution: str | None = typer.Option(None, help="The liaison's institution id."),
    instructor: str | None = typer.Option(None, help="The instructor's id."),
    state_dir: Path | None = StateDirOption,
) -> None:
    """Register a client_credentials client for a role and print its id and secret."""
    try:
        client = register_client(_running(state_dir), role, institution=institution, instructor=instructor)
    except HydraCtlError as error:
        _fail(error)
        return
    typer.echo(f"client_id={client.client_id}\nclient_secret={client.client_secret}")


@app.command("rotate")
def rotate_command(alg: str = typer.Option("RS256", help="RS256 or ES256."),
                   state_dir: Path | None = StateDirOption) -> None:
    """Give the access tokens a new signing key (the old one stays published for the tokens it signed)."""
    try:
        kid = rotate_signing_key(_running(state_dir), alg)
    except HydraCtlError as error:
        _fail(error)
        return
    typer.echo(f"new signing key {kid} ({alg})")


@app.command("hook", hidden=True)
def hook_command(port: int = typer.Option(HOOK_PORT), admin_url: str = typer.Option(...)) -> None:
    """Serve Hydra's token hook (started by `probidad hydra start`)."""
    serve_token_hook(port, admin_url)


if __name__ == "__main__":
    app()
