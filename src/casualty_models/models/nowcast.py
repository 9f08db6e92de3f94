r"""Nowcasting: eventual counts of the periods still being reported, and true deaths.

Model
-----
Let :math:`n_{s,t,d}` be the deaths of stratum :math:`s` and event period
:math:`t` reported with delay :math:`d \in \{0, \dots, D\}` (a
:class:`~casualty_models.triangle.ReportingTriangle`).  Then

.. math::

    n_{s,t,d} &\sim \mathrm{NegBin}(\lambda_{s,t}\, p_{t,d},\ \phi), \\
    \log \lambda_{s,t} &= \log \lambda_{s,t-1} + \sigma_\lambda z_{s,t},
        \quad z_{s,t} \sim N(0, 1), \quad \sigma_\lambda \sim
        \mathrm{HalfNormal}(\tau_\lambda), \\
    \phi^{-1/2} &\sim \mathrm{HalfNormal}(1).

The delay distribution :math:`p_{t,\cdot}` may drift slowly over event
periods through a random walk :math:`\gamma_t` anchored at the last period
(:math:`\gamma_T = 0`, so its prior describes the *current* delay):
:math:`\gamma_{t-1} = \gamma_t + \sigma_\gamma u_t`, :math:`u_t \sim N(0,1)`,
:math:`\sigma_\gamma \sim \mathrm{HalfNormal}(\tau_\gamma)`.

- ``delay="hazard"`` (nonparametric): :math:`\mathrm{logit}\, h_{t,d} =
  \beta_d + \gamma_t` for :math:`d < D`, :math:`h_{t,D} = 1`,
  :math:`p_{t,d} = h_{t,d} \prod_{k<d} (1 - h_{t,k})`, with
  :math:`\beta_d \sim N(\mathrm{logit}\, \tfrac{1}{D + 1 - d}, s_\beta)`
  (centred on a uniform delay).  :math:`\gamma_t > 0` means faster reports.
- ``delay="lognormal"`` (parametric, for data that barely inform the
  delay): :math:`P(\text{delay} \le d) = \Phi\{(\log(d + 1) - \mu -
  \gamma_t)/\sigma\}` for :math:`d < D` and 1 at :math:`D`, with
  :math:`\mu` and :math:`\log\sigma` normal, from the stated median delay.

**Right truncation** is handled by using only the observable cells: with
snapshots only the increments between known cumulative counts, each
:math:`\sim \mathrm{NegBin}(\lambda_{s,t} \sum_{d=a}^{b} p_{t,d}, \phi)`.
The eventual reported count is the reported-so-far count plus negative
binomial draws of the cells not yet observable,

.. math::

    E_{s,t} = \textstyle\sum_{d \le d^*_t} n_{s,t,d} + \sum_{d > d^*_t}
    \tilde n_{s,t,d}, \qquad \tilde n_{s,t,d} \sim \mathrm{NegBin}(\lambda_{s,t}
    p_{t,d}, \phi).

**Coverage.** With a coverage prior, the eventual count is a fraction
:math:`c_t` of the true deaths :math:`N_{s,t}`:
:math:`E_{s,t} \mid N_{s,t} \sim \mathrm{Binomial}(N_{s,t}, c_t)`,
:math:`p(N) \propto 1/N`, so :math:`N_{s,t} - E_{s,t} \sim
\mathrm{NegBin}(E_{s,t}, c_t)` (the under-reporting model).  :math:`c_T
\sim \mathrm{Beta}(a, b)` and, optionally, :math:`\mathrm{logit}\, c_{t-1}
= \mathrm{logit}\, c_t + \sigma_c v_t` (a slowly changing coverage).  The
data carry no information on coverage, so it is drawn exactly from its prior.

Posterior sampled with NUTS (PyMC); ``eventual``, ``N`` and ``coverage`` are
drawn afterwards from their exact conditionals with a seeded generator.

Identifying assumption
----------------------
The delay distribution of the periods still being reported is the one
estimated from the earlier, (nearly) complete periods, allowed to drift
only as slowly as the random walk :math:`\gamma_t` lets it; and the
intensity changes smoothly.  A sudden change of reporting speed in the last
few periods cannot be told apart from a change in the number of deaths.
With a single snapshot (no report dates) nothing in the data measures the
delay: the answer rests entirely on the stated delay prior.  With a
coverage prior, the total additionally rests on that prior, as in
:class:`~casualty_models.models.underreporting.UnderReporting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataValidationError, PriorError
from ..priors import BetaPrior, HalfNormalPrior
from ..results import Results, build_datatree, posterior_array
from ..triangle import ReportingTriangle
from ._base import check_sampling_args, nuts_results, run_nuts

__all__ = ["Nowcast", "backtest", "crps_samples", "periods_json", "periods_table",
           "calibrate_delay_from_milestones", "score_nowcast", "simulate_line_list"]

_DELAYS = ("hazard", "lognormal")
_Z95 = 1.6448536269514722  # central 90% of a normal: +-1.645 sd


@dataclass(frozen=True)
class Nowcast:
    r"""Nowcast of eventual reported counts, optionally scaled by coverage to true deaths.

    Parameters
    ----------
    delay : {"hazard", "lognormal"}, default "hazard"
        Nonparametric discrete hazard, or a discretised lognormal delay.
    delay_median : (low, high), optional
        Central 90% prior interval of the median delay in periods
        (``delay="lognormal"``; default ``(1, D/2)``).
    delay_sigma : (low, high), default (0.5, 1.5)
        Central 90% prior interval of the lognormal sdlog (``"lognormal"``).
    hazard_prior_sd : float, default 1.5
        Prior sd :math:`s_\beta` of the logit hazards (``"hazard"``).
    delay_drift : float, default 0.3
        Scale :math:`\tau_\gamma` of the half-normal prior on the per-period
        sd of the delay random walk; 0 holds the delay fixed over time.
    delay_knots : int, default 7
        The delay random walk moves at knots this many periods apart (back from
        the last period) and linearly in between, with the same per-period
        variance.  Reporting speed rarely changes from one day to the next in a
        way the data could tell apart from a weekly trend, and coarser knots mean
        a far smaller posterior for NUTS (HUS: 34 -> 5 delay coordinates); 1 gives
        one step per period.
    intensity_drift : float, default 0.5
        Scale :math:`\tau_\lambda` of the half-normal prior on the per-period
        sd of the log-intensity random walk.
    coverage : BetaPrior or (low, high), optional
        Prior on the fraction of deaths that eventually get reported; a pair
        is the central ``coverage_mass`` interval of a Beta prior.  Without
        it ``N`` is the eventual reported count.
    coverage_mass : float, default 0.9
    coverage_drift : float, default 0.0
        Per-period sd :math:`\sigma_c` of the random walk of logit coverage
        (backwards from the last period); 0 keeps coverage constant.

    Examples
    --------
    >>> from casualty_models import ReportingTriangle, datasets
    >>> tri = ReportingTriangle.from_line_list(
    ...     datasets.load("hus_o104"), event_date="hospitalisation_date",
    ...     report_date="report_date", now="2011-06-10", max_delay=15)
    >>> res = Nowcast().fit(tri, draws=500, random_seed=1)  # doctest: +SKIP
    """

    delay: Literal["hazard", "lognormal"] = "hazard"
    delay_median: tuple[float, float] | None = None
    delay_sigma: tuple[float, float] = (0.5, 1.5)
    hazard_prior_sd: float = 1.5
    delay_drift: float = 0.3
    delay_knots: int = 7
    intensity_drift: float = 0.5
    coverage: BetaPrior | tuple[float, float] | None = None
    coverage_mass: float = 0.9
    coverage_drift: float = 0.0

    def __post_init__(self) -> None:
        if self.delay not in _DELAYS:
            raise DataValidationError(
                f"delay={self.delay!r} is unknown: expected one of {list(_DELAYS)}."
            )
        if (isinstance(self.delay_knots, bool) or not isinstance(self.delay_knots, int)
                or self.delay_knots < 1):
            raise PriorError(
                f"delay_knots={self.delay_knots!r} is not allowed: expected an integer >= 1."
            )
        for name in ("delay_drift", "coverage_drift"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise PriorError(f"{name}={v!r} is not allowed: expected a number >= 0.")
        HalfNormalPrior(self.intensity_drift)
        HalfNormalPrior(self.hazard_prior_sd)
        for name in ("delay_median", "delay_sigma"):
            v = getattr(self, name)
            if v is None:
                continue
            if len(v) != 2 or not 0 < v[0] < v[1]:
                raise PriorError(
                    f"{name}={v!r} is not an interval: expected (low, high) with "
                    "0 < low < high."
                )
        _ = self.coverage_prior

    # --------------------------------------------------------------- priors
    @property
    def coverage_prior(self) -> BetaPrior | None:
        """The Beta prior on coverage (``None`` without coverage)."""
        cov = self.coverage
        if cov is None or isinstance(cov, BetaPrior):
            return cov
        if isinstance(cov, Sequence) and len(cov) == 2:
            return BetaPrior.from_interval(float(cov[0]), float(cov[1]), mass=self.coverage_mass)
        raise PriorError(
            f"coverage={cov!r} is not a prior: expected a BetaPrior or a (low, high) pair "
            "such as (0.45, 0.65)."
        )

    def _lognormal_priors(self, max_delay: int) -> tuple[float, float, float, float]:
        lo, hi = self.delay_median or (1.0, max(2.0, max_delay / 2))
        mu_m, mu_s = 0.5 * (np.log(lo) + np.log(hi)), (np.log(hi) - np.log(lo)) / (2 * _Z95)
        slo, shi = self.delay_sigma
        ls_m, ls_s = 0.5 * (np.log(slo) + np.log(shi)), (np.log(shi) - np.log(slo)) / (2 * _Z95)
        return float(mu_m), float(mu_s), float(ls_m), float(ls_s)

    def priors(self, max_delay: int = 1) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        out: dict[str, Any] = {
            "intensity": f"log-intensity random walk, sd ~ HalfNormal({self.intensity_drift})",
            "dispersion": "1/sqrt(phi) ~ HalfNormal(1)",
            "delay_drift": (f"delay random walk (anchored at the last period), sd ~ "
                            f"HalfNormal({self.delay_drift})" if self.delay_drift > 0
                            else "delay constant over time"),
        }
        if self.delay == "hazard":
            out["delay"] = (f"logit hazard beta_d ~ Normal(logit(1/(D+1-d)), "
                            f"{self.hazard_prior_sd}) (centred on a uniform delay)")
        else:
            mu_m, mu_s, ls_m, ls_s = self._lognormal_priors(max_delay)
            out["delay"] = (f"discretised lognormal: log median ~ Normal({mu_m:.3g}, "
                            f"{mu_s:.3g}), log sdlog ~ Normal({ls_m:.3g}, {ls_s:.3g})")
        beta = self.coverage_prior
        if beta is not None:
            out["coverage"] = {**beta.to_dict(), "text": str(beta)
                               + (f"; logit random walk sd {self.coverage_drift} per period"
                                  if self.coverage_drift > 0 else "")}
            out["N"] = "p(N) proportional to 1/N per period"
        return out

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        beta = self.coverage_prior
        return {"delay": self.delay, "delay_median": self.delay_median,
                "delay_sigma": self.delay_sigma, "hazard_prior_sd": self.hazard_prior_sd,
                "delay_drift": self.delay_drift, "delay_knots": self.delay_knots,
                "intensity_drift": self.intensity_drift,
                "coverage": None if beta is None else beta.to_dict(),
                "coverage_mass": self.coverage_mass, "coverage_drift": self.coverage_drift}

    # ---------------------------------------------------------------- model
    def build_model(self, triangle: ReportingTriangle) -> Any:
        """The PyMC model for ``triangle`` (data in ``pm.Data`` container ``count``).

        A model built once can be re-fitted to another triangle with the
        same layout (same periods, delays and known cells) by
        :meth:`fit` with ``model=``: only the counts change, so the graph is
        compiled once.
        """
        import pymc as pm
        import pytensor.tensor as pt

        if not isinstance(triangle, ReportingTriangle):
            raise DataValidationError(
                f"Nowcast.fit needs a ReportingTriangle, got {type(triangle).__name__}. Fix: "
                "build one with ReportingTriangle.from_line_list(...) or .from_snapshots(...)."
            )
        inc = triangle.increments()
        if inc["count"].size == 0:
            raise DataValidationError(
                "the triangle has no observed cell: nothing was reported by now="
                f"{triangle.now.date()}."
            )
        n_s, n_t, d1 = triangle.cumulative.shape
        dmax = d1 - 1
        rate = max(float(triangle.reported.sum()) / max(n_s * n_t, 1), 0.5)
        coords = {"stratum": list(triangle.strata), "period": triangle.period_labels,
                  "delay": list(range(d1))}
        with pm.Model(coords=coords) as model:
            y = pm.Data("count", _dense_counts(triangle), dims=("stratum", "period", "delay"))
            # intensity: random walk on the log scale, one per stratum
            sd_l = pm.HalfNormal("intensity_sd", sigma=self.intensity_drift)
            # delay drift: random walk anchored at the last period
            if self.delay_drift > 0 and n_t > 1:
                sd_g = pm.HalfNormal("delay_drift_sd", sigma=self.delay_drift)
                # knots every `delay_knots` periods back from the last; a step between knots
                # k periods apart has sd sd_g sqrt(k); linear in between
                interp, gaps = _knot_interpolation(n_t, self.delay_knots)
                u = pm.Normal("delay_z", 0.0, 1.0, shape=len(gaps))
                steps = sd_g * np.sqrt(gaps) * u
                knots = pt.concatenate([pt.cumsum(steps[::-1])[::-1], pt.zeros(1)])
                gamma = pt.dot(interp, knots)
            else:
                gamma = pt.zeros(n_t)
            log_pmf = self._delay_log_pmf(pm, pt, gamma, dmax)
            pm.Deterministic("delay_pmf", pt.exp(log_pmf), dims=("period", "delay"))
            known, prev, last = _dense_layout(triangle)
            # log F_t(d*_t): share of period t's eventual count reported by now (0 if none)
            has_obs = last.sum(axis=-1) > 0
            log_cdf = _log_cumsum_exp(pt, log_pmf)
            log_f = pt.switch(has_obs, (log_cdf * last).sum(axis=-1), 0.0)
            # free parameters: log expected counts reported *so far*, m_t = lambda_t F_t,
            # which the data pin down; log lambda_t = log m_t - log F_t (unit Jacobian).
            # The delay then barely touches the intensities in the posterior (no ridge).
            log_m = pm.Flat("log_expected_so_far", dims=("stratum", "period"),
                            initval=np.log(np.maximum(triangle.reported, 0.5)))
            log_lam = log_m - log_f[None, :]
            # centred random walk on log lambda (the counts pin each period down well)
            pm.Potential("intensity_first", pm.logp(
                pm.Normal.dist(np.log(rate), 3.0), log_lam[:, 0]).sum())
            if n_t > 1:
                pm.Potential("intensity_walk", pm.logp(
                    pm.Normal.dist(0.0, sd_l), pt.diff(log_lam, axis=1)).sum())
            pm.Deterministic("intensity", pt.exp(log_lam), dims=("stratum", "period"))
            inv = pm.HalfNormal("inv_sqrt_dispersion", sigma=1.0)
            alpha = pm.Deterministic("dispersion", 1.0 / (inv**2 + 1e-6))
            # (1) reported so far R_t ~ NegBin(m_t, phi): thinning a NegBin(lambda_t, phi)
            # eventual count keeps phi
            rep = pm.Data("reported_so_far", triangle.reported.astype(np.int64),
                          dims=("stratum", "period"))
            obs = np.flatnonzero(has_obs)
            pm.Potential("reported_total", pm.logp(pm.NegativeBinomial.dist(
                mu=pt.exp(log_m[:, obs]), alpha=alpha), rep[:, obs]).sum())
            # (2) given R_t, the known increments are multinomial with the delay masses of
            # their ranges renormalised by F_t: sum y log(mass) - R_t log F_t
            if triangle.kind == "snapshots":
                cdf = pt.exp(log_cdf)
                cdf_prev = (prev * cdf[:, None, :]).sum(axis=-1)
                log_mass = pt.log(pt.clip(cdf - cdf_prev, 1e-12, 1.0))
            else:  # a line list knows every delay up to d*_t: the masses are the pmf
                log_mass = log_pmf
            pm.Potential("delays", (y * (log_mass * known)[None]).sum()
                         - (rep * log_f[None, :]).sum())
        model._cm_layout = _layout(triangle)
        return model

    def _delay_log_pmf(self, pm: Any, pt: Any, gamma: Any, dmax: int) -> Any:
        """Log delay pmf per period, shape (period, delay)."""
        n_t = gamma.shape[0]
        if dmax == 0:
            return pt.zeros((n_t, 1))
        if self.delay == "hazard":
            d = np.arange(dmax)
            centre = np.log(1.0 / (dmax + 1 - d)) - np.log1p(-1.0 / (dmax + 1 - d))
            zb = pm.Normal("hazard_z", 0.0, 1.0, shape=dmax)
            beta = pm.Deterministic("logit_hazard", centre + self.hazard_prior_sd * zb)
            eta = beta[None, :] + gamma[:, None]
            log_h = -pt.softplus(-eta)
            log_1mh = -pt.softplus(eta)
            log_surv = pt.concatenate([pt.zeros((n_t, 1)), pt.cumsum(log_1mh, axis=1)], axis=1)
            return pt.concatenate([log_h + log_surv[:, :dmax], log_surv[:, dmax:]], axis=1)
        mu_m, mu_s, ls_m, ls_s = self._lognormal_priors(dmax)
        mu = pm.Normal("delay_log_median", mu=mu_m, sigma=mu_s)
        log_sig = pm.Normal("delay_log_sdlog", mu=ls_m, sigma=ls_s)
        x = np.log(np.arange(1, dmax + 1, dtype=float))  # P(delay <= d) uses log(d + 1)
        z = (x[None, :] - (mu + gamma)[:, None]) / pt.exp(log_sig)
        cdf = 0.5 * (1.0 + pt.erf(z / np.sqrt(2.0)))
        cdf = pt.concatenate([pt.zeros((n_t, 1)), cdf, pt.ones((n_t, 1))], axis=1)
        return pt.log(pt.clip(cdf[:, 1:] - cdf[:, :-1], 1e-12, 1.0))

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        triangle: ReportingTriangle,
        *,
        draws: int = 1000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        target_accept: float = 0.9,
        model: Any = None,
        nuts_sampler: str | None = None,
        progress: bool | None = None,
    ) -> Results:
        """Sample the posterior and draw eventual counts (and true deaths).

        Parameters
        ----------
        triangle : ReportingTriangle
        draws, chains, tune : int
            NUTS settings (draws per chain).
        random_seed : int, optional
            Same seed, same draws; recorded with the result.
        model : pymc.Model, optional
            A model from :meth:`build_model` for a triangle with the same
            layout; its counts are replaced by ``triangle``'s (no new graph).
        nuts_sampler : str, optional
            ``"nutpie"`` (default), ``"pymc"``, ``"numpyro"`` or ``"blackjax"``.
        progress : bool, optional
            Progress bar (default: only when standard error is a terminal).

        Warns
        -----
        ConvergenceWarning
            When the chains have clearly not converged (see
            :func:`~casualty_models.models._base.nuts_results`).
        """
        import pymc as pm

        check_sampling_args(draws, chains, tune)
        if model is None:
            model = self.build_model(triangle)
        else:
            if getattr(model, "_cm_layout", None) != _layout(triangle):
                raise DataValidationError(
                    "model= was built for a triangle with another layout (periods, delays or "
                    "known cells differ). Fix: build a new model with build_model(triangle)."
                )
            with model:
                pm.set_data({"count": _dense_counts(triangle),
                             "reported_so_far": triangle.reported.astype(np.int64)})
        tree, wall = run_nuts(model, draws=draws, tune=tune, chains=chains,
                              random_seed=random_seed, target_accept=target_accept,
                              nuts_sampler=nuts_sampler, progress=progress)
        return nuts_results(self._package(triangle, tree, wall, random_seed), chains=chains)

    def _package(self, tri: ReportingTriangle, tree: Any, wall: float,
                 random_seed: int | None) -> xr.DataTree:
        # a re-used graph carries the period labels of the triangle it was built for
        groups = {}
        for path, node in tree.subtree_with_keys:
            if path and node.has_data:
                ds = node.to_dataset(inherit=False)
                if "period" in ds.dims:
                    ds = ds.assign_coords(period=tri.period_labels)
                groups[f"/{path}"] = ds
        tree = xr.DataTree.from_dict(groups)
        post = tree["posterior"]
        lam = np.asarray(post["intensity"].values)  # (c, d, s, t)
        pmf = np.asarray(post["delay_pmf"].values)  # (c, d, t, D1)
        alpha = np.asarray(post["dispersion"].values)  # (c, d)
        rng = np.random.default_rng(None if random_seed is None else [random_seed, 5])
        frailty, seen = _draw_frailty(rng, tri, lam, pmf, alpha)
        unseen_mean = lam * frailty * (1.0 - seen)
        eventual = tri.reported[None, None] + rng.poisson(unseen_mean).astype(np.int64)
        coords: dict[str, Any] = {"stratum": list(tri.strata), "period": tri.period_labels}
        dims = ["chain", "draw", "stratum", "period"]
        beta = self.coverage_prior
        posterior: dict[str, xr.DataArray] = {}
        if beta is not None:
            # N_t ~ Poisson(mu_t / c_t) thinned to E_t ~ Bin(N_t, c_t): the missed deaths
            # N_t - E_t ~ Poisson(mu_t (1 - c_t) / c_t) whatever E_t, so a period with no
            # report yet still gets a proper posterior (never N = 0 with certainty)
            cov = self._coverage_draws(rng, beta, eventual.shape[:2], tri.n_periods)
            c4 = cov[:, :, None, :]
            n = eventual + rng.poisson(lam * frailty * (1.0 - c4) / c4).astype(np.int64)
            posterior["coverage"] = posterior_array(cov, ["chain", "draw", "period"], coords)
        else:
            n = eventual
        posterior["N"] = posterior_array(n, dims, coords)
        posterior["N_unobserved"] = posterior_array(n - tri.reported[None, None], dims, coords)
        posterior["eventual"] = posterior_array(eventual.astype(np.int64), dims, coords)
        posterior["N_cumulative"] = posterior_array(np.cumsum(n, axis=-1), dims, coords)
        rep = xr.DataArray(tri.reported, dims=("stratum", "period"),
                           coords={k: coords[k] for k in ("stratum", "period")})
        complete = xr.DataArray(tri.complete, dims=("period",),
                                coords={"period": coords["period"]})
        extra = {"wall_time": wall, "now": str(tri.now.date()), "period": tri.period,
                 "max_delay": tri.max_delay, "triangle_kind": tri.kind,
                 "n_excluded_after_now": tri.n_excluded_after_now,
                 "n_dropped_long": tri.n_dropped_long}
        dt = build_datatree(
            posterior,
            model="Nowcast",
            model_config=self.config(),
            priors=self.priors(tri.max_delay),
            random_seed=random_seed,
            data_fingerprint=tri.fingerprint(),
            data_source=tri.source,
            sampler="nuts",
            observed=int(tri.reported.sum()),
            observed_data={"reported": rep},
            constant_data={"observed": rep, "complete": complete},
            base=tree,
            extra_attrs=extra,
        )
        return dt

    def _coverage_draws(self, rng: np.random.Generator, beta: BetaPrior,
                        shape: tuple[int, ...], n_t: int) -> np.ndarray:
        c_last = beta.rvs(shape, rng)
        if self.coverage_drift <= 0 or n_t == 1:
            return np.repeat(c_last[..., None], n_t, axis=-1)
        logit = np.log(c_last) - np.log1p(-c_last)
        steps = rng.normal(0.0, self.coverage_drift, size=shape + (n_t - 1,))
        back = np.cumsum(steps[..., ::-1], axis=-1)[..., ::-1]
        lg = np.concatenate([logit[..., None] + back, logit[..., None]], axis=-1)
        return 1.0 / (1.0 + np.exp(-lg))


def _dense_counts(tri: ReportingTriangle) -> np.ndarray:
    """Int64 (s, t, d): the increment ending at each known delay, 0 elsewhere."""
    out = np.zeros(tri.cumulative.shape, dtype=np.int64)
    inc = tri.increments()
    out[inc["stratum"], inc["period"], inc["d_hi"]] = inc["count"]
    return out


def _knot_interpolation(n_t: int, spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation (n_t, n_knots) from knots at T-1, T-1-spacing, ... (and 0).

    Returns the matrix and the gaps (in periods) between consecutive knots, oldest first.
    """
    pos = np.arange(n_t - 1, -1, -spacing)[::-1]
    if pos[0] != 0:
        pos = np.concatenate([[0], pos])
    interp = np.zeros((n_t, len(pos)))
    for t in range(n_t):
        j = min(int(np.searchsorted(pos, t, side="right")) - 1, len(pos) - 2)
        w = (t - pos[j]) / (pos[j + 1] - pos[j])
        interp[t, j], interp[t, j + 1] = 1.0 - w, w
    return interp, np.diff(pos).astype(float)


def _log_cumsum_exp(pt: Any, log_p: Any) -> Any:
    """Log of the cumulative sum along the last axis, stably (a running logaddexp)."""
    top = pt.max(log_p, axis=-1, keepdims=True)
    return pt.log(pt.clip(pt.cumsum(pt.exp(log_p - top), axis=-1), 1e-300, np.inf)) + top


def _dense_layout(tri: ReportingTriangle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layout arrays: known mask, previous known delay, last known delay.

    ``known[t, d]``; one-hot ``prev[t, d, d']`` of the known delay before ``d``; one-hot
    ``last[t, d]`` of the last known delay (a zero row if none).
    """
    n_t, d1 = tri.known.shape
    last_d = tri.last_known_delay
    last = np.zeros((n_t, d1))
    last[np.flatnonzero(last_d >= 0), last_d[last_d >= 0]] = 1.0
    prev = np.zeros((n_t, d1, d1))
    for t in range(n_t):
        before = -1
        for d in np.flatnonzero(tri.known[t]):
            if before >= 0:
                prev[t, d, before] = 1.0
            before = int(d)
    return tri.known.copy(), prev, last


def _layout(tri: ReportingTriangle) -> tuple[Any, ...]:
    return (tri.cumulative.shape, tri.known.tobytes(), tri.kind)


def _draw_frailty(rng: np.random.Generator, tri: ReportingTriangle, lam: np.ndarray,
                  pmf: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Posterior draws of each period's gamma frailty and the share reported so far.

    The eventual count is :math:`E_t \sim \mathrm{Poisson}(\lambda_t g_t)`,
    :math:`g_t \sim \mathrm{Gamma}(\phi, \phi)` (so :math:`\mathrm{NegBin}(\lambda_t,
    \phi)`); with :math:`R_t \sim \mathrm{Poisson}(\lambda_t g_t F_t)` reported so far,
    :math:`g_t \mid R_t \sim \mathrm{Gamma}(\phi + R_t, \phi + \lambda_t F_t)`, and
    the unseen rest is :math:`\mathrm{Poisson}(\lambda_t g_t (1 - F_t))`.

    Returns ``g`` (c, k, s, t) and ``F`` (c, k, 1, t).
    """
    last = tri.last_known_delay  # (t,)
    cdf = np.cumsum(pmf, axis=-1)  # (c, k, t, D1)
    t_idx = np.arange(tri.n_periods)
    seen = np.where(last >= 0, cdf[:, :, t_idx, np.maximum(last, 0)], 0.0)
    seen = np.clip(seen, 0.0, 1.0)[:, :, None, :]
    a = alpha[:, :, None, None]
    shape = a + tri.reported[None, None]
    rate = a + lam * seen
    return rng.gamma(shape, 1.0 / rate), seen


# ------------------------------------------------------------------ summaries
def periods_table(results: Results) -> pd.DataFrame:
    """Per event period: reported so far, eventual and (with coverage) ``N``.

    Columns ``period``, ``reported``, ``complete`` and, for ``eventual``,
    ``N`` (when coverage was given) and ``N_cumulative`` (running total of
    ``N``, the eventual count without coverage), ``*_median``, ``*_q025``,
    ``*_q975``; summed over strata when there are several.
    """
    post = results.posterior
    rep = np.asarray(results.tree["constant_data"]["observed"].sum("stratum").values)
    complete = np.asarray(results.tree["constant_data"]["complete"].values)
    out = pd.DataFrame({"period": list(post["N"].coords["period"].values),
                        "reported": rep.astype(np.int64), "complete": complete})
    has_cov = "coverage" in post
    for var in ("eventual", "N", "N_cumulative") if has_cov else ("eventual", "N_cumulative"):
        x = post[var].sum("stratum").stack(sample=("chain", "draw")).values  # (t, sample)
        q = np.quantile(x, [0.5, 0.025, 0.975], axis=1)
        for name, row in zip(("median", "q025", "q975"), q, strict=True):
            out[f"{var}_{name}"] = row
    return out


def periods_json(results: Results) -> list[dict[str, Any]]:
    """The ``periods`` list of the command line's JSON output."""
    tab = periods_table(results)
    has_cov = "N_median" in tab.columns
    rows = []
    for _, r in tab.iterrows():
        entry: dict[str, Any] = {"period": str(r["period"]), "reported": int(r["reported"]),
                                 "complete": bool(r["complete"])}
        for var in ("eventual", "N") if has_cov else ("eventual",):
            entry[var] = {k: float(r[f"{var}_{k}"]) for k in ("median", "q025", "q975")}
        rows.append(entry)
    return rows


def crps_samples(samples: np.ndarray, y: float) -> float:
    r"""Continuous ranked probability score of draws against an outcome (lower is better).

    :math:`\mathrm{CRPS} = E|X - y| - \tfrac12 E|X - X'|`, computed exactly
    for the empirical distribution of ``samples`` (sorted-sample formula).
    """
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    m = x.size
    if m == 0:
        raise DataValidationError("crps_samples needs at least one sample.")
    e1 = np.abs(x - y).mean()
    i = np.arange(1, m + 1)
    e2 = 2.0 * np.sum((2 * i - m - 1) * x) / (m * m)  # E|X - X'|
    return float(e1 - 0.5 * e2)


def score_nowcast(results: Results, truth: pd.Series | dict[str, int], *,
                  var: str = "eventual") -> pd.DataFrame:
    """Score a nowcast against the counts eventually observed.

    Parameters
    ----------
    results : Results
        A :class:`Nowcast` fit.
    truth : Series or mapping
        Eventual counts indexed by ISO period label (only those periods are
        scored).
    var : str
        ``"eventual"`` (default) or ``"N"``.

    Returns
    -------
    DataFrame indexed by period with ``truth``, ``median``, ``q025``,
    ``q975``, ``covered``, ``width``, ``abs_error`` (of the median),
    ``crps`` and ``log_score`` (minus the log of the posterior predictive
    probability of the truth, from the draws with add-one smoothing).
    """
    truth = pd.Series(truth)
    truth.index = [str(pd.Timestamp(i).date()) for i in truth.index]
    da = results.posterior[var].sum("stratum")
    rows = []
    for p, y in truth.items():
        if p not in list(da.coords["period"].values):
            raise DataValidationError(f"period {p} is not in the nowcast.")
        x = da.sel(period=p).values.ravel()
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        prob = (np.sum(x == y) + 1.0) / (x.size + 1.0)
        rows.append({"period": p, "truth": int(y), "median": med, "q025": lo, "q975": hi,
                     "covered": bool(lo <= y <= hi), "width": hi - lo,
                     "abs_error": abs(med - y), "crps": crps_samples(x, float(y)),
                     "log_score": -float(np.log(prob))})
    return pd.DataFrame(rows).set_index("period")


def simulate_line_list(
    rng: np.random.Generator,
    intensity: np.ndarray,
    delay_pmf: np.ndarray,
    coverage: float | np.ndarray = 1.0,
    start: Any = "2020-01-01",
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    r"""Simulate a daily line list with known intensity, delay and coverage.

    True deaths :math:`N_t \sim \mathrm{Poisson}(\lambda_t / c_t)`, the
    eventually reported :math:`E_t \sim \mathrm{Binomial}(N_t, c_t)` (so
    :math:`E_t \sim \mathrm{Poisson}(\lambda_t)`), and their delays
    :math:`\sim` ``delay_pmf[t]``.

    Parameters
    ----------
    intensity : float array (n_period,)
        Expected eventual reported count per day, :math:`\lambda_t`.
    delay_pmf : float array (n_period, max_delay + 1)
        Delay distribution of each event day (rows sum to one).
    coverage : float or array (n_period,)

    Returns
    -------
    line list (columns ``event``, ``report``), eventual counts ``E``, true deaths ``N``.
    """
    lam = np.asarray(intensity, dtype=float)
    pmf = np.asarray(delay_pmf, dtype=float)
    cov = np.broadcast_to(np.asarray(coverage, dtype=float), lam.shape)
    n_true = rng.poisson(lam / cov)
    eventual = rng.binomial(n_true, cov)
    start_ts = pd.Timestamp(start)
    ev_days, delays = [], []
    for t, e in enumerate(eventual):
        cells = rng.multinomial(e, pmf[t] / pmf[t].sum())
        ev_days.append(np.full(e, t))
        delays.append(np.repeat(np.arange(pmf.shape[1]), cells))
    ev = np.concatenate(ev_days)
    dl = np.concatenate(delays)
    df = pd.DataFrame({"event": start_ts + pd.to_timedelta(ev, unit="D"),
                       "report": start_ts + pd.to_timedelta(ev + dl, unit="D")})
    return df, eventual.astype(np.int64), n_true.astype(np.int64)


def calibrate_delay_from_milestones(
    snapshot: pd.Series,
    as_of: Any,
    milestones: pd.Series,
    *,
    medians: Sequence[float] = tuple(np.geomspace(1.0, 32.0, 31)),
    sdlogs: Sequence[float] = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0),
    period_days: int = 7,
) -> pd.DataFrame:
    r"""Score lognormal delays by how well they reproduce a list's published running totals.

    A single snapshot ``c_w`` (counts per event period ``w`` known at
    ``as_of``) and the list's earlier published totals ``L(T)`` (all
    periods together, at dates ``T`` before ``as_of`` = :math:`S`) constrain the delay:
    under a delay CDF :math:`F`, the eventual count is :math:`\lambda_w = c_w /
    F(S - w)` and the total known at :math:`T` is
    :math:`k \sum_w \lambda_w F(T - w)`, where :math:`k = L(S) /
    \sum_w c_w` (interpolated) scales the snapshot to the whole list.  Each
    (median, sdlog) pair is scored by the root mean squared log ratio of
    predicted to published totals.

    Assumptions (state them with the result): the snapshot is a constant
    fraction :math:`1/k` of the list for every period, the delay did not
    change over time, and the snapshot's counts are exact.

    Parameters
    ----------
    snapshot : Series
        Counts indexed by period start date.
    as_of : date
        Date of the snapshot.
    milestones : Series
        Published running totals of the whole list indexed by date; those
        before ``as_of`` are used (at least one, plus one after for the
        interpolation of :math:`L(S)`).
    medians, sdlogs : sequences
        Grid of lognormal median delays (in periods) and sdlogs.

    Returns
    -------
    DataFrame with columns ``median``, ``sdlog``, ``rmse_log`` (sorted,
    best first) and the predicted/published ratio at each milestone; attrs
    ``scale`` (:math:`k`) and ``list_at_as_of``.
    """
    from scipy import stats

    as_of_ts = pd.Timestamp(as_of)
    ms = pd.Series(milestones).astype(float)
    ms.index = pd.to_datetime(ms.index)
    ms = ms.sort_index()
    before = ms[ms.index < as_of_ts]
    if before.empty or not (ms.index > as_of_ts).any():
        raise DataValidationError(
            "calibration needs published totals both before and after the snapshot date "
            f"{as_of_ts.date()} (got {[str(d.date()) for d in ms.index]})."
        )
    ordinal = np.array([d.toordinal() for d in ms.index], dtype=float)
    list_at = float(np.interp(as_of_ts.toordinal(), ordinal, ms.to_numpy()))
    counts = pd.Series(snapshot).astype(float)
    mid = pd.to_datetime(counts.index) + pd.Timedelta(days=period_days / 2)
    c = counts.to_numpy()
    scale = list_at / c.sum()
    age_now = np.asarray((as_of_ts - mid).days, dtype=float) / period_days
    rows = []
    for m in medians:
        for sd in sdlogs:
            def cdf(age: np.ndarray, m: float = m, sd: float = sd) -> np.ndarray:
                return np.where(age > 0, stats.norm.cdf(
                    (np.log(np.maximum(age, 1e-9)) - np.log(m)) / sd), 0.0)

            lam = c / np.maximum(cdf(age_now), 1e-3)
            ratios = []
            for date, total in zip(before.index, before.to_numpy(), strict=True):
                age = np.asarray((date - mid).days, dtype=np.float64) / period_days
                ratios.append(scale * float(np.sum(lam * cdf(age))) / float(total))
            r = np.asarray(ratios)
            rows.append({"median": float(m), "sdlog": float(sd),
                         "rmse_log": float(np.sqrt(np.mean(np.log(r) ** 2))),
                         **{f"ratio_{d.date()}": v for d, v in zip(before.index, r,
                                                                     strict=True)}})
    out = pd.DataFrame(rows).sort_values("rmse_log").reset_index(drop=True)
    out.attrs["scale"] = scale
    out.attrs["list_at_as_of"] = list_at
    return out


def backtest(
    data: pd.DataFrame,
    *,
    event_date: str,
    report_date: str,
    nows: Sequence[Any],
    max_delay: int,
    window: int,
    lags: tuple[int, int] = (3, 12),
    model: Nowcast | None = None,
    draws: int = 1000,
    chains: int = 4,
    tune: int = 1000,
    random_seed: int | None = 1,
) -> pd.DataFrame:
    """Score daily nowcasts at several analysis dates against the eventual counts.

    For each analysis date the line list is cut to the ``window`` days
    ending at it (events before are removed explicitly, reports after it are
    not yet known), the model is fitted, and the periods ``lags[0]`` to
    ``lags[1]`` days before the analysis date are scored against the number
    of records eventually reported for them (with a delay up to
    ``max_delay``).  Every analysis date has the same triangle layout, so
    one PyMC graph is built and re-used.

    Returns
    -------
    DataFrame with one row per (analysis date, period): the columns of
    :func:`score_nowcast` plus ``now`` and ``reported``.
    """
    model = model or Nowcast()
    ev = pd.to_datetime(data[event_date]).dt.normalize()
    rep = pd.to_datetime(data[report_date]).dt.normalize()
    delay_days = (rep - ev).dt.days
    eventual = ev[delay_days <= max_delay].value_counts()
    frames = []
    pm_model = None
    for k, now in enumerate(nows):
        now_ts = pd.Timestamp(now).normalize()
        start = now_ts - pd.Timedelta(days=window - 1)
        sub = data[(ev >= start).to_numpy()]
        tri = ReportingTriangle.from_line_list(
            sub, event_date=event_date, report_date=report_date, now=now_ts,
            max_delay=max_delay, start=start, long_delays="drop", source="backtest")
        if pm_model is None:
            pm_model = model.build_model(tri)
        seed = None if random_seed is None else random_seed + k
        res = model.fit(tri, draws=draws, chains=chains, tune=tune, random_seed=seed,
                        model=pm_model)
        days = [now_ts - pd.Timedelta(days=d) for d in range(lags[1], lags[0] - 1, -1)]
        truth = pd.Series({str(d.date()): int(eventual.get(d, 0)) for d in days})
        sc = score_nowcast(res, truth)
        labels = tri.period_labels
        sc["reported"] = [int(tri.reported[:, labels.index(p)].sum()) for p in sc.index]
        sc["now"] = str(now_ts.date())
        sc["wall_time"] = float(res.tree.attrs["wall_time"])
        frames.append(sc.reset_index())
    return pd.concat(frames, ignore_index=True)


def run_cli(args: Any, triangle: ReportingTriangle) -> int:
    """Fit and print for ``casualty-models nowcast`` (``args`` from argparse)."""
    from ..cli._common import emit

    model = Nowcast(coverage=tuple(args.coverage) if args.coverage else None)
    res = model.fit(triangle, draws=args.draws, chains=args.chains, tune=args.tune,
                    random_seed=args.seed)
    extra = {"periods": periods_json(res), "now": str(triangle.now.date()),
             "period": triangle.period, "max_delay": triangle.max_delay}
    return emit(res, args, extra=extra)
