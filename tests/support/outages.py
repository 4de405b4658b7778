"""What the outage tests need around the platform: a Kafka cluster of their own that they may kill and
start again on the same ports and data, the four services as processes they can kill and start again
with the same settings, the CPU and log bytes a process spends, a consumer group's lag read from the
broker, and the figures a loaded programme must show."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from probidad.ops import kafkactl
from probidad.ops.localhost import port_free, process_stat
from probidad.ops.platform import SERVICES, RunningService, kill_service, launch, stop_services, wait_until_healthy
from probidad.ops.programme import DemoProgramme, expected_figures

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port_range(count: int, low: int, high: int, step: int = 10) -> int:
    """The first port of ``count`` consecutive free loopback ports in [low, high). Kept below the
    kernel's ephemeral range (32768 and up), so an outgoing connection made while a server is down
    cannot take the port it has to listen on again."""
    chosen = random.Random()
    for _attempt in range(200):
        base = chosen.randrange(low, high - count, step)
        if all(port_free(port) for port in range(base, base + count)):
            return base
    raise AssertionError(f"no {count} free ports between {low} and {high}")


# ------------------------------------------------------------------ a Kafka cluster of the test's own


@dataclass
class OwnKafka:
    """``kafkactl``'s cluster in a state dir of the test's own: killing it harms nobody else's tests."""

    state_dir: Path
    nodes: int = 1
    base_port: int = field(default_factory=lambda: free_port_range(6, 25000, 32000))
    bootstrap: str = ""

    def start(self) -> float:
        """Start the cluster (again: the same ports and data); returns the seconds it took."""
        started = time.monotonic()
        cluster = kafkactl.start_cluster(nodes=self.nodes, state_dir=self.state_dir, base_port=self.base_port,
                                         timeout=120)
        self.bootstrap = cluster.bootstrap
        return time.monotonic() - started

    def kill(self) -> list[int]:
        """SIGKILL every node: no broker left, nothing shut down cleanly."""
        return [pid for node in range(self.nodes) if (pid := kafkactl.kill_node(self.state_dir, node))]

    def stop(self) -> None:
        kafkactl.stop_cluster(self.state_dir)


# ------------------------------------------------------------------ the platform as processes


@dataclass
class Platform:
    """The four services as processes, each with its own log file, which a test may kill and start
    again one by one with exactly the settings they first had (same port, database, log)."""

    state_dir: Path
    bootstrap: str
    topic_prefix: str
    postgres: str | None = None  # a URL template with {service}; SQLite files in the state dir otherwise
    extra_env: dict[str, str] = field(default_factory=dict)
    running: dict[str, RunningService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offset = free_port_range(len(SERVICES), 10000, 24000) - SERVICES[0][1]
        self.logs = self.state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def env(self, name: str) -> dict[str, str]:
        env = {**os.environ, "PROBIDAD_STATE_DIR": str(self.state_dir), "PROBIDAD_KAFKA_BOOTSTRAP": self.bootstrap,
               "PROBIDAD_TOPIC_PREFIX": self.topic_prefix, **self.extra_env}
        env.pop("PROBIDAD_DATABASE_URL", None)
        if self.postgres:
            env["PROBIDAD_DATABASE_URL"] = self.postgres.format(service=name)
        return env

    def port(self, name: str) -> int:
        return dict(SERVICES)[name] + self.offset

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, *names: str, timeout_s: float = 90.0) -> None:
        started = [launch(name, self.port(name), self.env(name), self.log(name)) for name in names or dict(SERVICES)]
        self.running.update({service.name: service for service in started})
        wait_until_healthy(started, timeout_s)

    def kill(self, name: str) -> None:
        kill_service(self.running.pop(name))

    def stop(self) -> None:
        stop_services(list(self.running.values()))
        self.running.clear()

    @property
    def urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{self.port(name)}" for name, _port in SERVICES}

    def pid(self, name: str) -> int:
        return self.running[name].process.pid


# ------------------------------------------------------------------ what a process spends


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    stat = process_stat(pid)
    assert stat is not None, f"process {pid} is gone"
    return (int(stat[11]) + int(stat[12])) / CLOCK_TICKS


@dataclass
class Spending:
    """CPU seconds and log bytes of some processes between ``start()`` and ``stop()``."""

    pids: dict[str, int]
    logs: dict[str, Path]
    cpu: dict[str, float] = field(default_factory=dict)
    log_bytes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def start(self) -> "Spending":
        self._at = time.monotonic()
        self._cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._size = {name: path.stat().st_size for name, path in self.logs.items()}
        return self

    def stop(self) -> "Spending":
        self.seconds = time.monotonic() - self._at
        self.cpu = {name: cpu_seconds(pid) - self._cpu[name] for name, pid in self.pids.items()}
        self.log_bytes = {name: path.stat().st_size - self._size[name] for name, path in self.logs.items()}
        return self

    def share(self, name: str) -> float:
        """CPU used as a share of one core over the window."""
        return self.cpu[name] / self.seconds

    def summary(self) -> str:
        return ", ".join(f"{name} {self.log_bytes[name]:,} B log / {self.share(name):.2%} CPU" for name in self.pids)


# ------------------------------------------------------------------ what the services and the broker say


def samples(metrics: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of metric ``name`` in a Prometheus text page: (labels, value) pairs."""
    found = []
    for match in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", metrics, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        found.append((labels, float(match.group(2))))
    return found


async def metrics_of(http: httpx.AsyncClient, url: str) -> str:
    response = await http.get(f"{url}/metrics")
    response.raise_for_status()
    return response.text


async def consumed_topics(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, set[str]]:
    """Consumer group -> the topics it consumes, as each service's lag gauge names them."""
    groups: dict[str, set[str]] = {}
    for url in urls.values():
        for labels, _value in samples(await metrics_of(http, url), "probidad_consumer_lag_events"):
            groups.setdefault(labels["group"], set()).add(labels["topic"])
    return groups


async def group_lags(bootstrap: str, groups: dict[str, set[str]]) -> dict[str, int]:
    """Per consumer group: records of its topics not yet committed (end offset minus committed offset,
    a partition never committed counting from 0), read from the broker itself."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=5000)
    await admin.start()
    await probe.start()
    try:
        lags = {}
        for group, topics in groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            tps = [TopicPartition(topic, p)
                   for topic in sorted(topics) for p in probe.partitions_for_topic(topic) or ()]
            ends = await probe.end_offsets(tps) if tps else {}
            lags[group] = sum(max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0
                                                  else 0)) for tp in tps)
        return lags
    finally:
        await probe.stop()
        await admin.close()


async def dead_letter_records(bootstrap: str, topic_prefix: str) -> dict[str, int]:
    """Records in every dead-letter topic of this namespace."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        topics = [t for t in await probe.topics() if t.startswith(topic_prefix) and t.endswith(".dlq")]
        counts = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
            begins, ends = await probe.beginning_offsets(tps), await probe.end_offsets(tps)
            counts[topic] = sum(ends[tp] - begins[tp] for tp in tps)
        return counts
    finally:
        await probe.stop()


async def figures_seen(http: httpx.AsyncClient, reporting: str, programme: DemoProgramme) -> dict:
    """What the reporting API shows, in the shape ``figures_wanted`` gives."""
    async def row(**params) -> dict:
        response = await http.get(f"{reporting}/reports/figures", params=params)
        response.raise_for_status()
        rows = response.json()["rows"]
        return rows[0] if rows else {}

    months = {}
    for month in expected_figures(programme)["months"]:
        found = await row(month=month)
        months[month] = (found.get("sessions_delivered"), found.get("servants_trained"), found.get("participations"))
    year = await row(**{"from": programme.first_day.isoformat(), "to": programme.last_day.isoformat()})
    return {"months": months, "servants_trained": year.get("servants_trained"),
            "participations": year.get("participations")}


def figures_wanted(programme: DemoProgramme) -> dict:
    """The figures of ``programme`` computed straight from its plan."""
    expected = expected_figures(programme)
    return {"months": {m: (f["sessions_delivered"], f["servants_trained"], f["participations"])
                       for m, f in expected["months"].items()},
            "servants_trained": expected["servants_trained"], "participations": expected["participations"]}


async def certificates_issued(http: httpx.AsyncClient, certification: str) -> list[dict]:
    """The certificates certification holds as valid."""
    response = await http.get(f"{certification}/certificates")
    response.raise_for_status()
    return [c for c in response.json() if c["status"] == "valid"]


async def outbox_gauges(http: httpx.AsyncClient, url: str) -> tuple[float, float]:
    """(probidad_outbox_backlog, probidad_outbox_oldest_age_seconds) as a service's /metrics shows them."""
    metrics = await metrics_of(http, url)
    return (sum(v for _l, v in samples(metrics, "probidad_outbox_backlog")),
            max((v for _l, v in samples(metrics, "probidad_outbox_oldest_age_seconds")), default=0.0))


async def until(check, *, timeout_s: float, interval_s: float = 0.5, what: str = "condition"):
    """Await ``check()`` until it returns something truthy (returned); AssertionError naming ``what``
    and the last value seen after ``timeout_s``. Errors of a check (a service not answering yet)
    count as not yet."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except (httpx.HTTPError, OSError, asyncio.TimeoutError) as error:
            last = repr(error)
        except KafkaError as error:  # the broker not answering yet
            last = repr(error)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s; last seen {last!r}")
        await asyncio.sleep(interval_s)
