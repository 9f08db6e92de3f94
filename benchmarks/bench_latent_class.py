"""Benchmark of the latent-class (LCMCR) Gibbs sampler.

Prints three tables:

1. Kosovo (4 lists, 4,400 observed): ESS of N per second of wall time, all chains,
   in a process whose compiled code is already cached (LCMCR 0.4.14: about 150/s on
   one core; the target is 5x, 750/s).
2. Cold process: a fresh Python process (imports, Numba compilation or cache load,
   data) to a posterior with an ESS of N of at least 1,000; once with an empty Numba
   cache (compilation included) and once with the on-disk cache.
3. Scale: simulated tables with up to 20 lists and 100,000 people: only the distinct
   observed patterns are stored, and the time per sweep follows their number.

Usage: ``python benchmarks/bench_latent_class.py [--quick]``.  Timings depend on the
machine's load; the number of cores is printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

COLD_SCRIPT = """
import time
t0 = time.perf_counter()
import warnings
from casualty_models.datasets import load_capture_table
from casualty_models.models.latent_class import LatentClass
res = LatentClass().fit(load_capture_table("kosovo"), chains={chains}, draws={draws},
                        thin={thin}, burn_in={burn_in}, random_seed=1)
d = res.diagnostics()
print(time.perf_counter() - t0, d["ess_bulk"], d["wall_time_s"])
"""


def ess_rate(table, *, chains, draws, thin, burn_in, seed, moves, swaps, calpha):  # type: ignore[no-untyped-def]
    import warnings

    from casualty_models.models.latent_class import LatentClass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu0 = time.process_time()
        res = LatentClass(collapsed_moves=moves, label_swaps=swaps,
                          collapsed_alpha=calpha).fit(
            table, chains=chains, draws=draws, thin=thin, burn_in=burn_in, random_seed=seed)
        cpu = time.process_time() - cpu0
    d = res.diagnostics()
    assert d is not None
    return d["ess_bulk"], d["wall_time_s"], cpu, res.summary().loc["N_total", "median"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs (for a smoke test)")
    args = ap.parse_args(argv)
    from casualty_models.datasets import load_capture_table
    from casualty_models.models._lcmcr_gibbs import run_chains
    from casualty_models.models.latent_class import LatentClass
    from casualty_models.simulate import simulate_table

    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}  load average "
          f"{os.getloadavg()[0]:.1f} (other processes compete for the cores when > 0)")
    kosovo = load_capture_table("kosovo")
    # warm the compiled cache in this process
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LatentClass().fit(kosovo, chains=2, draws=5, thin=1, burn_in=5, random_seed=0)
        LatentClass(parallel=False).fit(kosovo, chains=1, draws=5, thin=1, burn_in=5,
                                        random_seed=0)

    # ---- 1. ESS of N per second, warm
    scale = 0.1 if args.quick else 1.0
    print("\n1. Kosovo, warm process: ESS of N (bulk) per second of wall time, all chains")
    print(f"{'chains':>6} {'moves':>5} {'swaps':>5} {'c.alpha':>7} {'iterations':>11} "
          f"{'wall s':>7} {'cpu s':>6} {'ESS(N)':>7} {'ESS/s':>6} {'x LCMCR':>7} "
          f"{'ESS/cpu-s':>9} {'us/it/core':>10} {'median':>7}")
    for chains, moves, swaps, calpha in ((4, 1, 10, True), (2, 1, 10, True), (8, 1, 10, True),
                                         (4, 0, 0, False)):
        draws, thin, burn = max(100, int(12_500 * scale)), 20, int(10_000 * scale)
        rates = []
        for rep in range(1 if args.quick else 2):
            ess, wall, cpu, med = ess_rate(kosovo, chains=chains, draws=draws, thin=thin,
                                           burn_in=burn, seed=100 + rep, moves=moves,
                                           swaps=swaps, calpha=calpha)
            rates.append((ess / wall, ess, wall, cpu, med))
        for r in rates:
            its = chains * (burn + draws * thin)
            print(f"{chains:>6} {moves:>5} {swaps:>5} {calpha!s:>7} {its:>11,} {r[2]:>7.2f} "
                  f"{r[3]:>6.1f} {r[1]:>7.0f} {r[0]:>6.0f} {r[0] / 150:>7.2f} "
                  f"{r[1] / r[3]:>9.0f} {r[3] / its * 1e6:>10.1f} {r[4]:>7.0f}")
    print("(LCMCR 0.4.14: about 150 ESS/s on one core; 'moves 0 swaps 0 c.alpha False' is "
          "LCMCR's plain "
          "Gibbs sampler.  ESS/cpu-s does not depend on the machine's load.)")

    # ---- 2. cold process to an ESS of 1,000
    print("\n2. Cold process (imports + compilation or cache load + sampling) to ESS(N) >= 1000")
    cold = {"chains": 4, "draws": 1000, "thin": 150, "burn_in": 10_000}
    if args.quick:
        cold = {"chains": 2, "draws": 100, "thin": 10, "burn_in": 500}
    code = COLD_SCRIPT.format(**cold)
    print(f"settings: {cold}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, env_extra in (("empty Numba cache", {"NUMBA_CACHE_DIR": tmp}),
                                 ("warm Numba cache", {"NUMBA_CACHE_DIR": tmp})):
            env = {**os.environ, **env_extra}
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                                 capture_output=True, text=True, check=True)
            total = time.perf_counter() - t0
            inner, ess, wall = (float(x) for x in out.stdout.split()[-3:])
            print(f"  {label:<18} process {total:6.1f} s (in-process {inner:5.1f} s, sampling "
                  f"{wall:5.1f} s), ESS(N) {ess:6.0f}")

    # ---- 3. scale
    print("\n3. Scale: simulated populations, 3 latent classes, time per sweep (1 chain)")
    print(f"{'lists':>5} {'people':>8} {'observed':>8} {'patterns':>8} {'table KB':>8} "
          f"{'us/sweep':>9} {'us/sweep/pattern':>16}")
    rng = np.random.default_rng(0)
    for k, people in ((5, 10_000), (10, 100_000), (15, 100_000), (20, 100_000)):
        probs = rng.uniform(0.02, 0.2, size=(3, k))
        table = simulate_table([people // 2, people // 3, people - people // 2 - people // 3],
                               probs, random_seed=rng)
        n_pat = table.patterns.shape[0]
        kb = (table.patterns.nbytes + table.counts.nbytes) / 1024
        sweeps = 200 if args.quick else 2000
        t0 = time.perf_counter()
        run_chains(table.patterns, table.counts[0], n_classes=10, alpha_prior=(0.25, 0.25),
                   capture_prior=(1.0, 1.0), n_prior=(0.0, 0.0), draws=sweeps, burn_in=0,
                   thin=1, seeds=np.array([1]), parallel=False)
        wall = time.perf_counter() - t0
        us = wall / sweeps * 1e6
        print(f"{k:>5} {people:>8,} {int(table.observed[0]):>8,} {n_pat:>8,} {kb:>8.1f} "
              f"{us:>9.0f} {us / n_pat:>16.2f}")

    # record-level input: 100,000 rows x 20 lists through the validated container
    import pandas as pd

    from casualty_models import CaptureTable

    bits = rng.random((100_000, 20)) < rng.uniform(0.02, 0.2, size=20)
    bits = bits[bits.any(axis=1)]
    df = pd.DataFrame(bits.astype(np.int8), columns=[f"L{j + 1}" for j in range(20)])
    t0 = time.perf_counter()
    table = CaptureTable.from_records(df, lists=list(df.columns))
    wall = time.perf_counter() - t0
    print(f"\nCaptureTable.from_records: {len(df):,} records x 20 lists -> "
          f"{table.patterns.shape[0]:,} patterns in {wall:.2f} s "
          f"({(table.patterns.nbytes + table.counts.nbytes) / 1024:.0f} KB stored)")


if __name__ == "__main__":
    main()
