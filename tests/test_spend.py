"""Budget scope states as a user reads them."""

from __future__ import annotations

import pytest

from applyflow.spend import ScopeState, scope_state


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
    assert scope_state(spent, reserved, cap, warn_at=0.8) is ScopeState(state)


def test_the_worst_state_is_the_most_severe() -> None:
    S = ScopeState
    assert S.worst([S.OK, S.EXCEEDED, S.UNLIMITED, S.WARNING]) is S.EXCEEDED
    assert S.worst([S.UNLIMITED, S.OK]) is S.OK
    assert S.worst([S.WARNING, S.CRITICAL]) is S.CRITICAL
    assert S.worst([]) is S.UNLIMITED
