"""Refit of the attempt hazard alone (M13 lam_attempt) after a change of the ideation term, on the shipped
community spec: each candidate value runs the calibration's confirmation cohort (the setup's seed and
confirm_subjects) and reports the two attempt targets and the largest implausibility over every fitted
target, which lam_attempt should leave where the joint calibration put them. A one-parameter grid, not a
joint calibration: the other calibrated values are kept.

Run from the repository root: ``python tools/attempt_refit.py [value ...]`` (about 20 s a value on 2 cores);
the record of 2026-12-03 is docs/calibration_trials/attempt_refit_2026-12-03.txt. ``--write name=value ... --
NOTE`` ships values: it sets them in the community spec and in its calibration record (which says so in
``[method] refit``) and re-measures the record's targets on the confirmation cohort. A research instrument.
"""

import datetime
import re
import sys
import time
from pathlib import Path

import numpy as np

from nssisim.files import atomic_write_text
from nssisim.population import load_population
from nssisim.population.calibration import (_target_record, TARGETS, TARGET_IDS, evaluate, load_record, load_setup,
                                            load_targets, record_path, record_toml)
from nssisim.population.spec import population_path

TODAY = datetime.date.today().isoformat()
GRID = (3.66e-5, 1e-4, 2e-4, 3e-4, 4.5e-4, 7e-4, 1e-3)

def write(values: dict[str, float], note: str) -> None:
    """Ship ``values`` (M13 attempt parameters): the spec's [parameters] lines, the record's parameters, its refit
    note and its targets re-measured on the confirmation cohort."""
    setup = load_setup("community")
    path = Path(str(population_path(setup.population)))
    text = path.read_text()
    for k, v in values.items():
        text, n = re.subn(rf"(?m)^{k} = .*$", f"{k} = {v!r}  # refitted {TODAY}, see calibration_community.toml "
                          "[method] refit", text, count=1)
        if n != 1:  # not in the spec yet: after the lam_attempt line
            text, n = re.subn(r"(?m)^(lam_attempt = .*)$", lambda mm: mm.group(1) + f"\n{k} = {v!r}  # refitted "
                              f"{TODAY}, see calibration_community.toml [method] refit", text, count=1)
        if n != 1:
            raise SystemExit(f"{path}: no line for {k} and no lam_attempt line to put it after")
    atomic_write_text(path, text)
    spec = load_population(setup.population)
    entries = load_targets(setup.targets_file, required=setup.fit)
    record = load_record(setup.population)
    record["parameters"].update(values)
    for k in values:  # a parameter the joint calibration did not fit: its range is the refit's (the note says which)
        record["ranges"].setdefault(k, [float(values[k]), float(values[k]), "linear"])
    record["method"]["refit"] = note
    m, _ = evaluate(spec, {}, setup.method["confirm_subjects"], setup.method["seed"] + 2, setup.course, entries)
    record["targets"] = {t.id: _target_record(t, entries.get(t.id), m, t.id in setup.fit) for t in TARGETS}
    atomic_write_text(Path(str(record_path(setup.population))), record_toml(record))
    print(f"wrote {path} and {record_path(setup.population)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:  # --write name=value [name=value ...] -- note
        args = sys.argv[2:]
        cut = args.index("--") if "--" in args else len(args)
        values = {a.split("=")[0]: float(a.split("=")[1]) for a in args[:cut]}
        write(values, " ".join(args[cut + 1:]) or "refitted by tools/attempt_refit.py")
        raise SystemExit(0)
    grid = [float(v) for v in sys.argv[1:]] or list(GRID)
    setup = load_setup("community")
    spec = load_population(setup.population)
    entries = load_targets(setup.targets_file, required=setup.fit)
    # the confirmation's subjects and seed (the calibration record's confirm_seed: the setup's seed + 2)
    n, seed = setup.method["confirm_subjects"], setup.method["seed"] + 2
    print(f"community spec, {n} subjects, seed {seed}, life course {setup.course.start_age:g}-{setup.course.end_age:g}; "
          f"shipped lam_attempt {spec.parameters['lam_attempt']:.3g}")
    for lam in grid:
        t = time.perf_counter()
        m, imp = evaluate(spec, {"lam_attempt": lam}, n, seed, setup.course, entries)
        fit = {k: v for k, v in imp.items() if k in setup.fit}
        worst = max(fit, key=lambda k: fit[k] if np.isfinite(fit[k]) else -1)
        rest = {k: v for k, v in fit.items() if not k.startswith("attempt_")}
        worst_rest = max(rest, key=lambda k: rest[k] if np.isfinite(rest[k]) else -1)
        att = "; ".join(f"{k} {m[TARGET_IDS[k].measure or k][0]:.4f} (I {imp[k]:.2f})" for k in ("attempt_lifetime", "attempt_12m"))
        print(f"lam_attempt {lam:.3g}: {att}; largest I over the fitted targets {fit[worst]:.2f} ({worst}), over the "
              f"others {rest[worst_rest]:.2f} ({worst_rest}); {time.perf_counter() - t:.0f} s", flush=True)
