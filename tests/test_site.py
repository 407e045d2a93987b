"""The documentation site's sources, the model card, the citation file and the CLI's pointers to them.

The site itself is built by `make site` (mkdocs build --strict in .venv-docs; CI runs it after
`make test`). These checks need no mkdocs: they keep the pieces the build and the users rely on in
step with the code.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nssisim import __version__
from nssisim._version import CITATION_HINT, MODEL_CARD_NOTE
from nssisim.cli import app
from nssisim.modeldoc import load_references

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
runner = CliRunner()


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


@pytest.fixture(scope="module")
def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def card() -> str:
    return (ROOT / "MODEL_CARD.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ the site's sources
def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists(mkdocs_config):
    nav = _nav_pages(mkdocs_config["nav"])
    assert len(nav) == len(set(nav)), "a page appears twice in the nav"
    missing = [p for p in nav if not (DOCS / p).is_file()]
    assert not missing, f"nav entries without a file under docs/: {missing}"
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                   if not p.relative_to(DOCS).as_posix().startswith("calibration_trials/"))
    assert sorted(set(pages) - set(nav)) == [], "pages under docs/ that the nav leaves out"


def test_api_pages_document_the_public_modules(mkdocs_config):
    for module in ("core", "population", "trials", "ema", "sweeps", "targets"):
        text = (DOCS / "reference" / "api" / f"{module}.md").read_text(encoding="utf-8")
        assert f"::: nssisim.{module}" in text, module
    plugin = next(p["mkdocstrings"] for p in mkdocs_config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    handler = plugin["handlers"]["python"]
    assert handler["paths"] == ["src"] and handler["options"]["allow_inspection"] is False  # griffe reads the source


def test_docs_extra_pins_the_site_tools():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    docs = {re.split(r"[\[<>=]", r, maxsplit=1)[0]: r for r in extras["docs"]}
    for name in ("mkdocs", "mkdocs-material", "mkdocstrings"):
        assert name in docs, f"the docs extra lacks {name}"
        assert ">=" in docs[name] and "<" in docs[name], f"{docs[name]}: pin a range"


def test_ci_builds_the_site_after_the_tests():
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in text and "make site" in text
    assert text.index("make test") < text.index("make site")


def test_figures_are_made_by_the_examples_and_small():
    figs = _load(ROOT / "tools" / "docs_figures.py", "docs_figures")
    on_disk = sorted(p.name for p in (DOCS / "figures").glob("*.png"))
    assert on_disk == sorted([*figs.FIGURES, *figs.SCREENSHOTS]), "docs/figures/ and tools/docs_figures.py disagree"
    for name, (script, _) in figs.FIGURES.items():
        assert (ROOT / "examples" / script).is_file(), script
        assert (DOCS / "figures" / name).stat().st_size <= figs.MAX_BYTES, name
    for name, test in figs.SCREENSHOTS.items():  # taken by a browser test
        path, func = test.split("::")
        assert f"def {func}(" in (ROOT / path).read_text(encoding="utf-8"), test
        assert (DOCS / "figures" / name).stat().st_size <= figs.MAX_BYTES, name


# ------------------------------------------------------------------------------ the model card
REQUIRED_SECTIONS = ("Model details", "Intended use", "Out of scope", "Evidence behind each mechanism",
                     "Calibration, and the known misses", "Validation that exists",
                     "Data: EMA data of minors stay on your machine", "How to cite")


def test_model_card_has_the_required_sections(card):
    headings = re.findall(r"^## (.+)$", card, flags=re.M)
    for section in REQUIRED_SECTIONS:
        assert any(h.startswith(section) for h in headings), f"MODEL_CARD.md lacks the section '{section}'"
    for phrase in ("individual risk prediction", "clinical decisions", "Screening", "crisis service",
                   "eighth joint calibration", "No parameter ensemble", "not shipped", "P1, P3-P7, P9-P12 and P14 hold",
                   "P2 does not hold", "P13 does not hold", "--stability",
                   "No network I/O"):
        assert phrase.lower() in " ".join(card.split()).lower(), phrase


def test_model_card_rates_every_mechanism(card):
    from nssisim.core import MECHANISMS

    table = card.split("## Evidence behind each mechanism", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (M\d+) [^\n]*$", table, flags=re.M)}
    assert sorted(rows) == sorted(MECHANISMS), "one evidence row per mechanism M1-M13"
    for m, row in rows.items():
        assert re.search(r"\*\*(supported|limited|mixed|assumed)\*\*", row), f"{m}: no strength given"


def test_model_card_cites_only_known_references(card):
    keys = set(re.findall(r"\b[A-Z][A-Za-z]*\d{4}[A-Za-z]*\b", card))
    assert keys, "the card names no evidence keys"
    unknown = sorted(keys - set(load_references()))
    assert unknown == [], f"evidence keys in MODEL_CARD.md missing from references.toml: {unknown}"


def test_model_card_links_resolve_on_github_and_on_the_site(card):
    hooks = _load(ROOT / "tools" / "docs_hooks.py", "docs_hooks")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", card)
    assert links, "the card links no pages"
    for link in links:
        assert not link.startswith(("http:", "https:")) and (ROOT / link).is_file(), link
    site = hooks.site_markdown(card)
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", site):
        assert (DOCS / link).is_file(), f"on the site the card links {link}, which is not under docs/"
    placeholder = (DOCS / hooks.PAGE).read_text(encoding="utf-8")
    assert "MODEL_CARD.md" in placeholder  # the site page is filled from the root file, not a copy


# ------------------------------------------------------------------------------ the citation
def test_citation_file_is_valid_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), f"CITATION.cff lacks {key}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == __version__
    review = load_references()["ChenZhuo2026"]
    refs = [r for r in cff["references"] if r.get("doi") == review["doi"]]
    assert len(refs) == 1, "the review is not a reference of CITATION.cff"
    ref = refs[0]
    assert ref["type"] == "article" and " ".join(ref["title"].split()) == review["title"] and ref["year"] == review["year"]
    assert [a["family-names"] for a in ref["authors"]] == ["Chen", "Zhuo"]


# ------------------------------------------------------------------------------ pointers from the CLI and README
def test_version_prints_the_citation_hint():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert lines == [f"nssisim {__version__}", CITATION_HINT]
    assert "CITATION.cff" in CITATION_HINT and load_references()["ChenZhuo2026"]["doi"] in CITATION_HINT


def test_help_points_to_the_model_card():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "MODEL_CARD.md" in res.output


def test_demo_and_its_report_point_to_the_model_card(tmp_path):
    out = tmp_path / "report"
    res = runner.invoke(app, ["demo", "--fast", "--no-targets", "--no-trial", "--subjects", "8", "--days", "10",
                              "--population-subjects", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == MODEL_CARD_NOTE
    assert MODEL_CARD_NOTE in (out / "summary.md").read_text(encoding="utf-8")


def test_readme_links_the_docs_the_card_and_the_citation():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("(MODEL_CARD.md)", "(CITATION.cff)", "make site"):
        assert target in readme, target
    # the landing commands stay as they are
    assert "make demo    #" in readme and "make test    #" in readme
