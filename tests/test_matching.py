"""The match key: how boards write the same job differently, and what stays different."""

from __future__ import annotations

import pytest

from applyflow.matching import company_key, location_key, match_key, title_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Nimbus Works", "nimbusworks"),  # an Ashby board name stands for the company
        ("Nimbus Works, Inc.", "NIMBUS WORKS"),
        ("Tulpen Data B.V.", "tulpendata"),
        ("Quill & Compass", "Quill and Compass Ltd"),
        ("Zürich Analytics GmbH", "Zurich Analytics"),
    ],
)
def test_company_forms_match(a: str, b: str) -> None:
    assert company_key(a) == company_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Senior Backend Engineer", "Sr. Backend Engineer"),
        ("Senior Backend Engineer", "Backend Engineer, Senior"),
        ("Senior Backend Engineer", "backend engineer (SNR)"),
        ("Senior Backend Engineer", "Senior Backend Engineer (m/w/d)"),
        ("Senior Backend Engineer", "Senior Backend Engineer (Remote)"),
        ("Data Engineer II", "Data Engineer ii"),
        ("Jr. Data Analyst", "Junior Data-Analyst"),
        ("Lead Engineer – Payments", "Lead Engineer: Payments"),
    ],
)
def test_title_forms_match(a: str, b: str) -> None:
    assert title_key(a) == title_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Senior Backend Engineer", "Junior Backend Engineer"),  # seniority is kept, not dropped
        ("Backend Engineer", "Senior Backend Engineer"),
        ("Data Engineer II", "Data Engineer III"),
        ("Backend Engineer", "Frontend Engineer"),
    ],
)
def test_different_titles_stay_different(a: str, b: str) -> None:
    assert title_key(a) != title_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("New York, NY", "NYC"),
        ("New York City, New York, United States", "New York"),
        ("München, Bavaria", "Munich, Germany"),
        ("Berlin, Germany; Remote (EU)", "Berlin"),  # the first location is the main office
        ("Berlin (HQ)", "berlin"),
        ("Remote - Europe", "Remote (US)"),
        ("Lisboa", "Lisbon, Portugal"),
        ("San Francisco Bay Area", "SF"),
        ("Washington, D.C.", "Washington DC"),
    ],
)
def test_city_forms_match(a: str, b: str) -> None:
    assert location_key(a) == location_key(b)


def test_different_cities_and_no_location_stay_different() -> None:
    assert location_key("Berlin, Germany") != location_key("Hamburg, Germany")
    assert location_key(None) == location_key("") == ""
    assert location_key("Berlin") != location_key(None)


def test_the_key_joins_all_three() -> None:
    key = match_key("Nimbus Works, Inc.", "Sr. Backend Engineer (m/f/d)", "München, DE")
    assert key == "nimbusworks|senior backend engineer|munich"
    assert match_key("Nimbus Works", "Senior Backend Engineer", "Munich") == key
    assert match_key("Other Co", "Senior Backend Engineer", "Munich") != key
