"""Outages on the real platform: the four services as processes on a Kafka cluster of the tests' own
(killed and started again on the same ports and data; the shared broker is never touched), a small
programme loaded through the public interfaces, and the figures checked against the plan afterwards.

* Every broker down for two minutes while the programme loads: the services keep answering, their
  outboxes grow, their logs and CPU stay quiet, and once the brokers are back everything drains
  without restarting any service, nothing lost and nothing doubled.
* A consumer service killed with SIGKILL and started again is back at lag zero within seconds.
* The database stopped for twenty seconds: HTTP answers 503, nothing is dead-lettered, every
  certificate is issued once it is back.

``PROBIDAD_OUTAGE_S`` shortens the broker outage for a local run (default 120 s, as in CI);
``PROBIDAD_KAFKA_RECONNECT_MAX_MS=0`` runs it with the Kafka client's own fixed retry, for comparison.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from probidad.ops import pgctl
from probidad.ops.demo import DemoAlreadyLoaded, DemoIncomplete, Loader, comptroller_token
from probidad.ops.programme import demo_person, demo_programme
from tests.support.outages import (
    OwnKafka, Platform, Spending, certificates_issued, consumed_topics, dead_letter_records, figures_seen,
    figures_wanted, free_port_range, group_lags, metrics_of, outbox_gauges, samples, until,
)

pytestmark = pytest.mark.kafka

OUTAGE_S = float(os.environ.get("PROBIDAD_OUTAGE_S", "120"))
# PROBIDAD_KAFKA_RECONNECT_MAX_MS=0 (the services inherit it) measures the Kafka client's own fixed retry.
BACKOFF_ON = os.environ.get("PROBIDAD_KAFKA_RECONNECT_MAX_MS", "") != "0"
PLANNED_ON = datetime(2026, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
SERVICE_NAMES = ("enrollment", "attendance", "certification", "reporting")


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory):
    """One single-node cluster for this file; each test runs in its own topic namespace."""
    kafka = OwnKafka(tmp_path_factory.mktemp("outage-kafka"), nodes=int(os.environ.get("PROBIDAD_OUTAGE_NODES", "1")))
    print(f"\nown Kafka cluster ({kafka.nodes} node(s)) up in {kafka.start():.1f} s at {kafka.bootstrap}")
    yield kafka
    kafka.stop()


@pytest.fixture
def kafka(own_kafka: OwnKafka) -> OwnKafka:
    own_kafka.start()  # a test that failed half-way may have left it down
    return own_kafka


def small_programme(scale: float = 0.02):
    return demo_programme(seed=11, scale=scale, now=PLANNED_ON)


def closed_at_least(count: int):
    """A loader ``report`` and ``should_stop`` pair: stop once ``count`` sessions are closed."""
    closed = {"sessions": 0}

    def note(step: str, done: int, _total: int) -> None:
        if step == "sessions closed":
            closed["sessions"] = done

    def enough() -> bool:
        return closed["sessions"] >= count

    async def reached() -> bool:
        return enough()

    return note, enough, reached, closed


async def load_all(platform: Platform, kafka: OwnKafka, programme, *, attempts: int = 5) -> None:
    """Load what is not loaded yet, again after a stop part-way (the loader continues where it stopped)."""
    for attempt in range(attempts):
        try:
            await Loader(platform.urls, kafka.bootstrap, programme, comptroller_token(),
                         topic_prefix=platform.topic_prefix).run()
            return
        except DemoAlreadyLoaded:
            return
        except DemoIncomplete:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(2)


async def rosters_known(http: httpx.AsyncClient, attendance: str, sessions) -> bool:
    for session in sessions:
        response = await http.get(f"{attendance}/sessions/{session.session_id}")
        if response.status_code != 200 or len(response.json().get("attendance", [])) < len(session.enrolled):
            return False
    return True


def new_servants(programme, count: int) -> list[dict]:
    """People HR registers meanwhile, unknown to the programme (so its figures do not change)."""
    rng = random.Random(2026)
    institution = programme.institutions[0].institution_id
    taken = {s.curp for s in programme.servants}  # a CURP the programme holds would update its servant
    people = []
    for n in range(count):
        person = demo_person(rng, ("female", "male")[n % 2], taken)
        people.append({"institution_id": institution, "curp": person["curp"], "sex": person["sex"],
                       "name": f"{person['given_names']} {person['first_surname']} {person['second_surname']}",
                       "position_level": "operativo"})
    return people


async def the_figures_match_the_plan(http: httpx.AsyncClient, platform: Platform, programme,
                                     timeout_s: float) -> None:
    wanted = figures_wanted(programme)

    async def matching() -> bool:
        return await figures_seen(http, platform.urls["reporting"], programme) == wanted

    try:
        await until(matching, timeout_s=timeout_s, interval_s=1, what="reporting figures equal to the plan's")
    except AssertionError:
        assert await figures_seen(http, platform.urls["reporting"], programme) == wanted
    issued = await certificates_issued(http, platform.urls["certification"])
    assert len(issued) == wanted["participations"], "one certificate per completed participation"
    assert len({c["certificate_id"] for c in issued}) == len(issued)


async def test_all_brokers_down_for_two_minutes_under_load_loses_and_doubles_nothing_and_floods_no_log(
        kafka: OwnKafka, tmp_path: Path) -> None:
    programme = small_programme()
    sessions = [s for s in programme.sessions if not s.cancelled]
    platform = Platform(tmp_path, kafka.bootstrap, "outage.brokers.", extra_env={
        "PROBIDAD_OUTBOX_MAX_AGE_S": str(max(5, OUTAGE_S / 4))})
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {comptroller_token()}"}, timeout=30)
    try:
        await asyncio.to_thread(platform.start)
        # Half the sessions closed through the public interfaces; certificates and figures are still
        # being worked out when the brokers go.
        note, half_closed, _reached, _closed = closed_at_least(len(sessions) // 2)
        loaded_at = time.monotonic()
        with pytest.raises(DemoIncomplete):
            await Loader(platform.urls, kafka.bootstrap, programme, comptroller_token(),
                         topic_prefix=platform.topic_prefix, report=note, should_stop=half_closed).run()
        await until(lambda: rosters_known(http, platform.urls["attendance"], sessions), timeout_s=60,
                    what="attendance knows every roster")
        groups = await consumed_topics(http, platform.urls)
        assert set(groups) == {f"probidad-{name}" for name in SERVICE_NAMES}, groups
        print(f"\nhalf the programme loaded in {time.monotonic() - loaded_at:.1f} s; lag when the brokers go: "
              f"{await group_lags(kafka.bootstrap, groups)}")

        spent = Spending({n: platform.pid(n) for n in SERVICE_NAMES}, {n: platform.log(n) for n in SERVICE_NAMES})
        spent.start()
        killed = await asyncio.to_thread(kafka.kill)
        assert len(killed) == kafka.nodes
        outage_began = time.monotonic()

        # Meanwhile the comptroller's unit closes the other half (attendance, grades, closing) and HR
        # registers people: every answer comes from the services' own databases.
        registered: list[int] = []

        async def hr_registers() -> None:
            for person in new_servants(programme, 1000):
                response = await http.post(f"{platform.urls['enrollment']}/servants", json=person)
                registered.append(response.status_code)
                await asyncio.sleep(5)

        seen_backlog: list[tuple[float, dict[str, tuple[float, float]]]] = []

        async def watch_outboxes() -> None:
            while True:
                seen_backlog.append((time.monotonic() - outage_began, {
                    name: await outbox_gauges(http, platform.urls[name]) for name in ("enrollment", "attendance")}))
                await asyncio.sleep(20)

        # Connection attempts per service once the outage is a minute old (or half over, when shorter):
        # the Kafka client alone retried every 100 ms in each of its loops, dozens a second.
        settled_after_s = min(60.0, OUTAGE_S / 2)
        attempts_then: dict[str, float] = {}

        async def note_attempts() -> None:
            await asyncio.sleep(max(0.0, settled_after_s - (time.monotonic() - outage_began)))
            attempts_then["at"] = time.monotonic()
            for name in SERVICE_NAMES:
                attempts_then[name] = connection_attempts(await metrics_of(http, platform.urls[name]))

        hr = asyncio.create_task(hr_registers())
        watching = asyncio.create_task(watch_outboxes())
        noting = asyncio.create_task(note_attempts())
        await Loader(platform.urls, kafka.bootstrap, programme, comptroller_token(),
                     topic_prefix=platform.topic_prefix).run()
        rest_loaded_s = time.monotonic() - outage_began

        async def kafka_down_everywhere() -> bool:
            for name in SERVICE_NAMES:
                response = await http.get(f"{platform.urls[name]}/health")
                if response.status_code != 503 or response.json()["checks"]["kafka"] != "down":
                    return False
            return True

        await until(kafka_down_everywhere, timeout_s=30, what="/health says Kafka is down")
        quiet = Spending(spent.pids, spent.logs).start()
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_began)))
        hr.cancel()
        watching.cancel()
        await asyncio.gather(hr, watching, return_exceptions=True)
        await noting
        quiet.stop()
        spent.stop()

        during: dict[str, dict] = {}
        attempts_window_s = time.monotonic() - attempts_then["at"]
        for name in SERVICE_NAMES:
            health = (await http.get(f"{platform.urls[name]}/health")).json()
            metrics = await metrics_of(http, platform.urls[name])
            during[name] = {"health": health["checks"],
                            "attempts_per_s": (connection_attempts(metrics) - attempts_then[name]) / attempts_window_s,
                            "backlog": sum(v for _l, v in samples(metrics, "probidad_outbox_backlog")),
                            "unreachable_s": max(v for _l, v in samples(metrics, "probidad_kafka_unreachable_seconds"))}
        print(f"outage of {spent.seconds:.0f} s (the other half loaded in {rest_loaded_s:.1f} s, "
              f"{len(registered)} servants registered): {spent.summary()}")
        print(f"quiet part ({quiet.seconds:.0f} s): {quiet.summary()}")
        print("outbox gauges (backlog, oldest age s) during the outage: " + "; ".join(
            f"{at:.0f} s: " + ", ".join(f"{n} {b:.0f}/{a:.0f}" for n, (b, a) in gauges.items())
            for at, gauges in seen_backlog))
        print("at the end of the outage: " + "; ".join(
            f"{n} backlog {d['backlog']:.0f}, unreachable {d['unreachable_s']:.0f} s, {d['health']}"
            for n, d in during.items()))
        print(f"Kafka connection attempts per second from {settled_after_s:.0f} s into the outage to its end "
              f"({attempts_window_s:.0f} s): " + ", ".join(f"{n} {d['attempts_per_s']:.2f}" for n, d in during.items()))

        assert registered and set(registered) == {201}, registered
        for name in SERVICE_NAMES:
            assert spent.log_bytes[name] < 100_000, f"{name} wrote {spent.log_bytes[name]:,} bytes of log"
            # The outage's own cost, past the burst of closing half the programme: the reconnecting
            # clients and a registration every 5 s (the whole window, burst included, is printed).
            assert quiet.share(name) < 0.05, f"{name} used {quiet.share(name):.1%} of a core"
            assert during[name]["health"]["kafka"] == "down"
            assert during[name]["unreachable_s"] > 0
            # All of a service's clients together (consumers, producers, lag monitor, admin) try the
            # broker on one bounded backoff: well under one attempt a second.
            if BACKOFF_ON:
                assert during[name]["attempts_per_s"] < 1.0, f"{name}: {during[name]['attempts_per_s']:.1f} attempts/s"
            told = platform.log(name).read_text().count("Kafka unreachable; retrying")
            assert told == 1, f"{name} said {told} times that Kafka is unreachable"
        for name in ("enrollment", "attendance"):  # their outboxes hold events that waited too long
            assert during[name]["health"]["outbox"].startswith("behind"), during[name]

        # The brokers come back on the same ports and data; no service is restarted.
        pids = {name: platform.pid(name) for name in SERVICE_NAMES}
        back_at = time.monotonic()
        print(f"brokers up again in {await asyncio.to_thread(kafka.start):.1f} s")

        async def drained() -> bool:
            for name in SERVICE_NAMES:
                metrics = await metrics_of(http, platform.urls[name])
                health = (await http.get(f"{platform.urls[name]}/health")).json()["checks"]
                if sum(v for _l, v in samples(metrics, "probidad_outbox_backlog")) or health["outbox"] != "ok":
                    return False
            return True

        await until(drained, timeout_s=90, what="every outbox drained")
        drained_s = time.monotonic() - back_at

        async def caught_up() -> bool:
            return all(lag == 0 for lag in (await group_lags(kafka.bootstrap, groups)).values())

        await until(caught_up, timeout_s=90, what="every consumer group at lag 0")
        caught_up_s = time.monotonic() - back_at
        await the_figures_match_the_plan(http, platform, programme, timeout_s=60)
        figures_s = time.monotonic() - back_at

        async def healthy_everywhere() -> bool:
            answers = [(await http.get(f"{platform.urls[n]}/health")).status_code for n in SERVICE_NAMES]
            return answers == [200] * len(SERVICE_NAMES)

        await until(healthy_everywhere, timeout_s=30, what="every service healthy again")
        print(f"after the brokers were back: outboxes drained in {drained_s:.1f} s, lag 0 in {caught_up_s:.1f} s, "
              f"figures equal to the plan's in {figures_s:.1f} s")
        assert {name: platform.pid(name) for name in SERVICE_NAMES} == pids
        idle = Spending(spent.pids, spent.logs).start()
        await asyncio.sleep(10)
        print(f"for comparison, 10 s idle with the brokers up: {idle.stop().summary()}")
        for name in SERVICE_NAMES:
            assert "Kafka reachable again" in platform.log(name).read_text(), name
            metrics = await metrics_of(http, platform.urls[name])
            assert sum(v for _l, v in samples(metrics, "probidad_dead_letters_total")) == 0, name
    finally:
        await http.aclose()
        await asyncio.to_thread(platform.stop)


def connection_attempts(metrics: str) -> float:
    """Connections a service's Kafka clients tried to open so far, whatever the outcome."""
    return sum(v for _l, v in samples(metrics, "probidad_kafka_connection_attempts_total"))


async def _lag_zero_after_a_kill(kafka: OwnKafka, tmp_path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Kill certification with SIGKILL while sessions are being closed, start it again at once;
    returns (seconds until it answers /health, seconds until its group's lag is 0), from the restart."""
    programme = small_programme(scale=0.01)
    platform = Platform(tmp_path, kafka.bootstrap, f"outage.kill.{random.randrange(10**6)}.", extra_env=env)
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {comptroller_token()}"}, timeout=30)
    try:
        await asyncio.to_thread(platform.start)
        groups = await consumed_topics(http, platform.urls)
        group = {"probidad-certification": groups["probidad-certification"]}
        note, _enough, some_closed, closed = closed_at_least(2)
        loading = asyncio.create_task(Loader(platform.urls, kafka.bootstrap, programme, comptroller_token(),
                                             topic_prefix=platform.topic_prefix, report=note).run())
        await until(some_closed, timeout_s=120, interval_s=0.1,
                    what="sessions being closed")
        await asyncio.to_thread(platform.kill, "certification")
        restarted_at = time.monotonic()
        await asyncio.to_thread(platform.start, "certification")
        healthy_s = time.monotonic() - restarted_at

        async def lag_zero() -> bool:
            return (await group_lags(kafka.bootstrap, group))["probidad-certification"] == 0

        await until(lag_zero, timeout_s=120, interval_s=0.25, what="certification at lag 0")
        lag_zero_s = time.monotonic() - restarted_at
        print(f"\ncertification killed after {closed['sessions']} sessions closed, restarted with {env or 'defaults'}: "
              f"healthy in {healthy_s:.1f} s, lag 0 in {lag_zero_s:.1f} s")
        await loading
        await the_figures_match_the_plan(http, platform, programme, timeout_s=90)
        return healthy_s, lag_zero_s
    finally:
        await http.aclose()
        await asyncio.to_thread(platform.stop)


async def test_a_service_killed_and_restarted_is_back_at_lag_zero_quickly(kafka: OwnKafka, tmp_path: Path) -> None:
    """With the default settings the restarted consumer joins once the group has given up on the
    killed one (its session timeout, 10 s); static membership (``PROBIDAD_KAFKA_INSTANCE_ID``) or a
    6 s session timeout shorten that, and ``PROBIDAD_OUTAGE_KILL_ENV`` (``static``, ``session``)
    measures those instead."""
    env = {"static": {"PROBIDAD_KAFKA_INSTANCE_ID": "outage-test"},
           "session": {"PROBIDAD_KAFKA_SESSION_TIMEOUT_MS": "6000"}}.get(
        os.environ.get("PROBIDAD_OUTAGE_KILL_ENV", ""), {})
    _healthy_s, lag_zero_s = await _lag_zero_after_a_kill(kafka, tmp_path, env)
    assert lag_zero_s < 15


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own (pgctl), which it may stop and start again."""
    if not pgctl.PG_ROOT.is_dir():
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    state = Path(tempfile.mkdtemp(prefix="probidad-outage-pg-", dir="/var/tmp"))
    state.chmod(0o755)  # the server runs as the postgres OS user when we are root
    port = free_port_range(1, 26000, 32000, step=1)
    databases = [f"probidad_{name}" for name in SERVICE_NAMES]
    pgctl.start_postgres(state_dir=state, port=port, databases=databases)
    yield state, port
    pgctl.stop_postgres(state)
    shutil.rmtree(state, ignore_errors=True)


async def test_a_database_stopped_for_twenty_seconds_dead_letters_nothing(
        kafka: OwnKafka, own_postgres, tmp_path: Path) -> None:
    state, port = own_postgres
    programme = small_programme(scale=0.01)
    sessions = [s for s in programme.sessions if not s.cancelled]
    platform = Platform(tmp_path, kafka.bootstrap, "outage.database.",
                        postgres=f"postgresql+asyncpg://probidad@127.0.0.1:{port}/probidad_{{service}}")
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {comptroller_token()}"}, timeout=30)
    try:
        await asyncio.to_thread(platform.start)
        note, _enough, some_closed, _closed = closed_at_least(3)
        loading = asyncio.create_task(Loader(platform.urls, kafka.bootstrap, programme, comptroller_token(),
                                             topic_prefix=platform.topic_prefix, report=note).run())
        await until(some_closed, timeout_s=120, interval_s=0.1,
                    what="sessions being closed")
        await asyncio.to_thread(pgctl.stop_postgres, state)
        stopped_at = time.monotonic()
        answers: dict[int, int] = {}
        while time.monotonic() - stopped_at < 20:
            for response in (await http.get(f"{platform.urls['attendance']}/sessions/{sessions[-1].session_id}"),
                             await http.post(f"{platform.urls['attendance']}/sessions/{sessions[0].session_id}/marks",
                                             json={"servant_id": "sv-nobody", "status": "present",
                                                   "minutes_present": 60})):
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                if response.status_code == 503:
                    assert response.headers.get("Retry-After"), response.headers
            await asyncio.sleep(0.5)
        await asyncio.to_thread(pgctl.start_postgres, state_dir=state, port=port,
                                databases=[f"probidad_{n}" for n in SERVICE_NAMES])
        try:
            await loading
        except DemoIncomplete as stopped:
            print(f"\nthe loader stopped on the database stop ({stopped.reason}); loading again")
        await load_all(platform, kafka, programme)
        print(f"attendance answers while the database was stopped: {answers}")
        assert set(answers) == {503}, answers
        await the_figures_match_the_plan(http, platform, programme, timeout_s=90)
        for name in SERVICE_NAMES:
            metrics = await metrics_of(http, platform.urls[name])
            assert sum(v for _l, v in samples(metrics, "probidad_dead_letters_total")) == 0, name
        letters = await dead_letter_records(kafka.bootstrap, platform.topic_prefix)
        assert letters and not any(letters.values()), letters
        retries = {}
        for name in SERVICE_NAMES:
            metrics = await metrics_of(http, platform.urls[name])
            retries[name] = sum(v for _l, v in samples(metrics, "probidad_handler_retries_total"))
        print(f"handler retries on the passing fault: {retries}")
    finally:
        await http.aclose()
        await asyncio.to_thread(platform.stop)
