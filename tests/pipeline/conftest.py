"""Pipeline test fixtures: layer input without a live run (samples are in tests/samples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from applyflow.settings import load_settings
from tasks.run import RunContext
from tests.samples import PROFILE


@pytest.fixture
def input_context(tmp_path: Path) -> RunContext:
    """What ``Layer.build_input`` reads (settings and profile); no store or guard is touched."""
    settings = load_settings(store_url=f"sqlite:///{tmp_path}/unused.db", output_dir=tmp_path)
    return RunContext(
        run_id="test",
        settings=settings,
        store=None,
        guard=None,
        profile=PROFILE,  # type: ignore[arg-type]
    )
