"""Scale-out of many fits: a 32-fit grid on 1 and 2 local worker processes, per-fit costs,
and what bigger jobs would take.

1. A 32-fit latent-class grid on the Kosovo table (classes 5, 10, 15, 20 x 8 replicate
   seeds; 2 chains each, run one after the other inside the fit so the pool supplies all
   the parallelism), on a warm pool of 1 and of 2 processes.  Target: 2 workers >= 1.8x
   faster than 1 on 2 cores.  The machine's load average is printed beside the figures: on
   a shared machine other processes take cores away and spoil the ratio, so the per-fit
   CPU costs are printed too.
2. Per-fit costs of the cheap models (exact under-reporting, two-list grid, BMA, MLE) and
   of a NUTS fit (the log-linear Bayes model, standing in for a per-region Bayesian
   baseline), measured in this process.
3. Extrapolation: 85 regions x 2 sexes (170 NUTS fits), 1,000 simulated datasets (two-list
   grid and latent-class fits), on this machine and on a cluster of N cores, as
   n_fits x cost / (cores x efficiency) with the efficiency measured in 1.

Run:  python benchmarks/bench_sensitivity.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

TARGET = 1.8


def _warm(settings, seed):  # type: ignore[no-untyped-def]
    """Import and load the compiled sampler in a worker (a tiny fit), then hold it briefly."""
    from casualty_models.datasets import load_capture_table
    from casualty_models.models.latent_class import LatentClass

    LatentClass(classes=5, parallel=False).fit(load_capture_table("kosovo"), draws=10,
                                                chains=1, burn_in=10, thin=1, random_seed=1)
    time.sleep(1.0)
    return os.getpid()


def grid_on(workers: int, fit: dict, seeds: list[int]):  # type: ignore[no-untyped-def]
    from casualty_models.datasets import load_capture_table
    from casualty_models.models.latent_class import LatentClass
    from casualty_models.parallel import local_executor, map_runs
    from casualty_models.sensitivity import sensitivity

    with local_executor(workers) as pool:
        map_runs(_warm, [{"w": i} for i in range(workers)], [None] * workers, executor=pool)
        t0 = time.perf_counter()
        res = sensitivity(LatentClass(parallel=False), load_capture_table("kosovo"),
                          {"classes": [5, 10, 15, 20], "seed": seeds}, executor=pool,
                          fit_kwargs=fit)
        wall = time.perf_counter() - t0
    return res, wall


def cost(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Median CPU seconds of this process per call (what other processes' load does not
    inflate as much as wall time)."""
    fn()  # warm (imports, compilation caches)
    c = []
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        c.append(time.process_time() - c0)
    return float(np.median(c))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a cheaper fit per run (smoke test)")
    args = p.parse_args(argv)
    fit = ({"draws": 100, "chains": 2, "burn_in": 500, "thin": 5} if args.quick else
           {"draws": 500, "chains": 2, "burn_in": 2000, "thin": 20})
    seeds = list(range(1, 9))
    out: dict = {}
    print(f"cores: {os.cpu_count()}  load average before: {os.getloadavg()}")

    print("\n1. 32 latent-class fits (Kosovo, classes 5/10/15/20 x 8 seeds), warm pools")
    res1, w1 = grid_on(1, fit, seeds)
    load1 = os.getloadavg()
    res2, w2 = grid_on(2, fit, seeds)
    load2 = os.getloadavg()
    same = all((res1.dataset[v] == res2.dataset[v]).all() for v in ("median", "q975", "seed"))
    cpu1 = float(res1.dataset["cpu_time"].sum())
    cpu2 = float(res2.dataset["cpu_time"].sum())
    per_fit = float(np.median(res1.dataset["cpu_time"].values))
    speedup = w1 / w2
    # cores the pool actually obtained: CPU seconds of its fits / wall time
    got1, got2 = cpu1 / w1, cpu2 / w2
    out.update(wall_1=w1, wall_2=w2, speedup=speedup, per_fit_lc=per_fit, identical=same,
               cores_obtained=(got1, got2))
    print(f"   1 worker : {w1:7.1f} s  (load average after: {load1[0]:.2f}, {load1[1]:.2f}, "
          f"{load1[2]:.2f})")
    print(f"   2 workers: {w2:7.1f} s  (load average after: {load2[0]:.2f}, {load2[1]:.2f}, "
          f"{load2[2]:.2f})")
    print(f"   speed-up : {speedup:.2f}x   target >= {TARGET}x   "
          f"{'MET' if speedup >= TARGET else 'NOT MET'}")
    print(f"   identical results on 1 and 2 workers: {same}")
    print(f"   per-fit CPU cost: median {per_fit:.2f} s (min "
          f"{np.min(res1.dataset['cpu_time'].values):.2f}, max "
          f"{np.max(res1.dataset['cpu_time'].values):.2f}); per-fit wall on a worker: median "
          f"{np.median(res1.dataset['wall_time'].values):.2f} s")
    print(f"   cores obtained (CPU s of the fits / wall s): 1 worker {got1:.2f}, "
          f"2 workers {got2:.2f} -> scaling per core obtained "
          f"{speedup * got1 / got2 * 2:.2f}x of 2x")
    print(f"   on an idle machine (one core per worker): 1 worker ~{cpu1:.0f} s, "
          f"2 workers ~{cpu2 / 2:.0f} s, speed-up ~{cpu1 / (cpu2 / 2):.2f}x")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("   NOTE: the load average exceeds the number of cores: other processes share "
              "them, so the speed-up measured here understates what an idle machine gives.")

    print("\n2. Per-fit CPU costs in this process (median of 3, warm)")
    from casualty_models import (
        CaptureTable,
        ConfirmedCounts,
        DecomposableBMA,
        LogLinear,
        TwoList,
        UnderReporting,
    )
    from casualty_models.datasets import load_capture_table

    kosovo = load_capture_table("kosovo")
    two = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    costs = {
        "underreport exact, 1 stratum, 4x4000 draws":
            cost(lambda: UnderReporting().fit(ConfirmedCounts(45287), random_seed=1)),
        "two-list grid, 1x1000 draws":
            cost(lambda: TwoList().fit(two, draws=1000, chains=1, random_seed=1)),
        "BMA Kosovo (61 graphs), 4x1000 draws":
            cost(lambda: DecomposableBMA().fit(kosovo, draws=1000, random_seed=1)),
        "log-linear MLE Kosovo with profile interval":
            cost(lambda: LogLinear(["EXH:ABA"]).fit_mle(kosovo)),
        f"latent class Kosovo ({fit['chains']} chains x "
        f"{fit['burn_in'] + fit['draws'] * fit['thin']:,} its)": per_fit,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        costs["log-linear NUTS Kosovo, 4x1000 draws (warm graph cache)"] = cost(
            lambda: LogLinear(["EXH:ABA"]).fit(kosovo, draws=1000, tune=1000, random_seed=1),
            repeats=1)
    for k, v in costs.items():
        print(f"   {k:<60} {v:8.3f} s")
    out["costs"] = costs

    eff = min(1.0, speedup * got1 / got2)
    print(f"\n3. Extrapolation: n_fits x CPU cost / (cores x efficiency), efficiency {eff:.2f} "
          "(scaling per core obtained, measured in 1)")
    jobs = [("85 regions x 2 sexes, one NUTS fit each", 170,
             costs["log-linear NUTS Kosovo, 4x1000 draws (warm graph cache)"]),
            ("1,000 simulated two-list datasets", 1000, costs["two-list grid, 1x1000 draws"]),
            ("1,000 simulated latent-class datasets", 1000, per_fit)]
    print(f"   {'job':<42} {'1 core':>9} {'2 cores':>9} {'16 cores':>9} {'64 cores':>9}")
    for name, n, c in jobs:
        cells = [n * c / (k * (eff if k > 1 else 1.0)) for k in (1, 2, 16, 64)]
        print(f"   {name:<42} " + " ".join(f"{_fmt(x):>9}" for x in cells))
    print("   (plus a few seconds to start workers; on dask each worker compiles or loads the "
          "PyTensor/Numba caches once)")
    return out


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    main()
