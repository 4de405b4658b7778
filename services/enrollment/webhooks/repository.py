"""Storage of agencies' webhook endpoints and their deliveries: the only SQL for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from probidad.shared.webhooks import CloudEvent
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.enrollment.base_repository import SqlStore
from services.enrollment.tables import Servant, WebhookDelivery, WebhookEndpoint
from services.enrollment.webhooks.domain import Endpoint
from services.enrollment.webhooks.ports import DueDelivery, NewDelivery, ParkedDelivery

_deliveries = WebhookDelivery.__table__


def _endpoint(row: WebhookEndpoint) -> Endpoint:
    return Endpoint(row.endpoint_id, row.institution_id, row.url, tuple(row.event_types.split()), row.created_at,
                    row.removed_at)


class SqlWebhooksRepository(SqlStore):

    # -------------------------------------------------------------- endpoints

    async def add_endpoint(self, endpoint: Endpoint, *, secret: str, created_by: str) -> None:
        self.db.add(WebhookEndpoint(endpoint_id=endpoint.endpoint_id, institution_id=endpoint.institution_id,
                                    url=endpoint.url, secret=secret, event_types=" ".join(endpoint.event_types),
                                    created_at=endpoint.created_at, created_by=created_by))
        await self.db.flush()

    async def endpoints(self, institution_id: str) -> list[Endpoint]:
        rows = await self.db.execute(select(WebhookEndpoint).where(
            WebhookEndpoint.institution_id == institution_id, WebhookEndpoint.removed_at.is_(None))  # type: ignore[union-attr]
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.endpoint_id))
        return [_endpoint(row) for row in rows.scalars()]

    async def endpoint(self, institution_id: str, endpoint_id: str) -> Endpoint | None:
        row = await self.db.get(WebhookEndpoint, endpoint_id)
        if row is None or row.institution_id != institution_id or row.removed_at is not None:
            return None
        return _endpoint(row)

    async def remove_endpoint(self, endpoint_id: str, *, at: datetime) -> None:
        await self.db.execute(update(WebhookEndpoint).where(WebhookEndpoint.endpoint_id == endpoint_id)
                              .values(removed_at=at))

    async def servant_institution(self, servant_id: str) -> str | None:
        return (await self.db.execute(select(Servant.institution_id).where(Servant.servant_id == servant_id))
                ).scalar_one_or_none()

    # -------------------------------------------------------------- deliveries

    async def add_deliveries(self, deliveries: Sequence[NewDelivery]) -> None:
        if not deliveries:
            return
        rows = [{"delivery_id": d.delivery_id, "endpoint_id": d.endpoint_id, "institution_id": d.institution_id,
                 "event_id": d.event.id, "event_type": d.event.type, "source": d.event.source,
                 "subject": d.event.subject, "event_time": d.event.time, "payload": d.event.data,
                 "status": "pending", "attempts": 0, "next_attempt_at": d.created_at, "created_at": d.created_at}
                for d in deliveries]
        insert = postgresql_insert if self._dialect == "postgresql" else sqlite_insert
        # The unique (endpoint, event) makes a second delivery of one event impossible, whoever writes it.
        await self.db.execute(insert(_deliveries).values(rows).on_conflict_do_nothing())

    async def parked_deliveries(self, endpoint_id: str) -> list[ParkedDelivery]:
        rows = await self.db.execute(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "parked")
            .order_by(WebhookDelivery.parked_at, WebhookDelivery.delivery_id))
        return [ParkedDelivery(r.delivery_id, r.event_type, r.event_id, r.attempts, r.last_status_code, r.last_error,
                               r.parked_at) for r in rows.scalars()]

    async def replay_parked(self, endpoint_id: str, delivery_id: str | None, *, at: datetime) -> int:
        statement = update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                                  WebhookDelivery.status == "parked")
        if delivery_id is not None:
            statement = statement.where(WebhookDelivery.delivery_id == delivery_id)
        done = await self.db.execute(statement.values(status="pending", next_attempt_at=at, parked_at=None))
        return int(done.rowcount)  # type: ignore[attr-defined]

    async def delivery_status(self, endpoint_id: str, delivery_id: str) -> str | None:
        return (await self.db.execute(select(WebhookDelivery.status).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.delivery_id == delivery_id))
        ).scalar_one_or_none()

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        query = (select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
                 .join(WebhookEndpoint, WebhookEndpoint.endpoint_id == WebhookDelivery.endpoint_id)
                 .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,  # type: ignore[operator]
                        WebhookEndpoint.removed_at.is_(None))  # type: ignore[union-attr]
                 .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at, WebhookDelivery.delivery_id)
                 .limit(limit))
        if self._dialect == "postgresql":
            # Another instance's claim holds its rows until it commits: skip them rather than wait.
            query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
        found = [(row, url, secret) for row, url, secret in (await self.db.execute(query)).all()]
        if not found:
            return []
        # The lease: until it ends no pass, here or elsewhere, finds these rows due.
        await self.db.execute(update(WebhookDelivery).where(
            WebhookDelivery.delivery_id.in_([row.delivery_id for row, _, _ in found]))  # type: ignore[attr-defined]
            .values(next_attempt_at=lease_until))
        return [DueDelivery(row.delivery_id, row.endpoint_id, url, secret,
                            CloudEvent(row.event_id, row.source, row.event_type, row.event_time, row.subject,
                                       row.payload), row.attempts, row.created_at)
                for row, url, secret in found]

    async def next_due(self) -> datetime | None:
        return (await self.db.execute(
            select(func.min(WebhookDelivery.next_attempt_at))
            .join(WebhookEndpoint, WebhookEndpoint.endpoint_id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.status == "pending",
                   WebhookEndpoint.removed_at.is_(None)))).scalar_one_or_none()  # type: ignore[union-attr]

    async def mark_delivered(self, delivery_id: str, *, at: datetime, status_code: int | None) -> None:
        await self.db.execute(update(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id).values(
            status="delivered", delivered_at=at, attempts=WebhookDelivery.attempts + 1, last_status_code=status_code,
            last_error=None, next_attempt_at=None))

    async def mark_failed(self, delivery_id: str, *, attempts: int, status_code: int | None, error: str | None,
                          retry_at: datetime | None, at: datetime) -> None:
        values: dict[str, object] = {"attempts": attempts, "last_status_code": status_code, "last_error": error}
        if retry_at is None:
            values |= {"status": "parked", "parked_at": at, "next_attempt_at": None}
        else:
            values |= {"next_attempt_at": retry_at}
        await self.db.execute(update(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id,
                                                            WebhookDelivery.status == "pending").values(**values))

    async def retry_queue(self) -> int:
        return int((await self.db.execute(
            select(func.count()).select_from(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.endpoint_id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.attempts > 0,
                   WebhookEndpoint.removed_at.is_(None)))).scalar_one())  # type: ignore[union-attr]
