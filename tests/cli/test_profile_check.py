"""`applyflow profile check [PATH]`: sections, unknown headings, what the layers use."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from applyflow.cli import app
from tests.cli.conftest import SAMPLE_PROFILE


def test_the_sample_profile_is_fine_and_its_sections_are_named(cli_env: Path):
    result = CliRunner().invoke(app, ["profile", "check", "--json"])  # APPLYFLOW_PROFILE
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    digest = hashlib.sha256(SAMPLE_PROFILE.read_bytes()).hexdigest()
    assert data["profile"] == {"path": str(SAMPLE_PROFILE), "sha256": digest}
    assert (data["ok"], data["errors"], data["warnings"]) == (True, [], [])
    assert (data["name"], data["roles"]) == ("Alex Morgan", 3)
    kinds = {s["heading"]: s["kind"] for s in data["sections"]}
    assert kinds == {
        "Summary": "read",
        "Skills": "read",
        "Experience": "read",
        "Education": "read",
        "Languages": "read",
        "Preferences": "private",
    }
    shown = CliRunner().invoke(app, ["profile", "check", str(SAMPLE_PROFILE)])
    assert shown.exit_code == 0 and "the layers can use this profile" in shown.output
    assert "claims check" in shown.output  # what reads Experience and Education


def test_other_headings_are_named_unknown_or_misnamed(cli_env: Path):
    mine = cli_env / "mine.md"
    text = SAMPLE_PROFILE.read_text()
    for old, new in (("## Experience", "## Work History"), ("## Languages", "## Open Source")):
        text = text.replace(old, new)
    mine.write_text(text + "\n## Projects\n### Parcel map — side project (2020)\n- A map.\n")
    result = CliRunner().invoke(app, ["profile", "check", str(mine), "--json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["unknown"] == ["Open Source"]
    kinds = {s["heading"]: s["kind"] for s in data["sections"]}
    assert (kinds["Work History"], kinds["Projects"]) == ("misnamed", "copied")
    assert data["errors"] == [
        "heading '## Work History' is not read as Experience: rename it '## Experience'",
        "'### Parcel map — side project (2020)' is under '## Projects': only ### entries under "
        "'## Experience' are read (as roles); make them bullets ('- ...')",
    ]
    assert any("'## Open Source'" in w for w in data["warnings"])
    shown = CliRunner().invoke(app, ["profile", "check", str(mine)])
    assert shown.exit_code == 2
    assert "error: heading '## Work History' is not read as Experience" in shown.output


def test_an_unreadable_profile_is_one_line(cli_env: Path):
    result = CliRunner().invoke(app, ["profile", "check", str(cli_env / "none.md")])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line == (
        f"error: {cli_env / 'none.md'}: cannot read the candidate profile: No such file or "
        "directory"
    )
