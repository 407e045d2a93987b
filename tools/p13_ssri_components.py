"""P13's SSRI clause taken apart: NSSI a month by month of treatment (and months 7-9), SSRI vs placebo,
with the SSRI's two components alone, on the patients of P12/P13 (nssisim.targets.TRIAL_TARGET_DESIGN).

Run from the repository root: ``python tools/p13_ssri_components.py`` (about 75 s on 2 cores); the record
of 2026-12-01 is docs/calibration_trials/p13_ssri_components_2026-12-01.txt. A research instrument.
"""

import time

from nssisim import targets as T

WINDOWS = [{"name": f"month_{k + 1}", "start_day": 30 * k, "end_day": 30 * (k + 1)} for k in range(6)]
WINDOWS.append({"name": "months_7_9", "start_day": 180, "end_day": 270})
ARMS = {"ssri": {"intervention": "ssri"},
        "activation_only": {"intervention": "ssri", "components": ["early_activation"]},
        "antidepressant_only": {"intervention": "ssri", "components": ["antidepressant"]},
        "placebo": {"intervention": "placebo"}}

if __name__ == "__main__":
    t0 = time.perf_counter()
    names, res = T._trial(ARMS, "placebo", (), windows=WINDOWS)
    x = res["all"]["nssi_per_month"]  # arm x patient x window
    placebo = x[names.index("placebo")].mean(axis=0)
    print("NSSI acts a month (mean over patients), then the ratio to placebo; windows: "
          + ", ".join(w["name"] for w in WINDOWS))
    for n in names:
        m = x[names.index(n)].mean(axis=0)
        print(f"{n:20s}", " ".join(f"{v:6.2f}" for v in m), "  ratio:", " ".join(f"{v:5.3f}" for v in m / placebo))
    print(f"{x.shape[1]} patients in every arm; {time.perf_counter() - t0:.0f} s")
