"""Scale-out of many fits: a 32-fit grid on 1 and 2 local worker processes, per-fit costs,
and what bigger jobs would take.

1. A 32-fit latent-class grid on the Kosovo table (classes 5, 10, 15, 20 x 8 replicate
   seeds; 2 chains of 14,000 tempered iterations each, 4 rungs, about 4 CPU seconds per
   fit; the chains run one after the other inside the fit so the pool supplies all the
   parallelism), on a warm pool of 1 and of 2 processes.
   Targets, printed beside the figures: 2 workers >= 1.8x faster than 1 on 2 cores; each
   fit >= 3 CPU seconds, so that fixed costs (starting a worker, loading the compiled
   kernels) cannot dominate; identical results on 1 and 2 workers.  The fixed start-up
   cost (start the pool, then one warm-up fit per worker: imports, the Numba cache) is
   timed separately and is not in the grid's time.  The machine's load average is printed
   beside the figures: on a shared machine other processes take cores away and spoil the
   ratio, so the per-fit CPU costs and the cores the pool obtained are printed too.
2. Per-fit costs of the cheap models (exact under-reporting, two-list grid, BMA, MLE) and
   of a NUTS fit (the log-linear Bayes model, standing in for a per-region Bayesian
   baseline), measured in this process.
3. Extrapolation: 85 regions x 2 sexes (170 NUTS fits), 1,000 simulated datasets (two-list
   grid and latent-class fits), on this machine and on a cluster of N cores, as
   start-up + n_fits x cost / (cores x efficiency), the efficiency measured in 1.

Run:  python benchmarks/bench_sensitivity.py [--quick]   (--quick: a smoke test, tiny fits)
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

TARGET_SPEEDUP = 1.8
TARGET_FIT_SECONDS = 3.0
WARM_HOLD = 1.0  # seconds each warm-up task holds its worker (so each worker gets one)


def _warm(settings, seed):  # type: ignore[no-untyped-def]
    """Load the library and the compiled sampler in a worker (a tiny fit), then hold the
    worker so the other warm-up task goes to another one.  Returns the seconds it took."""
    t0 = time.perf_counter()
    from casualty_models.datasets import load_capture_table
    from casualty_models.models.latent_class import LatentClass

    LatentClass(classes=5, parallel=False).fit(load_capture_table("kosovo"), draws=10,
                                                chains=1, burn_in=10, thin=1, random_seed=1,
                                                progress=False)
    took = time.perf_counter() - t0
    time.sleep(WARM_HOLD)
    return took


def grid_on(workers: int, fit: dict, seeds: list[int]):  # type: ignore[no-untyped-def]
    """The 32-fit grid on a warm pool of ``workers`` processes.

    Returns the result, the grid's wall time, and the fixed start-up cost: the wall time
    to start the pool and run one warm-up fit per worker (without the hold).
    """
    from casualty_models.datasets import load_capture_table
    from casualty_models.models.latent_class import LatentClass
    from casualty_models.parallel import gather, local_executor, map_runs
    from casualty_models.sensitivity import sensitivity

    t0 = time.perf_counter()
    with local_executor(workers) as pool:
        out, _ = map_runs(_warm, [{"w": i} for i in range(workers)], [None] * workers,
                          executor=pool)
        startup = time.perf_counter() - t0 - WARM_HOLD
        warm_fit = max(gather(out))
        t0 = time.perf_counter()
        res = sensitivity(LatentClass(parallel=False), load_capture_table("kosovo"),
                          {"classes": [5, 10, 15, 20], "seed": seeds}, executor=pool,
                          fit_kwargs={**fit, "progress": False})
        wall = time.perf_counter() - t0
    return res, wall, startup, warm_fit


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


def _met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="tiny fits (a smoke test of the script; the figures mean nothing)")
    args = p.parse_args(argv)
    fit = ({"draws": 50, "chains": 2, "burn_in": 200, "thin": 2} if args.quick else
           {"draws": 500, "chains": 2, "burn_in": 4000, "thin": 20})
    its = fit["burn_in"] + fit["draws"] * fit["thin"]
    seeds = list(range(1, 3 if args.quick else 9))
    n_fits = 4 * len(seeds)
    out: dict = {}
    load0 = os.getloadavg()
    print(f"cores: {os.cpu_count()}  load average before: {load0[0]:.2f}, {load0[1]:.2f}, "
          f"{load0[2]:.2f}")

    print(f"\n1. {n_fits} latent-class fits (Kosovo, classes 5/10/15/20 x {len(seeds)} seeds, "
          f"{fit['chains']} chains x {its:,} iterations), warm pools")
    res1, w1, start1, warm1 = grid_on(1, fit, seeds)
    load1 = os.getloadavg()
    res2, w2, start2, warm2 = grid_on(2, fit, seeds)
    load2 = os.getloadavg()
    same = all((res1.dataset[v] == res2.dataset[v]).all() for v in ("median", "q975", "seed"))
    cpu = res1.dataset["cpu_time"].values.ravel()
    cpu1 = float(cpu.sum())
    cpu2 = float(res2.dataset["cpu_time"].sum())
    per_fit = float(np.median(cpu))
    speedup = w1 / w2
    # cores the pool actually obtained: CPU seconds of its fits / wall time
    got1, got2 = cpu1 / w1, cpu2 / w2
    out.update(wall_1=w1, wall_2=w2, speedup=speedup, per_fit_lc=per_fit, identical=same,
               cores_obtained=(got1, got2), startup=(start1, start2))
    print(f"   1 worker : {w1:7.1f} s  (load average after: {load1[0]:.2f}, {load1[1]:.2f}, "
          f"{load1[2]:.2f})")
    print(f"   2 workers: {w2:7.1f} s  (load average after: {load2[0]:.2f}, {load2[1]:.2f}, "
          f"{load2[2]:.2f})")
    print(f"   speed-up, 2 workers vs 1 : {speedup:5.2f}x     target >= {TARGET_SPEEDUP}x   "
          f"{_met(speedup >= TARGET_SPEEDUP)}")
    print(f"   per-fit CPU cost (median): {per_fit:5.2f} s     target >= "
          f"{TARGET_FIT_SECONDS:g} s   {_met(per_fit >= TARGET_FIT_SECONDS)}   (min "
          f"{cpu.min():.2f}, max {cpu.max():.2f}; wall on a worker: median "
          f"{np.median(res1.dataset['wall_time'].values):.2f} s)")
    print(f"   identical results on 1 and 2 workers: {same}     target: True   {_met(same)}")
    print(f"   fixed start-up, not in the times above: pool of 1 {start1:.1f} s, pool of 2 "
          f"{start2:.1f} s (start processes, then a warm-up fit per worker: its first fit "
          f"took {max(warm1, warm2):.1f} s, imports and the Numba cache load included)")
    print(f"   cores obtained (CPU s of the fits / wall s): 1 worker {got1:.2f}, "
          f"2 workers {got2:.2f} -> scaling per core obtained "
          f"{speedup * got1 / got2 * 2:.2f}x of 2x")
    print(f"   on an idle machine (one core per worker): 1 worker ~{cpu1:.0f} s, "
          f"2 workers ~{cpu2 / 2:.0f} s, speed-up ~{cpu1 / (cpu2 / 2):.2f}x")
    if max(load0[0], load1[0], load2[0]) > (os.cpu_count() or 1):
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
    nuts_name = "log-linear NUTS Kosovo, 4x1000 draws (warm graph cache)"
    lc_name = f"latent class Kosovo ({fit['chains']} chains x {its:,} its)"
    costs = {
        "underreport exact, 1 stratum, 4x4000 draws":
            cost(lambda: UnderReporting().fit(ConfirmedCounts(45287), random_seed=1)),
        "two-list grid, 1x1000 draws":
            cost(lambda: TwoList().fit(two, draws=1000, chains=1, random_seed=1)),
        "BMA Kosovo (61 graphs), 4x1000 draws":
            cost(lambda: DecomposableBMA().fit(kosovo, draws=1000, random_seed=1)),
        "log-linear MLE Kosovo with profile interval":
            cost(lambda: LogLinear(["EXH:ABA"]).fit_mle(kosovo)),
        lc_name: per_fit,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        costs[nuts_name] = cost(
            lambda: LogLinear(["EXH:ABA"]).fit(kosovo, draws=1000, tune=1000, random_seed=1),
            repeats=1)
    for k, v in costs.items():
        print(f"   {k:<60} {v:8.3f} s")
    out["costs"] = costs

    eff = min(1.0, speedup * got1 / got2)
    start = max(start1, start2)
    print(f"\n3. Extrapolation: start-up + n_fits x CPU cost / (cores x efficiency), "
          f"efficiency {eff:.2f} (scaling per core obtained, measured in 1), start-up "
          f"{start:.0f} s")
    jobs = [("85 regions x 2 sexes, one NUTS fit each", 170, costs[nuts_name]),
            ("1,000 simulated two-list datasets", 1000, costs["two-list grid, 1x1000 draws"]),
            ("1,000 simulated latent-class datasets", 1000, per_fit)]
    print(f"   {'job':<42} {'1 core':>9} {'2 cores':>9} {'16 cores':>9} {'64 cores':>9}")
    for name, n, c in jobs:
        cells = [start + n * c / (k * (eff if k > 1 else 1.0)) for k in (1, 2, 16, 64)]
        print(f"   {name:<42} " + " ".join(f"{_fmt(x):>9}" for x in cells))
    print("   (1 and 2 cores: this machine; 16 and 64: a dask cluster of that many worker "
          "processes, each of which also compiles or loads the PyTensor/Numba caches once, "
          "about the start-up above)")
    return out


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    main()
