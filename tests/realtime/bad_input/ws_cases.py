"""Hostile WebSocket frames derived from the message models each endpoint validates: for every message type, one
field broken at a time, plus frames that are not messages at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tests.realtime.bad_input.openapi_cases import CONTROL, HUGE_INT, LONG, NUL

_WRONG: dict[str, list[Any]] = {
    "string": [{"a": 1}, [1], 12345, True],
    "integer": ["24000", {"a": 1}, [1], 1.5, HUGE_INT, -HUGE_INT, True],
    "number": ["1.0", {"a": 1}, [1], HUGE_INT, 1e308],
    "boolean": ["true", 1, {"a": 1}],
}


@dataclass(frozen=True)
class Frame:
    label: str
    data: str | bytes


def _kinds(schema: dict[str, Any]) -> list[str]:
    options = schema.get("anyOf", [schema])
    return [o["type"] for o in options if isinstance(o.get("type"), str) and o["type"] != "null"]


def _values(kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "string":
        yield from [("NUL", NUL), ("control", CONTROL), ("1 MB", LONG)]
    for value in _WRONG.get(kind, []):
        yield f"wrong type {type(value).__name__} {str(value)[:12]}", value


def message_frames(model: type[BaseModel], valid: dict[str, Any]) -> Iterator[Frame]:
    """``valid`` is an accepted message of this model; each frame breaks one of its fields."""
    kind = valid["type"]
    for name, schema in model.model_json_schema()["properties"].items():
        if name == "type":
            continue
        for field_kind in _kinds(schema) or ["string"]:
            for label, value in _values(field_kind):
                yield Frame(f"{kind}.{name} {label}", json.dumps({**valid, name: value}))
    yield Frame(f"{kind} with an unknown field holding NUL", json.dumps({**valid, "zz": NUL}))


def bare_frames(kind: str) -> Iterator[Frame]:
    """A message type without fields: only the type itself and extra fields can be wrong."""
    yield Frame(f"{kind} type as a list", json.dumps({"type": [kind]}))
    yield Frame(f"{kind} type with NUL", json.dumps({"type": kind + "\x00"}))


def junk_frames() -> Iterator[Frame]:
    yield Frame("invalid JSON", '{"type": ')
    yield Frame("JSON array", "[1, 2]")
    yield Frame("JSON string", '"start"')
    yield Frame("no type", '{"text": "x"}')
    yield Frame("unknown type", '{"type": "zzz"}')
    yield Frame("type wrong type", '{"type": 5}')
    yield Frame("NUL in type", json.dumps({"type": NUL}))
    yield Frame("1 MB text frame", "x" * (1024 * 1024))
    yield Frame("deeply nested JSON", "[" * 30000 + "]" * 30000)
    yield Frame("binary where text is expected", b'{"type": "start"}')
    yield Frame("oversized binary frame", b"\x00" * (4 * 1024 * 1024))
