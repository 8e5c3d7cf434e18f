"""Money as the user reads it: one formatter for amounts and caps."""

from __future__ import annotations

from applyflow.money import format_usd


def test_amounts_have_four_places_and_thousands_separators() -> None:
    assert format_usd(0.0038) == "$0.0038"
    assert format_usd(1234.5) == "$1,234.5000"
    assert format_usd(2.5, 2) == "$2.50"
    assert format_usd(None) == "-" and format_usd(None, none="no cap") == "no cap"


def test_caps_show_cents_unless_cents_would_hide_them() -> None:
    assert format_usd(5.0, None) == "$5.00"
    assert format_usd(1500.25, None) == "$1,500.25"
    assert format_usd(0.001, None) == "$0.0010"
    assert format_usd(0.0095, None) == "$0.0095"
