"""deploy/grafana: the provisioning files parse, point at the compose Prometheus and at the mounted
dashboards, and every panel of every dashboard queries series the services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import yaml

from tests.unit.test_deploy_compose import SERVICES
from tests.unit.test_deploy_prometheus import check_expression, known_series, read_promql

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def datasources() -> list[dict]:
    found = []
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml")):
        found += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return found


def mounts(service: str) -> dict[PurePosixPath, Path]:
    """Container path -> repository path of the service's bind mounts."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        if isinstance(volume, str) and volume.startswith("."):
            source, target = volume.split(":")[:2]
            found[PurePosixPath(target)] = (ROOT / source).resolve()
    return found


def host_path(service: str, container_path: str) -> Path | None:
    wanted = PurePosixPath(container_path)
    for target, source in mounts(service).items():
        if wanted == target or target in wanted.parents:
            return source / wanted.relative_to(target)
    return None


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found += panel.get("panels", [])  # panels inside collapsed rows
    return found


def test_the_datasource_is_the_compose_prometheus() -> None:
    sources = datasources()
    assert len(sources) == 1 and sources[0]["type"] == "prometheus" and sources[0]["uid"]
    assert sources[0]["url"] == "http://prometheus:9090" and "prometheus" in SERVICES
    assert host_path("grafana", "/etc/grafana/provisioning/datasources") == GRAFANA / "provisioning" / "datasources"


def test_the_dashboard_provider_loads_the_mounted_dashboards() -> None:
    providers = []
    for path in sorted((GRAFANA / "provisioning" / "dashboards").glob("*.y*ml")):
        providers += yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    assert providers
    for provider in providers:
        assert provider["type"] == "file"
        source = host_path("grafana", provider["options"]["path"])
        assert source is not None, f"{provider['options']['path']} is not mounted into the grafana container"
        assert source.is_dir() and list(source.glob("*.json")), f"no dashboards in {source}"
    home = {k: v for k, v in SERVICES["grafana"].get("environment", {}).items()}.get(
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        path = host_path("grafana", home)
        assert path is not None and path.is_file(), f"home dashboard {home} is not a mounted file"


def test_every_dashboard_parses_and_every_panel_has_a_query() -> None:
    assert DASHBOARDS, "expected a dashboard JSON under deploy/grafana/dashboards"
    datasource_uids = {source["uid"] for source in datasources()}
    series = known_series()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard.get("uid") and dashboard.get("title"), path.name
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids must be unique"
        occupied: dict[tuple[int, int], str] = {}
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, f"{panel['title']}: outside the 24 columns"
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in occupied, f"{panel['title']} overlaps {occupied[(x, y)]}"
                    occupied[(x, y)] = panel["title"]
            if panel["type"] == "row":
                continue
            where = f"{path.name}: {panel['title']!r}"
            targets = panel.get("targets") or []
            assert targets, f"{where} has no query"
            assert panel["datasource"]["uid"] in datasource_uids, f"{where}: unknown datasource"
            for target in targets:
                assert target.get("expr", "").strip(), f"{where}: empty query"
                assert target.get("datasource", panel["datasource"])["uid"] in datasource_uids, where
                labels = check_expression(target["expr"], where, series)
                legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
                assert legend <= labels, f"{where}: legend uses {sorted(legend - labels)}, not labels of its series"


def test_the_dashboard_shows_lag_dead_letters_outbox_http_and_faststream() -> None:
    used = set()
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text(encoding="utf-8"))):
            for target in panel.get("targets", []):
                used |= {name for name, _ in read_promql(target["expr"])[0]}
    required = {
        "probidad_consumer_lag_events", "probidad_consumer_lag_seconds", "probidad_dead_letters_total",
        "probidad_outbox_backlog", "probidad_outbox_published_total", "probidad_http_requests_total",
        "probidad_http_request_seconds_bucket", "faststream_received_messages_total",
        "faststream_received_processed_messages_total",
    }
    assert required <= used, f"the dashboard does not show {sorted(required - used)}"
