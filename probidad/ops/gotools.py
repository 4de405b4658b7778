"""Go programs the platform runs beside itself (Jaeger for traces, Ory Hydra for identity tokens), built
from the Go module proxy with the machine's Go toolchain and cached under the user's cache directory.

Command line (registered by ``probidad.cli`` as ``probidad tools``)::

    probidad tools build [jaeger] [hydra]    # build what is not cached yet (all by default)
    probidad tools path jaeger               # the cached binary's path (builds it first if needed)

* Each program is pinned by a small tools module in ``deploy/tools/<name>/`` (``go.mod`` with a ``tool``
  line and its ``go.sum``), made with ``go get -tool <package>@<version>``. Upgrading a program is a change
  to that module, reviewed like any other.
* The binary goes to ``$XDG_CACHE_HOME/probidad/go-tools/<name>-<version>-<go.sum digest>`` (default
  ``~/.cache``), the modules it is built from to ``…/probidad/go/mod``; Go's own build cache is already
  under the cache directory. Nothing is written into the repository. A second build of the same pin is a
  file lookup.
* A first build downloads about 1.3 GB of modules and takes ~10 minutes per program on 2 busy cores.
  Concurrent callers (a test fixture and ``./scripts/test``'s background build) take a file lock: one builds,
  the others wait for its binary.
* ``go`` is looked up on ``PATH``, then in ``/usr/local/go/bin`` (where Go's own installer puts it).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GoTool:
    name: str
    package: str  # the main package built
    version: str
    module_dir: Path  # the tools module pinning it

    def digest(self) -> str:
        return hashlib.sha256((self.module_dir / "go.sum").read_bytes()).hexdigest()[:12]

    def binary(self) -> Path:
        return cache_dir() / "go-tools" / f"{self.name}-{self.version}-{self.digest()}"


TOOLS: dict[str, GoTool] = {
    "jaeger": GoTool("jaeger", "github.com/jaegertracing/jaeger/cmd/jaeger", "v1.75.0", ROOT / "deploy/tools/jaeger"),
    "hydra": GoTool("hydra", "github.com/ory/hydra/v2", "v2.3.0", ROOT / "deploy/tools/hydra"),
}


class GoToolError(RuntimeError):
    """A problem the operator can fix (no Go toolchain, a failed build): the message says what."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "probidad"


def go_command() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if found is None:
        raise GoToolError("the Go toolchain (go ≥ 1.24) is needed to build the tracing and identity servers: "
                          "install it from https://go.dev/dl/ and put its bin/ on PATH")
    return found


def go_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOMODCACHE", str(cache_dir() / "go" / "mod"))
    env.setdefault("GOFLAGS", "-modcacherw")  # a module cache the user can delete without chmod
    env.setdefault("GOTOOLCHAIN", "local")  # the machine's Go; go.mod asks for nothing newer
    return env


def tool_binary(name: str, *, quiet: bool = False) -> Path:
    """The path of ``name``'s cached binary, built first when it is not there."""
    try:
        tool = TOOLS[name]
    except KeyError:
        raise GoToolError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}") from None
    target = tool.binary()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # someone else building it: wait for their binary
        if target.is_file():
            return target
        _build(tool, target, quiet=quiet)
    return target


def _build(tool: GoTool, target: Path, *, quiet: bool) -> None:
    go = go_command()
    if not quiet:
        print(f"building {tool.name} {tool.version} from the Go module proxy into {target} "
              "(first time: ~10 min and ~1.3 GB of modules, cached afterwards)", file=sys.stderr, flush=True)
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    done = subprocess.run([go, "build", "-trimpath", "-o", str(partial), tool.package], cwd=tool.module_dir,
                          env=go_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise GoToolError(f"go build {tool.package} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    partial.rename(target)  # whole or absent: an interrupted build leaves no half binary behind
    for stale in target.parent.glob(f"{tool.name}-*"):  # earlier pins of the same program
        if stale != target and not stale.name.endswith(".partial"):
            stale.unlink(missing_ok=True)
    if not quiet:
        print(f"built {tool.name} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


app = typer.Typer(help="Go programs run beside the platform (Jaeger, Ory Hydra): build and cache them.",
                  no_args_is_help=True)


@app.command("build")
def build_command(names: list[str] = typer.Argument(None, help="jaeger, hydra (default: all)")) -> None:
    """Build the programs not cached yet (a first build takes minutes; later ones are instant)."""
    for name in names or list(TOOLS):
        try:
            print(tool_binary(name))
        except GoToolError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None


@app.command("path")
def path_command(name: str) -> None:
    """Print the cached binary's path, building it first if needed."""
    build_command([name])
