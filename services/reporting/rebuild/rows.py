"""Kafka records straight to reporting's store rows, for the rebuild: ``open_envelope`` + ``fact_from``'s
result without building an Envelope or a pydantic model for the records that are plainly fine.

The live consumer judges every record with ``open_envelope`` (full pydantic validation) and keeps
``fact_from(envelope)``. A rebuild must reach exactly the same verdict and the same fact, record by
record, or its figures would differ from the live ones. This module gets there in two tiers:

* the fast tier reads the headers and the JSON value (orjson) and checks every field of the event's
  model with checks compiled from that model (types, lengths, patterns, bounds, enum values, dates).
  The checks are *conservative*: each accepts only values pydantic certainly accepts and turns into
  the same value (an ``int`` for an ``int``, a canonical ISO 8601 text for a datetime, ...). Whenever
  a check is not certain — a missing or odd header, a value of another JSON type, a datetime written
  differently, a model feature it does not know — it does not decide;
* then the authoritative tier decides: ``open_envelope`` + ``fact_from``, as the live consumer does.
  Invalid records raise ``ContractViolation`` there, so they are skipped for the live path's reason.

So the fast tier never rejects anything and only accepts what pydantic accepts, with the same fact.
Tests compare both tiers on every generated record and on many damaged ones.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

import annotated_types
import orjson
from pydantic import AwareDatetime

from contracts.base import PlainNumber, has_plain_form
from contracts.envelope import SPEC_VERSION, ContractViolation, open_envelope
from contracts.events import EVENTS_BY_TYPE
from services.reporting.domain.facts import EPOCH, FACT_FIELDS, KINDS, fact_from
from services.reporting.repository import fact_values

Headers = Iterable[tuple[str, bytes]] | None  # a Kafka record's, as the client hands them
Row = tuple  # fact_values(...) order: generation, event_id, kind, known_at, subject, session_id, servant_id, attributes


class _Unsure(Exception):
    """The fast tier cannot vouch for this value; the authoritative tier decides."""


_MISSING = object()


# ------------------------------------------------------------------ checks compiled from a model
#
# Each kept event type gets one generated function, JSON dict -> store row, with every field's check
# written out inline (a function call per field would cost more than the checks themselves).


def _bounds(metadata: Sequence[Any]) -> tuple[list[str], int | None, int | None, str | None] | None:
    tests: list[str] = []  # Python comparisons on ``v``
    min_len = max_len = pattern = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge) and _number(m.ge):
            tests.append(f"v >= {m.ge!r}")
        elif isinstance(m, annotated_types.Gt) and _number(m.gt):
            tests.append(f"v > {m.gt!r}")
        elif isinstance(m, annotated_types.Le) and _number(m.le):
            tests.append(f"v <= {m.le!r}")
        elif isinstance(m, annotated_types.Lt) and _number(m.lt):
            tests.append(f"v < {m.lt!r}")
        elif isinstance(m, annotated_types.MinLen):
            min_len = int(m.min_length)
        elif isinstance(m, annotated_types.MaxLen):
            max_len = int(m.max_length)
        elif type(m).__name__ == "_PydanticGeneralMetadata" and set(vars(m)) == {"pattern"}:
            pattern = m.pattern
        elif m is PlainNumber:  # the contract's plain-number rule, the same function pydantic runs
            tests.append("_has_plain_form(v)")
        else:
            return None  # a constraint this module does not know: never fast
    return tests, min_len, max_len, pattern


def _number(bound: object) -> bool:
    return type(bound) in (int, float) and math.isfinite(bound)


class _Source:
    """Constants the generated code refers to by name."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}

    def const(self, value: object) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name


def _check_for(annotation: object, metadata: Sequence[object], src: _Source) -> list[str] | None:
    """Lines that check ``v`` and leave pydantic's value for it in ``v`` (raising _Unsure when not
    certain); None when the field's type is not one this module knows."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        more: list[Any] = []
        for item in extra:
            if type(item).__name__ == "FieldInfo":
                more.extend(item.metadata)
            else:
                more.append(item)
        return _check_for(inner, [*metadata, *more], src)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) != 1 or len(typing.get_args(annotation)) != 2:
            return None
        inner = _check_for(options[0], metadata, src)
        if inner is None:
            return None
        return ["if v is not None:", *("    " + line for line in inner)]
    if origin is list:  # a list of texts (a competency's course ids), with no bounds on the list itself
        args = typing.get_args(annotation)
        if metadata or len(args) != 1 or _base(args[0]) is not str:
            return None
        inner = _check_for(args[0], [], src)
        if inner is None:
            return None
        items = f"_items{len(src.names)}"
        src.const(None)  # keeps the name unique
        return ["if type(v) is not list: raise _Unsure", f"{items} = v", f"for v in {items}:",
                *("    " + line for line in inner), f"v = {items}"]
    bounds = _bounds(metadata)
    if bounds is None:
        return None
    tests, min_len, max_len, pattern = bounds
    if annotation is str:
        if tests:
            return None
        conditions = ["type(v) is str"]
        if min_len or max_len is not None:
            conditions.append(f"{min_len or 0} <= len(v) <= {max_len if max_len is not None else 'len(v)'}")
        lines = [f"if not ({' and '.join(conditions)}): raise _Unsure"]
        if pattern is not None:
            # ASCII only and matched as a whole: then Python's re and pydantic's Rust regex agree.
            # A text once matched is remembered (ids repeat: a session's id is in all its events).
            regex, seen = src.const(re.compile(pattern)), src.const(set())
            lines.append(f"if v not in {seen}:")
            lines.append(f"    if not v.isascii() or {regex}.fullmatch(v) is None: raise _Unsure")
            lines.append(f"    if len({seen}) > 200_000: {seen}.clear()")
            lines.append(f"    {seen}.add(v)")
        return lines
    if min_len is not None or max_len is not None or pattern is not None:
        return None
    if annotation is bool:
        return None if tests else ["if type(v) is not bool: raise _Unsure"]
    if annotation is int:
        return [f"if not ({' and '.join(['type(v) is int', *tests])}): raise _Unsure"]
    if annotation is float:
        return ["if type(v) is int and -9007199254740992 <= v <= 9007199254740992: v = float(v)",  # exact
                f"if not ({' and '.join(['type(v) is float', '-_INF < v < _INF', *tests])}): raise _Unsure"]
    if tests:
        return None
    if isinstance(annotation, type) and issubclass(annotation, Enum) and issubclass(annotation, str):
        values = src.const(frozenset(member.value for member in annotation))  # use_enum_values: the text
        return [f"if type(v) is not str or v not in {values}: raise _Unsure"]
    if annotation is AwareDatetime:
        # Pydantic writes UTC as "Z" (enrollment's own times, e.g. a transfer's approved_at) and reads it
        # back as +00:00, which is also how the store keeps it.
        return ["if type(v) is str and v[-1:] == 'Z': v = v[:-1] + '+00:00'",
                "if not _canonical_datetime(v): raise _Unsure"]
    if annotation is date:
        return ["if not _canonical_date(v): raise _Unsure"]
    return None


def _base(annotation: object) -> object:
    """The type under ``Annotated[...]``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _canonical_datetime(v: object) -> bool:
    """Aware, and written exactly as pydantic's value prints back (so the text is that value's)."""
    if type(v) is not str or not 25 <= len(v) <= 32 or v[10] != "T":
        return False
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed.isoformat() == v


def _canonical_date(v: object) -> bool:
    if type(v) is not str or len(v) != 10:
        return False
    try:
        return date.fromisoformat(v).isoformat() == v
    except ValueError:
        return False


def _compile(cls: type, kind: str) -> Callable[..., Row] | None:
    """``(data, generation, event_id, known_at) -> row`` for one event model, or None when the model
    has anything the fast tier does not know (then its records always take the authoritative tier)."""
    config = cls.model_config
    if config.get("extra") != "ignore" or not config.get("use_enum_values") or config.get("strict") \
            or set(config) - {"frozen", "extra", "use_enum_values", "title"}:
        return None
    decorators = cls.__pydantic_decorators__
    if any(getattr(decorators, name) for name in ("validators", "field_validators", "root_validators",
                                                   "model_validators")):
        return None
    src = _Source()
    local: dict[str, str] = {}
    body = ["def row(data, generation, event_id, known_at):", "    get = data.get"]
    for index, (name, info) in enumerate(cls.model_fields.items()):
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            return None
        check = _check_for(info.annotation, info.metadata, src)
        if check is None:
            return None
        body.append(f"    v = get({name!r}, _MISSING)")
        if info.is_required():
            body.extend("    " + line for line in check)  # _MISSING fails every check
        else:
            if info.default_factory is not None or type(info.default) not in (str, int, float, bool, type(None)):
                return None
            body.append(f"    if v is _MISSING: v = {src.const(info.default)}  # pydantic does not validate defaults")
            body.append("    else:")
            body.extend("        " + line for line in check)
        local[name] = f"f{index}"
        body.append(f"    f{index} = v")
    session_field, servant_field, names = FACT_FIELDS[kind]
    attributes = ", ".join(f"{n!r}: {local[n]}" for n in names)
    body.append(f"    return (generation, event_id, {kind!r}, known_at, str({local[cls.subject_field]}), "
                f"{local[session_field] if session_field else None}, "
                f"{local[servant_field] if servant_field else None}, "
                f"_dumps({{{attributes}}}).decode())")
    namespace: dict[str, Any] = {"_Unsure": _Unsure, "_MISSING": _MISSING, "_INF": math.inf, "_dumps": orjson.dumps,
                                 "_canonical_datetime": _canonical_datetime, "_canonical_date": _canonical_date,
                                 "_has_plain_form": has_plain_form,
                                 **src.names}
    exec(compile("\n".join(body), f"<reporting row of {cls.type}>", "exec"), namespace)  # noqa: S102
    return namespace["row"]


# event type (bytes, as in the header) -> its row function, or None when only the authoritative tier may judge it
# (TrainingPlanDeclared and TrainingRequirementDeclared: their targets, scope and due rule are models, which the
# checks do not compile; plans and requirements are declared a few times, so their records all take that tier;
# SessionScheduled and SessionRescheduled: the contract validates their zone and end, once or twice per session)
_ROWS: dict[bytes, Callable[..., Row] | None] = {
    event_type.encode(): _compile(EVENTS_BY_TYPE[event_type], kind) for event_type, kind in KINDS.items()}
KEPT_TYPES = frozenset(_ROWS)
_SPEC = SPEC_VERSION.encode()


# ------------------------------------------------------------------ records -> rows


def slow_row(headers: Headers, value: bytes | None, generation: int) -> Row | None:
    """The authoritative tier: exactly what the live consumer does. ``ContractViolation`` for a record
    it dead-letters: one ``open_envelope`` refuses, or one its handler fails on for good (e.g. a
    number too large for the store's JSON)."""
    envelope = open_envelope(headers, value)
    try:
        fact = fact_from(envelope)
        return None if fact is None else fact_values(fact, generation)
    except Exception as error:  # the live handler raises the same, and the consumer dead-letters it
        raise ContractViolation(f"{type(error).__name__}: {error}") from error


def fast_row(headers: Headers, value: bytes | None, generation: int) -> Row | None:
    """The store row of a record's fact, or None when no figure depends on its type.

    Raises ``ContractViolation`` for a record the live consumer would dead-letter (decided by
    ``slow_row``); the fast tier only ever accepts.
    """
    try:
        h = dict(headers)
        event_type = h["ce_type"]
        row = _ROWS.get(event_type, _MISSING)
        if row is _MISSING and type(event_type) is bytes:
            return None  # no figure depends on this type (the live consumer ignores or dead-letters it)
        if row is None or row is _MISSING or h["ce_specversion"] != _SPEC or not h["ce_source"] \
                or not all(map(bytes.isascii, h.values())) or not all(map(str.isascii, h)):
            # open_envelope decodes every header value, and refuses a name that is not UTF-8
            raise _Unsure
        event_id = h["ce_id"].decode()
        moment = datetime.fromisoformat(h["ce_time"].decode().replace("Z", "+00:00"))
        if moment.tzinfo is None or not event_id:
            raise _Unsure
        delta = moment - EPOCH
        data = orjson.loads(value)
        if type(data) is dict:
            return row(data, generation, event_id,
                       (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    except Exception:  # noqa: BLE001 — _Unsure, or anything unusual: the authoritative tier decides
        pass
    if _type_of(headers) not in KEPT_TYPES:
        return None
    return slow_row(headers, value, generation)


def _type_of(headers: Headers) -> bytes | None:
    found = None
    for name, value in headers or ():
        if name == "ce_type":
            found = value if isinstance(value, bytes) else str(value).encode()
    return found


__all__ = ["KEPT_TYPES", "Row", "fast_row", "slow_row"]
