"""A pydantic JSON Schema as OpenAI's strict structured outputs take it.

With ``strict: true`` OpenAI constrains decoding to the schema, but only accepts a subset of
JSON Schema: every object sets ``additionalProperties: false`` and lists every property in
``required``; only some keywords are allowed (strings: ``pattern``, a few ``format`` values;
numbers: ``minimum`` / ``maximum`` / their exclusive forms / ``multipleOf``; arrays:
``minItems`` / ``maxItems``); no ``allOf`` / ``not`` / ``if``. Anything else is refused with a
400, so it is dropped from the *sent* schema here: pydantic still checks it when the layer
parses the reply (a violation gets the layer's one repair call).

A property pydantic does not require is sent as required with its own type: its default is a
value the model can always write, and a null then arrives only where the field's type is
already nullable (``X | None``), which pydantic accepts. So the layer's parsing needs nothing
special for strict replies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STRICT_FORMATS", "openai_strict"]

# String formats OpenAI's strict mode accepts (its "Supported schemas" list).
STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_ANY = ("type", "title", "description", "enum", "const")
_BY_TYPE = {
    "string": ("pattern",),
    "number": ("multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"),
    "integer": ("multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"),
    "array": ("minItems", "maxItems"),
}


def openai_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a pydantic model's JSON Schema, root an object) made strict-valid.

    ``ValueError`` for what strict mode cannot express (a free-form ``dict`` field, a root that
    is not an object).
    """
    if schema.get("type") != "object":
        raise ValueError("a strict schema's root must be an object")
    defs = schema.get("$defs") or {}
    out = _node(schema, defs)
    if defs:
        out["$defs"] = {name: _node(sub, defs) for name, sub in defs.items()}
    return out


def _node(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _flatten(node, defs)
    if "$ref" in node:
        return {"$ref": node["$ref"]}
    out: dict[str, Any] = {key: node[key] for key in _ANY if key in node}
    for branches in ("anyOf", "oneOf"):  # oneOf's branches are disjoint: anyOf says the same
        if branches in node:
            out["anyOf"] = [_node(branch, defs) for branch in node[branches]]
    types = node.get("type")
    kinds = types if isinstance(types, list) else [types]
    for kind in kinds:
        out.update({key: node[key] for key in _BY_TYPE.get(kind, ()) if key in node})
    if "string" in kinds and node.get("format") in STRICT_FORMATS:
        out["format"] = node["format"]
    if "array" in kinds and "items" in node:
        out["items"] = _node(node["items"], defs)
    if "object" in kinds:
        extra = node.get("additionalProperties")
        if extra not in (None, False) or "patternProperties" in node:
            raise ValueError("strict mode has no free-form objects (a dict field)")
        properties = node.get("properties") or {}
        out["properties"] = {name: _node(sub, defs) for name, sub in properties.items()}
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out


def _flatten(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` without what strict mode refuses around a reference: a one-branch ``allOf``
    is merged in, and a ``$ref`` with sibling keywords (a field's description) is inlined."""
    all_of = node.get("allOf")
    if all_of is not None:
        if len(all_of) != 1:
            raise ValueError("strict mode has no allOf")
        rest = {k: v for k, v in node.items() if k != "allOf"}
        node = {**all_of[0], **rest}
    ref = node.get("$ref")
    if ref is not None and len(node) > 1:
        name = str(ref).removeprefix("#/$defs/")
        if name not in defs:
            raise ValueError(f"a $ref strict mode cannot inline: {ref}")
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**defs[name], **siblings}
    return node
