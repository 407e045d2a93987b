"""Regenerate the figures of the docs site (docs/figures/) by running the examples at their documented sizes.

    python tools/docs_figures.py          # with the package importable (make's .venv, or PYTHONPATH=src)

Each figure is the output of one script in examples/, so the site shows exactly what the examples
draw; each screenshot (:data:`SCREENSHOTS`) is taken by a browser test (it needs Debian's Chromium and
chromedriver: `make browser`). The PNGs are then reduced to a 128-colour palette (Pillow, a dependency of matplotlib) so that
each stays under the size committed to the repository (:data:`MAX_BYTES`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
MAX_BYTES = 200_000

#: figure name -> (example script, its arguments); the tutorials quote these commands.
FIGURES = {
    "single_simulation.png": ("single_simulation.py", ["--days", "365", "--preset", "vulnerable", "--seed", "1"]),
    "tiny_trial.png": ("tiny_trial.py", ["--patients", "32", "--replicates", "2", "--days", "60"]),
    "population_age_curve.png": ("population_age_curve.py", ["--subjects", "256"]),
    "regimes_limbic_pfc.png": ("regime_map.py", ["--subjects", "256"]),
    "forecast_transition.png": ("forecast_transition.py", ["--subjects", "16384"]),
}

#: screenshot name -> the test that takes it (it copies its screenshot to $NSSISIM_EXPLORE_SCREENSHOT)
SCREENSHOTS = {
    "explorer.png": "tests/test_explore.py::test_page_in_a_real_browser",
}


def shrink(path: Path, colors: int = 128) -> int:
    """Rewrite a PNG with an adaptive palette of ``colors`` colours; returns its new size in bytes."""
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small.save(path, format="PNG", optimize=True)
    return path.stat().st_size


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (script, args) in FIGURES.items():
        path = OUT / name
        subprocess.run([sys.executable, str(ROOT / "examples" / script), *args, "--out", str(path)], check=True)
        size = shrink(path)
        print(f"{path.relative_to(ROOT)}: {size / 1000:.0f} kB")
        if size > MAX_BYTES:
            raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}: reduce the figure before committing it")
    for name, test in SCREENSHOTS.items():
        path = OUT / name
        env = dict(os.environ, NSSISIM_EXPLORE_SCREENSHOT=str(path))
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / test)], check=True,
                       env=env, cwd=ROOT)
        if not path.is_file():
            raise SystemExit(f"{test} took no screenshot (skipped? it needs Chromium: make browser)")
        size = shrink(path)
        print(f"{path.relative_to(ROOT)}: {size / 1000:.0f} kB")
        if size > MAX_BYTES:
            raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}: reduce the screenshot before committing it")


if __name__ == "__main__":
    main()
