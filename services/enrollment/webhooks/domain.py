"""Webhooks for agencies, the pure rules: which URLs an endpoint may have, which events it may ask for, and what
happens to a delivery after a failed attempt (retry with exponential backoff, or park it in the dead-letter list).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from contracts.events import AgencyRequestDecided, CertificateIssued, CertificateRevoked
from probidad.shared.errors import RuleViolation
from probidad.shared.retries import RetryPolicy

# What an agency may hear of: its requests' outcomes and its servants' certificates. Nothing else of the
# platform's leaves on a webhook (the events carry pseudonymous ids only).
EVENT_TYPES: tuple[str, ...] = (AgencyRequestDecided.type, CertificateIssued.type, CertificateRevoked.type)
MAX_URL_LENGTH = 2000


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    institution_id: str
    url: str
    event_types: tuple[str, ...]  # never empty: registration spells "all" out
    created_at: datetime
    removed_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return self.removed_at is None and event_type in self.event_types


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_http: bool) -> str:
    """The endpoint's URL if an agency may register it: https, or http to this machine (development) unless
    plain HTTP is allowed everywhere; no user or password in it (they would travel in every log line)."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise RuleViolation("url", f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # a port out of range raises here
    except ValueError as error:
        raise RuleViolation("url", f"not a URL: {error}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise RuleViolation("url", "must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise RuleViolation("url", "must not carry a user or password; the signature authenticates us to you")
    if parts.scheme == "http" and not allow_http and not _is_loopback(host):
        raise RuleViolation("url", "must use https:// (plain http:// only to a loopback host, for development)")
    return url


def check_event_types(asked: Sequence[str] | None) -> tuple[str, ...]:
    """The event types an endpoint gets, in the platform's order: all when none are named."""
    if not asked:
        return EVENT_TYPES
    unknown = sorted(set(asked) - set(EVENT_TYPES))
    if unknown:
        raise RuleViolation("event_types", f"unknown event type(s) {', '.join(unknown)}; "
                                           f"one of {', '.join(EVENT_TYPES)}")
    return tuple(t for t in EVENT_TYPES if t in asked)


# ------------------------------------------------------------------ retries


@dataclass(frozen=True)
class AfterFailure:
    """A failed attempt's consequence: tried again at ``retry_at``, or parked (``retry_at`` None)."""

    attempts: int
    retry_at: datetime | None

    @property
    def parked(self) -> bool:
        return self.retry_at is None


def decide_after_failure(policy: RetryPolicy, *, created_at: datetime, attempts: int, now: datetime,
                         spread: float = 0.0) -> AfterFailure:
    """``attempts`` counts the attempt that just failed. The next attempt waits its backoff; one that would
    come later than ``retry_for_s`` after the delivery was created is not made: the delivery is parked, for
    the liaison to replay. A replayed delivery keeps its creation and attempts, so failing again parks it."""
    return AfterFailure(attempts, policy.retry_at(created_at=created_at, attempts=attempts, now=now, spread=spread))


def is_delivered(status_code: int | None) -> bool:
    """Only a 2xx answer is a delivery; a redirect is not followed (the URL registered is the one signed for)."""
    return status_code is not None and 200 <= status_code < 300
