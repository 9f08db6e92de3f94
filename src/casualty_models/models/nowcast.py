r"""Nowcasting: eventual counts of the periods still being reported, and true deaths.

Model
-----
Let :math:`n_{s,t,d}` be the deaths of stratum :math:`s` and event period
:math:`t` reported with delay :math:`d \in \{0, \dots, D\}` (a
:class:`~casualty_models.containers.triangle.ReportingTriangle`), :math:`E_{s,t} =
\sum_d n_{s,t,d}` the eventual count and :math:`R_{s,t}` the count reported
by now (delays up to :math:`d^*_t`).  Then

.. math::

    n_{s,t,d} &\sim \mathrm{NegBin}(\lambda_{s,t}\, p_{t,d},\ \phi)
        \quad \text{independently}, \qquad E_{s,t} = \textstyle\sum_d n_{s,t,d}, \\
    \log \lambda_{s,t} &= \log \lambda_{s,t-1} + \sigma_\lambda z_{s,t},
        \quad z_{s,t} \sim N(0, 1), \quad \sigma_\lambda \sim
        \mathrm{HalfNormal}(\tau_\lambda), \qquad \phi^{-1/2} \sim
        \mathrm{HalfNormal}(1).

Each cell (event period x delay) has its own overdispersion: reports arrive
in batches (a registry's weekly upload, a hospital's backlog), so the cells
of one period scatter around the delay distribution more than a multinomial
allows.  (A model with one gamma frailty per period and multinomial delays,
tried in an earlier version, gave intervals a third narrower and covered only
37 of 60 eventual counts in the HUS backtest, against 58 of 60 here; see
``docs/nowcast.md``.)

**Right truncation.**  Only the cells known by now enter the likelihood (for
snapshots, the increments between known cumulative counts, each a negative
binomial with the mass of its delay range).  NUTS samples
:math:`\log m_{s,t} = \log \lambda_{s,t} F_t(d^*_t)`, the expected count
reported so far (which the data pin down; :math:`F_t` is the delay CDF at
the last known delay :math:`d^*_t`), the delay and three scalars.  The
unseen cells are drawn afterwards from their exact conditional, the same
negative binomials (independent of the reported cells given the
parameters): :math:`E_{s,t} = R_{s,t} + \sum_{d > d^*_t} n_{s,t,d}`.

The delay distribution :math:`p_{t,\cdot}` may drift slowly over event
periods through a random walk :math:`\gamma_t` anchored at the last period
(:math:`\gamma_T = 0`, so its prior describes the *current* delay), moving
at knots ``delay_knots`` periods apart and linearly in between, with
per-period variance :math:`\sigma_\gamma^2`, :math:`\sigma_\gamma \sim
\mathrm{HalfNormal}(\tau_\gamma)`.

- ``delay="hazard"`` (nonparametric): :math:`\mathrm{logit}\, h_{t,d} =
  \beta_d + \gamma_t` for :math:`d < D`, :math:`h_{t,D} = 1`,
  :math:`p_{t,d} = h_{t,d} \prod_{k<d} (1 - h_{t,k})`, with
  :math:`\beta_d \sim N(\mathrm{logit}\, \tfrac{1}{D + 1 - d}, s_\beta)`
  (centred on a uniform delay).  :math:`\gamma_t > 0` means faster reports.
- ``delay="lognormal"`` (parametric, for data that barely inform the
  delay): :math:`P(\text{delay} \le d) = \Phi\{(\log(d + 1) - \mu -
  \gamma_t)/\sigma\}` for :math:`d < D` and 1 at :math:`D`, with
  :math:`\mu` and :math:`\log\sigma` normal, from the stated median delay.

**Coverage.** With a coverage prior, the deaths never reported are
:math:`N_{s,t} - E_{s,t} \sim \mathrm{NegBin}(\lambda_{s,t} (1 - c_t) / c_t,
\phi)` (the missed deaths of a Poisson-thinned count, with the cells'
overdispersion), independent of :math:`E_{s,t}`: a period with no report yet
still gets a proper posterior (never :math:`N = 0` with certainty, the
degenerate answer of :math:`p(N) \propto 1/N` at :math:`E = 0`).
:math:`c_T \sim \mathrm{Beta}(a, b)` and, optionally,
:math:`\mathrm{logit}\, c_{t-1} = \mathrm{logit}\, c_t + \sigma_c v_t`.  The
data carry no information on coverage, so it is drawn exactly from its prior.

Posterior sampled with NUTS (nutpie by default); ``eventual``, ``N`` and
``coverage`` are drawn afterwards from their exact conditionals with a
seeded generator.

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
import xarray as xr

from ..containers import ReportingTriangle
from ..errors import DataValidationError, PriorError
from ..priors import BetaPrior, HalfNormalPrior
from ..results import Results, build_datatree, posterior_array
from ._base import (
    DensityKernel,
    check_sampling_args,
    nuts_results,
    resolve_nuts_sampler,
    run_kernel_nuts,
    run_nuts,
)

__all__ = ["Nowcast"]

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
    delay_knots : int, default 1
        The delay random walk moves at knots this many periods apart (back from
        the last period) and linearly in between, with the same per-period
        variance; 1 gives one step per period.  Coarser knots make a smaller
        posterior for NUTS but smooth away real changes of reporting speed: on
        the HUS backtest (6 dates, 60 intervals) knots 1 and 2 covered 59/60,
        knots 3 and 4 only 56/60.
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
    delay_knots: int = 1
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
            out["N"] = ("N_t = eventual_t + missed_t, missed_t ~ NegBin(intensity_t (1 - c_t) / "
                        "c_t, dispersion): the eventual count thinned by coverage")
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

        self._check_triangle(triangle)
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
            # every known cell is its own negative binomial with mean lambda_t pi_{t,d}
            # (= m_t pi_{t,d} / F_t): reports arrive in batches, so the cells of a period
            # scatter around the delay distribution more than a multinomial allows
            if triangle.kind == "snapshots":
                cdf = pt.exp(log_cdf)
                cdf_prev = (prev * cdf[:, None, :]).sum(axis=-1)
                log_pi = pt.log(pt.clip(cdf - cdf_prev, 1e-12, 1.0))
            else:  # a line list knows every delay up to d*_t: the masses are the pmf
                log_pi = log_pmf
            log_mu = log_m[:, :, None] + log_pi[None] - log_f[None, :, None]
            cells = pm.logp(pm.NegativeBinomial.dist(mu=pt.exp(log_mu), alpha=alpha), y)
            pm.Potential("cells", (cells * known[None]).sum())
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
        cdf = 0.5 * pt.erfc(-z / np.sqrt(2.0))  # accurate in the lower tail
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
        target_accept: float = 0.95,
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
        check_sampling_args(draws, chains, tune)
        if model is not None and getattr(model, "_cm_layout", None) != _layout(triangle):
            raise DataValidationError(
                "model= was built for a triangle with another layout (periods, delays or "
                "known cells differ). Fix: build a new model with build_model(triangle)."
            )
        if resolve_nuts_sampler(nuts_sampler) == "nutpie":
            # the same density written out in Numba (compiled once, cached on disk): the
            # PyTensor graph's Numba compilation took ~100 s for ~2 s of sampling
            self._check_triangle(triangle)
            tree, wall = run_kernel_nuts(self.density_kernel(triangle), draws=draws, tune=tune,
                                         chains=chains, random_seed=random_seed,
                                         target_accept=target_accept, progress=progress)
            return nuts_results(self._package(triangle, tree, wall, random_seed))
        import pymc as pm

        if model is None:
            model = self.build_model(triangle)
        else:
            with model:
                pm.set_data({"count": _dense_counts(triangle)})
        tree, wall = run_nuts(model, draws=draws, tune=tune, chains=chains,
                              random_seed=random_seed, target_accept=target_accept,
                              nuts_sampler=nuts_sampler, progress=progress)
        return nuts_results(self._package(triangle, tree, wall, random_seed))

    def density_kernel(self, triangle: ReportingTriangle) -> DensityKernel:
        """The model's log density for ``triangle`` as a Numba kernel for nutpie.

        Same parameters, same order and same density (up to a constant) as
        :meth:`build_model`; see :mod:`~casualty_models.models._nowcast_kernel`.
        """
        from . import _nowcast_kernel as nk

        self._check_triangle(triangle)
        n_s, n_t, d1 = triangle.cumulative.shape
        dmax = d1 - 1
        drift = self.delay_drift > 0 and n_t > 1
        interp, gaps = _knot_interpolation(n_t, self.delay_knots)
        d = np.arange(dmax)
        centre = np.log(1.0 / (dmax + 1 - d)) - np.log1p(-1.0 / (dmax + 1 - d))
        known, _, _ = _dense_layout(triangle)
        prev = np.full((n_t, d1), -1.0)
        for t in range(n_t):
            ks = np.flatnonzero(known[t])
            prev[t, ks[1:]] = ks[:-1]
        rate = max(float(triangle.reported.sum()) / max(n_s * n_t, 1), 0.5)
        hazard = self.delay == "hazard"
        lognormal = self._lognormal_priors(dmax) if not hazard else (0.0, 1.0, 0.0, 1.0)
        blob = nk.pack(
            n_strata=n_s, n_periods=n_t, max_delay=dmax, drift=drift, hazard=hazard,
            snapshots=triangle.kind == "snapshots", intensity_drift=self.intensity_drift,
            delay_drift=self.delay_drift, hazard_sd=self.hazard_prior_sd, lognormal=lognormal,
            log_rate=float(np.log(rate)), interp=interp, gaps=gaps, centre=centre,
            last=triangle.last_known_delay, prev=prev, known=known,
            counts=_dense_counts(triangle))
        n_gaps = len(gaps) if drift else 0
        layout = nk.expanded_layout(n_s, n_t, dmax, drift, hazard, n_gaps)
        n_dim = nk.n_params(n_s, n_t, dmax, drift, hazard, n_gaps)
        start_m = np.log(np.maximum(triangle.reported, 0.5)).ravel()
        scale_l, scale_g = self.intensity_drift, self.delay_drift

        def initial_point(seed: int) -> np.ndarray:
            # PyMC's default: each variable's support point, jittered by U(-1, 1) on the
            # unconstrained scale (deterministic in the chain's seed)
            rng = np.random.default_rng(seed)
            base = [np.log(scale_l)]
            if drift:
                base += [np.log(scale_g)] + [0.0] * n_gaps
            if dmax > 0:
                base += [0.0] * dmax if hazard else [lognormal[0], lognormal[2]]
            x0 = np.concatenate([base, start_m, [0.0]])
            return x0 + rng.uniform(-1.0, 1.0, size=x0.size)

        coords: dict[str, Any] = {"stratum": list(triangle.strata),
                                  "period": triangle.period_labels, "delay": list(range(d1)),
                                  "hazard_delay": list(range(dmax)),
                                  "delay_knot_step": list(range(n_gaps))}
        used = {dim for _, _, dims in layout for dim in dims}
        return DensityKernel(
            n_dim=n_dim, logp=nk.logp_cfunc, derive=nk.derive, data=blob,
            names=tuple(n for n, _, _ in layout), shapes=tuple(sh for _, sh, _ in layout),
            dims={n: dims for n, _, dims in layout if dims},
            coords={k: v for k, v in coords.items() if k in used},
            initial_point=initial_point,
            # the log intensities of a random walk are strongly correlated: a low-rank mass
            # matrix gives 3.5 times the ESS per draw (HUS: 16 leapfrog
            # steps per draw instead of 40)
            adaptation="low_rank")

    @staticmethod
    def _check_triangle(triangle: ReportingTriangle) -> None:
        if not isinstance(triangle, ReportingTriangle):
            raise DataValidationError(
                f"Nowcast.fit needs a ReportingTriangle, got {type(triangle).__name__}. Fix: "
                "build one with ReportingTriangle.from_line_list(...) or .from_snapshots(...)."
            )
        if triangle.increments()["count"].size == 0:
            raise DataValidationError(
                "the triangle has no observed cell: nothing was reported by now="
                f"{triangle.now.date()}."
            )

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
        eventual = tri.reported[None, None] + _draw_unseen(rng, tri, lam, pmf, alpha)
        coords: dict[str, Any] = {"stratum": list(tri.strata), "period": tri.period_labels}
        dims = ["chain", "draw", "stratum", "period"]
        beta = self.coverage_prior
        posterior: dict[str, xr.DataArray] = {}
        if beta is not None:
            # the deaths never reported: N_t - E_t ~ NegBin(lambda_t (1 - c_t) / c_t, phi),
            # whatever E_t, so a period with no report yet still gets a proper posterior
            # (never N = 0 with certainty)
            cov = self._coverage_draws(rng, beta, eventual.shape[:2], tri.n_periods)
            c4 = cov[:, :, None, :]
            a4 = alpha[:, :, None, None]
            g = rng.gamma(np.broadcast_to(a4, lam.shape), 1.0 / a4)
            n = eventual + rng.poisson(lam * g * (1.0 - c4) / c4).astype(np.int64)
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


def _draw_unseen(rng: np.random.Generator, tri: ReportingTriangle, lam: np.ndarray,
                 pmf: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    r"""Posterior draws of the counts still to be reported, per period.

    Each cell beyond period :math:`t`'s last known delay is
    :math:`\mathrm{NegBin}(\lambda_t p_{t,d}, \phi)`, independent of the
    reported cells given the parameters (drawn as gamma-Poisson).  Returns
    int64 ``(chain, draw, stratum, period)``.
    """
    last = tri.last_known_delay  # (t,)
    unseen = np.arange(pmf.shape[-1])[None, :] > last[:, None]  # (t, D1)
    mean = lam[..., None] * (pmf * unseen)[:, :, None]  # (c, k, s, t, D1)
    a = alpha[:, :, None, None, None]
    g = rng.gamma(np.broadcast_to(a, mean.shape), 1.0 / a)
    return rng.poisson(mean * g).sum(axis=-1).astype(np.int64)
