"""limits' own storage and strategy tests (limits 5.8.0), run on applyflow's sqlite:/// storage.

Replaces limits' docker-based conftest: there is no server to start or flush, only a SQLite file,
and each test gets a fresh one by running in its own tmp_path (utils.SQLITE_URI is relative).
limits' @pytest.mark.flaky marks (four timing-bound tests) are honoured by the `flaky` plugin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import guards.rate_sqlite  # noqa: F401  (registers the sqlite:/// scheme with limits)


@pytest.fixture(autouse=True)
def _fresh_rate_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
