"""What the local-server launchers (``probidad kafka``, ``probidad postgres``) share: is a loopback
port free, does it answer, the end of a log file to show when something does not come up, and the
pieces of their command lines that are alike."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import typer


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


def port_answers(port: int, timeout: float = 0.5, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


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


StateDirOption = typer.Option(
    None, "--state-dir", help="State directory (default $PROBIDAD_STATE_DIR or ./.probidad).", show_default=False
)


def fail(error: Exception) -> None:
    """End a command with the operator's message and exit code 1, without a traceback."""
    typer.echo(f"Error: {error}", err=True)
    raise typer.Exit(1)
