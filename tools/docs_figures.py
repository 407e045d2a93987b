"""Regenerate the figures of the docs site (docs/figures/) by running the examples at their documented sizes.

    python tools/docs_figures.py          # with the package importable (make's .venv, or PYTHONPATH=src)

Each figure is the output of one script in examples/, so the site shows exactly what the examples
draw. The PNGs are then reduced to a 128-colour palette (Pillow, a dependency of matplotlib) so that
each stays under the size committed to the repository (:data:`MAX_BYTES`).
"""

from __future__ import annotations

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


if __name__ == "__main__":
    main()
