"""What the xAPI projection did, for the operations dashboards."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

XAPI_QUEUED = Counter(
    "probidad_xapi_facts_total",
    "Learning facts the xAPI projection decided (their statements queued, or held until what they name is known), "
    "by event type.",
    ["type"],
)
XAPI_STATEMENTS = Counter(
    "probidad_xapi_statements_total",
    "Statements the LRS was sent, by outcome: sent (it took them); conflict (it holds a different statement under "
    "that id: counted as sent, never sent again); retried (no answer, 5xx, or the statement refused: tried again "
    "after a doubling wait); parked (given up after PROBIDAD_LRS_RETRY_FOR_S: in the dead-letter list).",
    ["outcome"],
)
XAPI_RETRY_QUEUE = Gauge(
    "probidad_xapi_retry_queue",
    "Statements waiting for another attempt after a failed one.",
)
XAPI_PARKED = Gauge(
    "probidad_xapi_parked",
    "Statements in the dead-letter list (GET /xapi/dead-letters; replay with POST /xapi/dead-letters/replay).",
)
