"""`applyflow profile import`: rules by default; --model through the guarded call (priced,
capped, recorded); one-line errors; nothing overwritten unasked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.runtime import Runtime, use_runtime
from applyflow.textrules import parse_profile
from tests.samples import PROFILE, SAMPLES
from tests.scripted import ScriptedOffline

SOURCE = SAMPLES / "profile.md"


def _usage(cli_env: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(cli_env / "store.db") as conn:
        return conn.execute("SELECT layer, model, cost FROM usage").fetchall()


def test_rules_write_the_profile_and_say_what_they_found(runner: CliRunner, cli_env: Path):
    result = runner.invoke(app, ["profile", "import", str(SOURCE), "--out", "me.md"])
    assert result.exit_code == 0, result.output
    written = parse_profile((cli_env / "me.md").read_text())
    original = parse_profile(PROFILE)
    assert [(r.header, r.bullets) for r in written.roles] == [
        (r.header, r.bullets) for r in original.roles
    ]
    assert "wrote me.md: Alex Morgan, 3 role(s) with 9 bullet(s)" in result.output
    assert "could not place" not in result.output and "missing" not in result.output
    again = runner.invoke(app, ["profile", "import", str(SOURCE), "--out", "me.md"])
    assert again.exit_code == 1
    assert again.output.strip() == "error: me.md exists; pass --force to replace it"
    forced = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "me.md", "--force"])
    assert forced.exit_code == 0


def test_json_lists_roles_sections_and_what_is_missing(runner: CliRunner, cli_env: Path):
    cv = cli_env / "cv.txt"
    cv.write_text("Ana Løvik\nOslo · ana@example.com\n\nEXPERIENCE\nEngineer — Acme (2020–2024)\n"
                  "- Built things.\n\nHOBBIES AND MORE\nChess.\n")  # fmt: skip
    result = runner.invoke(app, ["profile", "import", str(cv), "--out", "ana.md", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "Ana Løvik" and data["roles"] == ["Engineer — Acme (2020–2024)"]
    assert data["unknown_sections"] == ["HOBBIES AND MORE"]
    assert "no ## Skills section" in data["missing"] and data["cost_usd"] == 0


def test_a_scanned_pdf_is_one_clear_line(runner: CliRunner, cli_env: Path):
    from tests.documents.test_profile_import import _scan

    (cli_env / "scan.pdf").write_bytes(_scan())
    result = runner.invoke(app, ["profile", "import", "scan.pdf", "--out", "me.md"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: scan.pdf: its 1 page(s) hold 1 image(s) and no text layer")
    assert not (cli_env / "me.md").exists()


class _Adds(ScriptedOffline):
    """A model that slips an employer into the profile it structures."""

    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        message = result.generations[0].message
        reply = json.loads(message.content)
        reply["profile_markdown"] = reply["profile_markdown"].replace(
            "## Education", "### CTO — Globex Corporation (2010–2012)\n- Led it.\n\n## Education"
        )
        message.content = json.dumps(reply)


def _factory(cls: type[ScriptedOffline]) -> Runtime:
    return Runtime(model_factory=lambda spec, max_tokens: cls(max_tokens=max_tokens))


def test_a_model_structures_it_through_the_guarded_call(runner: CliRunner, cli_env: Path):
    result = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "m.md", "--model",
                                 "offline", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added_by_model"] == []
    assert _usage(cli_env) == [("profile_import", "offline", 0)]  # a recorded call, at $0
    with use_runtime(_factory(_Adds)):
        added = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "a.md", "--model",
                                    "offline"])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "the model wrote things the CV does not state" in added.output
    assert "employer 'Globex Corporation'" in added.output


def test_a_model_call_is_priced_and_capped_like_any_other(
    runner: CliRunner, cli_env: Path, monkeypatch: pytest.MonkeyPatch
):
    from applyflow.settings import get_settings

    monkeypatch.setenv("APPLYFLOW_PRICES", json.dumps({"offline": {"input": 50, "output": 50}}))
    monkeypatch.setenv("APPLYFLOW_BUDGET_TOTAL_USD", "0.01")
    get_settings.cache_clear()
    refused = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "m.md", "--model",
                                  "offline"])  # fmt: skip
    assert refused.exit_code == 1
    assert refused.output.startswith("error: total budget exceeded")
    assert _usage(cli_env) == [] and not (cli_env / "m.md").exists()
    monkeypatch.setenv("APPLYFLOW_BUDGET_TOTAL_USD", "5")
    get_settings.cache_clear()
    paid = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "m.md", "--model",
                               "offline"])  # fmt: skip
    assert paid.exit_code == 0, paid.output
    [(layer, _, cost)] = _usage(cli_env)
    assert layer == "profile_import" and cost > 0


class _Garbage(ScriptedOffline):
    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        result.generations[0].message.content = "Here is your profile!"


def test_a_reply_that_is_not_a_profile_writes_nothing(runner: CliRunner, cli_env: Path):
    with use_runtime(_factory(_Garbage)):
        result = runner.invoke(app, ["profile", "import", str(SOURCE), "-o", "m.md", "--model",
                                     "offline"])  # fmt: skip
    assert result.exit_code == 1
    assert "reply was not a profile in the JSON asked for; nothing was written" in result.output
    assert not (cli_env / "m.md").exists()
