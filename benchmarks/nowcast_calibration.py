"""Calibration of the nowcast: simulation-based calibration, and the smooth Poisson scenario.

1. ``--study sbc``: triangles drawn from the default model's own prior
   (:func:`casualty_models.simulate.simulate_nowcast_prior`: 24 days, maximum delay 6,
   first log intensity N(log 25, 0.5^2)), fitted with ``Nowcast(coverage=(0.45, 0.65))``;
   the 95% and 50% intervals of the eventual counts of the 6 incomplete periods, and of
   the true counts ``N`` of the last 7 periods (coverage drawn from its prior, the
   deaths never reported from the model's negative binomial).
2. ``--study scenario``: the scenario of ``tests/test_nowcast_sim.py`` (smooth sinusoidal
   intensity, Poisson cells, lognormal delay shortening, coverage 45-65%), optionally with
   another ``--intensity-drift`` or ``--delay-drift``; intervals of the eventual count, of
   the true count ``N``, of the deaths never reported ``M = N - E`` and of the intensity;
   ``--walk-sd 0.2`` replaces the sinusoid by a random walk (a new path per simulation).

Integer counts: a central interval of posterior draws holds more than 95% of its own
posterior (its end points carry mass), so the nominal coverage of each interval is its
posterior mass (``mass95``), which an exact procedure matches on average (``cov95``);
``pit`` is the randomised PIT, uniform for an exact procedure.  Standard errors are
clustered by simulation.

Run:  python benchmarks/nowcast_calibration.py --study sbc --sims 200
      python benchmarks/nowcast_calibration.py --study scenario --sims 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from casualty_models import Nowcast, ReportingTriangle
from casualty_models.errors import ConvergenceWarning
from casualty_models.simulate import simulate_line_list, simulate_nowcast_prior

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_nowcast_sim import NOW, START, D, T, scenario_delay  # noqa: E402


def _interval(x: np.ndarray, truth: float, rng: np.random.Generator) -> dict[str, float]:
    out: dict[str, float] = {}
    for lab, (a, b) in (("95", (0.025, 0.975)), ("50", (0.25, 0.75))):
        lo, hi = np.quantile(x, [a, b])
        out[f"cov{lab}"] = float(lo <= truth <= hi)
        out[f"mass{lab}"] = float(np.mean((x >= lo) & (x <= hi)))
        out[f"width{lab}"] = float(hi - lo)
    out["pit"] = float(np.mean(x < truth) + rng.uniform() * np.mean(x == truth))
    return out


def _fit(model: Nowcast, tri: ReportingTriangle, draws: int, seed: int) -> tuple[object, bool]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = model.fit(tri, draws=draws, tune=draws, chains=2, random_seed=seed)
    return res, any(issubclass(w.category, ConvergenceWarning) for w in caught)


def sbc(n_sim: int, draws: int, seed: int) -> pd.DataFrame:
    # the coverage prior does not enter the density: the eventual counts are those of
    # Nowcast(); N adds the deaths never reported, N - E ~ NegBin(lambda (1 - c) / c, phi)
    model = Nowcast(coverage=(0.45, 0.65))
    prior = model.coverage_prior
    assert prior is not None
    rng, prng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    crng = np.random.default_rng([seed, 2])
    rows = []
    for k in range(n_sim):
        df, ev, truth = simulate_nowcast_prior(rng, T, D, start=START)
        c = float(prior.rvs((), crng))
        phi = 1.0 / (truth["inv_sqrt_dispersion"] ** 2 + 1e-6)
        lam = truth["intensity"] * crng.gamma(phi, 1.0 / phi, size=T)
        n_true = ev + crng.poisson(lam * (1.0 - c) / c)
        tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                               now=NOW, max_delay=D, start=START)
        res, warned = _fit(model, tri, draws, seed + k)
        post = res.posterior  # type: ignore[attr-defined]
        for t, var in [(t, v) for t in range(T - D - 1, T) for v in ("eventual", "N")]:
            if var == "eventual" and tri.complete[t]:
                continue
            x = post[var].isel(stratum=0, period=t).values.ravel()
            y = ev[t] if var == "eventual" else n_true[t]
            rows.append({"sim": k, "period": int(t), "var": var,
                         **_interval(x, float(y), prng), "warned": warned,
                         "intensity_sd": truth["intensity_sd"],
                         "post_intensity_sd": float(post["intensity_sd"].mean()),
                         "inv_sqrt_dispersion": truth["inv_sqrt_dispersion"],
                         "post_inv_sqrt_dispersion": float(post["inv_sqrt_dispersion"].mean())})
    return pd.DataFrame(rows)


def scenario(n_sim: int, draws: int, seed: int, walk_sd: float | None = None,
             **kw: float) -> pd.DataFrame:
    model = Nowcast(coverage=(0.45, 0.65), **kw)  # type: ignore[arg-type]
    prior = model.coverage_prior
    assert prior is not None
    lam = 25 * (1 + 0.4 * np.sin(2 * np.pi * np.arange(T) / 20))
    pmf = scenario_delay(T, D)
    rng, prng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    rows = []
    for k in range(n_sim):  # the same draws as tests/test_nowcast_sim.run_simulations
        if walk_sd is not None:  # a random-walk intensity from 25, a new path each time
            lam = 25 * np.exp(np.concatenate([[0.0], np.cumsum(walk_sd * rng.normal(size=T - 1))]))
        cov = float(prior.rvs((), rng))
        df, eventual, n_true = simulate_line_list(rng, lam, pmf, cov, start=START)
        tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                               now=NOW, max_delay=D, start=START)
        res, warned = _fit(model, tri, draws, seed + k)
        post = res.posterior  # type: ignore[attr-defined]
        for t in np.flatnonzero(~tri.complete):
            xs = {v: post[v].isel(stratum=0, period=t).values.ravel()
                  for v in ("eventual", "N", "intensity")}
            xs["M"] = xs["N"] - xs["eventual"]
            truth = {"eventual": eventual[t], "N": n_true[t], "M": n_true[t] - eventual[t],
                     "intensity": lam[t]}
            for var, x in xs.items():
                rows.append({"sim": k, "period": int(t), "var": var,
                             **_interval(x, float(truth[var]), prng), "warned": warned,
                             "post_intensity_sd": float(post["intensity_sd"].mean()),
                             "post_inv_sqrt_dispersion":
                                 float(post["inv_sqrt_dispersion"].mean())})
    return pd.DataFrame(rows)


def summary(res: pd.DataFrame) -> pd.DataFrame:
    out = []
    for var, d in res.groupby("var", sort=False):
        row: dict[str, float | str] = {"var": str(var), "intervals": len(d)}
        for col in ("cov95", "mass95", "cov50", "mass50", "width95"):
            m = d[col].mean()
            dev = (d[col] - m).groupby(d["sim"]).sum()
            row[col] = m
            if col.startswith("cov"):
                row[f"{col}_se"] = float(np.sqrt((dev**2).sum()) / len(d))
        row["pit_var"] = d["pit"].var()  # 1/12 = 0.0833 if uniform
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--study", choices=("sbc", "scenario"), default="sbc")
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--intensity-drift", type=float, default=None)
    p.add_argument("--delay-drift", type=float, default=None)
    p.add_argument("--walk-sd", type=float, default=None,
                   help="scenario: a random-walk intensity with this sd per day, not the sinusoid")
    p.add_argument("--csv", default=None, help="write the per-interval rows here")
    args = p.parse_args()
    t0 = time.perf_counter()
    if args.study == "sbc":
        res = sbc(args.sims, args.draws, args.seed)
    else:
        kw = {k: v for k, v in (("intensity_drift", args.intensity_drift),
                                ("delay_drift", args.delay_drift)) if v is not None}
        res = scenario(args.sims, args.draws, args.seed, walk_sd=args.walk_sd, **kw)
    wall = time.perf_counter() - t0
    if args.csv:
        res.to_csv(args.csv, index=False)
    print(f"{args.study}: {args.sims} simulations, 2 x {args.draws} draws, seed {args.seed}, "
          f"{wall:.0f} s, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    table = summary(res)
    print(table.round(4).to_string(index=False))
    for _, r in table.iterrows():
        if r["var"] in ("eventual", "N"):
            print(f"   target (issue 13): {r['var']} coverage 0.93-0.97; measured "
                  f"{r['cov95']:.3f} (se {r['cov95_se']:.3f}); an exact procedure covers at "
                  f"the intervals' posterior mass, {r['mass95']:.3f}")
    by = res.groupby(["var", "period"], sort=False)
    per = by[["cov95", "mass95", "cov50", "mass50", "width95"]].mean()
    per["pit_mean"], per["pit_var"] = by["pit"].mean(), by["pit"].var()
    print(per.round(3).to_string())
    print(f"simulations with a ConvergenceWarning: {res.groupby('sim')['warned'].first().mean():.3f}")
    sims = res.groupby("sim").first()
    for c in ("post_intensity_sd", "post_inv_sqrt_dispersion"):
        print(f"posterior mean of {c[5:]}: mean over simulations {sims[c].mean():.3f}, "
              f"quartiles {sims[c].quantile(0.25):.3f}-{sims[c].quantile(0.75):.3f}")


if __name__ == "__main__":
    main()
