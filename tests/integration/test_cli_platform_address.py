"""The command-line tools reach the platform `probidad up` runs, wherever `--port-offset` put it, and a
service they cannot reach is named by the address tried and where that address came from."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from probidad.ops.cli import app as probidad
from probidad.ops.localhost import free_port
from probidad.ops.platform import RunningService, _record_run, service_url
from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from tests.support.harness import serving

CSV = ("nombre;curp;sexo;puesto;nivel;institucion\n"
       "Ana Gómez Martínez;GOMA850412MYNRRN06;Mujer;Analista;operativo;in-a\n")


@pytest.fixture
def platform_record(tmp_path: Path):
    """Writes the run record `probidad up` writes, for services on the given ports, as if it ran now."""
    placeholders: list[subprocess.Popen] = []

    def record(ports: dict[str, int]) -> Path:
        state_dir = tmp_path / "state"
        state_dir.mkdir(exist_ok=True)
        # A live process stands for each service: the record names a process id per service.
        running = []
        for name, port in ports.items():
            process = subprocess.Popen(["sleep", "120"])
            placeholders.append(process)
            running.append(RunningService(name, port, process, tmp_path / f"{name}.log"))
        _record_run(state_dir, running, own_kafka=False)
        return state_dir

    yield record
    for process in placeholders:
        process.terminate()
        process.wait()


def cli(monkeypatch, state_dir: Path | None, *args: str):
    monkeypatch.delenv("PROBIDAD_ENROLLMENT_URL", raising=False)
    monkeypatch.delenv("PROBIDAD_ATTENDANCE_URL", raising=False)
    if state_dir is None:
        monkeypatch.delenv("PROBIDAD_STATE_DIR", raising=False)
    else:
        monkeypatch.setenv("PROBIDAD_STATE_DIR", str(state_dir))
    result = CliRunner().invoke(probidad, list(args))
    return result.exit_code, " ".join(result.output.split())


async def test_the_import_reaches_the_enrollment_service_where_up_with_a_port_offset_put_it(
        database_url: str, tmp_path: Path, platform_record, monkeypatch) -> None:
    port = free_port()  # not 8001: where an offset put it
    async with serving(create_app, EnrollmentSettings(database_url=database_url, state_dir=tmp_path)) as service:
        async with service.client("comptroller") as c:
            r = await c.post("/institutions", json={"institution_id": "in-a", "name": "SEFIPLAN",
                                                    "government_level": "state", "headcount": 900,
                                                    "headcount_year": 2026})
            assert r.status_code == 201, r.text
        server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port, lifespan="off",
                                               log_level="warning"))
        serving_task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.05)
            state_dir = platform_record({"enrollment": port})
            hr_file = tmp_path / "hr.csv"
            hr_file.write_text(CSV, encoding="utf-8")
            code, output = await asyncio.to_thread(cli, monkeypatch, state_dir, "enrollment", "import", str(hr_file),
                                                   "--token", service.token("liaison", institution="in-a"))
        finally:
            server.should_exit = True
            await serving_task
        assert code == 0, output
        assert "1 accepted, 0 rejected" in output
        async with service.client("liaison", institution="in-a") as c:
            listed = (await c.get("/servants")).json()
        assert [s["curp"] for s in listed] == ["GOMA850412MYNRRN06"]


def test_an_unreachable_enrollment_service_is_named_by_the_address_tried(tmp_path, platform_record,
                                                                        monkeypatch) -> None:
    port = free_port()  # nothing listens there
    state_dir = platform_record({"enrollment": port})
    hr_file = tmp_path / "hr.csv"
    hr_file.write_text(CSV, encoding="utf-8")
    code, output = cli(monkeypatch, state_dir, "enrollment", "import", str(hr_file), "--token", "t")
    assert code == 2
    assert f"could not reach the enrollment service at http://127.0.0.1:{port}" in output
    assert "`probidad up` runs from" in output


def test_an_unreachable_attendance_service_is_named_by_the_address_tried(platform_record, monkeypatch) -> None:
    port = free_port()
    state_dir = platform_record({"attendance": port})
    code, output = cli(monkeypatch, state_dir, "attendance", "close", "S-1", "--token", "t")
    assert code == 1
    assert f"could not reach the attendance service at http://127.0.0.1:{port}" in output


def test_without_a_running_platform_the_default_address_is_tried_and_said_to_be_the_default(tmp_path,
                                                                                          monkeypatch) -> None:
    code, output = cli(monkeypatch, tmp_path, "attendance", "close", "S-1", "--token", "t", "--url",
                       f"http://127.0.0.1:{free_port()}")
    assert code == 1 and "given by --url" in output
    address, why = service_url("attendance", state_dir=tmp_path)
    assert address == "http://127.0.0.1:8002" and "no `probidad up` runs" in why


def test_a_url_given_wins_over_the_running_platform_and_a_stopped_platforms_record_is_not_used(
        tmp_path: Path, platform_record) -> None:
    state_dir = platform_record({"enrollment": 18_101, "attendance": 18_102})
    assert service_url("attendance", state_dir=state_dir)[0] == "http://127.0.0.1:18102"
    assert service_url("attendance", "http://elsewhere:9/", state_dir)[0] == "http://elsewhere:9"
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = json.loads((state_dir / "up.json").read_text())
    (stopped / "up.json").write_text(json.dumps({**record, "pid": dead.pid}))
    assert service_url("enrollment", state_dir=stopped)[0] == "http://127.0.0.1:8001"
