"""Speed of exact model averaging over decomposable graphs, printed as a table.

- enumeration of every decomposable graph on K = 3, 4, 5 (and 6) lists (cold, cache cleared);
- per table (Madigan & York 5 lists, spina bifida, Kosovo, Gaza): the exact grid posterior
  (``fit_grid``: all graphs x every n0 on the grid) and the full ``fit`` (plus 4 x 4000
  exact draws and the result DataTree), wall and CPU time, min and median of repeats,
  with the first (numba-compiling or cache-loading) call reported separately.

The R package dga takes 1-450 ms per table on this machine class (closed form on a grid).

Run:  python benchmarks/bench_bma.py [--quick] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def timed(fn, repeats):  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return np.array(wall), np.array(cpu)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, no K = 6, no Gaza")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    reps = 2 if args.quick else args.repeats

    t0 = time.perf_counter()
    from casualty_models.datasets import load_capture_table
    from casualty_models.models import _graphs
    from casualty_models.models.bma import DecomposableBMA

    print(f"import casualty_models.models.bma (numba included): {time.perf_counter() - t0:.2f} s")

    print("\nGraph enumeration (cold: cache cleared before each run)")
    print(f"{'K':>3} {'graphs':>8} {'min ms':>9} {'median ms':>10}")
    for k in (3, 4, 5) if args.quick else (3, 4, 5, 6):
        def enum(k=k):  # type: ignore[no-untyped-def]
            _graphs.decomposable_graphs.cache_clear()
            _graphs.graph_matrix.cache_clear()
            _graphs.graph_matrix(k)

        w, _ = timed(enum, 1 if k == 6 else reps)
        print(f"{k:>3} {len(_graphs.decomposable_graphs(k)):>8} {1e3 * w.min():>9.1f} "
              f"{1e3 * np.median(w):>10.1f}")

    tables = [("madigan_york", 1 / 32), ("spina_bifida", 1 / 8), ("kosovo", 1 / 16)]
    if not args.quick:
        tables.append(("gaza", None))
    print("\nPer table (ms; grid = exact posterior of all graphs on the n0 grid; fit = grid + "
          "4 x 4000 exact draws + DataTree)")
    hdr = (f"{'table':<13} {'K':>2} {'graphs':>6} {'n_max':>9} {'first':>8} {'grid min':>9} "
           f"{'grid med':>9} {'grid cpu':>9} {'fit min':>8} {'fit med':>8}  median [95%]")
    print(hdr)
    for name, delta in tables:
        table = load_capture_table(name)
        model = DecomposableBMA(delta=delta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            gp = model.fit_grid(table)
            first = time.perf_counter() - t0
            gw, gc = timed(lambda m=model, t=table: m.fit_grid(t), reps)
            fw, _ = timed(lambda m=model, t=table: m.fit(t, draws=4000, chains=4,
                                                        random_seed=1), reps)
        lo, med, hi = gp.quantile([0.025, 0.5, 0.975])
        print(f"{name:<13} {table.n_lists:>2} {gp.model_prob.size:>6} {gp.n0[-1]:>9,} "
              f"{1e3 * first:>8.1f} {1e3 * gw.min():>9.1f} {1e3 * np.median(gw):>9.1f} "
              f"{1e3 * np.median(gc):>9.1f} {1e3 * fw.min():>8.1f} {1e3 * np.median(fw):>8.1f}"
              f"  {med:,} [{lo:,}, {hi:,}]")
    print("\nReference (dga): 1-450 ms per table; medians 618 [590, 656], 731 [694, 787], "
          "12,594 [9,828, 16,544].")


if __name__ == "__main__":
    main()
