"""The explorer (``nssisim explore``): its numbers against direct simulator calls, its errors, and
the page in a real headless browser (Debian's Chromium driven by Selenium through the system
chromedriver; ``make browser`` installs both, ``.ci/run`` calls it before the tests).

The browser test is skipped, with the reason, only where Chromium, chromedriver or Selenium is
missing; CI has all three. It saves a screenshot into its temporary folder, and also to the path in
``NSSISIM_EXPLORE_SCREENSHOT`` when that is set (how ``docs/figures/explorer.png`` is made).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.core import load_preset, measure, PARAMS, simulate, simulate_cohort, summary
from nssisim.explore import (check_settings, COHORT, EXPLORE_ENVIRONMENT, EXPLORE_INTERVENTIONS, EXPLORE_TRAITS,
                             ExploreError,
                             ExploreSettings, preset_values, run_explorer)
from nssisim.report import classify_regimes
from nssisim.trials import Arm, build_schedule, INTERVENTIONS, load_intervention
from nssisim.trials.interventions import DAYS_PER_MONTH

runner = CliRunner()
SEED = 7
#: The run the explorer makes, spelled out here so that a change of its settings is seen.
DIRECT = dict(n_subjects=64, horizon_hours=365 * 24.0, dt=1.0, record_every=6, event_capacity=4096,
              start_age_years=12.0)
STATE_CHECKED = ("affect", "urge_intensity", "relief_value", "habit", "tolerance", "harm")


@pytest.fixture(scope="module")
def none_run():
    return run_explorer(ExploreSettings(preset="vulnerable", values=preset_values("vulnerable"), seed=SEED))


def test_run_matches_a_direct_unscheduled_simulation(none_run):
    """Without an intervention the explorer's run (scheduled path, every level 0) equals the plain
    simulator bit for bit, and its person, regimes and cohort shares are the package's measures of it."""
    r = none_run
    params = load_preset("vulnerable")
    direct = simulate_cohort(SEED, params, **DIRECT)
    ds = r["dataset"]
    assert ds.sizes["subject"] == COHORT == 64
    for f in ("acts", "urges", "habit_acts", *STATE_CHECKED):
        np.testing.assert_array_equal(ds[f].values, direct[f].values, err_msg=f)
    m = measure(direct)
    assert r["cohort"]["summary"] == pytest.approx(summary(m), nan_ok=True)
    np.testing.assert_array_equal(r["cohort"]["measures"]["n_acts"].to_numpy(), m["n_acts"].to_numpy())
    regimes = classify_regimes(direct)
    assert r["person_regime"] == regimes[0]
    assert r["cohort"]["regime_counts"] == {k: int((regimes == k).sum()) for k in ("never", "sporadic", "repetitive")}
    assert sum(r["cohort"]["regime_counts"].values()) == 64
    np.testing.assert_allclose(r["cohort"]["acts_per_month"], m["n_acts"].to_numpy() / (365 / DAYS_PER_MONTH))
    # the drawn person is subject 0, also when simulated alone
    alone = simulate(SEED, params, subject_id=0, **{k: v for k, v in DIRECT.items() if k != "n_subjects"})
    for f in STATE_CHECKED:
        np.testing.assert_array_equal(r["person"][f], alone[f].values[0], err_msg=f)
    acts = alone["event_kind"].values == 1
    np.testing.assert_array_equal(np.sort(np.concatenate([r["person"]["acts"]["time_days"]])),
                                  np.sort(alone["event_time"].values[acts] / 24.0))
    assert r["person_measures"]["n_acts"] == int(alone["acts"].values.sum())
    assert r["treatment"] is None and r["warnings"] == []
    assert len(r["person"]["time_days"]) == 365 * 4


def test_intervention_matches_its_own_schedule(none_run):
    """An intervention chosen in the explorer equals a schedule built from that intervention alone
    (the other offered interventions ride along at level 0), and it changes the run."""
    s = ExploreSettings(preset="vulnerable", values=preset_values("vulnerable"), seed=SEED, intervention="dbt_a",
                        treatment_start_month=2, treatment_months=6)
    r = run_explorer(s)
    ids = np.arange(64)
    sched, info = build_schedule([Arm("dbt_a", load_intervention("dbt_a"))], np.zeros(64, int), ids, SEED,
                                 2 * DAYS_PER_MONTH * 24.0, 6 * DAYS_PER_MONTH)
    direct = simulate_cohort(SEED, load_preset("vulnerable"), schedule=sched, **DIRECT)
    for f in ("acts", *STATE_CHECKED):
        np.testing.assert_array_equal(r["dataset"][f].values, direct[f].values, err_msg=f)
    assert r["treatment"]["start_day"] == pytest.approx(2 * DAYS_PER_MONTH)
    assert r["treatment"]["end_day"] == pytest.approx(8 * DAYS_PER_MONTH)
    assert r["treatment"]["adherence"] == pytest.approx(info["adherence"][0])
    assert not np.array_equal(r["dataset"]["relief_value"].values, none_run["dataset"]["relief_value"].values)


def test_widget_values_override_the_preset():
    s = ExploreSettings(preset="typical", values={"limbic_reactivity": 2.5, "maltreatment": 0.7})
    from nssisim.explore import explorer_params

    p = explorer_params(s)
    assert p["limbic_reactivity"] == 2.5 and p["maltreatment"] == 0.7
    assert set(preset_values("clinical")) == set(EXPLORE_TRAITS + EXPLORE_ENVIRONMENT)
    assert preset_values("clinical")["limbic_reactivity"] == load_preset("clinical")["limbic_reactivity"]
    assert preset_values("typical") == {k: PARAMS[k].default for k in EXPLORE_TRAITS + EXPLORE_ENVIRONMENT}
    # the offered interventions are shipped ones, and the traits are the table's person traits
    assert EXPLORE_INTERVENTIONS[0] == "none" and set(EXPLORE_INTERVENTIONS[1:]) <= set(INTERVENTIONS)
    assert all(PARAMS[k].kind == "trait" for k in EXPLORE_TRAITS)


@pytest.mark.parametrize("change, field", [
    (dict(preset="vulnerabel"), "preset"),
    (dict(intervention="dbt_b"), "intervention"),
    (dict(values={"limbic_reactivity": 9.0}), "limbic_reactivity"),
    (dict(values={"lam_urge": 1.0}), "values"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(seed="abc"), "seed"),
    (dict(years=5), "years"),
    (dict(start_age=30), "start_age"),
    (dict(treatment_months=0), "treatment_months"),
])
def test_bad_settings_name_the_field(change, field):
    with pytest.raises(ExploreError, match=rf"^{field}: "):
        check_settings(ExploreSettings(**change))
    with pytest.raises(ExploreError, match=rf"^{field}: "):
        run_explorer(ExploreSettings(**change))


def test_bad_widget_value_is_shown_on_the_page_not_raised():
    pytest.importorskip("bokeh")
    from nssisim.explore.app import Explorer

    ex = Explorer()
    ex.years.value = "7"
    assert ex.update() is None
    assert "error: years: " in ex.status.text and "expected one of 1, 2, 3" in ex.status.text


def test_cli_help_and_refusals():
    r = runner.invoke(app, ["explore", "--help"])
    assert r.exit_code == 0 and "127.0.0.1" in r.output and "--no-browser" in r.output
    assert runner.invoke(app, ["explore", "--port", "70000", "--no-browser"]).exit_code == 2
    from nssisim.cli.explore import EXPLORE_DEFAULT_PORT
    from nssisim.explore.server import DEFAULT_PORT

    assert EXPLORE_DEFAULT_PORT == DEFAULT_PORT
    with socket.socket() as busy:  # a port that is taken: a clear refusal before any compilation
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = runner.invoke(app, ["explore", "--port", str(port), "--no-browser"])
    assert r.exit_code == 1
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in r.output


# ----------------------------------------------------------------------------- the real browser
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Flags Chromium needs on a closed network (no sign-in, updates or background requests) in a container.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1500,1250")
#: Finds elements through the shadow roots of Bokeh's views.
DEEP_JS = """
function deepAll(root, sel, out) {
  root.querySelectorAll(sel).forEach(e => out.push(e));
  root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) deepAll(e.shadowRoot, sel, out); });
  return out;
}
"""


def _browser_missing() -> str | None:
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} is missing (Debian package {pkg}; `make browser` installs it, CI does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra of pyproject.toml)"
    return None


@contextlib.contextmanager
def _explorer_server():
    """``nssisim explore --port 0 --no-browser`` in a subprocess; yields its URL; always stopped."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", "from nssisim.cli import app; app()", "explore", "--port", "0",
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True)
    reader.start()
    seen = []
    t0 = time.perf_counter()
    try:
        url = None
        while url is None and time.perf_counter() - t0 < 180:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if "nssisim explorer at http://127.0.0.1:" in line:
                url = line.split(" at ", 1)[1].split()[0]
        if url is None:
            pytest.fail("the explorer did not start:\n" + "".join(seen))
        yield url, time.perf_counter() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()


def _wait(predicate, timeout: float, what: str):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


@pytest.mark.skipif(_browser_missing() is not None and not os.environ.get("CI"), reason=str(_browser_missing()))
def test_page_in_a_real_browser(tmp_path):
    """The page loads and draws, two widget changes (preset, intervention) update text and figures,
    and the browser's console has no errors. In CI (``CI`` set) a missing browser fails the test."""
    if (missing := _browser_missing()) is not None:
        pytest.fail(f"CI must run the browser test: {missing}")
    with _explorer_server() as (url, startup):
        _check_page(url, startup, tmp_path)


def _check_page(url: str, startup: float, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import Select

    assert url.startswith("http://127.0.0.1:")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    try:
        t0 = time.perf_counter()
        driver.get(url)

        def text(cls):
            els = driver.execute_script(DEEP_JS + f"return deepAll(document, '.{cls}', []);")
            return driver.execute_script("return arguments[0].shadowRoot ? arguments[0].shadowRoot.textContent : "
                                         "arguments[0].textContent;", els[0]) if els else ""

        _wait(lambda: "ready" in text("nssisim-status") and "regime" in text("nssisim-summary"), 60, "the first page")
        first_page = time.perf_counter() - t0
        assert "vulnerable preset" in text("nssisim-summary")

        def canvases():
            data = driver.execute_script(DEEP_JS + "return deepAll(document, 'canvas', []).map(c => c.toDataURL());")
            return hashlib.sha256("".join(data).encode()).hexdigest(), len(data)

        before, n_canvas = canvases()
        assert n_canvas >= 4  # the four figures drew
        blank = driver.execute_script(DEEP_JS + """
            const c = deepAll(document, 'canvas', []).filter(c => c.width > 300)[0];
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let inked = 0; for (let i = 0; i < px.length; i += 4) { if (px[i] < 200 || px[i+1] < 200) inked++; }
            return inked;""")
        assert blank > 1000  # lines and markers, not an empty canvas

        # a real widget change: pick "clinical" in the preset <select>, as a user would
        sel = driver.execute_script(DEEP_JS + "return deepAll(document, '.nssisim-preset', [])[0].shadowRoot"
                                    ".querySelector('select');")
        t1 = time.perf_counter()
        Select(sel).select_by_visible_text("clinical")
        _wait(lambda: "clinical preset" in text("nssisim-summary") and "ready" in text("nssisim-status"), 60,
              "the page to update after the preset change")
        update = time.perf_counter() - t1
        after, _ = _wait(lambda: (c := canvases())[0] != before and c, 10, "the figures to redraw")
        assert after != before
        # the trait sliders took the clinical preset's values (in the browser's own models)
        got = driver.execute_script("return Bokeh.documents[0].get_model_by_name('limbic_reactivity').value;")
        assert got == pytest.approx(preset_values("clinical")["limbic_reactivity"])

        # a second widget: an intervention, whose treatment window the summary then names
        sel = driver.execute_script(DEEP_JS + "return deepAll(document, '.nssisim-intervention', [])[0].shadowRoot"
                                    ".querySelector('select');")
        Select(sel).select_by_visible_text("dbt_a")
        _wait(lambda: "dbt_a from day" in text("nssisim-summary") and "ready" in text("nssisim-status"), 60,
              "the page to update after the intervention change")
        assert driver.execute_script("return Bokeh.documents[0].get_model_by_name('status').text;").startswith("ready")

        shot = tmp_path / "explorer.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("NSSISIM_EXPLORE_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["NSSISIM_EXPLORE_SCREENSHOT"])
        logs = driver.get_log("browser")
        severe = [e for e in logs if e.get("level") == "SEVERE"]
        assert severe == [], severe
        print(f"\nexplorer: server ready {startup:.1f} s, first page {first_page:.1f} s, "
              f"update after a preset change {update:.2f} s (browser round trip)")
    finally:
        driver.quit()
