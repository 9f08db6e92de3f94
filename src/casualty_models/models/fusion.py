r"""One latent death series behind several sources: the named list's coverage, learned.

Model
-----
Deaths per death period :math:`t` (week or month) have expected value
:math:`\lambda_t` with a smooth log-intensity (a Gaussian random walk),

.. math::

    \log\lambda_1 \sim N(m_0, s_0^2), \qquad
    \log\lambda_t = \log\lambda_{t-1} + \varepsilon_t, \quad
    \varepsilon_t \sim N(0, \sigma_\lambda^2), \quad
    \sigma_\lambda \sim \mathrm{HalfNormal}(\tau_\lambda),

and the deaths themselves are :math:`D_t \sim \mathrm{Poisson}(\lambda_t)`.  Three kinds
of source see them:

**The named list.**  A death of period :math:`t` eventually gets a name with
probability :math:`c_t` (the list's *eventual coverage*; constant, or
:math:`\mathrm{logit}\, c_t = \mathrm{logit}\, c + \beta (u_t - \bar u)`, a slow linear
drift in years :math:`u_t`, :math:`\beta \sim N(0, \tau_c^2)`), and is named within
:math:`a` weeks of death with probability :math:`F(a) = \Phi\{(\log a - \mu_d)/\sigma_d\}`
(a lognormal reporting delay).

- *The milestones*: the list's running total at date :math:`T_k` (all names,
  whatever their date of death is known or not),

  .. math::

      \log L_k \sim N\Big(\log \textstyle\sum_t \lambda_t\, c_t\, f_{kt}\, F(a_{kt}),\;
      \sigma_L^2\Big),

  with :math:`f_{kt}` the share of period :math:`t` before :math:`T_k` and
  :math:`a_{kt}` its age at :math:`T_k`; :math:`\sigma_L` (default 3%) is the model's
  stated misfit (constant chart share, smooth delay), not counting error.
- *The chart*: the list's names *with a known date of death* by period of death, as
  seen on the snapshot date :math:`S`: a constant share :math:`r` (the chart-to-list
  ratio) of the names known on :math:`S`,

  .. math::

      y_t \sim \mathrm{NegBin}\big(\lambda_t\, c_t\, r\, F(a_{St}),\ \phi\big),
      \qquad \phi^{-1/2} \sim \mathrm{HalfNormal}(1).

  Never the whole list: :math:`r` has its own prior and is learned against the
  milestones.

**Measurements** of the deaths in a window of death dates :math:`W_j`, optionally of
an age band :math:`b_j` only (the excess male mortality of men aged 15-49 in a
calendar year; a published estimate):

.. math::

    v_j \sim N\Big(s_{b_j} \textstyle\sum_t w_{jt} \lambda_t,\;
    \mathrm{sd}_j^2 + s_{b_j} \sum_t w_{jt}\lambda_t\Big),
    \qquad s_b \sim \mathrm{Beta}(1 + \nu k_b/n,\ 1 + \nu (n - k_b)/n),

with :math:`w_{jt}` the share of period :math:`t` in the window, :math:`s_b` the share
of war deaths in band :math:`b` (prior from the :math:`k_b` of :math:`n` named dead of
known age in the band, worth :math:`\nu` = ``age_share_ess`` observations), and the
Poisson variance of the deaths added to the stated error.

Priors: :math:`c \sim` ``coverage`` (uniform by default: learned, not assumed),
:math:`r \sim` ``chart_ratio``, the delay's median and sdlog lognormal from stated 90%
intervals.  Posterior sampled with NUTS (:func:`~casualty_models.models._base.run_nuts`);
:math:`D_t`, names by a date (binomial thinning by :math:`c_t F`) and totals are drawn
afterwards with a seeded generator.

Identifying assumptions
-----------------------
- *List*: each death is named eventually with the same probability :math:`c_t`
  whatever its date within the window (or :math:`c_t` drifts linearly in logit), and the
  delay to naming has one lognormal distribution for all deaths.  The milestones count
  every name; the chart is a constant share :math:`r` of the names (those with a known
  date), the same share for every period of death.
- *Excess mortality*: the excess deaths of men aged 15-49 in a calendar year are the
  war deaths of that age band (no other change of male-specific mortality; deaths of
  soldiers missing in action and registered late are missed), measured with the stated
  baseline error.  War deaths are men; the share aged 15-49 is the named list's (the
  list's coverage does not depend on age).
- *Other measurements*: unbiased for the deaths of their window and band, with the
  stated error.

No source alone identifies both the deaths and the coverage: the excess totals fix the
deaths of their years (given the age share), the list's names then fix :math:`c`; the
milestones against the chart fix the delay and :math:`r`.  Periods after the chart
(and the excess years) rest on the random walk: their deaths are extrapolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataValidationError, PriorError
from ..priors import BetaPrior, HalfNormalPrior
from ..results import Results, build_datatree, posterior_array
from ._base import check_sampling_args, run_nuts
from .fusion_data import FusionSources

__all__ = ["Fusion", "cumulative_deaths", "fusion_summary", "leave_one_out",
           "leave_one_out_table", "JUDGEMENT"]

#: The newsroom's stated coverage judgement, shown beside the learned coverage.
JUDGEMENT = (0.45, 0.65)
_Z90 = 1.6448536269514722


def _lognormal_from_interval(lo: float, hi: float, name: str) -> tuple[float, float]:
    if not 0 < lo < hi:
        raise PriorError(f"{name}={(lo, hi)!r} is not an interval: expected 0 < low < high.")
    return 0.5 * (np.log(lo) + np.log(hi)), (np.log(hi) - np.log(lo)) / (2 * _Z90)


def _beta(value: BetaPrior | tuple[float, float], name: str) -> BetaPrior:
    if isinstance(value, BetaPrior):
        return value
    if isinstance(value, Sequence) and len(value) == 2:
        return BetaPrior.from_interval(float(value[0]), float(value[1]), mass=0.9)
    raise PriorError(f"{name}={value!r} is not a prior: expected a BetaPrior or (low, high).")


@dataclass(frozen=True)
class Fusion:
    r"""A latent death series fitted to a named list, its chart and measurements.

    Parameters
    ----------
    coverage : BetaPrior or (low, high), default uniform
        Prior on the list's eventual coverage :math:`c`; a pair is a central 90%
        interval.  Uniform by default, so that coverage is learned from the sources.
    coverage_drift : float, default 0
        Prior sd :math:`\tau_c` of the linear trend of logit coverage per year; 0 keeps
        coverage constant.
    chart_ratio : BetaPrior or (low, high), default (0.3, 0.95)
        Prior (central 90%) on the chart's share :math:`r` of the list's names.
    delay_median : (low, high), default (2, 52)
        Central 90% prior interval of the median delay to naming, in weeks.
    delay_sdlog : (low, high), default (0.5, 2.0)
        Central 90% prior interval of the delay's lognormal sdlog.
    milestone_sd : float, default 0.03
        Relative misfit :math:`\sigma_L` allowed to the milestones.
    intensity_drift : float, default 0.3
        Scale :math:`\tau_\lambda` of the half-normal prior on the random walk's sd per
        period.
    first_level : (mean, sd), default (5.0, 3.0)
        Normal prior of :math:`\log\lambda_1`, log deaths in the first period.
    age_share_ess : float, default 200
        How many observations the named list's age distribution is worth as the prior
        of each age band's share :math:`s_b` (fewer than the thousands of named, since
        the list's dead may be younger or older than the unnamed).

    Examples
    --------
    >>> from casualty_models.models.fusion import Fusion
    >>> from casualty_models.models.fusion_data import russia_sources
    >>> res = Fusion().fit(russia_sources(), random_seed=1)  # doctest: +SKIP
    """

    coverage: BetaPrior | tuple[float, float] = field(default_factory=BetaPrior.uniform)
    coverage_drift: float = 0.0
    chart_ratio: BetaPrior | tuple[float, float] = (0.3, 0.95)
    delay_median: tuple[float, float] = (2.0, 52.0)
    delay_sdlog: tuple[float, float] = (0.5, 2.0)
    milestone_sd: float = 0.03
    intensity_drift: float = 0.3
    first_level: tuple[float, float] = (5.0, 3.0)
    age_share_ess: float = 200.0

    def __post_init__(self) -> None:
        _beta(self.coverage, "coverage")
        _beta(self.chart_ratio, "chart_ratio")
        _lognormal_from_interval(*self.delay_median, "delay_median")
        _lognormal_from_interval(*self.delay_sdlog, "delay_sdlog")
        for name in ("milestone_sd", "intensity_drift", "age_share_ess"):
            HalfNormalPrior(getattr(self, name))  # positive and finite
        if not np.isfinite(self.coverage_drift) or self.coverage_drift < 0:
            raise PriorError(f"coverage_drift={self.coverage_drift!r}: expected a number >= 0.")
        m, s = self.first_level
        if not (np.isfinite(m) and np.isfinite(s) and s > 0):
            raise PriorError(f"first_level={self.first_level!r}: expected (mean, sd > 0).")

    # ---------------------------------------------------------------- priors
    def priors(self, sources: FusionSources | None = None) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        cov, rat = _beta(self.coverage, "coverage"), _beta(self.chart_ratio, "chart_ratio")
        out: dict[str, Any] = {
            "coverage": {**cov.to_dict(), "text": str(cov) + (
                f"; logit trend per year ~ Normal(0, {self.coverage_drift})"
                if self.coverage_drift > 0 else "; constant over time")},
            "chart_ratio": {**rat.to_dict(), "text": str(rat)},
            "delay": (f"lognormal, median in weeks central 90% {self.delay_median}, sdlog "
                      f"central 90% {self.delay_sdlog}"),
            "intensity": (f"log-intensity random walk, log lambda_1 ~ Normal"
                          f"{self.first_level}, sd ~ HalfNormal({self.intensity_drift})"),
            "chart_dispersion": "1/sqrt(phi) ~ HalfNormal(1)",
            "milestones": f"log total ~ Normal(log expected, {self.milestone_sd})",
        }
        if sources is not None:
            for band, (k, n) in sources.age_counts.items():
                a, b = self._share_ab(k, n)
                out[f"age_share_{band}"] = (f"Beta({a:.4g}, {b:.4g}) from {k:,} of {n:,} named "
                                            f"dead with a known age, worth {self.age_share_ess:g}")
        return out

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"coverage": _beta(self.coverage, "coverage").to_dict(),
                "coverage_drift": self.coverage_drift,
                "chart_ratio": _beta(self.chart_ratio, "chart_ratio").to_dict(),
                "delay_median": self.delay_median, "delay_sdlog": self.delay_sdlog,
                "milestone_sd": self.milestone_sd, "intensity_drift": self.intensity_drift,
                "first_level": self.first_level, "age_share_ess": self.age_share_ess}

    def _share_ab(self, k: int, n: int) -> tuple[float, float]:
        return 1.0 + self.age_share_ess * k / n, 1.0 + self.age_share_ess * (n - k) / n

    # ----------------------------------------------------------------- model
    def build_model(self, sources: FusionSources) -> Any:
        """The PyMC model for ``sources``.

        Counts, measured values and the weights of each source are ``pm.Data``: a model
        built once can be re-fitted (``fit(..., model=)``) to sources with the same
        layout, e.g. with a source dropped or simulated counts, without a new graph.
        """
        import pymc as pm
        import pytensor.tensor as pt

        if not isinstance(sources, FusionSources):
            raise DataValidationError(
                f"Fusion.fit needs FusionSources, got {type(sources).__name__}. Fix: build "
                "them with FusionSources.build(...), russia_sources() or sources_from_config()."
            )
        src = sources
        n_t = src.n_periods
        n_c = int(src.chart_mask.sum())
        meas = src.measurements
        bands = src.bands
        coords = {"period": src.period_labels, "chart_period": src.period_labels[:n_c],
                  "milestone": [str(d.date()) for d in src.milestones.index],
                  "measurement": [m.name for m in meas], "band": bands}
        cov, rat = _beta(self.coverage, "coverage"), _beta(self.chart_ratio, "chart_ratio")
        dm_mu, dm_sd = _lognormal_from_interval(*self.delay_median, "delay_median")
        ds_mu, ds_sd = _lognormal_from_interval(*self.delay_sdlog, "delay_sdlog")
        frac_s, age_s = src.ages_at(src.snapshot_date)
        ms_frac, ms_age = np.zeros((0, n_t)), np.zeros((0, n_t))
        if len(src.milestones):
            pairs = [src.ages_at(d) for d in src.milestones.index]
            ms_frac, ms_age = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        w_meas = (np.stack([src.window_weights(m.start, m.end) for m in meas]) if meas
                  else np.zeros((0, n_t)))
        band_of = np.array([bands.index(m.band) if m.band in bands else -1 for m in meas],
                           dtype=int)
        years = np.asarray((src.starts - src.starts[0]).days, dtype=float) / 365.25
        years = years - years.mean()
        y0 = np.maximum(src.chart[:n_c].astype(float), 0.5)
        wts = src.weights()

        def delay_cdf(age: Any, mu: Any, sig: Any) -> Any:
            z = (pt.log(pt.maximum(age, 1e-6)) - mu) / sig
            return pt.switch(age > 0, 0.5 * pt.erfc(-z / np.sqrt(2.0)), 0.0)

        with pm.Model(coords=coords) as model:
            y = pm.Data("chart", src.chart[:n_c], dims="chart_period")
            use_chart = pm.Data("use_chart", wts["chart"])
            use_ms = pm.Data("use_milestones", wts["milestones"])
            ms_log = pm.Data("milestone_log_total",
                             np.log(np.maximum(src.milestones.to_numpy(float), 1.0)),
                             dims="milestone")
            m_val = pm.Data("measurement_value", np.array([m.value for m in meas]),
                            dims="measurement")
            m_sd = pm.Data("measurement_sd", np.array([m.sd for m in meas]),
                           dims="measurement")
            use_m = pm.Data("use_measurement", wts["measurements"], dims="measurement")

            c0 = pm.Beta("coverage_ref", alpha=cov.alpha, beta=cov.beta)
            if self.coverage_drift > 0:
                trend = pm.Normal("coverage_trend", 0.0, self.coverage_drift)
                c_t = pm.math.sigmoid(pm.math.logit(c0) + trend * years)
            else:
                c_t = c0 * pt.ones(n_t)
            r = pm.Beta("chart_ratio", alpha=rat.alpha, beta=rat.beta)
            d_mu = pm.Normal("delay_log_median", dm_mu, dm_sd)
            d_ls = pm.Normal("delay_log_sdlog", ds_mu, ds_sd)
            d_sig = pt.exp(d_ls)
            f_s = delay_cdf(pt.as_tensor(age_s), d_mu, d_sig) * frac_s  # named by S

            # Chart periods: the free coordinates are the log expected chart counts, which
            # the counts pin down (log lambda = log m - log(c r F), a shift: unit Jacobian);
            # sampling log lambda itself puts a ridge between the last periods' intensity
            # and the delay.  Later periods: log lambda directly.
            log_m = pm.Flat("log_chart_mean", dims="chart_period", initval=np.log(y0))
            log_lam_c = log_m - pt.log(pt.clip(c_t[:n_c] * r * f_s[:n_c], 1e-12, 1.0))
            sd_l = pm.HalfNormal("intensity_sd", sigma=self.intensity_drift)
            pm.Potential("intensity_first", pm.logp(
                pm.Normal.dist(self.first_level[0], self.first_level[1]), log_lam_c[0]))
            if n_c > 1:
                pm.Potential("intensity_walk", pm.logp(
                    pm.Normal.dist(0.0, sd_l), pt.diff(log_lam_c)).sum())
            if n_t > n_c:  # after the chart the data are weak: non-centred walk (no funnel)
                z = pm.Normal("intensity_after_z", 0.0, 1.0, shape=n_t - n_c)
                log_lam = pt.concatenate([log_lam_c, log_lam_c[-1] + pt.cumsum(sd_l * z)])
            else:
                log_lam = log_lam_c
            lam = pm.Deterministic("intensity", pt.exp(log_lam), dims="period")

            inv = pm.HalfNormal("inv_sqrt_dispersion", sigma=1.0)
            alpha = pm.Deterministic("chart_dispersion", 1.0 / (inv**2 + 1e-6))
            pm.Potential("chart_fit", use_chart * pm.logp(
                pm.NegativeBinomial.dist(mu=pt.exp(log_m), alpha=alpha), y).sum())
            if len(src.milestones):
                f_k = delay_cdf(pt.as_tensor(ms_age), d_mu, d_sig) * ms_frac  # (K, T)
                expect = (f_k * (lam * c_t)[None, :]).sum(axis=1)
                pm.Potential("milestone_fit", use_ms * pm.logp(
                    pm.Normal.dist(pt.log(pt.maximum(expect, 1e-9)), self.milestone_sd),
                    ms_log).sum())
            if meas:
                if bands:
                    ab = np.array([self._share_ab(*src.age_counts[b]) for b in bands])
                    share = pm.Beta("age_share", alpha=ab[:, 0], beta=ab[:, 1], dims="band")
                    share_all = pt.concatenate([share, pt.ones(1)])
                    s_j = share_all[band_of]  # -1 picks the trailing 1: all ages
                else:
                    s_j = pt.ones(len(meas))
                mean_j = s_j * pt.dot(pt.as_tensor(w_meas), lam)
                sd_j = pt.sqrt(m_sd**2 + mean_j)
                pm.Potential("measurement_fit", (use_m * pm.logp(
                    pm.Normal.dist(mean_j, sd_j), m_val)).sum())
        model._cm_layout = src.layout()
        return model

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        sources: FusionSources,
        *,
        draws: int = 1000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        target_accept: float = 0.9,
        at: Sequence[Any] = (),
        report_by: Any = None,
        leave_one_out: bool = False,
        model: Any = None,
    ) -> Results:
        """Sample the posterior and draw deaths, totals and names.

        Parameters
        ----------
        sources : FusionSources
        draws, chains, tune : int
            NUTS settings (draws per chain).
        random_seed : int, optional
            Same seed, same draws; recorded with the result.
        at : dates
            Dates for ``cumulative`` (deaths from the first period to each date).
        report_by : date, optional
            Date for ``reported_by`` (names of each year's deaths on the list by then);
            default the list's next milestone after ``as_of`` if known, else ``as_of``.
        leave_one_out : bool
            Also refit without each source in turn (same graph) and store how the
            totals move (``constant_data/leave_one_out``).
        model : pymc.Model, optional
            A model from :meth:`build_model` for sources with the same layout.
        """
        check_sampling_args(draws, chains, tune)
        model = self._model_for(sources, model)
        tree, wall = run_nuts(model, draws=draws, tune=tune, chains=chains,
                              random_seed=random_seed, target_accept=target_accept)
        res = self._package(sources, tree, wall, random_seed, at=at, report_by=report_by)
        if leave_one_out:
            table = leave_one_out_table(self, sources, res, model=model, draws=draws,
                                        chains=chains, tune=tune, random_seed=random_seed,
                                        target_accept=target_accept)
            res.tree["constant_data"] = res.tree["constant_data"].to_dataset().assign(
                leave_one_out=table)
        return res

    def _model_for(self, sources: FusionSources, model: Any) -> Any:
        import pymc as pm

        if model is None:
            return self.build_model(sources)
        if getattr(model, "_cm_layout", None) != sources.layout():
            raise DataValidationError(
                "model= was built for sources with another layout (periods, milestone "
                "dates or measurement windows differ). Fix: build_model(sources)."
            )
        n_c = int(sources.chart_mask.sum())
        w = sources.weights()
        with model:
            pm.set_data({
                "chart": sources.chart[:n_c],
                "use_chart": w["chart"], "use_milestones": w["milestones"],
                "milestone_log_total": np.log(np.maximum(sources.milestones.to_numpy(float),
                                                         1.0)),
                "measurement_value": np.array([m.value for m in sources.measurements]),
                "measurement_sd": np.array([m.sd for m in sources.measurements]),
                "use_measurement": w["measurements"],
            })
        return model

    # ------------------------------------------------------------- packaging
    def _coverage_t(self, post: Any, src: FusionSources) -> np.ndarray:
        c0 = np.asarray(post["coverage_ref"].values)[..., None]
        if "coverage_trend" not in post:
            return np.broadcast_to(c0, c0.shape[:2] + (src.n_periods,)).copy()
        years = np.asarray((src.starts - src.starts[0]).days, dtype=float) / 365.25
        years = years - years.mean()
        lg = np.log(c0) - np.log1p(-c0) + np.asarray(post["coverage_trend"].values)[
            ..., None] * years
        return np.asarray(1.0 / (1.0 + np.exp(-lg)))

    def _delay_cdf(self, post: Any, age: np.ndarray) -> np.ndarray:
        from scipy.special import ndtr

        mu = np.asarray(post["delay_log_median"].values)[..., None]
        sig = np.exp(np.asarray(post["delay_log_sdlog"].values))[..., None]
        z = (np.log(np.maximum(age, 1e-6)) - mu) / sig
        return np.where(age > 0, ndtr(z), 0.0)

    def _package(self, src: FusionSources, tree: Any, wall: float, random_seed: int | None,
                 *, at: Sequence[Any], report_by: Any) -> Results:
        post = tree["posterior"]
        lam = np.asarray(post["intensity"].values)  # (c, k, t)
        rng = np.random.default_rng(None if random_seed is None else [random_seed, 11])
        deaths = rng.poisson(lam).astype(np.int64)
        cov_t = self._coverage_t(post, src)
        frac_s, age_s = src.ages_at(src.as_of)
        named_now = rng.binomial(deaths, np.clip(cov_t * self._delay_cdf(post, age_s) * frac_s,
                                                 0.0, 1.0))
        coords: dict[str, Any] = {"stratum": ["all"], "period": src.period_labels}
        dims4 = ["chain", "draw", "stratum", "period"]
        years = sorted({d.year for d in src.starts} | {(e - pd.Timedelta(days=1)).year
                                                        for e in src.ends})
        years = [y for y in years if pd.Timestamp(f"{y}-12-31") >= src.starts[0]
                 and pd.Timestamp(f"{y}-01-01") <= src.end]
        w_year = np.stack([src.window_weights(f"{y}-01-01", f"{y}-12-31") for y in years])
        by_year = np.rint(np.einsum("ckt,yt->cky", deaths, w_year)).astype(np.int64)
        posterior: dict[str, xr.DataArray] = {
            "N": posterior_array(deaths[:, :, None, :], dims4, coords),
            "N_unobserved": posterior_array((deaths - named_now)[:, :, None, :], dims4, coords),
            "N_cumulative": posterior_array(np.cumsum(deaths, axis=-1)[:, :, None, :], dims4,
                                            coords),
            "deaths_by_year": posterior_array(by_year, ["chain", "draw", "year"],
                                              {"year": [str(y) for y in years]}),
        }
        total = np.maximum(deaths.sum(axis=-1), 1)
        posterior["coverage"] = posterior_array(
            (cov_t * deaths).sum(axis=-1) / total, ["chain", "draw"])
        if "coverage_trend" in post:
            posterior["coverage_by_period"] = posterior_array(
                cov_t, ["chain", "draw", "period"], coords)
        at_dates = [pd.Timestamp(a).normalize() for a in at]
        for a in at_dates:
            if a < src.starts[0] or a > src.end:
                raise DataValidationError(
                    f"at={a.date()} is outside the modelled deaths ({src.starts[0].date()} to "
                    f"{src.end.date()}). Fix: pick a date inside, or extend the sources' end."
                )
        if at_dates:
            cum = np.stack([np.einsum("ckt,t->ck", deaths,
                                      src.window_weights(src.starts[0], a)) for a in at_dates],
                           axis=-1)
            posterior["cumulative"] = posterior_array(
                np.rint(cum).astype(np.int64), ["chain", "draw", "date"],
                {"date": [str(a.date()) for a in at_dates]})
        rb = self._report_by(src, report_by)
        f_rb, a_rb = src.ages_at(rb)
        p_rb = np.clip(cov_t * self._delay_cdf(post, a_rb) * f_rb, 0.0, 1.0)
        # names of each year's deaths on the list by rb: thin that year's share of D_t
        rep = np.stack([rng.binomial(np.rint(deaths * w).astype(np.int64), p_rb).sum(axis=-1)
                        for w in w_year], axis=-1)
        posterior["reported_by"] = posterior_array(rep, ["chain", "draw", "year"],
                                                   {"year": [str(y) for y in years]})
        # the list's total on later milestone dates (held out when after as_of)
        ms_dates = _all_milestones(src)
        if ms_dates:
            tot = []
            for md in ms_dates:
                f_md, age_md = src.ages_at(md)
                p = np.clip(cov_t * self._delay_cdf(post, age_md) * f_md, 0.0, 1.0)
                tot.append(rng.binomial(deaths, p).sum(axis=-1))
            posterior["list_total"] = posterior_array(
                np.stack(tot, axis=-1), ["chain", "draw", "list_date"],
                {"list_date": [str(md.date()) for md in ms_dates]})
        posterior["delay_median_weeks"] = posterior_array(
            np.exp(np.asarray(post["delay_log_median"].values)), ["chain", "draw"])
        groups = {f"/{p}": n.to_dataset(inherit=False) for p, n in tree.subtree_with_keys
                  if p and n.has_data}
        base = xr.DataTree.from_dict(groups)
        n_c = int(src.chart_mask.sum())
        chart = xr.DataArray(src.chart[:n_c], dims=("chart_period",),
                             coords={"chart_period": src.period_labels[:n_c]})
        const: dict[str, xr.DataArray] = {
            "observed": xr.DataArray(src.chart[None, :], dims=("stratum", "period"),
                                     coords={"stratum": ["all"], "period": src.period_labels}),
            "period_end": xr.DataArray([str(d.date()) for d in src.ends], dims=("period",),
                                       coords={"period": src.period_labels}),
        }
        obs: dict[str, xr.DataArray] = {"chart": chart}
        if len(src.milestones):
            obs["milestones"] = xr.DataArray(
                src.milestones.to_numpy(float), dims=("milestone",),
                coords={"milestone": [str(d.date()) for d in src.milestones.index]})
        if src.measurements:
            mc = {"measurement": [m.name for m in src.measurements]}
            obs["measurement_value"] = xr.DataArray(
                [m.value for m in src.measurements], dims=("measurement",), coords=mc)
            const["measurement_sd"] = xr.DataArray(
                [m.sd for m in src.measurements], dims=("measurement",), coords=mc)
            const["measurement_ages"] = xr.DataArray(
                [m.band for m in src.measurements], dims=("measurement",), coords=mc)
        extra = {"wall_time": wall, "as_of": str(src.as_of.date()),
                 "snapshot_date": str(src.snapshot_date.date()), "period": src.period,
                 "end": str(src.end.date()), "report_by": str(rb.date()),
                 "sources": [r for r in src.describe()], "dropped": list(src.dropped),
                 "judgement": list(JUDGEMENT),
                 "n_milestones_after_as_of": src.n_milestones_after_as_of}
        dt = build_datatree(
            posterior, model="Fusion", model_config=self.config(), priors=self.priors(src),
            random_seed=random_seed, data_fingerprint=src.fingerprint(),
            data_source=src.source, sampler="nuts", observed=int(src.chart.sum()),
            observed_data=obs, constant_data=const, base=base, extra_attrs=extra)
        return Results(dt)

    @staticmethod
    def _report_by(src: FusionSources, report_by: Any) -> pd.Timestamp:
        if report_by is not None:
            rb = pd.Timestamp(report_by).normalize()
            if rb < src.as_of:
                raise DataValidationError(
                    f"report_by {rb.date()} is before the analysis date {src.as_of.date()}: "
                    "expected a later date (what the list will show then)."
                )
            return rb
        return src.as_of


def _all_milestones(src: FusionSources) -> list[pd.Timestamp]:
    """Milestone dates to predict: the fitted ones and, for the shipped bundle, later ones."""
    dates = list(src.milestones.index)
    if src.source == "dataset:russia":
        from ..datasets import load

        ms = pd.to_datetime(load("russia_milestones")["date"])
        dates += [d for d in ms if src.as_of < d <= src.end]
    return sorted(set(dates))


# ----------------------------------------------------------------- summaries
def _stats(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=float).ravel()
    return {"median": float(np.median(x)), "mean": float(x.mean()),
            "q025": float(np.quantile(x, 0.025)), "q975": float(np.quantile(x, 0.975))}


def cumulative_deaths(results: Results, date: Any) -> np.ndarray:
    """Draws of the deaths from the first period up to ``date`` (inclusive).

    Periods cut by ``date`` count with the share of their days before it.
    """
    post = results.posterior
    starts = pd.DatetimeIndex(pd.to_datetime(post["N"].coords["period"].values))
    ends = pd.DatetimeIndex(pd.to_datetime(
        np.asarray(results.tree["constant_data"]["period_end"].values)))
    d = pd.Timestamp(date).normalize() + pd.Timedelta(days=1)
    if d <= starts[0] or d > ends[-1]:
        raise DataValidationError(
            f"date {pd.Timestamp(date).date()} is outside the modelled deaths "
            f"({starts[0].date()} to {(ends[-1] - pd.Timedelta(days=1)).date()})."
        )
    days = np.clip((d - starts).days, 0, None)
    w = np.minimum(days / (ends - starts).days, 1.0)
    n = np.asarray(post["N"].sum("stratum").values, dtype=float)
    return np.asarray(np.einsum("ckt,t->ck", n, np.asarray(w, dtype=float)).ravel())


def fusion_summary(results: Results) -> dict[str, Any]:
    """JSON-ready summary: years, cumulative, coverage, reported_by, list totals, sources."""
    post = results.posterior
    out: dict[str, Any] = {
        "years": {str(y): _stats(post["deaths_by_year"].sel(year=y).values)
                  for y in post["deaths_by_year"].coords["year"].values},
        "cumulative": ({str(d): _stats(post["cumulative"].sel(date=d).values)
                        for d in post["cumulative"].coords["date"].values}
                       if "cumulative" in post else {}),
        "coverage": {k: v for k, v in _stats(post["coverage"].values).items() if k != "mean"},
        "coverage_judgement": list(JUDGEMENT),
        "reported_by": {str(y): _stats(post["reported_by"].sel(year=y).values)
                        for y in post["reported_by"].coords["year"].values},
        "report_by": results.attrs.get("report_by"),
        "chart_ratio": _stats(post["chart_ratio"].values),
        "delay_median_weeks": _stats(post["delay_median_weeks"].values),
    }
    if "list_total" in post:
        out["list_total"] = {str(d): _stats(post["list_total"].sel(list_date=d).values)
                             for d in post["list_total"].coords["list_date"].values}
    import json

    out["sources"] = json.loads(results.attrs.get("sources", "[]"))
    out["as_of"] = results.attrs.get("as_of")
    if "constant_data" in results.tree.children and (
            "leave_one_out" in results.tree["constant_data"].data_vars):
        loo = results.tree["constant_data"]["leave_one_out"]
        out["leave_one_out"] = {
            str(s): {str(q): {str(k): float(loo.sel(dropped=s, quantity=q, stat=k))
                              for k in loo.coords["stat"].values}
                     for q in loo.coords["quantity"].values}
            for s in loo.coords["dropped"].values}
    return out


def _key_quantities(res: Results) -> dict[str, np.ndarray]:
    post = res.posterior
    out = {f"deaths {y}": post["deaths_by_year"].sel(year=y).values.ravel()
           for y in post["deaths_by_year"].coords["year"].values}
    out["coverage"] = post["coverage"].values.ravel()
    if "cumulative" in post:
        for d in post["cumulative"].coords["date"].values:
            out[f"cumulative {d}"] = post["cumulative"].sel(date=d).values.ravel()
    return out


def leave_one_out_table(fusion: Fusion, sources: FusionSources, full: Results, *,
                        model: Any = None, **fit_kwargs: Any) -> xr.DataArray:
    """How each total moves when each source is dropped (one graph, refitted).

    Returns a DataArray ``(dropped, quantity, stat)``: ``dropped`` is ``"none"`` (all
    sources) then each source; ``stat`` is ``median``, ``q025``, ``q975``, ``shift``
    (change of the median against all sources).
    """
    at = list(full.posterior["cumulative"].coords["date"].values) if (
        "cumulative" in full.posterior) else []
    runs = {"none": _key_quantities(full)}
    for s in sources.active_sources:
        res = fusion.fit(sources.drop(s), at=at, model=model, **fit_kwargs)
        runs[s] = _key_quantities(res)
    quantities = list(runs["none"])
    stats = ["median", "q025", "q975", "shift"]
    arr = np.full((len(runs), len(quantities), len(stats)), np.nan)
    for i, r in enumerate(runs.values()):
        for j, q in enumerate(quantities):
            x = r[q]
            arr[i, j, :3] = np.median(x), np.quantile(x, 0.025), np.quantile(x, 0.975)
            arr[i, j, 3] = arr[i, j, 0] - np.median(runs["none"][q])
    return xr.DataArray(arr, dims=("dropped", "quantity", "stat"),
                        coords={"dropped": list(runs), "quantity": quantities, "stat": stats})


def leave_one_out(results: Results) -> pd.DataFrame:
    """The leave-one-source-out table of a fit made with ``leave_one_out=True``."""
    if "leave_one_out" not in results.tree["constant_data"].data_vars:
        raise DataValidationError(
            "this result has no leave-one-out table. Fix: fit with leave_one_out=True."
        )
    da = results.tree["constant_data"]["leave_one_out"]
    return da.to_dataframe(name="value")["value"].unstack("stat")[
        ["median", "q025", "q975", "shift"]]
