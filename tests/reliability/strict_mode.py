"""OpenAI's strict structured outputs as the fake server models them (not OpenAI itself).

``schema_problems``: what OpenAI's "Supported schemas" rules refuse in a ``json_schema``
response format sent with ``strict: true`` (a 400 ``invalid_request_error`` naming the first
one): every object sets ``additionalProperties: false`` and lists every property in
``required``; the root is an object; only the documented keywords appear (strings:
``pattern``, a few ``format`` values; numbers: ``minimum`` / ``maximum`` / exclusive forms /
``multipleOf``; arrays: ``minItems`` / ``maxItems``); ``$ref`` points into ``$defs``; at most
10 levels of nesting, 5000 properties and 1000 enum values. Undocumented keywords are refused
(OpenAI may be more lenient about a few; being stricter only hides nothing).

Written apart from ``applyflow.strict_schema`` on purpose: it checks the transform instead of
repeating it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_problems"]

_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
_NUMBER = {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}
_BY_TYPE = {
    "string": {"pattern", "format"},
    "number": _NUMBER,
    "integer": _NUMBER,
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(),
    "null": set(),
}
_ANY = {"type", "title", "description", "enum", "const", "anyOf", "$ref"}
_MAX_DEPTH, _MAX_PROPERTIES, _MAX_ENUM = 10, 5000, 1000


def schema_problems(schema: Any) -> list[str]:
    """What strict mode refuses in ``schema``, each as OpenAI words it (``[]``: accepted)."""
    if not isinstance(schema, dict):
        return ["In context=(), schema must be a JSON Schema object."]
    walk = _Walk(schema)
    if schema.get("type") != "object" or "anyOf" in schema:
        walk.problem((), "the root schema must be an object, not anyOf")
    walk.node(schema, (), 1)
    for name, sub in (schema.get("$defs") or {}).items():
        walk.node(sub, ("$defs", name), 1)
    if walk.properties > _MAX_PROPERTIES:
        walk.problem((), f"at most {_MAX_PROPERTIES} object properties are permitted")
    if walk.enums > _MAX_ENUM:
        walk.problem((), f"at most {_MAX_ENUM} enum values are permitted")
    return walk.problems


class _Walk:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = root.get("$defs") or {}
        self.problems: list[str] = []
        self.properties = self.enums = 0

    def problem(self, at: tuple[str, ...], what: str) -> None:
        self.problems.append(f"In context={at}, {what}.")

    def node(self, node: Any, at: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, dict):
            self.problem(at, "schema must be a JSON Schema object")
            return
        if depth > _MAX_DEPTH:
            self.problem(at, f"nesting deeper than {_MAX_DEPTH} levels is not permitted")
            return
        types = node.get("type")
        kinds = types if isinstance(types, list) else [] if types is None else [types]
        allowed = _ANY | ({"$defs"} if at == () else set())
        for kind in kinds:
            if kind not in _BY_TYPE:
                self.problem(at, f"type {kind!r} is not supported")
            allowed |= _BY_TYPE.get(kind, set())
        for key in node:
            if key not in allowed:
                self.problem(at, f"{key!r} is not permitted")
        if "format" in node and node["format"] not in _FORMATS:
            self.problem(at, f"format {node['format']!r} is not supported")
        if not kinds and not {"anyOf", "$ref", "enum", "const"} & node.keys():
            self.problem(at, "schema must have a 'type' key")
        self.enums += len(node.get("enum") or ())
        self._ref(node, at)
        for i, branch in enumerate(node.get("anyOf") or ()):
            self.node(branch, (*at, "anyOf", str(i)), depth)
        if "items" in node:
            self.node(node["items"], (*at, "items"), depth + 1)
        if "object" in kinds:
            self._object(node, at, depth)

    def _ref(self, node: dict[str, Any], at: tuple[str, ...]) -> None:
        ref = node.get("$ref")
        if ref is None or ref == "#":
            return
        if not str(ref).startswith("#/$defs/") or str(ref)[8:] not in self.defs:
            self.problem(at, f"reference {ref!r} can't be resolved")

    def _object(self, node: dict[str, Any], at: tuple[str, ...], depth: int) -> None:
        if node.get("additionalProperties") is not False:
            self.problem(at, "'additionalProperties' is required to be supplied and to be false")
        properties = node.get("properties") or {}
        required = node.get("required")
        missing = [p for p in properties if not isinstance(required, list) or p not in required]
        if missing:
            self.problem(
                at,
                "'required' is required to be supplied and to be an array including every key"
                f" in properties. Missing {missing[0]!r}",
            )
        self.properties += len(properties)
        for name, sub in properties.items():
            self.node(sub, (*at, "properties", name), depth + 1)
