"""Outbound webhooks: one CloudEvent sent over HTTP in binary mode, signed as the Standard Webhooks
specification says, and the one POST that carries it.

* CloudEvents HTTP protocol binding, binary mode: the attributes travel as ``ce-*`` headers (``ce-specversion``,
  ``ce-id`` — the original event's id —, ``ce-source``, ``ce-type``, ``ce-time``, ``ce-subject``) and the body is
  the event's data, the very JSON the event carries on Kafka, with ``content-type: application/json``.
* Standard Webhooks: ``webhook-id`` (the delivery's id, the same on every attempt, so a receiver can drop a
  repeat), ``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature``:
  ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` keyed with the base64-decoded secret
  after its ``whsec_`` prefix. Any Standard Webhooks library verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
SPEC_VERSION = "1.0"
USER_AGENT = "Probidad-Webhooks/1.0"
MAX_ERROR = 500  # characters of an error kept for the dead-letter list


def new_secret() -> str:
    """A fresh signing secret, shown to the agency once at registration and kept to sign with."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class CloudEvent:
    """What is sent: the original event's CloudEvents attributes and its data as JSON text."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    data: str

    @property
    def body(self) -> bytes:
        return self.data.encode()


def headers(event: CloudEvent, *, message_id: str, secret: str, timestamp: int) -> dict[str, str]:
    """The headers of one attempt (binary mode: the attributes are headers, the body is the data)."""
    sent = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "ce-specversion": SPEC_VERSION,
        "ce-id": event.id,
        "ce-source": event.source,
        "ce-type": event.type,
        "ce-time": event.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, event.body),
    }
    if event.subject:
        sent["ce-subject"] = event.subject
    return sent


@dataclass(frozen=True)
class Answer:
    """How one attempt ended: the endpoint's status code, or why there was none."""

    status_code: int | None
    error: str | None = None


async def post(client: httpx.AsyncClient, url: str, event: CloudEvent, *, message_id: str, secret: str,
               now: datetime, timeout_s: float) -> Answer:
    """Send ``event`` to ``url`` once; never raises for the endpoint's faults (refused, timed out, an answer
    that is not HTTP): they are the answer. Redirects are not followed."""
    sent = headers(event, message_id=message_id, secret=secret, timestamp=int(now.timestamp()))
    try:
        answer = await client.post(url, content=event.body, headers=sent, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException as error:
        return Answer(None, f"timed out after {timeout_s:g} s ({type(error).__name__})")
    except (httpx.HTTPError, OSError) as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:MAX_ERROR])
    if 200 <= answer.status_code < 300:
        return Answer(answer.status_code)
    return Answer(answer.status_code, f"HTTP {answer.status_code}: {answer.text[:200]}"[:MAX_ERROR])
