"""Run a real Apache Kafka 4.x cluster (KRaft, no ZooKeeper) on loopback, for development and tests.

Command line (registered by ``probidad.cli`` as ``probidad kafka``)::

    probidad kafka start [--nodes 1|3] [--base-port 9092] [--state-dir DIR] [--timeout 90] [--reset]
    probidad kafka status [--state-dir DIR]
    probidad kafka stop [--state-dir DIR]

How it works
    * The broker jars are resolved from Maven Central with ``mvn`` using ``deploy/kafka/pom.xml``
      (the Kafka version is that pom's ``kafka.version`` property) into
      ``$PROBIDAD_CACHE_DIR/kafka-<version>/lib`` (default cache ``~/.cache/probidad``). Resolution
      is skipped when the jars are there and the pom has not changed since (``pom.sha256`` stamp).
    * State lives in ``$PROBIDAD_STATE_DIR/kafka`` (default ``./.probidad/kafka``): ``cluster.json``
      (cluster id, node count, ports) and one ``node-<id>/`` per node with ``server.properties``,
      ``log4j2.properties``, ``data/`` (the log dir), ``server.log`` and ``kafka.pid``.
    * Every node is a combined ``broker,controller`` with a static quorum
      (``controller.quorum.voters``); node ``i`` listens on ``base_port + 2*i`` (clients, PLAINTEXT)
      and ``base_port + 2*i + 1`` (controller), both on 127.0.0.1 only. Single node: 9092/9093.
    * Storage is formatted once (``kafka.tools.StorageTool format --cluster-id=<id> -c server.properties``);
      a later ``start`` on the same state dir keeps the data. ``--reset`` wipes it.
    * The brokers run detached in their own process group, so they outlive the command that started
      them; ``stop`` sends SIGTERM, waits up to 30 s, then SIGKILLs what is left.
    * After the brokers answer a metadata request listing every node, the platform topics of
      ``contracts.topics.PLATFORM_TOPICS`` are created (replication factor = node count, at most 3;
      existing topics are left alone).
    * If the client port is already served by a Kafka broker that this state dir did not start (e.g.
      another checkout's dev broker on 9092), ``start`` reuses it and only creates the topics. If
      the port is taken by anything else, ``start`` fails with a message saying so.

Python API (all functions are synchronous and safe to call from inside a running event loop: the
network part then runs on a helper thread; ``*_async`` variants exist for async callers)::

    start_cluster(nodes=1, state_dir=None, base_port=9092, topics=PLATFORM_TOPICS, topic_prefix="",
                  timeout=90.0, reset=False) -> Cluster        # Cluster.bootstrap, Cluster.nodes[i].pid
    stop_cluster(state_dir=None, timeout=30.0) -> list[int]     # pids that were stopped
    cluster_status(state_dir=None) -> list[NodeStatus]
    kill_node(state_dir, node_id) -> int | None                 # SIGKILL one node (fault tests)
    restart_node(state_dir, node_id, timeout=60.0) -> Node      # bring a killed node back
    create_topics(bootstrap, specs, replication_factor, prefix="", timeout=60.0) -> list[str]
    await create_topics_async(...)                              # same, for async callers
    ensure_broker(bootstrap, timeout=3.0) -> bool               # does a Kafka broker answer?
    await ensure_broker_async(bootstrap, timeout=3.0) -> bool
    broker_count(bootstrap, timeout=3.0) -> int                 # brokers in metadata, 0 if none

``create_topics`` returns the names it created (already existing ones are not listed). Errors the
operator can fix (java/mvn missing, port taken, broker not coming up) raise ``KafkaCtlError``;
the CLI prints its message and exits with status 1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer

from contracts.topics import PLATFORM_TOPICS, TopicSpec, prefixed
from probidad.ops.localhost import port_answers as _port_answers
from probidad.ops.localhost import StateDirOption
from probidad.ops.localhost import fail as _fail
from probidad.ops.localhost import port_free as _port_free
from probidad.ops.localhost import alive as _pid_exists
from probidad.ops.localhost import command_line as _read_cmdline
from probidad.ops.localhost import signal_group as _signal_group
from probidad.ops.localhost import wait_dead as _wait_dead
from probidad.ops.localhost import tail as _tail
from probidad.ops.localhost import state_subdir
from probidad.shared.kafka_security import (
    KafkaSecurity, Secrets, SecurityError, create_acls, ensure_secrets, format_arguments, load_secrets, service_acls,
)
from probidad.shared.kafka_security import server_properties as _secure_properties

__all__ = [
    "Cluster",
    "KafkaCtlError",
    "Node",
    "NodeStatus",
    "app",
    "broker_count",
    "cluster_status",
    "create_topics",
    "create_topics_async",
    "ensure_broker",
    "ensure_broker_async",
    "kill_node",
    "restart_node",
    "start_cluster",
    "stop_cluster",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG4J2_TEMPLATE = DEPLOY_DIR / "log4j2.properties"
DEFAULT_BASE_PORT = 9092
DEFAULT_START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
QUORUM_LOST_GRACE = 5.0
JVM_HEAP = ("-Xms256m", "-Xmx512m")
PID_FILE = "kafka.pid"
NODE_MARKER = "-Dprobidad.kafka.node="

# Used when deploy/kafka/log4j2.properties is not available (e.g. a non-editable install).
_FALLBACK_LOG4J2 = """\
status = warn
name = probidad-kafka
appender.server.type = File
appender.server.name = server
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.append = true
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

T = TypeVar("T")


class KafkaCtlError(RuntimeError):
    """A problem the operator can act on; the CLI prints the message without a traceback."""


# --------------------------------------------------------------------------------------------------
# Data types


@dataclass
class Node:
    id: int
    port: int
    controller_port: int
    dir: Path
    pid: int | None = None
    agency_port: int = 0  # secure mode: the mutual-TLS listener agencies connect to

    @property
    def agency_address(self) -> str:
        return f"127.0.0.1:{self.agency_port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.dir / PID_FILE


@dataclass
class Cluster:
    state_dir: Path
    cluster_id: str
    nodes: list[Node]
    version: str = ""
    reused: bool = False  # True when an already running broker we did not start was reused
    created_topics: list[str] = field(default_factory=list)
    startup_seconds: float = 0.0
    secrets: Secrets | None = None  # set for a secure cluster (``--secure``)

    @property
    def secure(self) -> bool:
        return self.secrets is not None

    @property
    def admin(self) -> KafkaSecurity | None:
        """The credentials the tooling connects with (None: plain cluster, no authentication)."""
        return self.secrets.admin() if self.secrets else None

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def agency_bootstrap(self) -> str:
        """Secure mode: where agencies connect with their client certificate."""
        return ",".join(node.agency_address for node in self.nodes)

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.pid]


@dataclass
class NodeStatus:
    node: Node
    alive: bool
    answering: bool


# --------------------------------------------------------------------------------------------------
# Paths, versions, jars


def cache_dir() -> Path:
    return Path(os.environ.get("PROBIDAD_CACHE_DIR") or Path.home() / ".cache" / "probidad").expanduser()


def _kafka_state(state_dir: Path | str | None) -> Path:
    return state_subdir(state_dir, "kafka")


def kafka_version(pom: Path = POM) -> str:
    if not pom.is_file():
        raise KafkaCtlError(f"Kafka pom not found at {pom}")
    root = ET.parse(pom).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = root.find("m:properties/m:kafka.version", ns)
    if element is None:
        element = root.find("properties/kafka.version")
    if element is None or not (element.text or "").strip():
        raise KafkaCtlError(f"{pom} has no <kafka.version> property")
    return element.text.strip()


def lib_dir(version: str | None = None) -> Path:
    return cache_dir() / f"kafka-{version or kafka_version()}" / "lib"


def _pom_digest(pom: Path = POM) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def resolve_jars(version: str | None = None, *, echo: Callable[[str], object] | None = None) -> Path:
    """Make sure the broker jars are in the cache; returns the lib directory.

    Skips Maven when the ``kafka_2.13`` jar is present and the pom has not changed since the jars
    were resolved. When Maven is missing but jars are present, they are used as they are.
    """
    version = version or kafka_version()
    lib = lib_dir(version)
    stamp = lib.parent / "pom.sha256"
    have_jar = (lib / f"kafka_2.13-{version}.jar").is_file()
    digest = _pom_digest()
    if have_jar and stamp.is_file() and stamp.read_text().strip() == digest:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        if have_jar:
            return lib
        raise KafkaCtlError(
            "Maven (mvn) is not installed; it is needed once to download the Kafka jars.\n"
            "Install it with: apt-get install maven"
        )
    if echo:
        echo(f"Resolving Kafka {version} jars with Maven into {lib} ...")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = lib.parent / f"lib.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise KafkaCtlError("Maven could not resolve the Kafka jars:\n" + "\n".join(output))
    old = lib.parent / f"lib.old-{os.getpid()}"
    if lib.exists():
        lib.rename(old)
    staging.rename(lib)
    shutil.rmtree(old, ignore_errors=True)
    stamp.write_text(digest + "\n")
    return lib


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaCtlError(
            "Java is not installed; Kafka 4.x needs Java 17 or newer.\n"
            "Install it with: apt-get install openjdk-17-jre-headless"
        )
    return java


# --------------------------------------------------------------------------------------------------
# Processes


def _node_pid(node: Node) -> int | None:
    """The pid of this node's broker if it is running (checked against its command line)."""
    try:
        pid = int(node.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_exists(pid):
        return None
    cmdline = _read_cmdline(pid)
    if cmdline and f"{NODE_MARKER}{node.dir}" not in cmdline:
        return None  # the pid was recycled by an unrelated process
    return pid


# --------------------------------------------------------------------------------------------------
# Async helpers (aiokafka)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running.

    Uses a private event loop (never installed as the thread's current loop, so a caller's loop,
    e.g. pytest-asyncio's, is left untouched); inside a running loop it runs on a helper thread.
    """

    def run_private() -> T:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_private()
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = run_private()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = error

    thread = threading.Thread(target=runner, name="probidad-kafkactl", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _silence_aiokafka() -> None:
    import logging

    # Connection refusals while a broker boots are expected; aiokafka logs each one at ERROR.
    for name in ("aiokafka", "aiokafka.conn", "aiokafka.client", "aiokafka.admin"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


async def _broker_ids_async(bootstrap: str, timeout: float, security: KafkaSecurity | None = None) -> list[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    _silence_aiokafka()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(timeout * 1000)),
        client_id="probidad-kafkactl",
        **(security.aiokafka() if security else {}),
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            description = await admin.describe_cluster()
        return sorted(int(broker["node_id"]) for broker in description.get("brokers", []))
    finally:
        try:
            await asyncio.wait_for(admin.close(), 5)
        except Exception:  # noqa: BLE001
            pass


async def ensure_broker_async(bootstrap: str, timeout: float = 3.0, security: KafkaSecurity | None = None) -> bool:
    """True if a Kafka broker at ``bootstrap`` answers a metadata request within ``timeout`` s."""
    try:
        return bool(await _broker_ids_async(bootstrap, timeout, security))
    except Exception:  # noqa: BLE001 - any failure means "nothing usable answers"
        return False


def ensure_broker(bootstrap: str, timeout: float = 3.0, security: KafkaSecurity | None = None) -> bool:
    """Sync variant of :func:`ensure_broker_async`."""
    return _run(ensure_broker_async(bootstrap, timeout, security))


def broker_count(bootstrap: str, timeout: float = 3.0, security: KafkaSecurity | None = None) -> int:
    """How many brokers the cluster at ``bootstrap`` lists in its metadata (0 if it does not answer)."""

    async def count() -> int:
        try:
            return len(await _broker_ids_async(bootstrap, timeout, security))
        except Exception:  # noqa: BLE001
            return 0

    return _run(count())


_TOPIC_ALREADY_EXISTS = 36
_RETRIABLE_CREATE_ERRORS = {
    7,  # REQUEST_TIMED_OUT
    38,  # INVALID_REPLICATION_FACTOR: not every broker registered yet
    41,  # NOT_CONTROLLER
    51,  # CONCURRENT_TRANSACTIONS (never for topics, harmless)
    89,  # THROTTLING_QUOTA_EXCEEDED
}


async def create_topics_async(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    replication_factor: int,
    prefix: str = "",
    timeout: float = 60.0,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Create ``specs`` (names prefixed with ``prefix``) with their configs; existing topics are kept.

    Retries while the cluster is still settling (e.g. not every broker registered yet).
    Returns the names it created.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    _silence_aiokafka()
    wanted = {prefixed(spec.name, prefix): spec for spec in specs}
    created: list[str] = []
    if not wanted:
        return created
    deadline = time.monotonic() + timeout
    last_problem = ""
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=15000, client_id="probidad-kafkactl",
            **(security.aiokafka() if security else {}),
        )
        try:
            async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                await admin.start()
                existing = set(await admin.list_topics())
                missing = [name for name in wanted if name not in existing]
                if not missing:
                    return created
                new_topics = [
                    NewTopic(
                        name=name,
                        num_partitions=wanted[name].partitions,
                        replication_factor=replication_factor,
                        topic_configs=dict(wanted[name].config),
                    )
                    for name in missing
                ]
                response = await admin.create_topics(new_topics, timeout_ms=15000)
                retry = False
                for error in response.topic_errors:
                    name, code = error[0], error[1]
                    message = error[2] if len(error) > 2 else ""
                    if code == 0:
                        created.append(name)
                    elif code == _TOPIC_ALREADY_EXISTS:
                        continue
                    elif code in _RETRIABLE_CREATE_ERRORS:
                        retry = True
                        last_problem = f"{name}: error {code} {message or ''}".strip()
                    else:
                        raise KafkaCtlError(f"Kafka refused to create topic {name}: error {code} {message or ''}")
                if not retry:
                    return created
        except KafkaCtlError:
            raise
        except (Exception, TimeoutError) as error:  # noqa: BLE001 - broker still settling
            last_problem = f"{type(error).__name__}: {error}"
        finally:
            try:
                await asyncio.wait_for(admin.close(), 5)
            except Exception:  # noqa: BLE001
                pass
        if time.monotonic() >= deadline:
            raise KafkaCtlError(f"could not create topics on {bootstrap} in {timeout:.0f}s ({last_problem})")
        await asyncio.sleep(0.5)


def create_topics(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    replication_factor: int,
    prefix: str = "",
    timeout: float = 60.0,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Sync variant of :func:`create_topics_async`."""
    return _run(create_topics_async(bootstrap, specs, replication_factor, prefix, timeout, security))


# --------------------------------------------------------------------------------------------------
# Cluster layout and configuration


def _layout(kafka_dir: Path, nodes: int, base_port: int) -> list[Node]:
    return [
        Node(
            id=i,
            port=base_port + 2 * i,
            controller_port=base_port + 2 * i + 1,
            dir=kafka_dir / f"node-{i}",
            # After every node's client and controller ports (9094 for one node), so the plain layout
            # is unchanged; only a secure node listens there.
            agency_port=base_port + 2 * nodes + i,
        )
        for i in range(nodes)
    ]


def _load_meta(kafka_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((kafka_dir / "cluster.json").read_text())
    except (OSError, ValueError):
        return None


def _load_cluster(state_dir: Path | str | None) -> Cluster | None:
    kafka_dir = _kafka_state(state_dir)
    meta = _load_meta(kafka_dir)
    if meta is None:
        return None
    nodes = _layout(kafka_dir, int(meta["nodes"]), int(meta["base_port"]))
    for node in nodes:
        node.pid = _node_pid(node)
    made = load_secrets(kafka_dir) if meta.get("secure") else None
    return Cluster(kafka_dir, meta["cluster_id"], nodes, version=meta.get("version", ""), secrets=made)


def _new_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters).
    # Like Kafka's Uuid.randomUuid(), never start with "-": the tools would read it as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _server_properties(node: Node, all_nodes: list[Node], made: Secrets | None = None) -> str:
    count = len(all_nodes)
    replication = min(count, 3)
    min_isr = 2 if count >= 3 else 1
    voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in all_nodes)
    lines = {
        "process.roles": "broker,controller",
        "node.id": node.id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": node.dir / "data",
        "num.partitions": 6,
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "group.initial.rebalance.delay.ms": 0,
        "num.network.threads": 3,
        "num.io.threads": 8,
        "log.retention.check.interval.ms": 300000,
        "log.segment.bytes": 1073741824,
    }
    if made is not None:
        lines.update(_secure_properties(made, node.port, node.controller_port, node.agency_port))
    header = (
        f"# Written by probidad kafka start ({count}-node KRaft cluster); regenerated on every start.\n"
    )
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())


def _write_node_files(node: Node, all_nodes: list[Node], made: Secrets | None = None) -> None:
    node.dir.mkdir(parents=True, exist_ok=True)
    (node.dir / "data").mkdir(exist_ok=True)
    node.config_file.write_text(_server_properties(node, all_nodes, made))
    if made is not None:
        node.config_file.chmod(0o600)  # it holds the admin's and the keystore's passwords
    template = LOG4J2_TEMPLATE.read_text() if LOG4J2_TEMPLATE.is_file() else _FALLBACK_LOG4J2
    (node.dir / "log4j2.properties").write_text(template)


def _jvm_base(java: str, lib: Path, node: Node) -> list[str]:
    return [
        java,
        f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={node.dir}",
        "-Djava.awt.headless=true",
        f"{NODE_MARKER}{node.dir}",
        "-cp",
        f"{lib}/*",
    ]


def _format_storage(java: str, lib: Path, nodes: list[Node], cluster_id: str, made: Secrets | None = None) -> None:
    todo = [node for node in nodes if not (node.dir / "data" / "meta.properties").is_file()]
    procs = []
    for node in todo:
        command = _jvm_base(java, lib, node) + [
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(node.config_file),
            # SCRAM credentials live in the metadata log: the brokers' own (inter-broker) one must be
            # there before they start, so every platform principal is written at format time.
            *(format_arguments(made) if made is not None else []),
        ]
        procs.append((node, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for node, proc in procs:
        output, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise KafkaCtlError(f"formatting the storage of node {node.id} failed:\n{output.strip()}")


def _launch(java: str, lib: Path, node: Node) -> int:
    java_cmd, *jvm_options = _jvm_base(java, lib, node)
    command = [
        java_cmd,
        *JVM_HEAP,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        *jvm_options,
        "kafka.Kafka",
        str(node.config_file),
    ]
    with node.log_file.open("ab") as log:
        started = time.strftime('%Y-%m-%d %H:%M:%S')
        log.write(f"\n==== probidad kafka start: node {node.id} at {started} ====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node.dir,
            start_new_session=True,  # own session and process group: survives our exit, killpg-able
            close_fds=True,
        )
    node.pid = proc.pid
    node.pid_file.write_text(f"{proc.pid}\n")
    # Do not keep the Popen around: the broker is meant to outlive us. Its zombie, if it dies while
    # we are still running, is reaped by _pid_exists.
    proc.returncode = 0  # keep Popen.__del__ from warning about a running child
    return proc.pid


def _fail_with_logs(message: str, nodes: Sequence[Node]) -> KafkaCtlError:
    parts = [message]
    for node in nodes:
        parts.append(f"--- last lines of {node.log_file} ---\n{_tail(node.log_file)}")
    return KafkaCtlError("\n".join(parts))


def _answers_itself(node: Node, security: KafkaSecurity | None = None) -> bool:
    try:
        return node.id in _run(_broker_ids_async(node.address, timeout=2.0, security=security))
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _wait_ready(cluster: Cluster, timeout: float, watch: Sequence[Node]) -> None:
    """Wait until a metadata request lists every node; fail early if a launched broker dies."""
    expected = [node.id for node in cluster.nodes]
    deadline = time.monotonic() + timeout
    seen: list[int] = []
    while True:
        dead = [node for node in watch if node.pid and not _pid_exists(node.pid)]
        if dead:
            for node in dead:
                node.pid_file.unlink(missing_ok=True)
            ids = ", ".join(str(node.id) for node in dead)
            raise _fail_with_logs(f"Kafka node(s) {ids} exited during start-up.", dead)
        try:
            seen = _run(_broker_ids_async(cluster.bootstrap, timeout=2.0, security=cluster.admin))
        except Exception:  # noqa: BLE001 - not up yet
            seen = []
        # Each (re)started node must itself answer: after a crash the others may still list it
        # until the controller fences it.
        if all(node_id in seen for node_id in expected) and all(_answers_itself(node, cluster.admin) for node in watch):
            return
        if time.monotonic() >= deadline:
            missing = [node for node in cluster.nodes if node.id not in seen]
            raise _fail_with_logs(
                f"Kafka did not come up within {timeout:.0f}s (brokers answering: {seen or 'none'}).",
                missing or cluster.nodes,
            )
        time.sleep(0.3)


# --------------------------------------------------------------------------------------------------
# Public API


def start_cluster(
    nodes: int = 1,
    state_dir: Path | str | None = None,
    base_port: int = DEFAULT_BASE_PORT,
    topics: Sequence[TopicSpec] = PLATFORM_TOPICS,
    topic_prefix: str = "",
    timeout: float = DEFAULT_START_TIMEOUT,
    reset: bool = False,
    echo: Callable[[str], object] | None = None,
    secure: bool = False,
) -> Cluster:
    """Start (or reuse) a ``nodes``-node KRaft cluster and create ``topics``; returns the cluster.

    Idempotent: nodes of this state dir that already run are kept, dead ones are restarted.
    ``echo`` is an optional ``print``-like callable for progress messages. ``secure``: SASL/SCRAM
    over TLS with ACLs (see ``probidad.shared.kafka_security``); a state dir keeps the mode it was
    formatted in (``--reset`` to change it).
    """
    if nodes < 1:
        raise KafkaCtlError("--nodes must be at least 1")
    say = echo or (lambda _message: None)
    started_at = time.monotonic()
    kafka_dir = _kafka_state(state_dir)
    replication = min(nodes, 3)

    existing = _load_cluster(state_dir)
    if existing is not None and reset:
        if existing.pids:
            stop_cluster(state_dir)
        shutil.rmtree(kafka_dir, ignore_errors=True)
        existing = None
    if existing is not None and len(existing.nodes) != nodes:
        if existing.pids:
            raise KafkaCtlError(
                f"a {len(existing.nodes)}-node cluster from {kafka_dir} is running; "
                f"run `probidad kafka stop` first"
            )
        raise KafkaCtlError(
            f"{kafka_dir} holds a {len(existing.nodes)}-node cluster; use --reset to replace it "
            f"with a {nodes}-node one (its data is deleted)"
        )
    if existing is not None and existing.secure != secure:
        formatted_as = "secure" if existing.secure else "plain"
        raise KafkaCtlError(
            f"{kafka_dir} holds a {formatted_as} cluster; use --reset to replace it "
            f"with a {'secure' if secure else 'plain'} one (its data is deleted)"
        )
    if existing is not None and existing.pids and existing.nodes[0].port != base_port:
        raise KafkaCtlError(
            f"the cluster of {kafka_dir} is running on {existing.bootstrap}; stop it before changing ports"
        )

    layout = _layout(kafka_dir, nodes, base_port)
    if existing is not None:
        for node, old in zip(layout, existing.nodes):
            node.pid = old.pid
    running = [node for node in layout if node.pid]
    to_start = [node for node in layout if not node.pid]

    made: Secrets | None = None
    if secure:
        try:
            made = ensure_secrets(kafka_dir)
        except (SecurityError, OSError) as error:
            raise KafkaCtlError(f"could not make the broker's certificates: {error}") from error
    if not to_start:
        cluster = Cluster(kafka_dir, existing.cluster_id if existing else "", layout, secrets=made)
        say(f"Kafka cluster already running at {cluster.bootstrap}")
    else:
        # Something else on our ports? A Kafka broker we did not start is reused, anything else is an error.
        busy = [
            port
            for node in to_start
            for port in (node.port, node.controller_port, *([node.agency_port] if secure else []))
            if not _port_free(port)
        ]
        if busy and not running and not secure:
            bootstrap = ",".join(node.address for node in layout)
            if ensure_broker(layout[0].address, timeout=3.0):
                count = broker_count(bootstrap)
                if count >= nodes:
                    say(f"A Kafka broker already answers at {layout[0].address}; reusing it.")
                    cluster = Cluster(kafka_dir, "", layout, reused=True)
                    cluster.created_topics = create_topics(bootstrap, topics, min(replication, count), topic_prefix)
                    cluster.startup_seconds = time.monotonic() - started_at
                    return cluster
                raise KafkaCtlError(
                    f"a Kafka cluster with {count} broker(s) already answers at {layout[0].address}, "
                    f"but {nodes} were asked for; stop it or choose another --base-port"
                )
        if busy:
            ports = ", ".join(str(port) for port in busy)
            raise KafkaCtlError(
                f"port(s) {ports} on 127.0.0.1 already in use by another program (not a Kafka broker "
                f"of {kafka_dir}); stop it or choose another --base-port"
            )

        java = _java()
        version = kafka_version()
        lib = resolve_jars(version, echo=say)
        formatted = any((node.dir / "data" / "meta.properties").is_file() for node in layout)
        cluster_id = existing.cluster_id if existing and formatted else _new_cluster_id()
        kafka_dir.mkdir(parents=True, exist_ok=True)
        (kafka_dir / "cluster.json").write_text(
            json.dumps(
                {"cluster_id": cluster_id, "nodes": nodes, "base_port": base_port, "version": version,
                 "secure": secure},
                indent=2,
            )
            + "\n"
        )
        for node in layout:
            _write_node_files(node, layout, made)
        _format_storage(java, lib, to_start, cluster_id, made)
        say(f"Starting {len(to_start)} Kafka {version} node(s) in {kafka_dir} ...")
        for node in to_start:
            _launch(java, lib, node)
        cluster = Cluster(kafka_dir, cluster_id, layout, version=version, secrets=made)
        try:
            _wait_ready(cluster, timeout, to_start)
        except (KafkaCtlError, KeyboardInterrupt):
            # Leave nothing half-started behind.
            _stop_nodes(to_start, STOP_TIMEOUT, cluster_size=len(layout))
            raise

    cluster.created_topics = create_topics(cluster.bootstrap, topics, replication, topic_prefix,
                                           security=cluster.admin)
    if cluster.admin is not None:
        # ACLs live in the metadata log; adding the same ones again on every start changes nothing.
        try:
            _run(create_acls(cluster.bootstrap, cluster.admin, service_acls(topic_prefix)))
        except SecurityError as error:
            raise KafkaCtlError(str(error)) from error
    cluster.startup_seconds = time.monotonic() - started_at
    return cluster


def _stop_nodes(nodes: Sequence[Node], timeout: float, cluster_size: int | None = None) -> list[int]:
    """SIGTERM the nodes' process groups, SIGKILL what is still alive after ``timeout`` s.

    A combined broker/controller that has lost its controller quorum (a majority of the cluster's
    nodes already gone) waits a long time for a controlled shutdown that can never happen, so
    such survivors get only QUORUM_LOST_GRACE seconds before SIGKILL.
    """
    cluster_size = cluster_size or len(nodes)
    outside = cluster_size - len(nodes)  # nodes not being stopped are assumed alive
    pids: dict[int, Node] = {}
    for node in nodes:
        pid = _node_pid(node) or node.pid
        if pid and _pid_exists(pid) and (not _read_cmdline(pid) or NODE_MARKER in _read_cmdline(pid)):
            pids[pid] = node
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    quorum_lost_at: float | None = None
    remaining = set(pids)
    while remaining and time.monotonic() < deadline:
        remaining = {pid for pid in remaining if _pid_exists(pid)}
        if cluster_size > 1 and remaining and outside + len(remaining) <= cluster_size // 2:
            quorum_lost_at = quorum_lost_at or time.monotonic()
            if time.monotonic() - quorum_lost_at >= QUORUM_LOST_GRACE:
                break
        if remaining:
            time.sleep(0.1)
    left = {pid for pid in remaining if _pid_exists(pid)}
    for pid in left:
        _signal_group(pid, signal.SIGKILL)
    still = _wait_dead(left, 10)
    if still:
        raise KafkaCtlError(f"could not stop Kafka process(es) {sorted(still)}")
    for node in nodes:
        node.pid_file.unlink(missing_ok=True)
        node.pid = None
    return sorted(pids)


def stop_cluster(state_dir: Path | str | None = None, timeout: float = STOP_TIMEOUT) -> list[int]:
    """Stop every node of the cluster in ``state_dir``: SIGTERM, up to ``timeout`` s, then SIGKILL.

    Returns the pids that were running. Data is kept (``start`` resumes it).
    """
    kafka_dir = _kafka_state(state_dir)
    cluster = _load_cluster(state_dir)
    if cluster is None:
        # No cluster.json: still honour stray pid files.
        nodes = [
            Node(int(path.parent.name.split("-")[1]), 0, 0, path.parent)
            for path in sorted(kafka_dir.glob("node-*/" + PID_FILE))
        ]
    else:
        nodes = cluster.nodes
    return _stop_nodes(nodes, timeout, cluster_size=len(nodes))


def kill_node(state_dir: Path | str | None, node_id: int) -> int | None:
    """SIGKILL one node (no clean shutdown), for fault tests. Returns its pid, None if it was not running."""
    cluster = _load_cluster(state_dir)
    if cluster is None or not 0 <= node_id < len(cluster.nodes):
        raise KafkaCtlError(f"no node {node_id} in {_kafka_state(state_dir)}")
    node = cluster.nodes[node_id]
    pid = node.pid
    if pid is None:
        return None
    _signal_group(pid, signal.SIGKILL)
    if _wait_dead([pid], 10):
        raise KafkaCtlError(f"node {node_id} (pid {pid}) survived SIGKILL")
    node.pid_file.unlink(missing_ok=True)
    return pid


def restart_node(state_dir: Path | str | None, node_id: int, timeout: float = 60.0) -> Node:
    """Start a stopped/killed node of an existing cluster again and wait until it is back in the metadata."""
    cluster = _load_cluster(state_dir)
    if cluster is None or not 0 <= node_id < len(cluster.nodes):
        raise KafkaCtlError(f"no node {node_id} in {_kafka_state(state_dir)}")
    node = cluster.nodes[node_id]
    if node.pid:
        return node
    for port in (node.port, node.controller_port):
        if not _port_free(port):
            raise KafkaCtlError(f"port {port} is in use; cannot restart node {node_id}")
    java = _java()
    lib = resolve_jars()
    _launch(java, lib, node)
    try:
        _wait_ready(cluster, timeout, [node])
    except KafkaCtlError:
        _stop_nodes([node], STOP_TIMEOUT, cluster_size=len(cluster.nodes))
        raise
    return node


def cluster_status(state_dir: Path | str | None = None) -> list[NodeStatus]:
    """Per node: is its process alive, does its client port accept connections."""
    cluster = _load_cluster(state_dir)
    if cluster is None:
        return []
    return [NodeStatus(node, node.pid is not None, _port_answers(node.port)) for node in cluster.nodes]


# --------------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(help="Run a local Apache Kafka (KRaft) cluster for development and tests.", no_args_is_help=True)

@app.command()
def start(
    nodes: int = typer.Option(1, "--nodes", "-n", min=1, help="Number of nodes: 1 for development, 3 for fault tests."),
    base_port: int = typer.Option(
        DEFAULT_BASE_PORT, "--base-port", help="Node i listens on base+2i (clients) and base+2i+1 (controller)."
    ),
    state_dir: Path | None = StateDirOption,
    timeout: float = typer.Option(DEFAULT_START_TIMEOUT, "--timeout", help="Seconds to wait for the brokers."),
    reset: bool = typer.Option(False, "--reset", help="Delete the cluster's data and format it anew."),
    topic_prefix: str = typer.Option("", "--topic-prefix", help="Prefix for the platform topic names."),
    secure: bool = typer.Option(
        False, "--secure", help="SASL/SCRAM-SHA-512 over TLS with ACLs: every client authenticates, each "
        "principal reads and writes only its own topics (certificates and passwords in the state dir)."
    ),
) -> None:
    """Start the cluster (or reuse a running one) and create the platform topics."""
    try:
        cluster = start_cluster(
            nodes=nodes,
            state_dir=state_dir,
            base_port=base_port,
            topic_prefix=topic_prefix,
            timeout=timeout,
            reset=reset,
            echo=typer.echo,
            secure=secure,
        )
    except KafkaCtlError as error:
        _fail(error)
        return
    if cluster.created_topics:
        typer.echo("Created topics: " + ", ".join(cluster.created_topics))
    pids = ", ".join(f"node {n.id}: pid {n.pid}" for n in cluster.nodes if n.pid)
    typer.echo(f"Kafka is up at {cluster.bootstrap}" + (f" ({pids})" if pids else "")
               + f" after {cluster.startup_seconds:.1f}s")
    typer.echo(f"KAFKA_BOOTSTRAP={cluster.bootstrap}")
    if cluster.secrets is not None:
        typer.echo(f"Secure: services SASL_SSL (SCRAM-SHA-512) at {cluster.bootstrap}, agencies mutual TLS at "
                   f"{cluster.agency_bootstrap}; CA {cluster.secrets.ca_file}; "
                   f"service and admin passwords in {cluster.secrets.credentials_file}")
        typer.echo("Agency credentials: probidad agency credentials INSTITUTION")


@app.command()
def stop(state_dir: Path | None = StateDirOption) -> None:
    """Stop every node of the cluster (SIGTERM, then SIGKILL after 30 s)."""
    try:
        pids = stop_cluster(state_dir)
    except KafkaCtlError as error:
        _fail(error)
        return
    if pids:
        typer.echo(f"Stopped Kafka process(es) {', '.join(map(str, pids))}")
    else:
        typer.echo(f"No Kafka node of {_kafka_state(state_dir)} was running")


@app.command()
def status(state_dir: Path | None = StateDirOption) -> None:
    """Show each node's process and port; exit status 1 unless every node is up."""
    statuses = cluster_status(state_dir)
    if not statuses:
        typer.echo(f"No Kafka cluster in {_kafka_state(state_dir)}")
        address = f"127.0.0.1:{DEFAULT_BASE_PORT}"
        if ensure_broker(address):
            typer.echo(f"(a Kafka broker not managed here answers at {address})")
            return
        raise typer.Exit(1)
    for entry in statuses:
        node = entry.node
        process = f"pid {node.pid}" if entry.alive else "not running"
        port = "answering" if entry.answering else "closed"
        typer.echo(f"node {node.id}: {process:<16} port {node.port} {port}   log {node.log_file}")
    bootstrap = ",".join(entry.node.address for entry in statuses)
    cluster = _load_cluster(state_dir)
    count = broker_count(bootstrap, security=cluster.admin if cluster else None)
    secure = " (secure: SASL_SSL + ACLs)" if cluster and cluster.secure else ""
    typer.echo(f"brokers in metadata: {count}/{len(statuses)}   bootstrap {bootstrap}{secure}")
    if not all(entry.alive and entry.answering for entry in statuses):
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())


@app.command("compose-secrets")
def compose_secrets(
    directory: Path = typer.Option(Path("deploy/kafka/secrets"), "--dir", help="The broker's secrets (mounted by "
                                   "deploy/compose.secure.yml on the kafka containers only)."),
    ca_dir: Path = typer.Option(Path("deploy/kafka/ca"), "--ca-dir", help="Where the CA certificate for the "
                                "services goes (mounted on the four services)."),
    hosts: list[str] = typer.Option(["kafka", "localhost", "127.0.0.1"], "--host", help="Every name clients reach "
                                    "the broker by: the compose network's `kafka`, and KAFKA_EXTERNAL_HOST."),
) -> None:
    """Make the certificates and passwords of the docker compose stack's secure mode (deploy/compose.secure.yml)."""
    from probidad.shared.kafka_security import SecurityError, compose_environment, write_compose_secrets

    try:
        made = write_compose_secrets(directory, ca_dir, hosts)
    except SecurityError as error:
        _fail(error)
        return
    typer.echo(f"Broker secrets in {directory} (CA key included: keep it off the servers once agencies are signed); "
               f"CA certificate in {ca_dir / 'ca.crt'}; certificate for {', '.join(hosts)}.")
    typer.echo("Put these in the environment of `docker compose` (e.g. an untracked .env), never in a file in git:")
    for name, value in compose_environment(made).items():
        typer.echo(f"{name}={value}")
