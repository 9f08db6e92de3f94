"""Calibration of the fused model in simulation: >= 100 simulations from its priors.

Truths (intensity walk, coverage, chart ratio, delay, age share, dispersion) are drawn
from the priors of ``CALIBRATION_MODEL`` on a monthly layout (23 months, 20 of chart, 4
milestones, two yearly excess totals); every simulation is fitted with one compiled
graph.  Prints, per quantity, the share of simulations whose central 50/90/95% intervals
cover the truth (target: the nominal rate), with the binomial standard error, and the
fits' divergences and r-hat.

Run:  python benchmarks/fusion_calibration.py [--sims 120 --seed 11 --draws 300]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from casualty_models.models.fusion_sim import calibration_study


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sims", type=int, default=120)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--csv", help="write the per-simulation table here")
    args = p.parse_args()
    t0 = time.perf_counter()
    df = calibration_study(args.sims, seed=args.seed, draws=args.draws, tune=args.tune,
                           chains=args.chains)
    wall = time.perf_counter() - t0
    n = df["sim"].nunique()
    print(f"{n} simulations, {args.chains} x {args.draws} draws, {wall:.0f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{'quantity':<14}" + "".join(f"{'cover' + str(m):>16}" for m in (50, 90, 95)))
    for q, sub in df.groupby("quantity", sort=False):
        cells = []
        for m in (50, 90, 95):
            r = sub[f"cover{m}"].mean()
            cells.append(f"{r:6.2f} (+-{np.sqrt(m / 100 * (1 - m / 100) / n):.2f})")
        print(f"{q:<14}" + "".join(f"{c:>16}" for c in cells) + "   target 0.50/0.90/0.95")
    fits = df.groupby("sim")[["divergences", "max_r_hat"]].first()
    print(f"fits with divergences: {(fits['divergences'] > 0).mean():.0%}; max r-hat > 1.05: "
          f"{(fits['max_r_hat'] > 1.05).mean():.0%}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
