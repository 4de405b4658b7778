"""`probidad jaeger`: a Jaeger already answering is reused and never stopped by a state dir that did not start it,
and the UI's files are checked before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probidad.ops.jaegerctl import (
    JaegerCtlError, jaeger_answers, jaeger_status, start_jaeger, stop_jaeger,
)
from tests.support.jaeger import JaegerServer, jaeger_fixture  # noqa: F401 (fixture `jaeger`)
from tests.support.processes import ROOT

pytestmark = pytest.mark.go_program("jaeger")


def probidad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from probidad.ops.cli import app; app()", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_jaeger_already_answering_is_reused_and_left_running_by_a_state_dir_that_did_not_start_it(
        jaeger: JaegerServer, tmp_path: Path) -> None:
    again = start_jaeger(tmp_path)
    assert (again.reused, again.pid) == (True, None)
    assert again.query_url == jaeger.query_url
    state = jaeger_status(tmp_path)
    assert (state.answering, state.pid) == (True, None)
    assert stop_jaeger(tmp_path) is None
    assert jaeger_answers(jaeger.query_url)

    status = probidad("jaeger", "status", "--state-dir", str(tmp_path))
    assert status.returncode == 0, status.stderr
    assert "not managed here" in status.stdout
    stopped = probidad("jaeger", "stop", "--state-dir", str(tmp_path))
    assert stopped.returncode == 0 and "was running" in stopped.stdout
    assert jaeger_answers(jaeger.query_url)


def test_ui_files_without_an_index_page_are_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "ui" / "static").mkdir(parents=True)
    with pytest.raises(JaegerCtlError, match="no index.html"):
        start_jaeger(tmp_path / "state", ui_assets=tmp_path / "ui")
    assert not (tmp_path / "state" / "jaeger" / "jaeger.pid").exists()
