"""CloudEvents 1.0 Kafka protocol binding, binary mode.

On the wire an event is a plain Kafka record any client can read:

* key: the event's key field (session id, servant id, …) as UTF-8;
* value: the event's data as UTF-8 JSON;
* headers: ``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``, ``ce_time`` (UTC, RFC 3339),
  ``ce_subject``, ``ce_correlationid`` (follows one business flow across services; also sent as
  ``correlation_id``) and ``content-type: application/json``;
* with tracing on (``probidad.shared.tracing``), the CloudEvents distributed-tracing extension: ``traceparent``
  and, if any, ``tracestate`` (W3C Trace Context) of the span the event was written in. A consumer continues
  that trace; it also reads ``ce_traceparent``/``ce_tracestate``, the Kafka binding's spelling of the same
  extension, from other producers (an agency's requests). Neither is required, and a record without them is
  as valid: they are kept, like any other header, in ``Envelope.extra_headers``.

``open_envelope`` is the inverse and the single place where a record is judged, from its raw bytes:
anything it rejects raises ``ContractViolation`` with a reason a person can act on, and goes to the
dead-letter topic. (The consumer also treats any other exception raised here as a contract error, so
no record can escape being judged.)
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.events import EVENTS_BY_TYPE

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")


class ContractViolation(ValueError):
    """The record is not a valid Probidad event; ``str(error)`` says why."""


@dataclass(frozen=True)
class Envelope:
    """An event with its CloudEvents attributes."""

    event: Event
    id: str
    source: str
    time: datetime
    correlation_id: str
    subject: str
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def stamp(self) -> Stamp:
        """When the event was stated, and by which event: what "a later statement supersedes" compares."""
        return Stamp.of(self.time, self.id)


def seal(event: Event, *, correlation_id: str | None = None, event_id: str | None = None,
         source: str | None = None, time: datetime | None = None) -> Envelope:
    """Wrap a new event in an envelope with a fresh id (correlation defaults to the event id)."""
    event_id = event_id or str(uuid.uuid4())
    return Envelope(
        event=event,
        id=event_id,
        source=source or event.source,
        time=(time or datetime.now(UTC)).astimezone(UTC),
        correlation_id=correlation_id or event_id,
        subject=event.subject,
    )


def to_record(envelope: Envelope) -> tuple[bytes, bytes, dict[str, str]]:
    """(key, value, headers) for a Kafka producer."""
    event = envelope.event
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": envelope.id,
        "ce_source": envelope.source,
        "ce_type": event.type,
        "ce_time": envelope.time.isoformat().replace("+00:00", "Z"),
        "ce_subject": envelope.subject,
        "ce_correlationid": envelope.correlation_id,
        "correlation_id": envelope.correlation_id,
        "content-type": CONTENT_TYPE,
    }
    value = event.model_dump_json().encode()
    return event.key.encode(), value, headers


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _header_dict(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    # A header sent twice takes its last value (reporting's rebuild decoder does the same).
    for name, value in items:
        if not isinstance(name, str) or not name.isascii() and _has_surrogates(name):
            # The record reader keeps a name's undecodable bytes as lone surrogates (probidad.shared.kafka_records).
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") \
                if isinstance(name, str) else repr(name)
            raise ContractViolation(f"header name {shown!r} is not UTF-8")
        if isinstance(value, (bytes, bytearray)):
            try:
                value = value.decode()
            except UnicodeDecodeError as error:
                raise ContractViolation(f"header {name!r} is not UTF-8") from error
        out[name] = "" if value is None else str(value)
    return out


def open_envelope(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None, value: bytes | None) -> Envelope:
    """Decode and validate a Kafka record into an Envelope, or raise ContractViolation."""
    h = _header_dict(headers)
    missing = [name for name in REQUIRED_HEADERS if not h.get(name)]
    if missing:
        raise ContractViolation(f"missing CloudEvents header(s): {', '.join(missing)}")
    if h["ce_specversion"] != SPEC_VERSION:
        raise ContractViolation(f"unsupported ce_specversion {h['ce_specversion']!r}")
    event_type = h["ce_type"]
    cls = EVENTS_BY_TYPE.get(event_type)
    if cls is None:
        raise ContractViolation(f"unknown event type {event_type!r}")
    if value is None:
        raise ContractViolation("empty value: the event data must be a JSON object")
    try:
        # Strict UTF-8 first: json.loads would let bytes of a lone surrogate (ED A0 80) through.
        data = json.loads(value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value)
    # Besides malformed JSON and non-UTF-8 bytes: a 5,000-digit number raises ValueError (Python's
    # integer-conversion limit), deep nesting RecursionError.
    except (ValueError, RecursionError) as error:
        raise ContractViolation(f"value is not JSON: {type(error).__name__}: {str(error)[:300]}") from error
    if not isinstance(data, dict):
        raise ContractViolation("value must be a JSON object")
    try:
        event = cls.model_validate(data)
    except RecursionError as error:
        raise ContractViolation(f"{event_type} violates its schema: nested too deeply") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
        )
        raise ContractViolation(f"{event_type} violates its schema: {problems}") from error
    raw_time = h.get("ce_time")
    try:
        time = datetime.fromisoformat(raw_time.replace("Z", "+00:00")) if raw_time else datetime.now(UTC)
    except ValueError as error:
        raise ContractViolation(f"ce_time {raw_time!r} is not RFC 3339") from error
    known = {*REQUIRED_HEADERS, "ce_time", "ce_subject", "ce_correlationid", "correlation_id", "content-type"}
    return Envelope(
        event=event,
        id=h["ce_id"],
        source=h["ce_source"],
        time=time,
        correlation_id=h.get("ce_correlationid") or h.get("correlation_id") or h["ce_id"],
        subject=h.get("ce_subject") or event.subject,
        extra_headers={k: v for k, v in h.items() if k not in known},
    )
