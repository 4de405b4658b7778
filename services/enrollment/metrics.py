"""What enrollment decided, for the operations dashboards (the shared metrics cover HTTP, events and the outbox)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ENROLMENT_DECISIONS = Counter(
    "probidad_enrollment_enrolments_total",
    "Enrolment requests decided, by channel (http, import, agency) and outcome (confirmed, waitlisted, rejected).",
    ["channel", "outcome"],
)
AGENCY_REJECTIONS = Counter(
    "probidad_enrollment_agency_rejections_total",
    "Agency requests answered with RequestRejected, by request type and field at fault.",
    ["request", "field"],
)

# ---- webhooks for agencies (webhooks/)
WEBHOOK_DELIVERIES = Counter(
    "probidad_webhook_deliveries_total",
    "Attempts at agencies' webhook deliveries, by outcome: delivered (a 2xx answer), retried (failed, tried again "
    "after a backoff) or parked (failed for webhook_retry_for_s; in the endpoint's dead-letter list).",
    ["outcome"],
)
WEBHOOK_RETRY_QUEUE = Gauge(
    "probidad_webhook_retry_queue",
    "Webhook deliveries waiting to be tried again after a failure (pending, of endpoints not removed).",
)
