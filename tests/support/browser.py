"""A real browser for the tests that look at pages: headless Chromium from Debian's packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def _chromium(profile: Path) -> list[str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is needed for the browser checks (apt-get install -y chromium)")
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1400,1000"]


def rendered_dom(url: str, profile: Path) -> str:
    """The page as the browser leaves it once its scripts have run."""
    return subprocess.run([*_chromium(profile), "--dump-dom", url], capture_output=True, timeout=90,
                          check=True).stdout.decode()


def screenshot(url: str, profile: Path, shot: Path) -> Path:
    subprocess.run([*_chromium(profile), f"--screenshot={shot}", url], capture_output=True, timeout=90, check=True)
    return shot
