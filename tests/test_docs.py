"""The generated model documentation and the reference table agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nssisim.modeldoc import DOCS_COMMAND
from nssisim.modeldoc import check_references, load_references, render_model_md
from nssisim.core import PARAMS

ROOT = Path(__file__).resolve().parents[1]
DOI = re.compile(r"^10\.\d{4,9}/\S+$")


@pytest.fixture(scope="module")
def rendered() -> str:
    return render_model_md()


def test_every_evidence_key_resolves():
    missing = check_references()
    assert missing == [], (
        f"evidence keys used in PARAMS / TARGETS / docs sections but missing from "
        f"src/nssisim/data/references.toml: {missing}"
    )


def test_every_parameter_is_documented(rendered):
    absent = [name for name in PARAMS if f"`{name}`" not in rendered]
    assert absent == [], f"parameters missing from the generated docs: {absent}"


def test_committed_docs_are_up_to_date(rendered):
    path = ROOT / "docs" / "model.md"
    assert path.exists(), f"docs/model.md is missing: run `{DOCS_COMMAND}` or `make docs`"
    assert path.read_text(encoding="utf-8") == rendered, (
        f"docs/model.md is out of date with the code (parameters, targets, references or equations): "
        f"run `{DOCS_COMMAND}` or `make docs` and commit the result"
    )


def test_reference_fields_and_dois():
    refs = load_references()
    allowed = {"authors", "year", "title", "journal", "doi", "cited_in", "note"}
    for key, r in refs.items():
        assert isinstance(r, dict), key
        assert {"authors", "year", "cited_in"} <= set(r), f"{key}: authors, year and cited_in are required"
        assert set(r) <= allowed, f"{key}: unknown fields {set(r) - allowed}"
        assert isinstance(r["year"], int), f"{key}: year must be an integer"
        if "doi" in r:
            assert DOI.match(r["doi"]), f"{key}: malformed DOI {r['doi']!r}"
