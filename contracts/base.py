"""Base class of every Probidad event.

An event is one past-tense fact owned by one service. Its class says where it goes:

* ``type``: the CloudEvents ``ce_type``, ``probidad.<context>.<subject>.<action>.v<major>``;
* ``kafka_topic``: the only topic it is written to;
* ``key_field``: the field whose value is the Kafka key (session id for session-scoped facts, so a
  session's story stays in order in one partition; servant id for servant facts and certificates);
* ``subject_field``: the entity the event is about (``ce_subject``).

Consumers ignore fields they do not know (``extra="ignore"``), so adding an optional field is a
compatible change; anything else is a new ``vN`` type.

A number a certificate signs (hours, scores) must have a plain decimal form: see ``PlainNumber``.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", use_enum_values=True)

    type: ClassVar[str]
    source: ClassVar[str]
    kafka_topic: ClassVar[str]
    key_field: ClassVar[str]
    subject_field: ClassVar[str]

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))

    @property
    def subject(self) -> str:
        return str(getattr(self, self.subject_field))


# ---------------------------------------------------------------- numbers every consumer can keep

PLAIN_NUMBER_RULE = (
    "a whole number or a decimal of at least 0.0001, written without an exponent, as certificates sign it"
)


def has_plain_form(value: float) -> bool:
    """Whether ``value`` is written without an exponent in canonical JSON (RFC 8785 as certification
    writes it): an integral number below 2**53 is written as an integer, any other as Python's shortest
    round-trip form, which has an exponent below 0.0001 (``1e-05``) and from 1e16 (``1e+16``)."""
    if not math.isfinite(value):
        return False
    if float(value).is_integer() and abs(value) < 2**53:
        return True
    return "e" not in repr(float(value)).lower()


def plain_number(value: float) -> float:
    if not has_plain_form(value):
        raise ValueError(f"{value!r} has no plain decimal form: give {PLAIN_NUMBER_RULE}")
    return value


# Validates a float field once, in the contract, for every service: a value certification could not sign
# (5e-324 hours, a score of 1e-05) is refused at the door and dead-lettered alike by every consumer,
# instead of being accepted by some and refused by certification alone. Not visible in the JSON Schema
# (the published v1 bounds stay as they are); the field descriptions say it.
PlainNumber = AfterValidator(plain_number)
