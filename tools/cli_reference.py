"""Rewrite the generated command table of docs/reference/cli.md from the Typer app.

Run from the repository root: ``python tools/cli_reference.py`` (tests/test_cli_conventions.py checks the page).
"""

from pathlib import Path

from nssisim.cli import app
from nssisim.cli.conventions import write_page

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"

if __name__ == "__main__":
    print(f"{PAGE}: {'rewritten' if write_page(app, PAGE) else 'up to date'}")
