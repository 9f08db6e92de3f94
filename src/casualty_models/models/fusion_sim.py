r"""Simulated sources for :class:`~casualty_models.models.fusion.Fusion`, and its calibration.

:func:`simulate_sources` draws every source of a layout from known truths;
:func:`draw_truth` draws those truths from the model's own priors, so that over many
simulations the posterior intervals must cover the truths at their nominal rate
(simulation-based calibration); :func:`calibration_study` runs that check with one
compiled graph re-used for every simulation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .fusion import Fusion, _beta, _lognormal_from_interval
from .fusion_data import FusionSources, Measurement

__all__ = ["calibration_study", "draw_truth", "monthly_template", "simulate_sources",
           "CALIBRATION_MODEL"]

#: The model (priors) the calibration study draws its truths from and fits.
CALIBRATION_MODEL = Fusion(coverage=(0.3, 0.9), chart_ratio=(0.5, 0.95),
                           delay_median=(2.0, 26.0), delay_sdlog=(0.5, 1.5),
                           intensity_drift=0.2, first_level=(float(np.log(1500.0)), 0.5))


def monthly_template() -> FusionSources:
    """A small monthly layout: 20 months of chart, 4 milestones, two yearly excess totals.

    Deaths Feb 2022 - Dec 2023 (23 months); the chart shows Feb 2022 - Sep 2023 as seen
    on 2023-10-15; milestones 2022-10-01, 2023-02-01, 2023-06-01, 2023-09-01; excess of
    ages 15-49 in 2022 (sd 1,500) and 2023 (sd 1,700); 951 of 1,000 named aged 15-49.
    """
    starts = pd.date_range("2022-02-01", periods=20, freq="MS")
    chart = pd.Series(np.ones(20, dtype=np.int64), index=starts)
    ms = pd.Series(1.0, index=pd.to_datetime(["2022-10-01", "2023-02-01", "2023-06-01",
                                              "2023-09-01"]))
    meas = [Measurement("excess 2022", "2022-01-01", "2022-12-31", 1.0, 1500.0, ages=(15, 49),
                        source="excess"),
            Measurement("excess 2023", "2023-01-01", "2023-12-31", 1.0, 1700.0, ages=(15, 49),
                        source="excess")]
    ages = np.r_[np.full(951, 30.0), np.full(49, 55.0)]
    return FusionSources.build(chart, snapshot_date="2023-10-15", milestones=ms,
                               measurements=meas, ages=ages, period="month",
                               end="2023-12-31", source="simulated")


def simulate_sources(
    rng: np.random.Generator,
    template: FusionSources,
    *,
    intensity: np.ndarray,
    coverage: float,
    chart_ratio: float,
    delay_median: float,
    delay_sdlog: float,
    age_share: float = 1.0,
    dispersion: float = np.inf,
    milestone_sd: float = 0.0,
) -> tuple[FusionSources, np.ndarray]:
    r"""Simulate every source of ``template``'s layout from known truths.

    Deaths :math:`D_t \sim \mathrm{Poisson}(\lambda_t)`; each is named with probability
    ``coverage`` after a lognormal delay (median in weeks); the chart shows a binomial
    ``chart_ratio`` share of the names known on the snapshot date, the share multiplied
    by a Gamma(``dispersion``) factor per period (so that the chart is negative
    binomial, as in the model); milestones count the names known at their dates times a
    lognormal error ``milestone_sd``; each measurement is its window's deaths (of its
    age band: a binomial ``age_share``) plus normal noise of its stated sd.

    Returns
    -------
    sources with ``template``'s layout, and the true deaths per period.
    """
    from scipy.special import ndtr

    lam = np.asarray(intensity, dtype=float)
    if lam.shape != (template.n_periods,):
        raise DataValidationError(
            f"intensity has shape {lam.shape}; expected ({template.n_periods},)."
        )
    deaths = rng.poisson(lam)
    named = rng.binomial(deaths, coverage)

    def known_by(date: Any) -> np.ndarray:
        f, a = template.ages_at(date)
        cdf = np.where(a > 0, ndtr((np.log(np.maximum(a, 1e-6)) - np.log(delay_median))
                                   / delay_sdlog), 0.0)
        return rng.binomial(named, np.clip(cdf * f, 0.0, 1.0))

    n_c = int(template.chart_mask.sum())
    seen = known_by(template.snapshot_date)[:n_c]
    share = np.full(n_c, float(chart_ratio))
    if np.isfinite(dispersion):
        share = share * rng.gamma(dispersion, 1.0 / dispersion, n_c)
    chart = np.zeros(template.n_periods, dtype=np.int64)
    chart[:n_c] = rng.binomial(seen, np.clip(share, 0.0, 1.0))
    ms = pd.Series([float(known_by(d).sum()) * float(np.exp(rng.normal(0.0, milestone_sd)))
                    for d in template.milestones.index], index=template.milestones.index)
    meas = []
    for m in template.measurements:
        in_win = rng.binomial(deaths, np.clip(template.window_weights(m.start, m.end), 0, 1))
        k = int(in_win.sum()) if m.ages is None else int(rng.binomial(in_win.sum(), age_share))
        meas.append(Measurement(m.name, m.start, m.end, max(k + rng.normal(0.0, m.sd), 0.0),
                                m.sd, ages=m.ages, source=m.source))
    out = replace(template, chart=chart, milestones=ms, measurements=tuple(meas),
                  source="simulated")
    return out, deaths


def draw_truth(rng: np.random.Generator, model: Fusion,
               template: FusionSources) -> dict[str, Any]:
    """Draw the truths of one simulation from ``model``'s priors (for calibration)."""
    n_t = template.n_periods
    sd_l = abs(rng.normal(0.0, model.intensity_drift))
    log_lam = rng.normal(*model.first_level) + np.r_[0.0, np.cumsum(
        rng.normal(0.0, sd_l, n_t - 1))]
    dm_mu, dm_sd = _lognormal_from_interval(*model.delay_median, "delay_median")
    ds_mu, ds_sd = _lognormal_from_interval(*model.delay_sdlog, "delay_sdlog")
    inv = abs(rng.normal(0.0, 1.0))
    truth: dict[str, Any] = {
        "intensity": np.exp(log_lam),
        "coverage": float(_beta(model.coverage, "coverage").rvs(None, rng)),
        "chart_ratio": float(_beta(model.chart_ratio, "chart_ratio").rvs(None, rng)),
        "delay_median": float(np.exp(rng.normal(dm_mu, dm_sd))),
        "delay_sdlog": float(np.exp(rng.normal(ds_mu, ds_sd))),
        "dispersion": 1.0 / (inv**2 + 1e-6),
        "milestone_sd": model.milestone_sd,
    }
    if template.bands:
        k, n = template.age_counts[template.bands[0]]
        truth["age_share"] = float(rng.beta(*model._share_ab(k, n)))
    return truth


def calibration_study(
    n_sims: int,
    *,
    seed: int = 0,
    model: Fusion = CALIBRATION_MODEL,
    template: FusionSources | None = None,
    draws: int = 300,
    tune: int = 300,
    chains: int = 2,
    masses: tuple[float, ...] = (0.5, 0.9, 0.95),
) -> pd.DataFrame:
    """Fit ``n_sims`` simulations drawn from the model's priors; record interval hits.

    One graph is compiled and re-used (``pm.set_data``).  Returns one row per
    (simulation, quantity) with the truth, the posterior median, whether each central
    interval of ``masses`` covers the truth (``cover50`` ...), the divergences and the
    max r-hat of the fit.  Quantities: deaths in each calendar year, the coverage, the
    median delay (weeks) and the chart ratio.
    """
    template = template or monthly_template()
    rng = np.random.default_rng(seed)
    pm_model = model.build_model(template)
    years = sorted({d.year for d in template.starts})
    rows = []
    for i in range(n_sims):
        truth = draw_truth(rng, model, template)
        kw = {k: v for k, v in truth.items() if k != "dispersion"}
        src, deaths = simulate_sources(rng, template, dispersion=truth["dispersion"], **kw)
        res = model.fit(src, draws=draws, tune=tune, chains=chains,
                        random_seed=seed * 100_000 + i, model=pm_model)
        post = res.posterior
        d = res.diagnostics() or {}
        true_vals = {f"deaths {y}": float(np.sum(deaths * template.window_weights(
            f"{y}-01-01", f"{y}-12-31"))) for y in years}
        true_vals.update(coverage=truth["coverage"], delay_median=truth["delay_median"],
                         chart_ratio=truth["chart_ratio"])
        draws_of = {f"deaths {y}": post["deaths_by_year"].sel(year=str(y)).values
                    for y in years}
        draws_of.update(coverage=post["coverage"].values,
                        delay_median=post["delay_median_weeks"].values,
                        chart_ratio=post["chart_ratio"].values)
        for q, x in draws_of.items():
            x = np.asarray(x, dtype=float).ravel()
            row = {"sim": i, "quantity": q, "truth": true_vals[q],
                   "median": float(np.median(x)), "divergences": d.get("divergences", 0),
                   "max_r_hat": d.get("max_r_hat_parameters", np.nan)}
            for mass in masses:
                lo, hi = np.quantile(x, [(1 - mass) / 2, (1 + mass) / 2])
                row[f"cover{round(mass * 100)}"] = bool(lo <= true_vals[q] <= hi)
            rows.append(row)
    return pd.DataFrame(rows)
