"""The one figure style of the package: palette, rcParams, dpi, a figure on the Agg canvas, and save.

Every figure the package draws (reports, trials, EMA checks, sensitivity) is made with
:func:`figure` inside :func:`style` and written with :func:`save`, so all share one look:
Okabe-Ito colours (readable in grey-scale print and for colour-blind readers), one font size
scale, and PNG at :data:`DPI`. Matplotlib's object interface is used throughout (no pyplot
state, no interactive backend).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 180
#: Okabe-Ito palette, one meaning per colour across all figures.
COLORS = {
    "distress_act": "#D55E00",  # vermillion: distress-triggered (goal-directed) act
    "habit_act": "#CC79A7",  # reddish purple: habit-triggered act
    "resisted": "#8C8C8C",  # grey: urge resisted
    "attempt": "#000000",
    "affect": "#0072B2",
    "threshold": "#000000",
    "urge": "#E69F00",
    "relief_value": "#0072B2",
    "habit": "#CC79A7",
    "tolerance": "#009E73",
    "harm": "#8C8C8C",
    "load": "#D55E00",
    "mood": "#56B4E9",
    "ideation": "#332288",
    # regimes
    "repetitive": "#D55E00",
    "sporadic": "#0072B2",
    "never": "#8C8C8C",
}
STYLE = {
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.7,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "lines.linewidth": 1.1,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.5,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "figure.facecolor": "white",
}


def style():
    """A context in which figures are drawn in the package's style."""
    return mpl.rc_context(STYLE)


def figure(width: float, height: float) -> Figure:
    """A new figure (inches) with constrained layout on the Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG at :data:`DPI` (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": "nssisim"})
    return path


__all__ = ["COLORS", "DPI", "STYLE", "figure", "save", "style"]
