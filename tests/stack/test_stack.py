"""docker-compose.yml run for real: `probidad stack up` under podman (images built from Debian's packages),
the demo loaded through the published ports while a service is killed, the figures, Prometheus, and a stop
that leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from probidad.ops import stack
from probidad.ops.demo import Loader, comptroller_token
from probidad.ops.programme import demo_programme, expected_figures

PROJECT = os.environ.get("PROBIDAD_STACK_PROJECT", "probidad-stack-test")
PLANNED_ON = datetime(2026, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
EXPECTED_CONTAINERS = {"kafka", "postgres", *stack.SERVICES, "prometheus"}


def inspect(name: str) -> dict:
    return json.loads(stack.podman("inspect", name).stdout)[0]


def container_of(service: str) -> str:
    return next(c["Names"][0] for c in stack.containers(PROJECT) if stack._service(c) == service)


def left_behind() -> dict[str, list[str]]:
    volumes = stack.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    networks = stack.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    return {"containers": [c["Names"][0] for c in stack.containers(PROJECT)],
            "volumes": [v for v in volumes if v.startswith(f"{PROJECT}_")],
            "networks": [n for n in networks if n.startswith(f"{PROJECT}_")]}


async def monthly_figures(http: httpx.AsyncClient, reporting: str, months) -> dict:
    seen = {}
    for month in months:
        response = await http.get(f"{reporting}/reports/figures", params={"month": month})
        response.raise_for_status()
        row = (response.json()["rows"] or [{}])[0]
        seen[month] = (row.get("sessions_delivered"), row.get("servants_trained"), row.get("participations"))
    return seen


def prometheus(url: str, path: str, **params) -> dict:
    response = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


@pytest.mark.timeout(900)
def test_the_stack_comes_up_healthy_loads_the_demo_through_its_ports_survives_a_killed_service_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    stack.stack_down(tmp_path, project=PROJECT, volumes=True)  # what an interrupted earlier run left
    try:
        urls = stack.stack_up(tmp_path, project=PROJECT, timeout=300)
        print(f"stack up and healthy in {time.monotonic() - started:.0f} s")

        # Every container of the stack runs and passes the health check the compose file gives it.
        running = {stack._service(c): c for c in stack.containers(PROJECT)}
        assert set(running) == EXPECTED_CONTAINERS
        for service, container in running.items():
            assert container["State"] == "running", service
            assert stack.check_health(container["Names"][0]), service
            assert inspect(container["Names"][0])["State"]["Health"]["Status"] == "healthy", service

        values = stack.settings(tmp_path)
        monkeypatch.setenv("PROBIDAD_JWT_SECRET", values["PROBIDAD_JWT_SECRET"])  # the stack's, for the token
        token = comptroller_token()
        bootstrap = f"127.0.0.1:{values['KAFKA_EXTERNAL_PORT']}"
        programme = demo_programme(seed=11, scale=0.02, now=PLANNED_ON)

        # Reporting crashes (SIGKILL of its process) while the sessions are being closed: the engine restarts
        # it (restart: unless-stopped) and it catches up from its committed offsets.
        reporting = container_of("reporting")
        killed = {}

        def note(step: str, done: int, _total: int) -> None:
            if step == "sessions closed" and done >= 2 and not killed:
                killed["pid"] = inspect(reporting)["State"]["Pid"]
                os.kill(killed["pid"], signal.SIGKILL)

        service_urls = {name: url for name, url in urls.items() if name in stack.SERVICES}
        asyncio.run(Loader(service_urls, bootstrap, programme, token, report=note).run())
        assert killed, "the demo closed its sessions without the kill"

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = inspect(reporting)
            if state["State"]["Pid"] not in (0, killed["pid"]) and stack.check_health(reporting):
                break
            time.sleep(2)
        state = inspect(reporting)
        assert state["RestartCount"] >= 1 and state["State"]["Pid"] != killed["pid"], state["State"]
        assert stack.check_health(reporting)

        # The figures of the restarted reporting are the demo's, computed from the plan: nothing lost.
        expected = expected_figures(programme)
        wanted = {m: (f["sessions_delivered"], f["servants_trained"], f["participations"])
                  for m, f in expected["months"].items()}

        async def figures() -> tuple[dict, dict]:
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                limit = time.monotonic() + 180
                seen = await monthly_figures(http, urls["reporting"], wanted)
                while seen != wanted and time.monotonic() < limit:
                    await asyncio.sleep(2)
                    seen = await monthly_figures(http, urls["reporting"], wanted)
                period = {"from": programme.first_day.isoformat(), "to": programme.last_day.isoformat()}
                year = (await http.get(f"{urls['reporting']}/reports/figures", params=period)).json()["rows"][0]
                return seen, year

        seen, year = asyncio.run(figures())
        assert seen == wanted
        assert year["servants_trained"] == expected["servants_trained"]
        assert year["participations"] == expected["participations"]

        # The stack's Prometheus scrapes the four services (the restarted one included) and loaded the alerts.
        deadline = time.monotonic() + 90
        while True:
            up = {r["metric"]["job"]: r["value"][1]
                  for r in prometheus(urls["prometheus"], "query", query="up")["result"]}
            if all(up.get(service) == "1" for service in stack.SERVICES) or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert {service: up.get(service) for service in stack.SERVICES} == {s: "1" for s in stack.SERVICES}
        wanted_rules = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"]
                        for rule in group["rules"] if "alert" in rule}
        loaded = {rule["name"]
                  for group in prometheus(urls["prometheus"], "rules")["groups"] for rule in group["rules"]}
        assert wanted_rules and wanted_rules <= loaded
    finally:
        stack.stack_down(tmp_path, project=PROJECT, volumes=True)

    # Stopped: no container, volume or network of the stack is left.
    assert left_behind() == {"containers": [], "volumes": [], "networks": []}
    print(f"stack test took {time.monotonic() - started:.0f} s")
