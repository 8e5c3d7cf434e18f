"""Budget scope states as a user reads them."""

from __future__ import annotations

import pytest

from applyflow.spend import scope_state


@pytest.mark.parametrize(
    "spent,reserved,cap,state",
    [
        (0.0, 0.0, None, "unlimited"),
        (0.0, 0.0, 10.0, "ok"),
        (7.99, 0.0, 10.0, "ok"),
        (8.0, 0.0, 10.0, "warning"),
        (0.009, 0.0, 0.01, "critical"),  # float 0.8999... must not read as warning
        (8.5, 0.5, 10.0, "critical"),
        (10.0, 0.0, 10.0, "exceeded"),
        (9.0, 1.5, 10.0, "exceeded"),
    ],
)
def test_scope_state_thresholds(
    spent: float, reserved: float, cap: float | None, state: str
) -> None:
    assert scope_state(spent, reserved, cap, warn_at=0.8) == state
