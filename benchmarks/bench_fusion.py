"""Speed of the fused model on the shipped Russian sources (target: < 60 s on 2 cores).

Times the full fit (4 chains x 1,000 draws after 1,000 tuning steps, default NUTS
backend of ``run_nuts``): the first fit, which builds and compiles the graph, and a refit
with the same graph (as the leave-one-source-out refits do); prints the bulk ESS of the
2023 total per second and the load average beside each figure.

Run:  python benchmarks/bench_fusion.py [--draws 1000 --tune 1000 --chains 4]
"""

from __future__ import annotations

import argparse
import os
import time

import arviz_stats as azs

from casualty_models.models.fusion import Fusion
from casualty_models.models.fusion_data import russia_sources

TARGET_S = 60.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    args = p.parse_args()
    t0 = time.perf_counter()
    src = russia_sources()
    load_s = time.perf_counter() - t0
    model = Fusion()
    t0 = time.perf_counter()
    pm_model = model.build_model(src)
    build_s = time.perf_counter() - t0
    print(f"sources loaded in {load_s:.1f} s (classic_excess on Rosstat), graph built in "
          f"{build_s:.1f} s")
    print(f"{'run':<22}{'wall s':>9}{'target s':>10}{'ESS/s 2023':>12}{'div':>5}  load avg")
    for label in ("first fit (compiles)", "refit, same graph"):
        t0 = time.perf_counter()
        res = model.fit(src, draws=args.draws, tune=args.tune, chains=args.chains,
                        random_seed=1, model=pm_model)
        wall = time.perf_counter() - t0
        ess = float(azs.ess(res.posterior["deaths_by_year"].sel(year="2023").astype(float),
                            method="bulk"))
        d = res.diagnostics() or {}
        la = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{label:<22}{wall:>9.1f}{TARGET_S:>10.0f}{ess / wall:>12.1f}"
              f"{d.get('divergences', 0):>5}  {la}")


if __name__ == "__main__":
    main()
