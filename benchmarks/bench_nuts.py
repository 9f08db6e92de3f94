"""Which NUTS implementation, and the issue-13 speed targets, each beside its figure.

For every PyMC model of the library (HUS nowcast, Gaza log-linear, stratified
under-reporting, two-list) it times a warm fit (graph compiled earlier in the process)
with each available NUTS implementation, and the cold command-line paths (fresh process
and fresh PyTensor compile directory, imports included).  The load average is printed
with every table: the machine is shared, and timings scale with it.

Run:  python benchmarks/bench_nuts.py [--samplers nutpie pymc] [--no-cold]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def hus(sampler: str) -> tuple[float, str]:
    import pandas as pd

    from casualty_models import Nowcast, ReportingTriangle
    from casualty_models.datasets import load as load_data
    from casualty_models.models.nowcast_eval import score_nowcast

    tri = ReportingTriangle.from_line_list(load_data("hus_o104"),
                                           event_date="hospitalisation_date",
                                           report_date="report_date", now="2011-06-10",
                                           max_delay=15)
    days = [str(d.date()) for d in pd.date_range("2011-05-29", "2011-06-07")]
    eventual = [19, 26, 17, 16, 6, 11, 4, 6, 9, 4]
    kw = dict(draws=500, tune=500, chains=2, random_seed=1, nuts_sampler=sampler)
    Nowcast().fit(tri, **kw)  # compile
    t = time.perf_counter()
    res = Nowcast().fit(tri, **kw)
    dt = time.perf_counter() - t
    sc = score_nowcast(res, dict(zip(days, eventual, strict=True)))
    return dt, f"covered {int(sc['covered'].sum())}/10, mean width {sc['width'].mean():.1f}"


def gaza(sampler: str) -> tuple[float, str]:
    from casualty_models import LogLinear
    from casualty_models.datasets import load_capture_table

    table = load_capture_table("gaza")
    model = LogLinear(["hospital:survey"])
    kw = dict(draws=2000, tune=1000, chains=4, random_seed=1, nuts_sampler=sampler)
    model.fit(table, **kw)
    t = time.perf_counter()
    res = model.fit(table, **kw)
    dt = time.perf_counter() - t
    return dt, f"N median {float(res.posterior['N_total'].median()):,.0f}"


def _warm_ess(fit) -> tuple[float, str]:
    fit()  # compile
    t = time.perf_counter()
    res = fit()
    dt = time.perf_counter() - t
    return dt, f"ESS bulk {res.diagnostics()['ess_bulk']:.0f}"


def strata(sampler: str) -> tuple[float, str]:
    import casualty_models as cm

    counts = cm.ConfirmedCounts([900, 600, 300, 1200], strata=("a", "b", "c", "d"),
                                audit_found=[180, 0, 40, 0], audit_checked=[200, 0, 60, 0])
    m = cm.UnderReporting(pooling="partial")
    return _warm_ess(lambda: m.fit(counts, draws=1000, chains=4, random_seed=1,
                                   nuts_sampler=sampler))


def two_list(sampler: str) -> tuple[float, str]:
    import casualty_models as cm

    tl = cm.TwoList(sampler="nuts")
    return _warm_ess(lambda: tl.fit({"A": 400, "B": 300, "AB": 100}, draws=1000, chains=4,
                                    random_seed=1, nuts_sampler=sampler))


def cold(argv: list[str]) -> tuple[float, float]:
    """Wall seconds of a fresh process with empty caches (PyTensor compile directory and
    the Numba cache of the hand-written kernels), then of a second process that finds
    them on disk."""
    exe = os.path.join(os.path.dirname(sys.executable), "casualty-models")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp}",
                   NUMBA_CACHE_DIR=os.path.join(tmp, "numba"))
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run([exe, *argv, "--json"], env=env, capture_output=True, check=True)
            out.append(time.perf_counter() - t)
    return out[0], out[1]


#: (what, function, target seconds, before: figure measured on main)
WARM = [
    ("nowcast HUS 2011-06-10, 2x500, warm", hus, 3.4, "98 s (issue, idle); 5.4 s (graph)"),
    ("Gaza log-linear hospital:survey, 4x2000, warm", gaza, 5.0, "31 s (issue, CLI)"),
    ("under-reporting 4 strata + audit, 4x1000, warm", strata, 2.0, "7.6 s (issue)"),
    ("two-list NUTS 4x1000, warm", two_list, None, "3.6 s (main)"),
]
COLD = [
    ("cold: casualty-models nowcast HUS", ["nowcast", "--dataset", "hus_o104", "--event-date",
     "hospitalisation_date", "--report-date", "report_date", "--now", "2011-06-10",
     "--max-delay", "15", "--draws", "500", "--chains", "2", "--tune", "500"], 20.0,
     "216 s (issue), 113 s (PyTensor graph + nutpie)"),
    ("cold: the same nowcast, 4 x 1000 (CLI defaults)", ["nowcast", "--dataset", "hus_o104",
     "--event-date", "hospitalisation_date", "--report-date", "report_date", "--now",
     "2011-06-10", "--max-delay", "15"], None,
     "131 s (PyTensor graph + nutpie, idle); 4 x the draws of the target row above"),
    ("cold: casualty-models mse gaza loglinear (CLI)", ["mse", "--dataset", "gaza", "--method",
     "loglinear", "--interactions", "hospital:survey"], 5.0,
     "31 s (issue, this command); 20 s (PyTensor graph + nutpie)"),
    ("cold: casualty-models underreport --sampler nuts", ["underreport", "--confirmed",
     "45287", "--sampler", "nuts"], 8.0, "19 s (issue), 16.1 s (PyTensor graph + nutpie)"),
    ("cold: casualty-models underreport (default, exact)", ["underreport", "--confirmed",
     "45287"], 8.0, "-"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    avail = [s for s, mod in (("nutpie", "nutpie"), ("pymc", "pymc"), ("numpyro", "numpyro"),
                              ("blackjax", "blackjax")) if importlib.util.find_spec(mod)]
    ap.add_argument("--samplers", nargs="+", default=avail)
    ap.add_argument("--only", nargs="+", help="substrings of the rows to run")
    ap.add_argument("--no-cold", action="store_true")
    args = ap.parse_args()
    print(f"samplers: {args.samplers}; {load()}")
    print(f"{'what':50s} {'sampler':8s} {'seconds':>8s} {'target':>7s}  before / check")
    for name, fn, target, before in WARM:
        if args.only and not any(o in name for o in args.only):
            continue
        for s in args.samplers:
            try:
                dt, note = fn(s)
            except Exception as exc:  # noqa: BLE001 - a backend that fails is reported
                print(f"{name:50s} {s:8s} {'failed':>8s}  {type(exc).__name__}: {exc}"[:160])
                continue
            tgt = "" if target is None else f"<= {target:g}"
            print(f"{name:50s} {s:8s} {dt:8.2f} {tgt:>7s}  {before}; {note}; {load()}",
                  flush=True)
    if not args.no_cold:
        for name, argv, target, before in COLD:
            if args.only and not any(o in name for o in args.only):
                continue
            dt, again = cold(argv)
            tgt = "" if target is None else f"<= {target:g}"
            print(f"{name:50s} {'default':8s} {dt:8.2f} {tgt:>7s}  "
                  f"{before}; second process (caches on disk) {again:.2f} s; {load()}",
                  flush=True)
    print(f"numpy {np.__version__}; cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
