"""A loop beside a service (a scheduler, a delivery loop): pass after pass until cancelled.

A failing pass — the database away, most often — is tried again after a pause. It is said once, then once a
minute while it lasts, and its end is said once, so an outage floods no log (as the outbox relay does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from probidad.shared.logs import get_logger

log = get_logger(__name__)

WARNING_INTERVAL_S = 60.0  # while passes keep failing, one warning a minute


async def keep_running(one_pass: Callable[[], Awaitable[float]], *, what: str, retry_in_s: float,
                       warning_interval_s: float = WARNING_INTERVAL_S) -> None:
    """Run ``one_pass`` until cancelled, sleeping the seconds it returns after each; after a failing pass, sleep
    ``retry_in_s``. ``what`` names a pass in the log ("notice round", "webhook delivery pass")."""
    loop = asyncio.get_running_loop()
    failing_since: float | None = None
    warned_at = float("-inf")
    while True:
        try:
            pause = await one_pass()
            if failing_since is not None:
                log.info(f"{what} recovered", failed_for_s=round(loop.time() - failing_since))
                failing_since, warned_at = None, float("-inf")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 — tried again after the pause; a pass leaves nothing half-done
            failing_since = failing_since or loop.time()
            if loop.time() - warned_at >= warning_interval_s:
                log.warning(f"{what} failed; trying again", error=repr(error),
                            failing_for_s=round(loop.time() - failing_since))
                warned_at = loop.time()
            pause = retry_in_s
        await asyncio.sleep(pause)
