"""The sending loop: statements due go to the Learning Record Store in batches, beside the service
(``runtime.run_beside``).

Each pass claims a batch in a short transaction that pushes it a lease ahead (on PostgreSQL with ``FOR UPDATE
SKIP LOCKED``, so several reporting instances never send one statement at once; SQLite's transactions of a
process take turns), POSTs it outside any transaction, and records the answer in a second one. The LRS takes
a batch whole or not at all: a 2xx sends every statement of it; a 409 (a different statement already holds an
id) or another 4xx sends the batch again one statement at a time, so one statement at fault holds back no
other; a 409 for one statement means the LRS keeps what it has under that id (sending again would change
nothing: counted as sent, and logged). Anything else is tried again after a doubling wait, and parked in the
dead-letter list once ``lrs_retry_for_s`` has passed. An instance that dies mid-send leaves its claim to run
out: the statements are sent again under the same ids, and the LRS keeps one of each.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from probidad.shared.logs import get_logger
from probidad.shared.loops import keep_running
from probidad.shared.service import ServiceRuntime
from services.reporting.settings import ReportingSettings
from services.reporting.xapi.domain import XAPI_VERSION, RetryPolicy, answer_outcome, next_attempt
from services.reporting.xapi.metrics import XAPI_PARKED, XAPI_RETRY_QUEUE, XAPI_STATEMENTS
from services.reporting.xapi.ports import DueStatement
from services.reporting.xapi.repository import SqlXapiRepository

log = get_logger(__name__)

POLL_S = 1.0
LEASE_MARGIN_S = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None


class LrsDispatcher:
    def __init__(self, runtime: ServiceRuntime, settings: ReportingSettings, *, poll_s: float = POLL_S) -> None:
        self.runtime = runtime
        self.url = settings.lrs_url.rstrip("/") + "/xAPI/statements"
        password = settings.lrs_password.get_secret_value() if settings.lrs_password else ""
        self.auth = (settings.lrs_username, password) if settings.lrs_username else None
        self.batch = settings.lrs_batch_size
        self.timeout_s = settings.lrs_timeout_s
        self.policy = RetryPolicy(settings.lrs_retry_base_s, settings.lrs_retry_max_s, settings.lrs_retry_for_s)
        self.poll_s = poll_s
        self.clock = _utcnow

    async def run(self) -> None:
        """Pass after pass until cancelled; a failing pass (the database away) is tried again (shared.loops)."""
        async with self.client() as client:
            await keep_running(lambda: self.pass_once(client), what="xAPI sending pass", retry_in_s=self.poll_s)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(auth=self.auth, timeout=self.timeout_s, headers={
            "X-Experience-API-Version": XAPI_VERSION, "content-type": "application/json"})

    async def pass_once(self, client: httpx.AsyncClient) -> float:
        """Send one batch due now; the seconds until the next pass (0 when more may be waiting)."""
        now = self.clock()
        async with self.runtime.unit_of_work(traced=False) as uow:  # every pass: no trace of its own
            due = await SqlXapiRepository(uow).claim_due(
                now=now, lease_until=now + timedelta(seconds=self.timeout_s * 2 + LEASE_MARGIN_S), limit=self.batch)
        if due:
            answers = await self._send(client, due)
            async with self.runtime.unit_of_work() as uow:
                repo = SqlXapiRepository(uow)
                for statements, answer in answers:
                    await self._record(repo, statements, answer)
        async with self.runtime.unit_of_work(traced=False) as uow:
            repo = SqlXapiRepository(uow)
            counts = await repo.counts()
            next_due = await repo.next_due()
        XAPI_RETRY_QUEUE.set(counts["retrying"])
        XAPI_PARKED.set(counts["parked"])
        if len(due) == self.batch:
            return 0.0
        if next_due is None:
            return self.poll_s
        return min(max((next_due - self.clock()).total_seconds(), 0.01), self.poll_s)

    async def drain(self, client: httpx.AsyncClient) -> None:
        """Pass until nothing is due now (what waits for a retry later stays queued): for the backfill command."""
        while await self.pass_once(client) == 0.0:
            pass

    async def _post(self, client: httpx.AsyncClient, statements: Sequence[DueStatement]) -> Answer:
        body = b"[" + b",".join(s.body.encode() for s in statements) + b"]"
        try:
            response = await client.post(self.url, content=body)
        except httpx.HTTPError as error:
            return Answer(None, f"{type(error).__name__}: {error}"[:500])
        if 200 <= response.status_code < 300:
            return Answer(response.status_code, None)
        return Answer(response.status_code, response.text[:500])

    async def _send(self, client: httpx.AsyncClient,
                    due: list[DueStatement]) -> list[tuple[Sequence[DueStatement], Answer]]:
        answer = await self._post(client, due)
        if len(due) == 1 or answer_outcome(answer.status_code) not in ("conflict", "refused"):
            return [(due, answer)]
        # The LRS refused the batch whole: one at a time, so only the statement at fault waits.
        return [([statement], await self._post(client, [statement])) for statement in due]

    async def _record(self, repo: SqlXapiRepository, statements: Sequence[DueStatement], answer: Answer) -> None:
        outcome = answer_outcome(answer.status_code)
        if outcome in ("sent", "conflict"):
            await repo.mark_sent([s.statement_id for s in statements], at=self.clock(), status_code=answer.status_code)
            XAPI_STATEMENTS.labels(outcome).inc(len(statements))
            if outcome == "conflict":
                log.warning("the LRS holds a different statement under this id; it keeps its own",
                            statement_id=statements[0].statement_id, answer=answer.error)
            return
        for statement in statements:
            attempts = statement.attempts + 1
            retry_at = next_attempt(self.policy, created_at=statement.created_at, attempts=attempts,
                                    now=self.clock(), spread=random.random())  # jitter, no secret
            await repo.mark_failed(statement.statement_id, attempts=attempts, status_code=answer.status_code,
                                   error=answer.error, retry_at=retry_at, at=self.clock())
            XAPI_STATEMENTS.labels("parked" if retry_at is None else "retried").inc()
        log.info("the LRS did not take statements", count=len(statements), status_code=answer.status_code,
                 error=answer.error, first=statements[0].statement_id)

