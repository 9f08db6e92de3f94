"""Speed of the foundation's samplers, printed as a table.

- exact under-reporting sampler: draws per second (single count and 7 strata);
- stratified under-reporting with NUTS (coverage audit) and the two-list model with NUTS:
  cold (fresh PyTensor compile cache, in a subprocess) and warm (same process, second fit)
  wall time, and ESS of N_total per second;
- two-list exact grid sampler: draws per second; ratio NUTS/grid ESS per second in the
  same process.

Run:  python benchmarks/bench_foundation.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

COLD_SNIPPET = r"""
import json, time, sys
t0 = time.perf_counter()
import casualty_models as cm
kind = sys.argv[1]
if kind == "underreport":
    counts = cm.ConfirmedCounts([900, 600, 300, 1200], strata=("a", "b", "c", "d"),
                                audit_found=[180, 0, 40, 0], audit_checked=[200, 0, 60, 0])
    res = cm.UnderReporting(pooling="partial").fit(counts, draws=1000, chains=4,
                                                   random_seed=1)
else:
    res = cm.TwoList(sampler="nuts").fit({"A": 400, "B": 300, "AB": 100}, draws=1000,
                                         chains=4, random_seed=1)
d = res.diagnostics()
print(json.dumps({"total_s": time.perf_counter() - t0, "ess_bulk": d["ess_bulk"],
                  "wall_s": d["wall_time_s"]}))
"""


def cold(kind: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp}")
        out = subprocess.run([sys.executable, "-c", COLD_SNIPPET, kind], env=env,
                             capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the cold subprocess runs")
    args = ap.parse_args()
    import casualty_models as cm

    rows = []
    # exact under-reporting
    model = cm.UnderReporting(coverage=(0.45, 0.65))
    model.fit(45287, draws=100, chains=1, random_seed=0)
    n = 4 * 250_000
    t = time.perf_counter()
    model.fit(45287, draws=n // 4, chains=4, random_seed=1)
    dt = time.perf_counter() - t
    rows.append(("underreport exact, 1 count", f"{n:,} draws", dt, n / dt, "ESS = draws"))
    counts = cm.ConfirmedCounts({f"s{i}": 1000 + 100 * i for i in range(7)})
    t = time.perf_counter()
    cm.UnderReporting(pooling="partial").fit(counts, draws=n // 4, chains=4, random_seed=1)
    dt = time.perf_counter() - t
    rows.append(("underreport exact, 7 strata", f"{n:,} draws", dt, n / dt, "ESS = draws"))

    # stratified NUTS (audit makes the coverage posterior differ from the prior)
    counts = cm.ConfirmedCounts([900, 600, 300, 1200], strata=("a", "b", "c", "d"),
                                audit_found=[180, 0, 40, 0], audit_checked=[200, 0, 60, 0])
    m = cm.UnderReporting(pooling="partial")
    m.fit(counts, draws=100, chains=2, tune=100, random_seed=0)  # warm the compile cache
    t = time.perf_counter()
    r = m.fit(counts, draws=1000, chains=4, random_seed=1)
    dt = time.perf_counter() - t
    ess = r.diagnostics()["ess_bulk"]
    rows.append(("underreport NUTS 4 strata, warm", "4x1000", dt, ess / dt, f"ESS {ess:.0f}"))
    if not args.quick:
        c = cold("underreport")
        rows.append(("underreport NUTS 4 strata, cold", "4x1000", c["total_s"],
                     c["ess_bulk"] / c["total_s"], f"ESS {c['ess_bulk']:.0f}, incl. import+compile"))

    # two lists: grid vs NUTS
    ref = {"A": 400, "B": 300, "AB": 100}
    cm.TwoList().fit(ref, draws=10, chains=1, random_seed=0)
    t = time.perf_counter()
    cm.TwoList().fit(ref, draws=n // 4, chains=4, random_seed=1)
    dt_grid = time.perf_counter() - t
    rows.append(("two-list grid (exact)", f"{n:,} draws", dt_grid, n / dt_grid, "ESS = draws"))
    tl = cm.TwoList(sampler="nuts")
    tl.fit(ref, draws=100, chains=2, tune=100, random_seed=0)
    t = time.perf_counter()
    r = tl.fit(ref, draws=1000, chains=4, random_seed=1)
    dt = time.perf_counter() - t
    ess = r.diagnostics()["ess_bulk"]
    rows.append(("two-list NUTS, warm", "4x1000", dt, ess / dt, f"ESS {ess:.0f}"))
    if not args.quick:
        c = cold("two_list")
        rows.append(("two-list NUTS, cold", "4x1000", c["total_s"],
                     c["ess_bulk"] / c["total_s"], f"ESS {c['ess_bulk']:.0f}, incl. import+compile"))

    print(f"{'what':36s} {'draws':>14s} {'wall s':>9s} {'ESS/s':>13s}  note")
    for name, draws, wall, rate, note in rows:
        print(f"{name:36s} {draws:>14s} {wall:9.2f} {rate:13,.0f}  {note}")
    grid_rate = n / dt_grid
    nuts_rate = rows[-1][3] if args.quick else rows[-2][3]
    print(f"\ntwo-list: exact grid gives {grid_rate / nuts_rate:,.0f}x the ESS of N per second "
          "of warm NUTS (same process)")
    print(f"numpy {np.__version__}; cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
