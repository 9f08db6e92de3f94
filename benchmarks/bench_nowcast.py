"""Benchmark of the HUS O104 nowcast: fit time, ESS per second, and scores.

Prints three tables:

1. fit time (first fit, which builds and compiles the graph, and a refit with the same
   graph) and bulk ESS per second of the eventual counts of the 10 scored days;
   surveillance's bayes.trunc takes 0.14 s (100 samples) to 1.3 s (1,000) on this
   machine class;
2. the 10-day comparison with surveillance at 2011-06-10 (coverage, width, CRPS, error);
3. scores at several analysis dates across the outbreak (one graph re-used).

Run:  python benchmarks/bench_nowcast.py [--draws 1000 --chains 4 --dates 6]
"""

from __future__ import annotations

import argparse
import time

import arviz_stats as azs
import numpy as np
import pandas as pd

from casualty_models import Nowcast, ReportingTriangle
from casualty_models.datasets import load
from casualty_models.models.nowcast_eval import backtest, score_nowcast

DAYS = [str(d.date()) for d in pd.date_range("2011-05-29", "2011-06-07")]
EVENTUAL = [19, 26, 17, 16, 6, 11, 4, 6, 9, 4]
SURVEILLANCE_MEDIAN = [21, 29, 21, 22, 10, 20, 9, 12, 24, 14]


def _load() -> str:
    import os

    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--dates", type=int, default=6, help="analysis dates in the backtest")
    p.add_argument("--bt-draws", type=int, default=500)
    args = p.parse_args()
    df = load("hus_o104")
    tri = ReportingTriangle.from_line_list(df, event_date="hospitalisation_date",
                                           report_date="report_date", now="2011-06-10",
                                           max_delay=15)
    model = Nowcast()
    rows = []
    t0 = time.perf_counter()
    pm_model = model.build_model(tri)
    build = time.perf_counter() - t0
    res = None
    runs = [("first fit (compiles)", args.chains, args.draws, args.tune),
            ("refit, same graph", args.chains, args.draws, args.tune),
            # surveillance's 1,000 samples: the draws the issue-13 target compares
            ("refit, 2 x 500 (1,000 draws)", 2, 500, 500)]
    for label, chains, draws, tune in runs:
        t0 = time.perf_counter()
        res = model.fit(tri, draws=draws, tune=tune, chains=chains, random_seed=1,
                        model=pm_model)
        total = time.perf_counter() - t0
        ev = res.posterior["eventual"].sel(period=DAYS).isel(stratum=0)
        ess = azs.ess(ev.astype(float), method="bulk").values
        d = res.diagnostics() or {}
        rows.append({"run": label, "draws": f"{chains} x {draws}",
                     "wall_s": total, "min_ess_bulk": float(np.nanmin(ess)),
                     "min_ess_per_s": float(np.nanmin(ess)) / total,
                     "r_hat": d.get("r_hat"), "divergences": d.get("divergences")})
    print(f"graph build: {build:.1f} s")
    print("1. fit time and ESS per second (eventual counts of the 10 scored days)")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("   surveillance bayes.trunc: 0.14 s for 100 samples, 1.3 s for 1,000 (R, one core)")
    print(f"   target (issue 13): 1,000 draws <= 3.4 s (2 x surveillance's 1.7 s); measured "
          f"{rows[-1]['wall_s']:.1f} s; before (main, PyMC NUTS): 98 s; {_load()}")

    # the scores below are of the main fit (--chains x --draws)
    res = model.fit(tri, draws=args.draws, tune=args.tune, chains=args.chains, random_seed=1,
                    model=pm_model)
    assert res is not None
    sc = score_nowcast(res, dict(zip(DAYS, EVENTUAL, strict=True)))
    side = pd.DataFrame({
        "casualty_models": [int(sc["covered"].sum()), sc["width"].mean(), sc["abs_error"].mean(),
                            sc["crps"].mean(), sc["log_score"].mean()],
        "surveillance": [10, np.nan,
                         float(np.abs(np.subtract(SURVEILLANCE_MEDIAN, EVENTUAL)).mean()),
                         np.nan, np.nan],
    }, index=["covered (of 10)", "mean 95% width", "mean |median - truth|", "mean CRPS",
              "mean log score"])
    print("\n2. HUS at 2011-06-10, 29 May - 7 Jun (surveillance: widest interval [4, 39])")
    print(sc[["truth", "median", "q025", "q975", "crps"]].assign(
        surveillance_median=SURVEILLANCE_MEDIAN).to_string())
    print(side.round(2).to_string())
    print(f"   target: 10/10 covered, mean width <= 22; measured {int(sc['covered'].sum())}/10, "
          f"{sc['width'].mean():.1f}")

    if args.dates:
        nows = pd.date_range("2011-05-28", "2011-06-20", periods=args.dates).normalize()
        bt = backtest(df, event_date="hospitalisation_date", report_date="report_date",
                      nows=nows, max_delay=15, window=35, draws=args.bt_draws,
                      tune=args.bt_draws, chains=2, random_seed=1)
        per = bt.groupby("now").agg(covered=("covered", "mean"), width=("width", "mean"),
                                    abs_error=("abs_error", "mean"), crps=("crps", "mean"),
                                    wall_s=("wall_time", "first"))
        print(f"\n3. backtest: {args.dates} analysis dates, days 3-12 before each, window "
              f"35 days, {2} x {args.bt_draws} draws")
        print(per.round(2).to_string())
        print(f"overall coverage {bt['covered'].mean():.3f} of {len(bt)} intervals, mean width "
              f"{bt['width'].mean():.1f}, mean CRPS {bt['crps'].mean():.2f}")
        print(f"   target: >= 58/60 covered; measured {int(bt['covered'].sum())}/{len(bt)}; "
              f"{_load()}")


if __name__ == "__main__":
    main()
