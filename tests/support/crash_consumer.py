"""Runs the ledger service against the real broker; with CRASH_AFTER_COMMIT=1 it dies the instant
its first effect is committed to the database — before the Kafka offset is committed.

    python -m tests.support.crash_consumer
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import event
from sqlalchemy.orm import Session

from probidad.shared.settings import ServiceSettings
from tests.support import ledger


def arm_crash() -> None:
    @event.listens_for(Session, "after_flush")
    def _mark(session, _context) -> None:
        if any(isinstance(obj, ledger.LedgerEntry) for obj in session.new):
            session.info["ledger_effect"] = True

    @event.listens_for(Session, "after_commit")
    def _die(session) -> None:
        if session.info.get("ledger_effect"):
            os._exit(17)


async def main() -> None:
    settings = ServiceSettings(service_name="ledger")
    runtime = ledger.create_runtime(settings, group=os.environ.get("LEDGER_GROUP", "probidad-ledger"))
    if os.environ.get("CRASH_AFTER_COMMIT") == "1":
        arm_crash()
    await runtime.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main())
