"""Hostile requests derived from the server's OpenAPI document: each case changes one thing of an operation's input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

NUL = "name\x00here"
CONTROL = "a\x01\x08\x1b[31m\x7fb"
LONG = "x" * (1024 * 1024)
LONG_URL_VALUE = "x" * 60_000  # the longest URL an HTTP client sends
HUGE_INT = 10**40
# Stand-ins for a value of the right type; every case below breaks exactly one of them.
_SAMPLE = {"string": "x", "integer": 1, "number": 1, "boolean": True}
# Values of the wrong JSON type for each declared type.
_WRONG_TYPES: dict[str, list[Any]] = {
    "string": [{"a": 1}, [1, 2], 12345, True],
    "integer": ["abc", {"a": 1}, [1], 1.5, HUGE_INT, -HUGE_INT, 1e308],
    "number": ["abc", {"a": 1}, [1], HUGE_INT],
    "boolean": ["maybe", {"a": 1}, [True]],
    "array": ["abc", {"a": 1}, 7],
    "object": ["abc", [1], 7],
}


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, str] | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def operations(doc: dict[str, Any]) -> list[Operation]:
    return [Operation(method.upper(), path, spec) for path, ops in doc["paths"].items() for method, spec in ops.items()]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            concrete = [_resolve(doc, s) for s in schema[combo] if s.get("type") != "null"]
            if concrete:
                return {**concrete[0], **{k: v for k, v in schema.items() if k != combo}}
    return schema


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "string")
    return kind if isinstance(kind, str) else "string"


def _sample(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = _type_of(schema)
    if kind == "object":
        return {name: _sample(doc, sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    return _SAMPLE.get(kind, "x")


def _string_values() -> list[tuple[str, Any]]:
    return [("NUL", NUL), ("control", CONTROL), ("1 MB", LONG)]


def _field_values(kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "string":
        yield from _string_values()
    for value in _WRONG_TYPES.get(kind, []):
        yield f"wrong type {type(value).__name__}", value


def _path_with(op: Operation, values: dict[str, str]) -> str:
    path = op.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def _url_values(kind: str) -> list[tuple[str, str]]:
    values = [("NUL", NUL), ("control", CONTROL), ("60 KB", LONG_URL_VALUE), ("wrong type", "[1,{}]")]
    if kind in ("integer", "number"):
        values += [("string for number", "abc"), ("huge number", str(HUGE_INT)), ("float", "1e400")]
    return values


def _json_body_schema(doc: dict[str, Any], op: Operation) -> dict[str, Any] | None:
    content = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return _resolve(doc, content["application/json"]["schema"])
    return None


def _form_schema(doc: dict[str, Any], op: Operation) -> dict[str, Any] | None:
    content = op.spec.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        return _resolve(doc, content["multipart/form-data"]["schema"])
    return None


def _is_file(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    resolved = _resolve(doc, schema)
    return resolved.get("format") == "binary" or "contentMediaType" in resolved


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def cases(doc: dict[str, Any], op: Operation) -> Iterator[Case]:
    """Every hostile variant of one operation; the rest of each request is well formed."""
    params = [_resolve(doc, p) for p in op.spec.get("parameters", [])]
    path_ok = {p["name"]: "00000000-0000-0000-0000-000000000000" for p in params if p["in"] == "path"}
    query_ok = {p["name"]: str(_sample(doc, p.get("schema", {}))) for p in params
                if p["in"] == "query" and p.get("required")}
    body_schema = _json_body_schema(doc, op)
    form_schema = _form_schema(doc, op)
    body_ok = _json(_sample(doc, body_schema)) if body_schema else None
    json_headers = {"Content-Type": "application/json"} if body_ok is not None else {}

    def case(label: str, **kw: Any) -> Case:
        kw.setdefault("path", _path_with(op, path_ok))
        kw.setdefault("params", query_ok)
        kw.setdefault("content", body_ok)
        kw.setdefault("headers", json_headers)
        return Case(f"{op.name}: {label}", op.method, **kw)

    for p in params:
        kind = _type_of(_resolve(doc, p.get("schema", {})))
        for label, value in _url_values(kind):
            if p["in"] == "path":
                yield case(f"path {p['name']} {label}", path=_path_with(op, {**path_ok, p["name"]: value}))
            elif p["in"] == "query":
                yield case(f"query {p['name']} {label}", params={**query_ok, p["name"]: value})
            # httpx sends no NUL in a header; "[1,{}]" is a well-formed string header
            elif p["in"] == "header" and "\x00" not in value and (kind != "string" or label != "wrong type"):
                yield case(f"header {p['name']} {label}", headers={**json_headers, p["name"]: value})
    if body_schema is not None:
        sample = _sample(doc, body_schema)
        for name, sub in body_schema.get("properties", {}).items():
            for label, value in _field_values(_type_of(_resolve(doc, sub))):
                yield case(f"body {name} {label}", content=_json({**sample, name: value}))
        for label, raw in [("invalid JSON", b'{"a": '), ("array body", b"[1, 2]"), ("string body", b'"x"'),
                           ("null body", b"null"), ("nested 30000 deep", b"[" * 30000 + b"]" * 30000),
                           ("non-UTF-8", b'{"x": "\xff\xfe"}'), ("oversized", _json({"x": "y" * (256 * 1024)}))]:
            yield case(f"body {label}", content=raw)
        yield case("wrong content type", content=body_ok, headers={"Content-Type": "text/plain"})
        yield case("multipart instead of JSON", content=None, headers={}, data={"x": "y"})
    if form_schema is not None:
        text_ok = {name: str(_sample(doc, sub)) for name, sub in form_schema.get("properties", {}).items()
                   if not _is_file(doc, sub)}
        file_names = [name for name, sub in form_schema.get("properties", {}).items()
                      if _is_file(doc, sub)]
        files_ok = [(name, (f"{name}.bin", b"\x00\x01garbage", "application/octet-stream")) for name in file_names]
        for name in text_ok:
            for label, value in _string_values():
                yield case(f"form {name} {label}", content=None, headers={}, data={**text_ok, name: value},
                           files=files_ok)
        yield case("form without its files", content=None, headers={}, data=text_ok, files=None)
        yield case("form file sent as text", content=None, headers={},
                   data={**text_ok, **{n: "not a file" for n in file_names}}, files=None)
        yield case("form with many files", content=None, headers={}, data=text_ok,
                   files=files_ok + [(file_names[0], ("x.bin", b"x", "application/octet-stream"))] * 8)
        yield case("broken multipart", content=b"--zz\r\nnot a part", headers={
            "Content-Type": "multipart/form-data; boundary=zz"})
        yield case("JSON instead of a form", content=_json(text_ok), headers={"Content-Type": "application/json"})
    if body_schema is None and form_schema is None and op.method in ("POST", "PUT", "PATCH"):
        yield case("oversized undeclared body", content=b"x" * (256 * 1024), headers={"Content-Type": "text/plain"})
