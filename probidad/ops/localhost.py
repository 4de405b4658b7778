"""What the local-server launchers (``probidad kafka``, ``probidad postgres``) share: is a loopback
port free, does it answer, the end of a log file to show when something does not come up, the
pieces of their command lines that are alike, finding and stopping the processes they started — and,
for the tests and benchmarks that drive them, polling until something is true."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar
from pathlib import Path

import typer

T = TypeVar("T")


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:``port`` (so a server of ours may bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port() -> int:
    """A loopback port nothing listens on now, chosen by the kernel (for a test or benchmark server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int, timeout: float = 0.5, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def process_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first, so ``[0] == "Z"`` is a
    zombie; CPU ticks at ``[11]`` user and ``[12]`` system), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def command_line(pid: int) -> str:
    """The command line of process ``pid`` (arguments joined by spaces), "" when there is none."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie (an exited child of ours not yet reaped is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = process_stat(pid)
    if stat and stat[0] == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:  # not our child: its own parent reaps it
            pass
        return False
    return True


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group ``pid`` leads (our servers each lead one), else to ``pid``."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_dead(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` s for every process in ``pids`` to end; returns those still alive."""
    remaining = set(pids)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        remaining = {pid for pid in remaining if alive(pid)}
        if remaining:
            time.sleep(0.1)
    return {pid for pid in remaining if alive(pid)}


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a (possibly large) log file."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def default_state_dir() -> Path:
    """Where the launchers and ``probidad up`` keep their state: ``$PROBIDAD_STATE_DIR``, else ``./.probidad``."""
    return Path(os.environ.get("PROBIDAD_STATE_DIR") or "./.probidad").expanduser()


def state_subdir(state_dir: Path | str | None, name: str) -> Path:
    """A launcher's own directory in the state directory given (default ``default_state_dir()``)."""
    base = Path(state_dir).expanduser() if state_dir is not None else default_state_dir()
    return (base / name).resolve()


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid ``pid_file`` names, if that process still runs and its command line holds ``marker`` (else the pid
    was recycled by another program)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    line = command_line(pid)
    return pid if not line or marker in line else None


def launch_detached(command: list[str], *, cwd: Path, log: Path, pid_file: Path, banner: str,
                    env: dict[str, str] | None = None) -> int:
    """Start a server that outlives us, in a session of its own, its output appended to ``log`` after a line
    ``==== <banner> at <time> ====``; its pid is written to ``pid_file`` and returned."""
    with log.open("ab") as sink:
        sink.write(f"\n==== {banner} at {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode())
        sink.flush()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                   cwd=cwd, start_new_session=True, close_fds=True, env=env)
    pid_file.write_text(f"{process.pid}\n")
    process.returncode = 0  # it is meant to outlive us; alive() reaps its zombie if it dies first
    return process.pid


def stop_groups(pids: Iterable[int], timeout: float) -> set[int]:
    """SIGTERM the process groups ``pids`` lead, SIGKILL those still alive after ``timeout`` s; returns the pids
    that survived even that (10 s more)."""
    pids = list(pids)
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    left = wait_dead(pids, timeout)
    for pid in left:
        signal_group(pid, signal.SIGKILL)
    return wait_dead(left, 10)


StateDirOption = typer.Option(
    None, "--state-dir", help="State directory (default $PROBIDAD_STATE_DIR or ./.probidad).", show_default=False
)


def fail(error: Exception) -> None:
    """End a command with the operator's message and exit code 1, without a traceback."""
    typer.echo(f"Error: {error}", err=True)
    raise typer.Exit(1)


async def eventually(check: Callable[[], Awaitable[T] | T], *, timeout_s: float = 20.0, interval_s: float = 0.2,
                     what: str = "condition") -> T:
    """Await ``check()`` every ``interval_s`` until it returns something truthy, and return that.

    Raises TimeoutError naming ``what`` and the last value seen when ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"{what} not met within {timeout_s:.0f}s (last value: {last!r})")
