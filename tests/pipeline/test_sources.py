"""File sources: samples, bad rows reported with line/row, hostile bytes, whole-file errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from applyflow.errors import InputError
from tasks.ingest import expand_sources, posting_from_record, read_file
from tests.samples import SAMPLES, sample_postings

GOOD = {"title": "Data Engineer", "company": "Acme", "description": "Build pipelines."}


def test_samples_are_varied_and_all_valid():
    postings = sample_postings()
    assert len(postings) >= 20
    assert len({p.company for p in postings}) >= 12
    assert len({p.title for p in postings}) == len(postings)
    for name in ("postings.json", "postings.jsonl", "postings.csv"):
        assert read_file(SAMPLES / name).rejections == []
    html = next(p for p in postings if p.title == "Staff Platform Engineer")
    assert "<" not in html.description and "trackApply" not in html.description
    assert "- Lead the design of our multi-region Kubernetes platform on AWS" in html.description
    assert len({p.id for p in postings}) == len(postings)


def test_jsonl_bad_lines_are_reported_and_good_lines_land(tmp_path: Path):
    path = tmp_path / "jobs.jsonl"
    lines = [
        json.dumps(GOOD).encode(),
        b"{not json",
        json.dumps({"company": "NoTitle", "description": "x"}).encode(),
        b"",
        json.dumps({**GOOD, "title": ["a", "list"]}).encode(),
        b'{"title": "Caf\xe9", "company": "Latin1", "description": "x"}',
        json.dumps({**GOOD, "title": "Second", "posted_at": "yesterday"}).encode(),
        json.dumps({**GOOD, "title": "Third", "description": "x" * 300_000}).encode(),
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({**GOOD, "title": "Fourth", "id": 42, "createdAt": 1_700_000_000_000}).encode(),
    ]
    path.write_bytes(b"\n".join(lines))
    batch = read_file(path)
    assert [p.title for p in batch.postings] == ["Data Engineer", "Fourth"]
    assert batch.postings[1].external_id == "42"
    assert batch.postings[1].posted_at.year == 2023
    reasons = {r.where: r.reason for r in batch.rejections}
    assert set(reasons) == {"line 2", "line 3", "line 5", "line 6", "line 7", "line 8", "line 9"}
    assert reasons["line 2"].startswith("invalid JSON")
    assert reasons["line 3"] == "missing title"
    assert reasons["line 5"] == "title: expected text, got list"
    assert "not UTF-8" in reasons["line 6"]
    assert "not an ISO date" in reasons["line 7"]
    assert "description" in reasons["line 8"] and "200000" in reasons["line 8"]
    assert len(reasons["line 8"]) < 200  # the huge value is never echoed back
    assert reasons["line 9"] == "expected an object, got list"
    assert all(r.source == "file:jobs.jsonl" for r in batch.rejections)


def test_csv_bad_rows_are_reported_with_their_row(tmp_path: Path):
    path = tmp_path / "jobs.csv"
    path.write_bytes(
        b"title,company,location,description\n"
        b"Analyst,Acme,Porto,Crunch numbers\n"
        b"NoCompany,,Porto,Something\n"
        b"Too,Many,Fields,Here,Extra\n"
        b'"Multi-line",Acme,Lisbon,"First line\nsecond line"\n'
        b"Bad \xff bytes,Acme,Porto,x\n"
        b"<script>alert(1)</script>Dev,Acme,,<p>Hi<script>x()</script></p>\n"
        b"<b></b>,Acme,,only markup in the title\n"
    )
    batch = read_file(path)
    assert [p.title for p in batch.postings] == [
        "Analyst",
        "Multi-line",
        "Dev",
    ]
    assert batch.postings[1].description == "First line\nsecond line"
    assert batch.postings[2].description == "Hi"
    assert {r.where: r.reason for r in batch.rejections} == {
        "row 3": "missing company",
        "row 4": "5 fields but the header has 4",
        "row 6": "not UTF-8 text",
        "row 8": "missing title",
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", b'{"jobs": 3}', "expected a JSON list"),
        ("b.json", b'[{"title": "x",\n  oops]', "b.json:line 2: invalid JSON"),
        ("c.json", b"\x00\x01\x02binary", "binary data"),
        ("d.json", b'["\xff"]', "not UTF-8 text"),
        ("e.csv", b"name_of_thing,company\nx,y\n", "no title column"),
        ("f.csv", b"", "empty CSV file"),
        ("g.xml", b"<jobs/>", "unknown file type"),
    ],
)
def test_unreadable_files_raise_one_clear_error(tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_file(path)
    assert name in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(InputError, match="nope.json: cannot read file"):
        read_file(tmp_path / "nope.json")


def test_json_list_items_are_numbered_and_extra_keys_ignored(tmp_path: Path):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([GOOD, {"$where": "1", "a.b": 2}, {**GOOD, "$set": {"x": 1}}]))
    batch = read_file(path)
    assert len(batch.postings) == 2
    assert [(r.where, r.reason) for r in batch.rejections] == [
        ("item 2", "missing title, company, description")
    ]


def test_fingerprint_prefers_source_and_id_else_company_title_location():
    a = posting_from_record({**GOOD, "id": "7"}, "file:x.json")
    b = posting_from_record({**GOOD, "id": "7", "title": "Renamed"}, "file:x.json")
    c = posting_from_record({**GOOD, "location": "Porto"}, "file:x.json")
    d = posting_from_record({**GOOD, "company": " ACME ", "location": "porto"}, "file:y.csv")
    assert a.id == b.id  # same source + external id: the same job, updated
    assert c.id == d.id  # no id: normalised company + title + location


def test_a_folder_expands_to_its_posting_files():
    expanded = expand_sources([str(SAMPLES), "greenhouse:acme"])
    assert [Path(p).name for p in expanded[:-1]] == [
        "postings.csv",
        "postings.json",
        "postings.jsonl",
    ]
    assert expanded[-1] == "greenhouse:acme"
