"""Base class of every Probidad event.

An event is one past-tense fact owned by one service. Its class says where it goes:

* ``type``: the CloudEvents ``ce_type``, ``probidad.<context>.<subject>.<action>.v<major>``;
* ``kafka_topic``: the only topic it is written to;
* ``key_field``: the field whose value is the Kafka key (session id for session-scoped facts, so a
  session's story stays in order in one partition; servant id for servant facts and certificates);
* ``subject_field``: the entity the event is about (``ce_subject``).

Consumers ignore fields they do not know (``extra="ignore"``), so adding an optional field is a
compatible change; anything else is a new ``vN`` type.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


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
