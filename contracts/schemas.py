"""JSON Schema snapshots of the event contracts and the compatibility rules between versions.

``python -m contracts.schemas`` rewrites ``contracts/schemas/<type>.json`` from the models, refusing
when the change would break consumers of the committed version (removed field, changed type, new
required field). Breaking changes are new ``vN`` types instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from contracts.events import ALL_EVENTS
from contracts.base import Event

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_of(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="validation")
    schema["$id"] = f"https://probidad.org/schemas/{cls.type}.json"
    schema["x-ce-type"] = cls.type
    schema["x-topic"] = cls.kafka_topic
    schema["x-key"] = cls.key_field
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def committed(cls: type[Event]) -> dict[str, Any] | None:
    path = SCHEMA_DIR / f"{cls.type}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema.get("$defs", {})[ref.removeprefix("#/$defs/")]
    return node


def _shape(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """What a field accepts, reduced to what matters for compatibility: types and enum values."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        return sorted((_shape(schema, n) for n in node["anyOf"]), key=repr)
    if "enum" in node:
        return ("enum", node.get("type"), tuple(sorted(map(str, node["enum"]))))
    if node.get("type") == "array":
        return ("array", _shape(schema, node.get("items", {})))
    return (node.get("type"), node.get("format"))


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Reasons why data valid under ``new`` could break a consumer built on ``old``, or vice versa."""
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"field {name!r} was removed")
        elif _shape(old, old_props[name]) != _shape(new, new_props[name]):
            problems.append(f"field {name!r} changed type")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"field {name!r} is newly required")
    return problems


def write_all(force: bool = False) -> list[str]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    refused: list[str] = []
    for cls in ALL_EVENTS:
        new = schema_of(cls)
        old = committed(cls)
        problems = breaking_changes(old, new) if old else []
        if problems and not force:
            refused.append(f"{cls.type}: {'; '.join(problems)} — publish a new version instead")
            continue
        (SCHEMA_DIR / f"{cls.type}.json").write_text(render(new))
    return refused


if __name__ == "__main__":
    refused = write_all(force="--force" in sys.argv)
    for line in refused:
        print(line, file=sys.stderr)
    sys.exit(1 if refused else 0)
