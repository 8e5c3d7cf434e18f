"""The README's configuration table, generated from the settings class.

python -m applyflow.settings_doc    # prints the Markdown table
"""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from applyflow.settings import SECRET_FIELDS, Settings, env_name

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if name in SECRET_FIELDS:
        return "unset (secret)"
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None or value in ({}, []):
        return "unset"
    return f"`{value}`"


def settings_table() -> str:
    """Markdown table: variable, default, meaning."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        text = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{env_name(name)}` | {_default(name)} | {text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"{BEGIN}\n{settings_table()}\n{END}")
