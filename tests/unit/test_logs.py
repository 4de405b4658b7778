"""A service process writes its JSON log lines in batches, and loses none of them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson

from probidad.shared.logs import _LinesInBatches


def lines_of_a_process(script: str) -> list[dict]:
    """The JSON lines a Python process running ``script`` wrote on stdout, once it has exited."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=Path(__file__).parents[2],
                          timeout=60, check=True)
    return [orjson.loads(line) for line in done.stdout.splitlines()]


async def test_lines_written_inside_the_event_loop_reach_the_file_together_shortly_after(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with open(path, "wb") as file:
        lines = _LinesInBatches(file)
        lines.info(b'{"event":"first"}')
        lines.info(b'{"event":"second"}')
        assert path.read_bytes() == b"", "each line would have cost its own write"
        await asyncio.sleep(0.2)
        assert path.read_bytes() == b'{"event":"first"}\n{"event":"second"}\n'
        lines.warning(b'{"event":"third"}')  # a later line schedules a flush of its own
        await asyncio.sleep(0.2)
        assert path.read_bytes().endswith(b'{"event":"third"}\n')


def test_a_line_written_outside_an_event_loop_reaches_the_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with open(path, "wb") as file:
        _LinesInBatches(file).error(b'{"event":"start-up"}')
        assert path.read_bytes() == b'{"event":"start-up"}\n'


def test_a_process_that_exits_right_after_logging_still_writes_every_line(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from probidad.shared.logs import configure_logging, get_logger\n"
        "configure_logging('certification', cache=True)\n"
        "async def main():\n"
        "    log = get_logger('t')\n"
        "    for n in range(1000):\n"
        "        log.info('event applied', n=n)\n"
        "asyncio.run(main())\n"
    )
    lines = lines_of_a_process(script)
    assert [line["n"] for line in lines] == list(range(1000))
    assert {line["service"] for line in lines} == {"certification"}


def test_a_line_carries_what_its_context_bound_and_nothing_bound_elsewhere() -> None:
    script = (
        "import asyncio\n"
        "from probidad.shared.logs import bound_contextvars, configure_logging, get_logger\n"
        "configure_logging('reporting', cache=True)\n"
        "log = get_logger('t')\n"
        "async def handle(n):\n"
        "    with bound_contextvars(event_id=f'e{n}', correlation_id=f'c{n}'):\n"
        "        await asyncio.sleep(0.01 * (3 - n))  # the two handlers interleave\n"
        "        with bound_contextvars(event_type='T'):\n"
        "            log.info('event applied', n=n)\n"
        "        log.info('after the inner block', n=n)\n"
        "    log.info('outside', n=n, correlation_id='given')\n"
        "async def main():\n"
        "    await asyncio.gather(handle(1), handle(2))\n"
        "asyncio.run(main())\n"
    )
    lines = {(line["event"], line["n"]): line for line in lines_of_a_process(script)}
    for n in (1, 2):
        applied = lines[("event applied", n)]
        assert (applied["event_id"], applied["correlation_id"], applied["event_type"]) == (f"e{n}", f"c{n}", "T")
        assert applied["service"] == "reporting"
        assert "event_type" not in lines[("after the inner block", n)]
        assert lines[("after the inner block", n)]["correlation_id"] == f"c{n}"
        outside = lines[("outside", n)]
        assert "event_id" not in outside and outside["correlation_id"] == "given"


def test_lines_logged_in_a_later_event_loop_are_flushed_even_if_an_earlier_loop_closed_before_its_flush(
        tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with open(path, "wb") as file:
        lines = _LinesInBatches(file)

        async def log_and_leave(text: bytes) -> None:
            lines.info(text)

        asyncio.run(log_and_leave(b'{"event":"first loop"}'))  # closes before the flush is due
        asyncio.run(log_and_leave(b'{"event":"second loop"}'))

        async def wait() -> None:
            lines.info(b'{"event":"third loop"}')
            await asyncio.sleep(0.2)

        asyncio.run(wait())
        assert path.read_bytes().count(b"\n") == 3


def test_a_service_process_configures_its_logging_once_and_its_runtime_keeps_it() -> None:
    # In a subprocess: the configuration is process-wide, and other tests capture log lines.
    lines = lines_of_a_process(
        "import structlog\n"
        "from probidad.shared.logs import configure_logging, get_logger\n"
        "configure_logging('reporting', 'INFO', cache=True)\n"
        "configure_logging('reporting', 'INFO')  # what the service's runtime does as it is built\n"
        "assert structlog.get_config()['cache_logger_on_first_use'], 'the runtime replaced the configuration'\n"
        "get_logger('x').info('kept')\n"
        "configure_logging('certification', 'INFO')  # another service's runtime: its own configuration\n"
        "assert not structlog.get_config()['cache_logger_on_first_use']\n"
        "get_logger('x').info('replaced')\n")
    assert [(line["service"], line["event"]) for line in lines] == [("reporting", "kept"),
                                                                    ("certification", "replaced")]
