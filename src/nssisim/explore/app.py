"""The explorer's page: a Bokeh document of widgets and figures.

:func:`make_document` builds one browser session's page. Every number on it comes from
:func:`nssisim.explore.compute.run_explorer`; this module only copies those numbers into Bokeh
data sources and text. Widget names (``name=``) and CSS classes (``nssisim-<name>``) let tests
and scripts find each widget. A change of a widget first shows "updating ..." and then runs the
simulation in the next tick of the server's loop, so the page says what it is doing; requests that
arrive while one is pending are merged into one update. The colours are those of the package's
figure style (:data:`nssisim.plotting.COLORS`).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (BoxAnnotation, ColumnDataSource, Div, FactorRange, Range1d, Select, Slider, Spinner)
from bokeh.plotting import figure

from ..core.parameters import PARAMS
from ..core.presets import PRESETS
from ..plotting import COLORS
from .compute import (EXPLORE_ENVIRONMENT, EXPLORE_INTERVENTIONS, EXPLORE_TRAITS, EXPLORE_YEARS, ExploreError,
                      ExploreSettings, preset_values, run_explorer, SEED_MAX, START_AGE_RANGE, TREATMENT_MONTHS_RANGE,
                      TREATMENT_START_RANGE)

#: The settings a new page opens with.
DEFAULT_SETTINGS = ExploreSettings(preset="vulnerable", values=preset_values("vulnerable"))
REGIME_BARS = ("never", "sporadic", "repetitive", "addictive")
NOTE = ("A research instrument, not a clinical tool: it gives no advice, and injury severity is an abstract number. "
        "The presets show directions of risk, not real people.")
_FIG = {"sizing_mode": "stretch_width", "toolbar_location": "right", "tools": "pan,box_zoom,wheel_zoom,reset,save"}


def _label(name: str) -> str:
    p = PARAMS[name]
    return f"{name.replace('_', ' ')} [{p.low:g}, {p.high:g}]"


def _step(name: str) -> float:
    p = PARAMS[name]
    return float(f"{(p.high - p.low) / 100:.2g}")


def _slider(name: str, value: float) -> Slider:
    p = PARAMS[name]
    return Slider(title=_label(name), start=p.low, end=p.high, value=value, step=_step(name), name=name,
                  css_classes=[f"nssisim-{name}"], sizing_mode="stretch_width")


def _fmt(x: Any, pct: bool = False) -> str:
    x = float(x)
    if math.isnan(x):
        return "n/a"
    return f"{100 * x:.0f} %" if pct else f"{x:.3g}"


def summary_html(r: dict[str, Any]) -> str:
    """The text panel: the settings, the person's regime and measures, the cohort's shares."""
    s: ExploreSettings = r["settings"]
    pm, c = r["person_measures"], r["cohort"]
    cs = c["summary"]
    comps = [k.replace("_", " ") for k in ("craving", "tolerance", "loss_of_control", "despite_harm") if pm[k]]
    treat = "no intervention"
    if r["treatment"] is not None:
        t = r["treatment"]
        treat = (f"{html.escape(s.intervention)} from day {t['start_day']:.0f} to {t['end_day']:.0f} "
                 f"(this person's adherence {t['adherence']:.2f})")
    horizon = f"{s.years} year{'s' if s.years > 1 else ''}"
    apm = c["acts_per_month"]
    lines = [
        f"<p class='nssisim-settings'><b>{html.escape(s.preset)}</b> preset, seed {s.seed}, from age {s.start_age:g} "
        f"for {horizon}; {treat}.</p>",
        f"<p><b>This adolescent</b> (subject 0): regime <b class='nssisim-regime'>{r['person_regime']}</b>; "
        f"{int(pm['n_acts'])} acts ({int(pm['n_acts_12m'])} in the past 12 months, on {int(pm['days_12m'])} days); "
        f"addictive-features index {int(pm['addictive_index'])} of 4 ({', '.join(comps) or 'none met'}); "
        f"addictive profile: {'yes' if pm['addictive'] else 'no'}.</p>",
        f"<p><b>Cohort</b> of {len(apm)} with the same settings and their own life events: any act "
        f"{_fmt(cs['lifetime_nssi'], True)}, 5+ acts in the past 12 months {_fmt(cs['five_plus_12m'], True)}, "
        f"criterion A {_fmt(cs['criterion_a'], True)}, addictive profile {_fmt(cs['addictive'], True)}; "
        f"acts per month: median {_fmt(np.median(apm))}, maximum {_fmt(apm.max())}.</p>",
        f"<p class='nssisim-timing'>computed in {r['seconds']:.2f} s</p>",
    ]
    for w in r["warnings"]:
        lines.append(f"<p style='color:#D55E00'>warning: {html.escape(w)}</p>")
    return "\n".join(lines)


def figure_data(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The data of every source on the page, by source name (plain lists and arrays)."""
    p = r["person"]
    acts = p["acts"]
    distress_acts = ~acts["habitual"]
    apm = r["cohort"]["acts_per_month"]
    top = max(1.0, float(np.max(apm)))
    counts, edges = np.histogram(apm, bins=16, range=(0.0, top))
    regimes = dict(r["cohort"]["regime_counts"])
    regimes["addictive"] = int(r["cohort"]["measures"]["addictive"].sum())
    return {
        "states": {"day": p["time_days"], **{k: p[k] for k in ("affect", "urge_intensity", "relief_value", "habit",
                                                                  "tolerance", "harm")}},
        "distress_acts": {"day": acts["time_days"][distress_acts], "distress": acts["distress"][distress_acts]},
        "habit_acts": {"day": acts["time_days"][~distress_acts], "distress": acts["distress"][~distress_acts]},
        "resisted": {"day": p["resisted"]["time_days"], "distress": p["resisted"]["distress"]},
        "attempts": {"day": p["attempts"]["time_days"], "distress": p["attempts"]["distress"]},
        "histogram": {"left": edges[:-1], "right": edges[1:], "count": counts},
        "regimes": {"regime": list(REGIME_BARS), "count": [regimes[k] for k in REGIME_BARS],
                    "color": [COLORS.get(k, COLORS["habit_act"]) for k in REGIME_BARS]},
    }


class Explorer:
    """One page: its widgets, sources and figures, and the update that links them."""

    def __init__(self, settings: ExploreSettings = DEFAULT_SETTINGS) -> None:
        s = settings
        self.preset = Select(title="preset", value=s.preset, options=list(PRESETS), name="preset",
                             css_classes=["nssisim-preset"], sizing_mode="stretch_width")
        self.sliders = {k: _slider(k, float(s.values.get(k, PARAMS[k].default)))
                        for k in EXPLORE_TRAITS + EXPLORE_ENVIRONMENT}
        self.intervention = Select(title="intervention", value=s.intervention, options=list(EXPLORE_INTERVENTIONS),
                                   name="intervention", css_classes=["nssisim-intervention"],
                                   sizing_mode="stretch_width")
        self.treatment_start = Slider(title="treatment starts (month)", start=TREATMENT_START_RANGE[0],
                                      end=TREATMENT_START_RANGE[1], step=1, value=s.treatment_start_month,
                                      name="treatment_start_month", css_classes=["nssisim-treatment_start_month"],
                                      sizing_mode="stretch_width")
        self.treatment_months = Slider(title="treatment length (months)", start=TREATMENT_MONTHS_RANGE[0],
                                       end=TREATMENT_MONTHS_RANGE[1], step=1, value=s.treatment_months,
                                       name="treatment_months", css_classes=["nssisim-treatment_months"],
                                       sizing_mode="stretch_width")
        self.years = Select(title="horizon (years)", value=str(s.years),
                            options=[str(y) for y in EXPLORE_YEARS], name="years", css_classes=["nssisim-years"],
                            sizing_mode="stretch_width")
        self.start_age = Slider(title="start age (years)", start=START_AGE_RANGE[0], end=START_AGE_RANGE[1], step=0.5,
                                value=s.start_age, name="start_age", css_classes=["nssisim-start_age"],
                                sizing_mode="stretch_width")
        self.seed = Spinner(title="seed", low=0, high=SEED_MAX, step=1, value=s.seed, name="seed",
                            css_classes=["nssisim-seed"], sizing_mode="stretch_width")
        self.status = Div(text="starting ...", name="status", css_classes=["nssisim-status"])
        self.summary = Div(text="", name="summary", css_classes=["nssisim-summary"], sizing_mode="stretch_width")
        self.sources = {k: ColumnDataSource(name=f"{k}_source") for k in
                        ("states", "distress_acts", "habit_acts", "resisted", "attempts", "histogram", "regimes")}
        self._pending = False
        self._build_figures()
        for w in (self.preset, self.intervention, self.years):
            w.on_change("value", self._request)
        self.preset.on_change("value", self._preset_changed)
        # sliders update when released (value_throttled), not at every pixel of a drag
        for w in (*self.sliders.values(), self.treatment_start, self.treatment_months, self.start_age):
            w.on_change("value_throttled", self._request)
        self.seed.on_change("value", self._request)

    # ------------------------------------------------------------------ layout
    def _build_figures(self) -> None:
        src = self.sources
        person = figure(title="One adolescent: affect and urge intensity (6-hourly), acts and resisted urges",
                        height=260, x_axis_label="day of the run", y_axis_label="level", y_range=Range1d(-0.02, 1.3),
                        name="person_figure", **_FIG)
        person.line("day", "affect", source=src["states"], color=COLORS["affect"], legend_label="affect (distress)")
        person.line("day", "urge_intensity", source=src["states"], color=COLORS["urge"], alpha=0.8,
                    legend_label="urge intensity")
        person.scatter("day", "distress", source=src["resisted"], marker="circle", size=3, color=COLORS["resisted"],
                       alpha=0.6, legend_label="urge resisted")
        person.scatter("day", "distress", source=src["distress_acts"], marker="triangle", size=8,
                       color=COLORS["distress_act"], legend_label="act (distress-triggered)")
        person.scatter("day", "distress", source=src["habit_acts"], marker="inverted_triangle", size=8,
                       color=COLORS["habit_act"], legend_label="act (habit-triggered)")
        person.scatter("day", "distress", source=src["attempts"], marker="x", size=10, color=COLORS["attempt"],
                       legend_label="suicide attempt")
        self.treatment_box = BoxAnnotation(left=0, right=0, fill_color="#009E73", fill_alpha=0.08, visible=False)
        person.add_layout(self.treatment_box)
        slow = figure(title="Slow learning states", height=200, x_axis_label="day of the run", x_range=person.x_range,
                      y_range=Range1d(-0.02, 1.2), name="slow_figure", **_FIG)
        for k, label in (("relief_value", "relief value"), ("habit", "habit"), ("tolerance", "opioid tolerance"),
                         ("harm", "harm expectancy")):
            slow.line("day", k, source=src["states"], color=COLORS[k], legend_label=label, line_width=1.6)
        self.slow_box = BoxAnnotation(left=0, right=0, fill_color="#009E73", fill_alpha=0.08, visible=False)
        slow.add_layout(self.slow_box)
        for f in (person, slow):
            f.legend.location = "top_left"
            f.legend.orientation = "horizontal"
            f.legend.background_fill_alpha = 0.6
            f.legend.label_text_font_size = "8pt"
            f.legend.click_policy = "hide"
        hist = figure(title="Cohort: acts per month (mean over the run)", height=220, x_axis_label="acts per month",
                      y_axis_label="adolescents", name="histogram_figure", **_FIG)
        hist.quad(left="left", right="right", top="count", bottom=0, source=src["histogram"],
                  fill_color=COLORS["affect"], line_color="white")
        regimes = figure(title="Cohort: regime reached (addictive: repetitive and 3 of 4 features)", height=220,
                         x_range=FactorRange(*REGIME_BARS), y_axis_label="adolescents", name="regime_figure", **_FIG)
        regimes.vbar(x="regime", top="count", width=0.7, color="color", source=src["regimes"])
        regimes.y_range.start = 0
        hist.y_range.start = 0
        controls = column(
            Div(text="<b>Person</b>"), self.preset, *(self.sliders[k] for k in EXPLORE_TRAITS),
            Div(text="<b>Environment</b>"), *(self.sliders[k] for k in EXPLORE_ENVIRONMENT),
            Div(text="<b>Intervention</b>"), self.intervention, self.treatment_start, self.treatment_months,
            Div(text="<b>Run</b>"), self.years, self.start_age, self.seed, self.status,
            width=300)
        views = column(self.summary, person, slow, row(hist, regimes, sizing_mode="stretch_width"),
                       sizing_mode="stretch_width")
        header = Div(text=f"<h2 style='margin:4px 0'>nssisim explorer</h2><p style='margin:0'>{html.escape(NOTE)}</p>",
                     sizing_mode="stretch_width")
        self.layout = column(header, row(controls, views, sizing_mode="stretch_width"), sizing_mode="stretch_width")

    # ------------------------------------------------------------------ state
    def settings(self) -> ExploreSettings:
        """The settings the widgets show now (checked by :func:`run_explorer`)."""
        return ExploreSettings(
            preset=self.preset.value, values={k: w.value for k, w in self.sliders.items()},
            intervention=self.intervention.value, treatment_start_month=self.treatment_start.value,
            treatment_months=self.treatment_months.value, years=_int_or_raw(self.years.value),
            seed=_int_or_raw(self.seed.value), start_age=self.start_age.value)

    def update(self) -> dict[str, Any] | None:
        """Simulate the widgets' settings and redraw; an invalid setting is shown, not raised."""
        self._pending = False
        try:
            r = run_explorer(self.settings())
        except ExploreError as err:
            self.status.text = f"<span style='color:#D55E00'>error: {html.escape(str(err))}</span>"
            return None
        for k, data in figure_data(r).items():
            self.sources[k].data = data
        for box in (self.treatment_box, self.slow_box):
            if r["treatment"] is None:
                box.visible = False
            else:
                box.left, box.right, box.visible = r["treatment"]["start_day"], r["treatment"]["end_day"], True
        self.summary.text = summary_html(r)
        self.status.text = f"ready (updated in {r['seconds']:.2f} s)"
        return r

    # ------------------------------------------------------------------ callbacks
    def _preset_changed(self, attr, old, new) -> None:
        if new in PRESETS:
            for k, v in preset_values(new).items():
                self.sliders[k].value = v

    def _request(self, attr, old, new) -> None:
        if self._pending or self.doc is None:
            return
        self._pending = True
        self.status.text = "updating ..."
        self.doc.add_next_tick_callback(self.update)

    doc = None

    def attach(self, doc) -> None:
        self.doc = doc
        doc.title = "nssisim explorer"
        doc.add_root(self.layout)
        self.update()


def _int_or_raw(v: Any) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if math.isfinite(f) and f == int(f) else v


def make_document(doc) -> Explorer:
    """The Bokeh server's handler: a new page in ``doc``."""
    ex = Explorer()
    ex.attach(doc)
    return ex


__all__ = ["DEFAULT_SETTINGS", "Explorer", "figure_data", "make_document", "summary_html"]
