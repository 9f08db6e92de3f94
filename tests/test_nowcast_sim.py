"""Slow tier: calibration of the nowcast on simulated triangles with a known truth.

Scenario (seeded): 24 days, maximum delay 6, eventual intensity 25 (1 + 0.4 sin(2 pi t / 20)),
a discretised lognormal delay whose median shortens from 4 to 1.5 days over the window
(sdlog 0.7), and coverage drawn from its Beta prior (central 90% 45-65%) in each
simulation.  The 95% intervals of the eventual and the true counts of the 7 periods still
being reported must cover the truth at close to the nominal rate over 50 simulations.
With 350 intervals per quantity a correct 95% procedure falls outside [0.88, 0.99] with
probability well below 1% even allowing for the correlation within a simulation.  The
eventual counts of the 6 incomplete periods must also be covered at their intervals' own
posterior mass (integer counts: above 0.95), within 0.04.

A second check is simulation-based calibration (SBC): triangles drawn from the model's own
prior (:func:`~casualty_models.simulate.simulate_nowcast_prior`), where an exact
implementation gives exactly uniform randomised PIT values of the eventual counts.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from casualty_models import Nowcast, ReportingTriangle
from casualty_models.errors import ConvergenceWarning
from casualty_models.simulate import simulate_line_list, simulate_nowcast_prior

N_SIM = 50
T, D = 24, 6
START = pd.Timestamp("2020-01-01")
NOW = START + pd.Timedelta(days=T - 1)


def scenario_delay(n_t: int, dmax: int) -> np.ndarray:
    med = np.linspace(4.0, 1.5, n_t)
    edges = np.log(np.arange(1, dmax + 1))
    cdf = stats.norm.cdf((edges[None, :] - np.log(med)[:, None]) / 0.7)
    cdf = np.concatenate([np.zeros((n_t, 1)), cdf, np.ones((n_t, 1))], axis=1)
    return np.diff(cdf, axis=1)


def run_simulations(n_sim: int = N_SIM, draws: int = 150, tune: int = 150, chains: int = 2,
                    seed: int = 2026) -> pd.DataFrame:
    """Fit the nowcast to ``n_sim`` simulated triangles (one compiled graph); one row per
    (simulation, incomplete period)."""
    model = Nowcast(coverage=(0.45, 0.65))
    prior = model.coverage_prior
    assert prior is not None
    lam = 25 * (1 + 0.4 * np.sin(2 * np.pi * np.arange(T) / 20))
    pmf = scenario_delay(T, D)
    rng = np.random.default_rng(seed)
    rows = []
    pm_model = None
    for k in range(n_sim):
        cov = float(prior.rvs((), rng))
        df, eventual, n_true = simulate_line_list(rng, lam, pmf, cov, start=START)
        tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                               now=NOW, max_delay=D, start=START)
        if pm_model is None:
            pm_model = model.build_model(tri)
        t0 = time.perf_counter()
        # a short fit in a study of 50 may report a divergence: it is counted and reported,
        # not turned into an error that would end the whole study
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            res = model.fit(tri, draws=draws, tune=tune, chains=chains, random_seed=seed + k,
                            model=pm_model)
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        wall = time.perf_counter() - t0
        post = res.posterior
        for t in range(T - D - 1, T):
            for var, truth in (("eventual", eventual[t]), ("N", n_true[t])):
                x = post[var].isel(stratum=0, period=t).values.ravel()
                lo, hi = np.quantile(x, [0.025, 0.975])
                rows.append({"sim": k, "period": t, "var": var, "truth": int(truth),
                             "covered": bool(lo <= truth <= hi), "width": hi - lo,
                             # posterior mass inside the integer interval (end points
                             # included): what an exact procedure covers, above 0.95
                             "mass": float(np.mean((x >= lo) & (x <= hi))),
                             "complete": t <= T - D - 1,
                             "reported": int(tri.reported[0, t]), "wall": wall,
                             "warned": warned})
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_interval_coverage_close_to_nominal():
    res = run_simulations()
    table = res.groupby("var")[["covered", "width"]].mean()
    print("\n" + table.to_string())
    assert res["sim"].nunique() == N_SIM
    # short fits (2 x 150 draws) warn on any divergence; the share is reported, and the
    # intervals' coverage below is what this study checks
    print(f"simulations with a ConvergenceWarning: {res.groupby('sim')['warned'].first().mean():.2f}")
    for var in ("eventual", "N"):
        assert 0.88 <= table.loc[var, "covered"] <= 0.99, table
    # sharper, for the eventual counts of the 6 incomplete periods: an exact procedure covers
    # at its intervals' own posterior mass (0.9725 here; 200 simulations measured covered -
    # mass = +0.001, se 0.005, clustered by simulation). With 50 simulations the se is about
    # 0.01, so a gap beyond 0.04 (4 se) is a false failure with probability below 1e-4.
    inc = res[(res["var"] == "eventual") & ~res["complete"]]
    gap = inc["covered"].mean() - inc["mass"].mean()
    print(f"eventual, incomplete periods: covered {inc['covered'].mean():.3f}, "
          f"posterior mass {inc['mass'].mean():.3f}")
    assert abs(gap) <= 0.04, (inc["covered"].mean(), inc["mass"].mean())
    # the intervals are informative: narrower than the naive "anything up to 3x reported"
    assert table.loc["eventual", "width"] < 40


def test_simulate_nowcast_prior_is_the_model_layout():
    """Exact checks of the prior simulator: the line list holds the drawn cells, the delay
    pmf is the hazard model with its walk anchored at the last period."""
    df, eventual, truth = simulate_nowcast_prior(np.random.default_rng(3), T, D, start=START)
    cells = truth["cells"]
    ev = (df["event"] - START).dt.days.to_numpy()
    dl = (df["report"] - df["event"]).dt.days.to_numpy()
    counted = np.zeros_like(cells)
    np.add.at(counted, (ev, dl), 1)
    np.testing.assert_array_equal(counted, cells)
    np.testing.assert_array_equal(eventual, cells.sum(axis=1))
    pmf, beta, gamma = truth["delay_pmf"], truth["logit_hazard"], truth["delay_shift"]
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, rtol=1e-12)
    assert gamma[-1] == 0.0 and truth["intensity"].shape == (T,)
    h = 1.0 / (1.0 + np.exp(-(beta[None, :] + gamma[:, None])))
    np.testing.assert_allclose(pmf[:, 1], h[:, 1] * (1.0 - h[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(pmf[:, D], np.prod(1.0 - h, axis=1), rtol=1e-12)
    # no delay drift: one delay for all periods; the same seed, the same draws
    _, _, fixed = simulate_nowcast_prior(np.random.default_rng(4), T, D, delay_drift=0.0)
    np.testing.assert_allclose(fixed["delay_pmf"], fixed["delay_pmf"][[-1] * T], rtol=1e-12)
    _, again, _ = simulate_nowcast_prior(np.random.default_rng(3), T, D, start=START)
    np.testing.assert_array_equal(again, eventual)


SBC_SIM = 30


def sbc_pits(n_sim: int = SBC_SIM, draws: int = 300, seed: int = 13) -> np.ndarray:
    """Randomised PIT of one eventual count per simulated triangle drawn from the prior.

    Each simulation draws a triangle from the default model's prior (24 days, maximum delay
    6, first log intensity N(log 25, 0.5^2): the model's own prior on it is N(log mean
    reported, 3^2), nearly flat where the data are), fits ``Nowcast()`` (2 x ``draws``) and
    returns ``F(y - 1) + V (F(y) - F(y - 1))``, ``V ~ U(0, 1)``, of the eventual count
    ``y`` of one incomplete period (the ``k``-th simulation scores the period ``k % 6 + 1``
    days before the last), so the values are independent across simulations.
    """
    rng = np.random.default_rng(seed)
    u_rng = np.random.default_rng([seed, 1])
    model = Nowcast()
    out = []
    for k in range(n_sim):
        df, eventual, _ = simulate_nowcast_prior(rng, T, D, start=START)
        tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                               now=NOW, max_delay=D, start=START)
        with warnings.catch_warnings():
            # draws from the prior include rough triangles; a short fit may warn, and the
            # PIT values are what this check scores
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = model.fit(tri, draws=draws, tune=draws, chains=2, random_seed=seed + k)
        t = T - 1 - k % D
        x = res.posterior["eventual"].isel(stratum=0, period=t).values.ravel()
        y = eventual[t]
        out.append(np.mean(x < y) + u_rng.uniform() * np.mean(x == y))
    return np.asarray(out)


@pytest.mark.slow
def test_sbc_eventual_counts_uniform_pit():
    """SBC: exact inference gives uniform PIT values; a bug in the density, the sampler or
    the draws of the unseen cells (e.g. a missing frailty) does not.

    Checks (30 independent PIT values; 38-54 s on 2 shared cores at load 1.7-1.8): a
    Kolmogorov-Smirnov test at level 0.005 and the count inside (0.025, 0.975) against
    Binomial(30, 0.95), failing below 25 (probability 0.0033 for an exact procedure):
    false-failure rate < 1%, up to the small Monte Carlo error of 600 posterior draws per
    fit.  It finds gross errors only: with the frailty left out of the draws of the unseen
    cells, this check (seed 13) gave KS p = 0.04 and 26 inside, a pass; the 200
    simulations x 6 periods of ``benchmarks/nowcast_calibration.py --study sbc`` find it
    (95% intervals cover 0.898, se 0.011, against their posterior mass 0.969; as
    implemented: 0.962, se 0.0065, against 0.970).
    """
    u = sbc_pits()
    print(f"\nPIT: mean {u.mean():.3f}, var {u.var():.4f} (uniform 0.5, 0.0833)")
    assert stats.kstest(u, "uniform").pvalue > 0.005, np.sort(u)
    inside = int(((u > 0.025) & (u < 0.975)).sum())
    assert stats.binom.cdf(24, SBC_SIM, 0.95) < 0.005  # the bound below is a 0.5% tail
    assert inside >= 25, np.sort(u)
