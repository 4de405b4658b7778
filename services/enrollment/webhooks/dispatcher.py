"""The delivery loop: sends what is due to agencies' endpoints, beside the service (``runtime.run_beside``).

Each pass claims a few due deliveries in a short transaction that pushes them a lease ahead (on PostgreSQL
with ``FOR UPDATE SKIP LOCKED``, so several enrollment instances never take the same delivery; SQLite's
transactions of a process take turns), sends each once outside any transaction, and records every answer in
a second one: delivered on a 2xx; otherwise tried again after an exponential backoff, or parked when the
next try would come after ``webhook_retry_for_s``. An instance that dies mid-send leaves its claim to run
out: the delivery is then sent again under the same ``webhook-id``, which a receiver uses to drop repeats.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
from probidad.shared import webhooks
from probidad.shared.logs import get_logger
from probidad.shared.loops import keep_running
from probidad.shared.service import ServiceRuntime

from services.enrollment.metrics import WEBHOOK_DELIVERIES, WEBHOOK_RETRY_QUEUE
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.webhooks.domain import RetryPolicy, decide_after_failure, is_delivered
from services.enrollment.webhooks.ports import DueDelivery
from services.enrollment.webhooks.repository import SqlWebhooksRepository

log = get_logger(__name__)

POLL_S = 1.0  # the longest sleep between two passes
BATCH = 20  # deliveries claimed (and sent at once) per pass
LEASE_MARGIN_S = 30.0  # a claim outlives the longest pass (one endpoint's whole batch timing out) by this much


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookDispatcher:
    def __init__(self, runtime: ServiceRuntime, settings: EnrollmentSettings, *, poll_s: float = POLL_S) -> None:
        self.runtime = runtime
        self.allow_http = settings.webhook_allow_http
        self.timeout_s = settings.webhook_timeout_s
        self.policy = RetryPolicy(settings.webhook_retry_base_s, settings.webhook_retry_max_s,
                                  settings.webhook_retry_for_s)
        self.poll_s = poll_s
        self.clock = _utcnow

    async def run(self) -> None:
        """Pass after pass until cancelled; a failing pass (the database away) is tried again (shared.loops)."""
        async with httpx.AsyncClient(headers={"user-agent": webhooks.USER_AGENT}) as client:
            await keep_running(lambda: self.pass_once(client), what="webhook delivery pass", retry_in_s=self.poll_s)

    async def pass_once(self, client: httpx.AsyncClient) -> float:
        """Send what is due now; the seconds until the next delivery falls due (at most the poll interval)."""
        now = self.clock()
        async with self.runtime.unit_of_work(traced=False) as uow:  # every pass: no trace of its own
            due = await SqlWebhooksRepository(uow).claim_due(
                now=now, lease_until=now + timedelta(seconds=self.timeout_s * BATCH + LEASE_MARGIN_S), limit=BATCH)
        if due:
            per_endpoint: dict[str, list[DueDelivery]] = {}
            for delivery in due:
                per_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
            # Endpoints at once; one endpoint's deliveries one after the other, oldest first.
            answered = await asyncio.gather(*(self._send_each(client, queue) for queue in per_endpoint.values()))
            async with self.runtime.unit_of_work() as uow:
                repo = SqlWebhooksRepository(uow)
                for delivery, answer in (pair for pairs in answered for pair in pairs):
                    await self._record(repo, delivery, answer)
        async with self.runtime.unit_of_work(traced=False) as uow:
            repo = SqlWebhooksRepository(uow)
            WEBHOOK_RETRY_QUEUE.set(await repo.retry_queue())
            next_due = await repo.next_due()
        if len(due) == BATCH:
            return 0.0  # more may be waiting
        if next_due is None:
            return self.poll_s
        return min(max((next_due - self.clock()).total_seconds(), 0.01), self.poll_s)

    async def _send_each(self, client: httpx.AsyncClient,
                         queue: list[DueDelivery]) -> list[tuple[DueDelivery, webhooks.Answer]]:
        return [(delivery, await webhooks.post(client, delivery.url, delivery.event, message_id=delivery.delivery_id,
                                               secret=delivery.secret, now=self.clock(), timeout_s=self.timeout_s))
                for delivery in queue]

    async def _record(self, repo: SqlWebhooksRepository, delivery: DueDelivery, answer: webhooks.Answer) -> None:
        if is_delivered(answer.status_code):
            await repo.mark_delivered(delivery.delivery_id, at=self.clock(), status_code=answer.status_code)
            WEBHOOK_DELIVERIES.labels("delivered").inc()
            return
        after = decide_after_failure(self.policy, created_at=delivery.created_at, attempts=delivery.attempts + 1,
                                     now=self.clock(), spread=random.random())  # jitter, not a secret
        await repo.mark_failed(delivery.delivery_id, attempts=after.attempts, status_code=answer.status_code,
                               error=answer.error, retry_at=after.retry_at, at=self.clock())
        WEBHOOK_DELIVERIES.labels("parked" if after.parked else "retried").inc()
        log.info("webhook delivery failed", delivery_id=delivery.delivery_id, endpoint_id=delivery.endpoint_id,
                 attempts=after.attempts, error=answer.error, parked=after.parked,
                 retry_at=after.retry_at.isoformat() if after.retry_at else None)
