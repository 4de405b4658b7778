"""JSON Schema snapshots of the event contracts and the compatibility rules between versions.

Two sets of files, both committed:

* ``contracts/schemas/<type>.json``: the contract as the models define it now (what agency developers
  read); ``python -m contracts.schemas`` rewrites them from the models;
* ``contracts/schemas/published/<type>.json``: the contract as last published, the baseline every
  model must stay compatible with; ``python -m contracts.schemas --publish`` records the current
  models there, at a release.

Versioning: a published type only gains optional fields; it is never edited in place; a breaking
change is a new ``vN`` type. Both commands refuse a model that breaks its published version.

Consumers validate what they read with the model they were built with and producers may still send
data valid under the published version (and the log keeps it), so a change is breaking in either
direction: a field removed, newly required or no longer required, a type changed, a constraint
tightened or loosened (length, bounds, pattern, enum values), a default changed, another topic or key.
Only a new optional field, or an edited description or title, is compatible.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

from contracts.base import Event
from contracts.events import ALL_EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"
PUBLISHED_DIR = SCHEMA_DIR / "published"

# Keywords that document a schema without changing what it accepts.
_ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "deprecated", "readOnly", "writeOnly"})
# Keywords whose value is a set (order carries no meaning).
_UNORDERED = frozenset({"anyOf", "oneOf", "enum", "required"})
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
# What the model says about the event rather than its fields: a change moves or re-keys the stream.
_ROUTING = (("x-ce-type", "type"), ("x-topic", "topic"), ("x-key", "key field"))


def schema_of(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="validation")
    schema["$id"] = f"https://probidad.org/schemas/{cls.type}.json"
    schema["x-ce-type"] = cls.type
    schema["x-topic"] = cls.kafka_topic
    schema["x-key"] = cls.key_field
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _read(directory: Path, event_type: str) -> dict[str, Any] | None:
    path = directory / f"{event_type}.json"
    return json.loads(path.read_text()) if path.exists() else None


def committed(cls: type[Event], schema_dir: Path = SCHEMA_DIR) -> dict[str, Any] | None:
    """The committed snapshot of ``cls``'s schema (``contracts/schemas/<type>.json``)."""
    return _read(schema_dir, cls.type)


def published(cls: type[Event], published_dir: Path = PUBLISHED_DIR) -> dict[str, Any] | None:
    """The schema of ``cls``'s type as last published, or None while the type is unpublished."""
    return _read(published_dir, cls.type)


def published_schemas(published_dir: Path = PUBLISHED_DIR) -> dict[str, dict[str, Any]]:
    """Every published schema by its event type (the file name without ``.json``)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(published_dir.glob("*.json"))}


# ---------------------------------------------------------------- comparison


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/") or ref in seen:
            raise ValueError(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target = root.get("$defs", {})[ref.removeprefix("#/$defs/")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _normal(root: dict[str, Any], node: Any) -> Any:
    """What a schema accepts, as plain data: references inlined, annotations dropped, sets sorted."""
    if isinstance(node, list):
        return [_normal(root, n) for n in node]
    if not isinstance(node, dict):
        return node
    node = _resolve(root, node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _normal(root, sub) for name, sub in value.items()}
        elif key in ("enum", "required"):
            out[key] = sorted(value, key=_canonical)
        elif key in ("anyOf", "oneOf"):
            out[key] = sorted((_normal(root, n) for n in value), key=_canonical)
        else:
            out[key] = _normal(root, value)
    return out


def _alternatives(node: dict[str, Any]) -> list[dict[str, Any]]:
    if set(node) == {"anyOf"}:
        return [alt for branch in node["anyOf"] for alt in _alternatives(branch)]
    return [node]


def _kind(node: dict[str, Any]) -> str:
    kind = str(node.get("type", "any"))
    return f"{kind} ({node['format']})" if "format" in node else kind


def _kinds(alternatives: list[dict[str, Any]]) -> str:
    return " or ".join(sorted(_kind(a) for a in alternatives))


def _values(values: Iterable[Any]) -> str:
    return ", ".join(sorted(repr(v) for v in values))


def _constraint_changes(field: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in sorted((set(old) | set(new)) - {"type", "format"}):
        # either may be absent (None); when one is, the other is not, since they differ
        before: Any = old.get(key)
        after: Any = new.get(key)
        if before == after:
            continue
        if key in _UPPER_BOUNDS or key in _LOWER_BOUNDS:
            if before is None:
                problems.append(f"field {field!r} gained {key} {after!r} (tightened)")
            elif after is None:
                problems.append(f"field {field!r} lost {key} {before!r} (loosened)")
            else:
                tighter = after < before if key in _UPPER_BOUNDS else after > before
                verb = "tightened" if tighter else "loosened"
                problems.append(f"field {field!r} {verb} {key} from {before!r} to {after!r}")
        elif key == "pattern":
            if before is None:
                problems.append(f"field {field!r} gained pattern {after!r}")
            elif after is None:
                problems.append(f"field {field!r} lost pattern {before!r}")
            else:
                problems.append(f"field {field!r} changed pattern from {before!r} to {after!r}")
        elif key == "enum":
            if before is None:
                problems.append(f"field {field!r} became an enum of {_values(after)}")
            elif after is None:
                problems.append(f"field {field!r} is no longer an enum of {_values(before)}")
            else:
                removed = [v for v in before if v not in after]
                added = [v for v in after if v not in before]
                if removed:
                    problems.append(f"field {field!r} no longer accepts enum value(s) {_values(removed)}")
                if added:
                    problems.append(f"field {field!r} gained enum value(s) {_values(added)} its published "
                                    "consumers refuse")
        elif key == "items" and isinstance(before, dict) and isinstance(after, dict):
            problems.extend(_field_changes(f"{field}[]", before, after))
        elif key in ("properties", "required"):
            continue  # nested objects: compared as a whole below
        else:
            problems.append(f"field {field!r} changed {key} from {before!r} to {after!r}")
    if "properties" in old or "properties" in new or "required" in old or "required" in new:
        problems.extend(_object_changes(f"{field}.", old, new))
    return problems


def _field_changes(field: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why data of one field could pass one version and fail the other (old, new: normalised)."""
    if old == new:
        return []
    old, new = dict(old), dict(new)
    problems: list[str] = []
    if "default" in old and "default" in new and old["default"] != new["default"]:
        problems.append(f"field {field!r} changed its default from {old['default']!r} to {new['default']!r}")
    old.pop("default", None)
    new.pop("default", None)
    old_alts, new_alts = _alternatives(old), _alternatives(new)
    old_by_kind = {_kind(a): a for a in old_alts}
    new_by_kind = {_kind(a): a for a in new_alts}
    if len(old_by_kind) < len(old_alts) or len(new_by_kind) < len(new_alts):
        # Two alternatives of one kind: no field-by-field story to tell.
        return problems + ([f"field {field!r} changed what it accepts"] if old != new else [])
    if set(old_by_kind) != set(new_by_kind):
        problems.append(f"field {field!r} changed type ({_kinds(old_alts)} -> {_kinds(new_alts)})")
    for kind in sorted(set(old_by_kind) & set(new_by_kind)):
        problems.extend(_constraint_changes(field, old_by_kind[kind], new_by_kind[kind]))
    return problems


def _object_changes(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in old_props:
        if name not in new_props:
            problems.append(f"field {prefix + name!r} was removed")
        else:
            problems.extend(_field_changes(prefix + name, old_props[name], new_props[name]))
    for name in sorted(new_required - old_required):
        problems.append(f"field {prefix + name!r} is newly required")
    for name in sorted((old_required - new_required) & set(new_props)):
        problems.append(f"field {prefix + name!r} is no longer required (its published consumers need it)")
    return problems


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Reasons why data valid under ``new`` could break a consumer built on ``old``, or vice versa.

    Empty when ``new`` only adds optional fields or edits annotations (titles, descriptions).
    """
    problems = [
        f"{what} changed from {old[key]!r} to {new.get(key)!r}"
        for key, what in _ROUTING if key in old and old[key] != new.get(key)
    ]
    old_norm, new_norm = _normal(old, old), _normal(new, new)
    problems.extend(_object_changes("", old_norm, new_norm))
    for key in sorted((set(old_norm) | set(new_norm)) - {"properties", "required", "$id", "$schema"}):
        if key.startswith("x-") or old_norm.get(key) == new_norm.get(key):
            continue
        problems.append(f"the event's {key} changed from {old_norm.get(key)!r} to {new_norm.get(key)!r}")
    return problems


def published_breaks(events: Iterable[type[Event]] = ALL_EVENTS,
                     published_dir: Path = PUBLISHED_DIR) -> dict[str, list[str]]:
    """Every published type whose model breaks it (or is gone), with the reasons."""
    models = {cls.type: cls for cls in events}
    report: dict[str, list[str]] = {}
    for event_type, baseline in published_schemas(published_dir).items():
        cls = models.get(event_type)
        if cls is None:
            report[event_type] = ["the published type has no model any more"]
        elif problems := breaking_changes(baseline, schema_of(cls)):
            report[event_type] = problems
    return report


# ---------------------------------------------------------------- writing


def _refusals(report: dict[str, list[str]]) -> list[str]:
    return [f"{event_type}: {'; '.join(problems)} — publish a new version instead"
            for event_type, problems in sorted(report.items())]


def write_all(events: Iterable[type[Event]] = ALL_EVENTS, schema_dir: Path = SCHEMA_DIR,
              published_dir: Path = PUBLISHED_DIR) -> list[str]:
    """Rewrite the snapshots from the models; a model breaking its published version is refused."""
    events = tuple(events)
    report = published_breaks(events, published_dir)
    schema_dir.mkdir(parents=True, exist_ok=True)
    for cls in events:
        if cls.type not in report:
            (schema_dir / f"{cls.type}.json").write_text(render(schema_of(cls)))
    return _refusals(report)


def publish_all(events: Iterable[type[Event]] = ALL_EVENTS, schema_dir: Path = SCHEMA_DIR,
                published_dir: Path = PUBLISHED_DIR) -> list[str]:
    """Record the current models as the published baseline (and the snapshots), or refuse all of it."""
    events = tuple(events)
    refused = _refusals(published_breaks(events, published_dir))
    if refused:
        return refused
    write_all(events, schema_dir, published_dir)
    published_dir.mkdir(parents=True, exist_ok=True)
    for cls in events:
        (published_dir / f"{cls.type}.json").write_text(render(schema_of(cls)))
    return []


if __name__ == "__main__":
    refused = publish_all() if "--publish" in sys.argv else write_all()
    for line in refused:
        print(line, file=sys.stderr)
    sys.exit(1 if refused else 0)
