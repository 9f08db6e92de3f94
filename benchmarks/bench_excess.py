"""Benchmark of the excess-mortality models against the targets of issue 10.

Prints each target beside the measured figure, with the load averages (the
machine is shared; timings under load are inflated):

- classic excess for all 85 federal subjects: < 1 s (the table already read;
  reading it is reported separately);
- Bayesian national fit (7 age groups x 2 sexes, 2015-2023; 4 chains x 1,000
  draws after 1,000 tuning steps; compile included): < 30 s on 2 cores, measured
  as the wall time of a fresh Python process (interpreter, imports, reading the
  data, compiling or loading the Numba log density, sampling), twice: first with
  an empty Numba cache directory (everything compiled), then re-using it;
- Bayesian fit of all 85 subjects in one model: < 5 min (``--skip-regions`` to
  leave it out);
- and the calibration in simulation at full size (``--calibration``, or
  ``--calibration-only``): 100 tables per scenario, coverage of 50% and 95%
  intervals printed.

Run:  python benchmarks/bench_excess.py [--draws 1000 --chains 4] [--skip-regions]
      [--calibration]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from casualty_models.datasets import load_death_table
from casualty_models.models.excess import classic_excess
from casualty_models.models.excess_bayes import (
    ExcessBayes,
    excess_summary,
    simulate_excess_tables,
)
from casualty_models.models.registry import multiplier_draws, simulate_registry


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"


def row(what: str, target: str, measured: str, extra: str = "") -> None:
    print(f"{what:<48} target {target:<10} measured {measured:<12} {extra}  [{load()}]",
          flush=True)


def coverage(draws: np.ndarray, truth: np.ndarray, level: float) -> float:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(((lo <= truth) & (truth <= hi)).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--skip-regions", action="store_true")
    p.add_argument("--calibration", action="store_true")
    p.add_argument("--calibration-only", action="store_true")
    p.add_argument("--national-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.national_child:
        national_child(args)
        return
    if args.calibration_only:
        calibration()
        return

    t = time.perf_counter()
    table = load_death_table()
    row("read and validate rosstat_deaths", "-", f"{time.perf_counter() - t:.2f} s")
    classic_excess(table, regions=table.subjects())  # warm
    t = time.perf_counter()
    res = classic_excess(table, regions=table.subjects())
    row("classic excess, all 85 subjects", "< 1 s", f"{time.perf_counter() - t:.3f} s",
        f"({len(res.regions)} regions x 7 ages x 2 years)")
    nat = classic_excess(table)
    print("classic national:", {y: (round(e), round(s)) for y, (e, s) in nat.by_year().items()})

    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold Numba cache", "warm Numba cache"):
            national = fresh_process_national(args, cache, label)

    if not args.skip_regions:
        t, c = time.perf_counter(), time.process_time()
        br = ExcessBayes().fit(table, regions=table.subjects(), draws=args.draws,
                               chains=args.chains, tune=args.tune, random_seed=1)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        d = br.diagnostics() or {}
        row("Bayesian, all 85 subjects in one model", "< 5 min", f"{wall:.0f} s",
            f"(CPU {cpu:.0f} s)")
        row("", "", "",
            f"r-hat {d.get('r_hat', float('nan')):.3f}, divergences {d.get('divergences')}, "
            f"max r-hat params {d.get('max_r_hat_parameters', float('nan')):.3f}")
        s = excess_summary(br)
        print("Bayesian sum of 85 subjects:", {y: {k: round(v) for k, v in b["excess"].items()}
                                               for y, b in s["years"].items()})
        for y, b in s["years"].items():  # the composition effect (docs/excess.md)
            nat = national[y]["excess"]
            diff = b["excess"]["median"] - nat["median"]
            print(f"  {y}: sum of subjects - national fit = {diff:,.0f} "
                  f"({diff / nat['median']:+.1%}, {diff / nat['sd']:+.2f} national sd)")

    if args.calibration:
        calibration()


def national_child(args: argparse.Namespace) -> None:
    """The national fit in this (fresh) process; one JSON line for the parent."""
    t = time.perf_counter()
    bn = ExcessBayes().fit(load_death_table(), draws=args.draws, chains=args.chains,
                           tune=args.tune, random_seed=1)
    d = bn.diagnostics() or {}
    print(json.dumps({"fit_wall": time.perf_counter() - t, "sampling_wall": bn.attrs["wall_time"],
                      "diagnostics": d, "summary": excess_summary(bn)["years"]}))


def fresh_process_national(args: argparse.Namespace, cache: str,
                           label: str) -> dict[str, Any]:
    """Time the national fit as a user meets it: a new Python process, from start to end."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--national-child", "--draws",
                          str(args.draws), "--chains", str(args.chains), "--tune",
                          str(args.tune)], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    d = r["diagnostics"]
    row(f"Bayesian national, fresh process, {label}", "< 30 s", f"{wall:.1f} s",
        f"(CPU {cpu:.1f} s; fit {r['fit_wall']:.1f} s of which sampling "
        f"{r['sampling_wall']:.1f} s)")
    row("", "", "",
        f"r-hat {d.get('r_hat', float('nan')):.3f}, ESS {d.get('ess_bulk', 0):.0f}, "
        f"divergences {d.get('divergences')}")
    print("Bayesian national:", {y: {k: round(v) for k, v in b["excess"].items()}
                                 for y, b in r["summary"].items()})
    return dict(r["summary"])


def calibration() -> None:
    """Coverage of 95% and 50% intervals over 100 simulated tables per scenario."""
    rng = np.random.default_rng(20261130)
    for label, female, excess, n in (("national-like", 2000.0, 400.0, 100),
                                     ("small region", 40.0, 8.0, 100)):
        arrays, injected = simulate_excess_tables(
            n, female_deaths=female * np.linspace(0.5, 1.5, 7),
            log_ratio=np.linspace(0.8, 1.2, 7), trend=rng.normal(-0.2, 0.1, (n, 1, 7)),
            concentration=2000.0, excess=excess, rng=rng)
        t = time.perf_counter()
        draws, _ = ExcessBayes().fit_replicates(arrays, draws=500, chains=2, tune=500,
                                                random_seed=7)
        total = draws.sum(axis=(3, 4, 5)).reshape(-1, n)
        truth = injected.sum(axis=(1, 2, 3))
        row(f"calibration {label} ({n} tables)", "95% / 50%",
            f"{coverage(total, truth, 0.95):.1%} / {coverage(total, truth, 0.5):.1%}",
            f"{time.perf_counter() - t:.0f} s")
    sim = simulate_registry(100, rng=rng)
    t = time.perf_counter()
    draws, _ = ExcessBayes().fit_replicates(sim["arrays"], draws=500, chains=2, tune=500,
                                            random_seed=3)
    dd, _ = multiplier_draws(draws[:, :, :, 0], sim["matched"], sim["unmatched"], rng)
    total = dd.sum(axis=(3, 4)).reshape(-1, 100)
    truth = sim["D"].sum(axis=1)
    row("calibration registry multiplier (100 tables)", "95% / 50%",
        f"{coverage(total, truth, 0.95):.1%} / {coverage(total, truth, 0.5):.1%}",
        f"{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
