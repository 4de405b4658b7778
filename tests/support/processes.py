"""Run one service as a real process for end-to-end tests, with the platform's own launcher."""

from __future__ import annotations

import os
import random
from pathlib import Path

from probidad.ops.localhost import free_port, port_free, tail
from probidad.ops.platform import (
    ROOT,
    SERVICES,
    RunningService,
    kill_service,
    launch,
    stop_services,
    wait_until_healthy,
)

__all__ = ["ROOT", "ServiceProcess", "free_port"]


class ServiceProcess:
    """``ServiceProcess("services.reporting", env, port, log).start()`` … ``.stop()`` / ``.kill()``."""

    def __init__(self, module: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.name = module.removeprefix("services.")
        self.env, self.port, self.log_path = env, port, log_path
        self.running: RunningService | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "ServiceProcess":
        self.running = launch(self.name, self.port, {**os.environ, **self.env}, self.log_path)
        wait_until_healthy([self.running], timeout_s)
        return self

    def tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def stop(self) -> None:
        if self.running:
            stop_services([self.running], timeout_s=15)

    def kill(self) -> None:
        if self.running:
            kill_service(self.running)


def free_port_offset(seed: str, instances: int = 1) -> int:
    """An offset for the services' ports (8001–8004, and +100 for each extra instance) at which every one
    of them is free, below the kernel's ephemeral range (32768 and up by default): outgoing connections
    take their local ports there, and one of them can hold a port a service is about to listen on."""
    chosen = random.Random(seed)
    for _attempt in range(100):
        offset = chosen.randrange(10000, 24000, 10)
        if all(port_free(port + offset + 100 * k) for _name, port in SERVICES for k in range(instances)):
            return offset
    raise AssertionError("no free ports for the services below 32768")
