"""README stays true: the configuration table matches the settings class."""

from __future__ import annotations

from pathlib import Path

from applyflow.settings_doc import BEGIN, END, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_settings_table_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    hint = "run `python -m applyflow.settings_doc` and paste it into README.md"
    assert shown == settings_table(), hint


def test_readme_gives_the_newcomer_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
