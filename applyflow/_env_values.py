"""Values as environment variables give them: JSON objects, and lists as JSON or commas."""

from __future__ import annotations

import json
from typing import Any


def json_object(value: Any, what: str) -> Any:
    """Parse a JSON object given as a string (env var); pass dicts through."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not valid JSON ({exc.msg} at char {exc.pos}); expected {what}"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object: {what}")
    return value


def json_list(value: Any) -> Any:
    """Parse a list given as JSON or as comma-separated text (env var); pass lists through."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"not valid JSON ({exc.msg}); expected a JSON list or a comma-separated list"
                ) from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value
