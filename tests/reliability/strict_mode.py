"""OpenAI's strict structured outputs as the fake server models them (not OpenAI itself).

``constrain``: constrained decoding. The decoder can emit only what the sent schema allows, so
whatever the model "meant" (an answer, or an off-schema reply) comes out in the schema's shape:
keys the schema does not name cannot be written, a required key the model skipped is written
anyway (null where the schema allows it, else the type's plainest value), a value of the wrong
type is replaced, an enum takes one of its values, arrays keep within their item counts. The
result is derived from the request's schema alone, so a wrong schema shows in the reply. What
the schema does not say (a string's length, a cross-field rule) it cannot enforce either.

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

import jsonschema

__all__ = ["constrain", "schema_problems"]

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


def constrain(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` as a decoder held to ``schema`` (strict-valid) writes it; checked against it."""
    out = _fit(value, schema, schema.get("$defs") or {})
    jsonschema.validate(out, schema)  # a reply off the sent schema would be this model's bug
    return out


def _fit(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> Any:
    ref = node.get("$ref")
    if ref is not None:
        return _fit(value, defs[str(ref).removeprefix("#/$defs/")], defs)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return value if value in node["enum"] else node["enum"][0]
    if "anyOf" in node:
        branches = node["anyOf"]
        fitting = [b for b in branches if _valid(value, b, defs)]
        return _fit(value, (fitting or branches)[0], defs)
    types = node.get("type")
    if types is None:  # the items of an array that does not say: anything goes
        return value
    kinds = types if isinstance(types, list) else [types]
    if value is None and "null" in kinds:
        return None
    kind = next((k for k in kinds if _is(value, k)), kinds[0])
    if kind == "object":
        given = value if isinstance(value, dict) else {}
        properties = node.get("properties") or {}
        return {name: _fit(given.get(name), sub, defs) for name, sub in properties.items()}
    if kind == "array":
        items = [_fit(v, node.get("items") or {}, defs) for v in value or []]
        items = items[: node.get("maxItems", len(items))]
        pad = node.get("minItems", 0) - len(items)
        return items + [_fit(None, node.get("items") or {}, defs) for _ in range(pad)]
    if kind in ("integer", "number"):
        number = value if _is(value, kind) else 0
        low, high = node.get("minimum", number), node.get("maximum", number)
        return min(max(number, low), high)
    plain = {"string": "", "boolean": False, "null": None}
    return value if _is(value, kind) else plain[kind]


def _is(value: Any, kind: str) -> bool:
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind in ("integer", "number"):
        wanted = int if kind == "integer" else (int, float)
        return isinstance(value, wanted) and not isinstance(value, bool)
    return isinstance(value, kinds[kind])


def _valid(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator({**node, "$defs": defs}).is_valid(value)
