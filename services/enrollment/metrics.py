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

# ---- e-mail (notifications/): digests to contacts, reminders to servants
MAIL_DECIDED = Counter(
    "probidad_mail_decided_total",
    "E-mails decided (each once per recipient, kind and period), by kind: digest, due_30, due_7, overdue, expiry_30, "
    "expiry_7.",
    ["kind"],
)
MAIL_OUTCOMES = Counter(
    "probidad_mail_messages_total",
    "Attempts at sending an e-mail, by outcome: sent; retried (the SMTP server away or answering 4xx: tried again "
    "later); bounced (refused for good, 5xx: the address gets no more mail); failed (given up after "
    "PROBIDAD_MAIL_GIVE_UP_AFTER_S); uncertain (interrupted mid-send: not sent again without an operator); "
    "cancelled (may no longer go: unsubscribed, erased, left).",
    ["outcome"],
)
MAIL_RETRY_QUEUE = Gauge(
    "probidad_mail_retry_queue",
    "E-mails waiting for another attempt after a failed one (the SMTP server away): alert when it keeps growing.",
)
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
