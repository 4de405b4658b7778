"""deploy/prometheus: promtool accepts the config and rules, the alert unit tests pass, and every series
the alerts (and their unit tests) use is one the services really export.

promtool comes from Debian's ``prometheus`` package (``apt-get install -y prometheus``). Without it these
tests skip, unless PROBIDAD_REQUIRE_REAL=1 (CI), where a missing promtool fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from probidad.shared import metrics as probidad_metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"


# ------------------------------------------------------------------ the series that exist


def _series_of(metric: MetricWrapperBase) -> dict[str, set[str]]:
    """Exposed series names of a prometheus_client metric -> its label names."""
    base, kind, labels = metric._name, metric._type, set(metric._labelnames)  # noqa: SLF001
    if kind == "counter":
        return {f"{base}_total": labels, f"{base}_created": labels}
    if kind == "histogram":
        return {f"{base}_bucket": labels | {"le"}, f"{base}_sum": labels, f"{base}_count": labels,
                f"{base}_created": labels}
    if kind == "summary":
        return {base: labels | {"quantile"}, f"{base}_sum": labels, f"{base}_count": labels,
                f"{base}_created": labels}
    return {base: labels}


def probidad_series() -> dict[str, set[str]]:
    """The shared metrics and each service's own (services/<name>/metrics.py)."""
    import importlib

    series: dict[str, set[str]] = {}
    modules = [probidad_metrics]
    for name in ("attendance", "certification", "enrollment", "reporting"):
        try:
            modules.append(importlib.import_module(f"services.{name}.metrics"))
        except ModuleNotFoundError:
            continue
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                series.update(_series_of(value))
    return series


def faststream_series() -> dict[str, set[str]]:
    """What FastStream's Prometheus middleware exports (built into a throw-away registry)."""
    from faststream.prometheus.container import MetricsContainer

    container = MetricsContainer(CollectorRegistry(), metrics_prefix="faststream", custom_label_names=[])
    series: dict[str, set[str]] = {}
    for slot in type(container).__slots__:
        value = getattr(container, slot, None)
        if isinstance(value, MetricWrapperBase):
            series.update(_series_of(value))
    return series


def target_labels() -> set[str]:
    """Labels Prometheus attaches to every scraped series: job, instance and the static target labels."""
    labels = {"job", "instance"}
    for job in yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["scrape_configs"]:
        for static in job.get("static_configs", []):
            labels |= set(static.get("labels", {}))
    return labels


def known_series() -> dict[str, set[str]]:
    series = {**probidad_series(), **faststream_series(), "up": set()}
    extra = target_labels()
    return {name: labels | extra for name, labels in series.items()}


# ------------------------------------------------------------------ a small PromQL reader

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "atan2"}


def read_promql(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """(metric selectors as (name, label names matched), labels used in by/without/on/ignoring clauses)."""
    text = _RANGE.sub("", _STRING.sub('""', expr))
    grouping: set[str] = set()
    for match in _GROUPING.finditer(text):
        grouping |= {label.strip() for label in match.group(1).split(",") if label.strip()}
    text = _GROUPING.sub(" ", text)
    selectors: list[tuple[str, set[str]]] = []

    def selector(match: re.Match) -> str:
        name = match.group(1)
        assert name, f"selector without a metric name in {expr!r}"
        selectors.append((name, set(_MATCHER.findall(match.group(2)))))
        return " "

    text = _SELECTOR.sub(selector, text)
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS:
            continue
        selectors.append((name, set()))
    return selectors, grouping


def check_expression(expr: str, where: str, series: dict[str, set[str]]) -> set[str]:
    """Assert every series and label in ``expr`` exists; return the labels the result may carry."""
    selectors, grouping = read_promql(expr)
    assert selectors, f"{where}: no metric in {expr!r}"
    available: set[str] = set()
    for name, matched in selectors:
        assert name in series, (f"{where}: {name!r} is not exported by the services "
                                f"(probidad.shared.metrics, FastStream's middleware) nor by Prometheus")
        unknown = matched - series[name]
        assert not unknown, f"{where}: {name} has no label {sorted(unknown)}"
        available |= series[name]
    unknown = grouping - available
    assert not unknown, f"{where}: grouping by {sorted(unknown)}, which none of its series carries"
    return available


# ------------------------------------------------------------------ promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        message = ("promtool not found: install Debian's prometheus package (apt-get install -y prometheus), "
                   "which provides /usr/bin/promtool")
        if REQUIRE_REAL:
            pytest.fail(f"{message} — required because PROBIDAD_REQUIRE_REAL=1")
        pytest.skip(message)
    return found


def run_promtool(promtool: str, *args: str) -> str:
    done = subprocess.run([promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def test_promtool_accepts_the_config(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", CONFIG.name)
    assert "SUCCESS" in output


def test_promtool_accepts_the_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", ALERTS.name)
    assert "SUCCESS" in output


def test_alert_unit_tests_pass(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", ALERTS_TEST.name)
    assert "SUCCESS" in output and "FAILED" not in output


# ------------------------------------------------------------------ contents


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_prometheus_scrapes_every_service_the_stack_runs() -> None:
    from tests.unit.test_deploy_compose import PROBIDAD, SERVICES, environment

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert ALERTS.name in config.get("rule_files", [])
    scraped = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                scraped[target] = (job, static.get("labels", {}))
    for name, service in PROBIDAD.items():
        target = f"{name}:{environment(service)['PROBIDAD_HTTP_PORT']}"
        assert target in scraped, f"Prometheus does not scrape {target}"
        job, labels = scraped[target]
        assert job["job_name"] == name and job.get("metrics_path", "/metrics") == "/metrics"
        assert labels.get("platform") == "probidad", "ProbidadServiceDown selects up{platform=\"probidad\"}"
    prometheus = SERVICES["prometheus"]
    assert any(str(v).startswith("./deploy/prometheus:/etc/prometheus") for v in prometheus["volumes"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_alerts_use_only_series_the_services_export() -> None:
    series = known_series()
    for rule in alert_rules():
        check_expression(rule["expr"], rule["alert"], series)


def test_alerts_cover_lag_dead_letters_outbox_errors_and_down_services() -> None:
    used = {name for rule in alert_rules() for name, _ in read_promql(rule["expr"])[0]}
    required = {"probidad_consumer_lag_events", "probidad_consumer_lag_seconds", "probidad_dead_letters_total",
                "probidad_outbox_backlog", "probidad_outbox_relay_errors_total", "probidad_http_requests_total",
                "up"}
    assert required <= used, f"no alert on {sorted(required - used)}"
    http = [r for r in alert_rules() if "probidad_http_requests_total" in r["expr"]]
    assert any('status="5xx"' in r["expr"] and "/" in r["expr"] for r in http), "alert on the 5xx ratio"
    assert any("increase(probidad_dead_letters_total" in r["expr"] for r in alert_rules())


def test_every_alert_says_what_happened_and_what_to_do() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alert_rules():
        assert re.fullmatch(r"Probidad[A-Z]\w+", rule["alert"]), rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip(), f"{rule['alert']}: no summary"
        description = annotations.get("description", "")
        assert len(description) > 80, f"{rule['alert']}: the description must say what to do"
        assert re.search(r"\b(Check|Read|Look|Fix|Restart|Watch|add|raise|roll)", description), \
            f"{rule['alert']}: the description gives no action"


def test_alert_unit_tests_prove_the_lag_dead_letter_and_outbox_alerts_fire() -> None:
    document = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert document["rule_files"] == [ALERTS.name]
    series = known_series()
    fired, quiet = set(), set()
    for case in document["tests"]:
        for item in case["input_series"]:
            name, _, labels = item["series"].partition("{")
            assert name in series, f"test {case['name']!r}: synthetic series {name!r} is not a real metric"
            label_names = set(re.findall(r"([A-Za-z_]\w*)\s*=", labels))
            assert label_names <= series[name], f"{name}: no label {sorted(label_names - series[name])}"
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    rules = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert (fired | quiet) <= set(rules), f"tests name unknown alerts: {sorted((fired | quiet) - set(rules))}"
    for metric in ("probidad_consumer_lag_events", "probidad_consumer_lag_seconds", "probidad_dead_letters_total",
                   "probidad_outbox_backlog", "probidad_outbox_relay_errors_total"):
        alerts = {name for name, expr in rules.items() if metric in expr}
        assert alerts & fired, f"no unit test shows an alert on {metric} firing ({sorted(alerts)})"
    assert {"ProbidadConsumerLagHigh", "ProbidadDeadLetters", "ProbidadOutboxBacklog"} <= fired & quiet, \
        "the lag, dead-letter and outbox tests should also show when the alert stays quiet"


def test_the_promql_reader_finds_metrics_and_labels() -> None:
    selectors, grouping = read_promql(
        'histogram_quantile(0.99, sum by (service, le) (rate(x_bucket{route=~"/a|b"}[5m]))) '
        '/ on (service) group_left sum without (job) (y_total offset 15m) > bool 1e3 unless z')
    assert selectors == [("x_bucket", {"route"}), ("y_total", set()), ("z", set())]
    assert grouping == {"service", "le", "job"}
