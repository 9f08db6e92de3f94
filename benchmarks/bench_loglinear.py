"""Speed of the log-linear models, printed as a table.

- all-models table: 6,893 hierarchical models of 5 lists (Madigan-York; Rcapture's
  closedpMS.t takes 20-26 s) and 113 models of 4 lists (Kosovo);
- a single maximum-likelihood fit (Kosovo BIC-best model) with and without its profile
  interval, and the stratified Gaza fit (6 governorates) with the profile of the total;
- the Bayesian fit (Kosovo BIC-best model, 4 chains x 1,000 draws, 1,000 tuning steps):
  cold (fresh PyTensor compile cache, in a subprocess) and warm (same process, second fit)
  wall time, ESS of N_total and ESS per second.

Run:  python benchmarks/bench_loglinear.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

KOSOVO_BEST = ["EXH:ABA:OSCE", "EXH:HRW", "OSCE:HRW"]

COLD_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from casualty_models.datasets import load_capture_table
from casualty_models.models.loglinear import LogLinear
draws = int(sys.argv[1])
res = LogLinear(["EXH:ABA:OSCE", "EXH:HRW", "OSCE:HRW"]).fit(
    load_capture_table("kosovo"), draws=draws, chains=4, random_seed=1)
d = res.diagnostics()
print(json.dumps({"total_s": time.perf_counter() - t0, "ess_bulk": d["ess_bulk"],
                  "wall_s": d["wall_time_s"]}))
"""


def timeit(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> list[tuple[str, str]]:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="fewer repeats, 300 draws")
    args = p.parse_args(argv)
    from casualty_models.datasets import load_capture_table
    from casualty_models.models.loglinear import LogLinear, all_models

    rep = 1 if args.quick else 3
    draws = 300 if args.quick else 1000
    rows: list[tuple[str, str]] = []
    my = load_capture_table("madigan_york")
    ko = load_capture_table("kosovo")
    t, tab = timeit(lambda: all_models(my), rep)
    rows.append((f"all models, 5 lists ({len(tab):,} models, Madigan-York)",
                 f"{t:.2f} s (Rcapture 20-26 s)"))
    t, tab = timeit(lambda: all_models(ko), rep)
    rows.append((f"all models, 4 lists ({len(tab)} models, Kosovo)", f"{1000 * t:.0f} ms"))
    m = LogLinear(KOSOVO_BEST)
    t, _ = timeit(lambda: m.fit_mle(ko, interval=False), 5)
    rows.append(("single MLE fit, Kosovo BIC-best (no interval)", f"{1000 * t:.1f} ms"))
    t, _ = timeit(lambda: m.fit_mle(ko), rep)
    rows.append(("single MLE fit + profile interval", f"{1000 * t:.0f} ms (Rcapture ~20 ms)"))
    gov = load_capture_table("gaza", stratum="gov")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, _ = timeit(lambda: LogLinear(["hospital:survey", "hospital:social_media",
                                         "survey:social_media"]).fit_mle(gov), rep)
    rows.append(("Gaza by governorate (6 strata) + profile of the total", f"{t:.2f} s"))

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp}")
        out = subprocess.run([sys.executable, "-c", COLD_SNIPPET, str(draws)], env=env,
                             capture_output=True, text=True, check=True).stdout
    cold = json.loads(out.strip().splitlines()[-1])
    rows.append((f"Bayes cold (fresh compile cache, 4 x {draws} draws), end to end",
                 f"{cold['total_s']:.1f} s (sampling call {cold['wall_s']:.1f} s)"))
    m.fit(ko, draws=draws, chains=4, random_seed=1)  # warm the cache in this process
    t0 = time.perf_counter()
    res = m.fit(ko, draws=draws, chains=4, random_seed=2)
    warm = time.perf_counter() - t0
    d = res.diagnostics()
    rows.append((f"Bayes warm (4 x {draws} draws)", f"{warm:.1f} s"))
    rows.append(("ESS of N_total (bulk), r-hat",
                 f"{d['ess_bulk']:,.0f}, {d['r_hat']:.3f}, divergences {d['divergences']}"))
    rows.append(("ESS of N_total per second (warm, end to end)", f"{d['ess_bulk'] / warm:,.0f}"))
    width = max(len(a) for a, _ in rows)
    print(f"{'benchmark':<{width}}  result")
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    return rows


if __name__ == "__main__":
    main()
