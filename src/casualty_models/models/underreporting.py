r"""Under-reporting: a confirmed count plus a prior on its coverage.

Model
-----
For stratum :math:`s` (and period :math:`t`, if any), with :math:`C_{st}`
deaths confirmed and :math:`N_{st}` deaths in all,

.. math::

    C_{st} \mid N_{st}, p_s &\sim \mathrm{Binomial}(N_{st}, p_s), \\
    p(N_{st}) &\propto 1 / N_{st}, \\
    p_s &\sim \text{coverage prior (pooling below)}.

Summing :math:`N` out, :math:`\sum_{N \ge C} N^{-1}\binom{N}{C}p^C(1-p)^{N-C} = 1/C`
for every :math:`p`: **the counts carry no information about coverage**.
The posterior of :math:`p` is its prior (times the likelihood of a coverage
audit, if one is given) and

.. math::

    N_{st} - C_{st} \mid p_s, C_{st} \sim \mathrm{NegBin}(C_{st}, p_s),

the number of deaths missed before the :math:`C`-th confirmed one.  Without
an audit the posterior is therefore sampled exactly (no MCMC).

Pooling of coverage across strata:

- ``"shared"``: one coverage for every stratum, :math:`p_s = p \sim
  \mathrm{Beta}(a, b)`: coverage errors are perfectly correlated, so the
  total is as uncertain as its coverage.
- ``"independent"``: :math:`p_s \overset{iid}{\sim} \mathrm{Beta}(a, b)`:
  errors average out across strata (narrowest total).
- ``"partial"`` (default when stratified): a shared part and a stratum part
  whose variances add up to the expert's,

  .. math::

      \mathrm{logit}\,p_s = m + v\left(\sqrt{1-\rho}\, w + \sqrt{\rho}\, z_s\right),
      \qquad w, z_s \overset{iid}{\sim} N(0, 1), \qquad \rho \sim \mathrm{Beta}(a_\rho, b_\rho),

  with :math:`(m, v)` the normal on the logit scale with the coverage prior's
  central 90% interval.  Whatever :math:`\rho` is, :math:`\mathrm{logit}\,p_s
  \sim N(m, v^2)`: **each stratum's coverage keeps the expert's range** (45-65%
  stays 45-65%, as a logit-normal rather than a Beta).  :math:`\rho`, the share
  of the coverage uncertainty that is specific to a stratum, moves only the
  correlation between strata (:math:`1-\rho`): :math:`\rho = 0` is ``"shared"``,
  :math:`\rho = 1` independent strata.  The between-strata sd of logit coverage
  is :math:`v\sqrt{\rho}`.  (An earlier version put independent priors on the mean
  and on the between-strata sd, which silently widened each stratum's prior
  interval from 45-65% to about 40-69%.)

A coverage audit (of :math:`k_s` deaths known independently, :math:`f_s`
were on the list) adds :math:`f_s \sim \mathrm{Binomial}(k_s, p_s)`, which
makes the posterior of coverage differ from its prior; it is sampled with
NUTS (PyMC), :math:`N` drawn afterwards from the negative binomial.

Identifying assumption
----------------------
The coverage prior (or the audit) is right: the confirmed deaths are a
fraction :math:`p_s` of all deaths, with :math:`p_s` as uncertain as the
prior says, and each death is confirmed independently with that probability.
The data cannot check this: the answer is exactly as good as the prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr
from scipy import special, stats

from ..containers import ConfirmedCounts
from ..errors import DataValidationError, IdentifiabilityWarning, PriorError, warn
from ..priors import BetaPrior, inverse_n_prior, prior_record
from ..results import Results, build_datatree, posterior_array
from ..validation import check_choice, check_number
from ._base import (
    DensityKernel,
    check_draw_bound,
    check_sampling_args,
    negbin_unobserved,
    nuts_results,
    resolve_nuts_sampler,
    run_kernel_nuts,
    run_nuts,
)

__all__ = ["UnderReporting", "fixed_multiplier_range"]

Pooling = Literal["shared", "independent", "partial"]
_POOLINGS = ("shared", "independent", "partial")
_SAMPLERS = ("auto", "exact", "nuts")
_Z95 = float(stats.norm.ppf(0.95))


def fixed_multiplier_range(confirmed: int, low: float, high: float) -> tuple[float, float]:
    """The conventional range ``(confirmed / high, confirmed / low)``.

    This is what "names / 0.65 to names / 0.45" reports, as if the coverage
    were certainly within ``[low, high]``.
    """
    return confirmed / high, confirmed / low


@dataclass(frozen=True)
class UnderReporting:
    r"""Total deaths from confirmed counts and an uncertain coverage.

    Parameters
    ----------
    coverage : BetaPrior or (low, high)
        Prior on the fraction of deaths that are confirmed.  A pair is read
        as the central ``mass`` interval of a Beta prior.
    mass : float, default 0.9
        Probability of the ``(low, high)`` interval when ``coverage`` is a pair.
    pooling : {"partial", "shared", "independent"}, default "partial"
        How coverage varies across strata (ignored with one stratum).
    between_strata_share : BetaPrior or float, default Beta(1, 1)
        Prior on :math:`\rho`, the share of each stratum's coverage
        uncertainty (variance of logit coverage) that is specific to the
        stratum (``pooling="partial"``); a number in ``[0, 1]`` fixes it.
        Each stratum's coverage prior is the expert's range whatever this is.
    sampler : {"auto", "exact", "nuts"}, default "auto"
        ``"auto"`` samples exactly when the posterior of coverage equals its
        prior (no audit data), otherwise NUTS.

    Examples
    --------
    >>> res = UnderReporting(coverage=(0.45, 0.65)).fit(45287, random_seed=1)
    >>> bool(80_000 < res.summary().loc["N_total", "median"] < 84_000)
    True
    """

    coverage: BetaPrior | tuple[float, float] = (0.45, 0.65)
    mass: float = 0.9
    pooling: Pooling = "partial"
    between_strata_share: BetaPrior | float = BetaPrior(1.0, 1.0, source="uniform")
    sampler: Literal["auto", "exact", "nuts"] = "auto"

    def __post_init__(self) -> None:
        check_choice("pooling", self.pooling, _POOLINGS)
        check_choice("sampler", self.sampler, _SAMPLERS)
        if not isinstance(self.between_strata_share, BetaPrior):
            check_number("between_strata_share", self.between_strata_share, low=0.0, high=1.0,
                         error=PriorError)
        _ = self.coverage_prior  # validate early, not at fit time

    @property
    def coverage_prior(self) -> BetaPrior:
        """The Beta prior on coverage actually used."""
        cov = self.coverage
        if isinstance(cov, BetaPrior):
            return cov
        if isinstance(cov, Sequence) and len(cov) == 2:
            return BetaPrior.from_interval(cov[0], cov[1], mass=self.mass)
        raise PriorError(
            f"coverage={cov!r} is not a prior: expected a BetaPrior or a (low, high) pair "
            "such as (0.45, 0.65)."
        )

    def priors(self, n_strata: int = 1) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        beta = self.coverage_prior
        out: dict[str, Any] = {"N": inverse_n_prior()}
        if n_strata == 1 or self.pooling in ("shared", "independent"):
            out["coverage"] = prior_record(beta, pooling=self.pooling if n_strata > 1
                                           else "single")
        else:
            m, v = beta.logit_normal_approx()
            lo, hi = (float(x) for x in special.expit([m - _Z95 * v, m + _Z95 * v]))
            out["coverage"] = prior_record(
                text=f"each stratum: logit-normal({m:.4g}, {v:.4g}), central 90% "
                     f"[{lo:.3f}, {hi:.3f}], matching {beta}",
                distribution="LogitNormal", mu=m, sigma=v, pooling="partial")
            share = self.between_strata_share
            out["between_strata_share"] = (
                prior_record(share) if isinstance(share, BetaPrior)
                else prior_record(text=f"fixed at {float(share):g}", distribution="fixed",
                                  value=float(share)))
        return out

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"coverage": self.coverage_prior.to_dict(), "mass": self.mass,
                "pooling": self.pooling, "between_strata_share": (
                    self.between_strata_share.to_dict()
                    if isinstance(self.between_strata_share, BetaPrior)
                    else float(self.between_strata_share)),
                "sampler": self.sampler}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        data: ConfirmedCounts | int | Any,
        *,
        draws: int = 4000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        nuts_sampler: str | None = None,
    ) -> Results:
        """Sample the posterior of the total.

        Parameters
        ----------
        data : ConfirmedCounts, int, sequence or mapping of counts
        draws, chains : int
            Draws per chain and chains (exact draws are also arranged in chains).
        tune : int
            NUTS tuning steps (ignored by the exact sampler).
        random_seed : int, optional
            Same seed, same draws.  Recorded with the result.
        """
        check_sampling_args(draws, chains, tune)
        counts = data if isinstance(data, ConfirmedCounts) else ConfirmedCounts(data)
        # before any sampling: counts that alone leave no room for the unobserved deaths
        check_draw_bound(counts.counts[None, None], np.ones((1, 1) + counts.counts.shape))
        has_audit = counts.audit_found is not None
        sampler = self.sampler
        if sampler == "auto":
            sampler = "nuts" if has_audit else "exact"
        if sampler == "exact" and has_audit:
            raise DataValidationError(
                "sampler='exact' cannot use a coverage audit (its posterior is not the "
                "prior). Fix: use sampler='auto' or 'nuts'."
            )
        zero = [s for s, c in zip(counts.strata, counts.counts.sum(axis=1), strict=True)
                if c == 0]
        if zero:
            warn(
                f"strata {zero} have no confirmed deaths: with p(N) proportional to 1/N "
                "their posterior is a point mass at 0; the data say nothing about deaths "
                "there. Merge them into larger strata or use a proper prior on N.",
                IdentifiabilityWarning,
            )
        rng = np.random.default_rng(random_seed)
        n_s = len(counts.strata)
        tree = None
        wall = None
        if sampler == "exact":
            params = self._prior_draws(rng, n_s, chains, draws)
        else:
            tree, wall = self._nuts(counts, draws=draws, chains=chains, tune=tune, nuts_sampler=nuts_sampler,
                                    random_seed=random_seed)
            post = tree["posterior"]
            params = {k: np.asarray(post[k].values) for k in post.data_vars}
        cov = params["coverage"]  # (chain, draw, stratum)
        obs = counts.counts  # (stratum, period)
        unobs = negbin_unobserved(rng, obs[None, None], np.broadcast_to(
            cov[..., None], cov.shape + (obs.shape[1],)))
        n_draws = unobs + obs[None, None]
        return self._package(counts, params, n_draws, unobs, sampler, random_seed, tree, wall)

    # ----------------------------------------------------------- internals
    def _prior_draws(self, rng: np.random.Generator, n_s: int, chains: int,
                     draws: int) -> dict[str, np.ndarray]:
        beta = self.coverage_prior
        shape = (chains, draws)
        if n_s == 1 or self.pooling == "shared":
            p = beta.rvs(shape, rng)
            return {"coverage": np.repeat(p[..., None], n_s, axis=-1)}
        if self.pooling == "independent":
            return {"coverage": beta.rvs(shape + (n_s,), rng)}
        m, v = beta.logit_normal_approx()
        share = self.between_strata_share
        rho = (share.rvs(shape, rng) if isinstance(share, BetaPrior)
               else np.full(shape, float(share)))
        shared = m + v * np.sqrt(1.0 - rho) * rng.normal(size=shape)
        sigma = v * np.sqrt(rho)
        z = rng.normal(size=shape + (n_s,))
        return {
            "coverage": special.expit(shared[..., None] + sigma[..., None] * z),
            "coverage_mean": special.expit(shared),
            "between_strata_sd": sigma,
            "between_strata_share": rho,
        }

    def _nuts(self, counts: ConfirmedCounts, *, draws: int, chains: int, tune: int,
              random_seed: int | None, nuts_sampler: str | None = None) -> tuple[Any, float]:
        # a high target acceptance: with little data the hierarchical prior has a mild
        # funnel in the between-strata sd even when non-centred
        if resolve_nuts_sampler(nuts_sampler) == "nutpie":
            # the same density written out in Numba and cached on disk: a cold process
            # skips PyMC's import and the graph's Numba compilation (~10 s)
            return run_kernel_nuts(self.density_kernel(counts), draws=draws, tune=tune,
                                   chains=chains, random_seed=random_seed, target_accept=0.95)
        return run_nuts(self._pymc_model(counts), draws=draws, tune=tune, chains=chains,
                        random_seed=random_seed, nuts_sampler=nuts_sampler,
                        target_accept=0.95)

    def _pymc_model(self, counts: ConfirmedCounts) -> Any:
        """The PyMC model of the NUTS path (the reference for :meth:`density_kernel`)."""
        import pymc as pm

        beta = self.coverage_prior
        n_s = len(counts.strata)
        with pm.Model(coords={"stratum": list(counts.strata)}) as model:
            if n_s == 1 or self.pooling == "shared":
                p = pm.Beta("coverage_shared", alpha=beta.alpha, beta=beta.beta)
                coverage = pm.Deterministic("coverage", pm.math.ones(n_s) * p, dims="stratum")
            elif self.pooling == "independent":
                coverage = pm.Beta("coverage", alpha=beta.alpha, beta=beta.beta, dims="stratum")
            else:
                m, v = beta.logit_normal_approx()
                share = self.between_strata_share
                rho = (pm.Beta("between_strata_share", alpha=share.alpha, beta=share.beta)
                       if isinstance(share, BetaPrior) else float(share))
                w = pm.Normal("coverage_shared_z", 0.0, 1.0)
                z = pm.Normal("z", 0.0, 1.0, dims="stratum")  # non-centred: no funnel
                shared = m + v * pm.math.sqrt(1.0 - rho) * w
                sigma = v * pm.math.sqrt(rho)
                coverage = pm.Deterministic("coverage", pm.math.invlogit(shared + sigma * z),
                                            dims="stratum")
                pm.Deterministic("coverage_mean", pm.math.invlogit(shared))
                pm.Deterministic("between_strata_sd", sigma)
            if counts.audit_found is not None:
                pm.Binomial("audit", n=counts.audit_checked, p=coverage,
                            observed=counts.audit_found, dims="stratum")
        return model

    def density_kernel(self, counts: ConfirmedCounts) -> DensityKernel:
        """The NUTS path's log density as a Numba kernel for nutpie (same as the PyMC model)."""
        from . import _underreporting_kernel as uk

        beta = self.coverage_prior
        n_s = len(counts.strata)
        mode = "shared" if n_s == 1 or self.pooling == "shared" else self.pooling
        share = self.between_strata_share
        share_arg: tuple[float, float] | float = (
            (float(share.alpha), float(share.beta)) if isinstance(share, BetaPrior)
            else float(share))
        m, v = beta.logit_normal_approx() if mode == "partial" else (0.0, 1.0)
        blob = uk.pack(n_strata=n_s, mode=mode, a=float(beta.alpha), b=float(beta.beta),
                       share=share_arg, m=float(m), v=float(v), found=counts.audit_found,
                       checked=counts.audit_checked)
        has_rho = isinstance(share_arg, tuple)
        layout = uk.expanded_layout(n_s, mode, has_rho)
        mean_logit = float(np.log(beta.alpha / beta.beta))
        share_logit = (float(np.log(share_arg[0] / share_arg[1]))
                       if isinstance(share_arg, tuple) else 0.0)

        def initial_point(seed: int) -> np.ndarray:
            # PyMC's default: support points (Beta: the mean), jittered by U(-1, 1)
            if mode == "shared":
                base = [mean_logit]
            elif mode == "independent":
                base = [mean_logit] * n_s
            else:
                base = ([share_logit] if has_rho else []) + [0.0] * (1 + n_s)
            x0 = np.asarray(base, dtype=float)
            return x0 + np.random.default_rng(seed).uniform(-1.0, 1.0, size=x0.size)

        return DensityKernel(
            n_dim=uk.n_params(n_s, mode, has_rho), logp=uk.logp_cfunc, derive=uk.derive,
            data=blob, names=tuple(n for n, _, _ in layout),
            shapes=tuple(sh for _, sh, _ in layout),
            dims={n: d for n, _, d in layout if d},
            coords={"stratum": list(counts.strata)}, initial_point=initial_point)

    def _package(self, counts: ConfirmedCounts, params: dict[str, np.ndarray],
                 n_draws: np.ndarray, unobs: np.ndarray, sampler: str,
                 random_seed: int | None, tree: Any, wall: float | None) -> Results:
        has_period = counts.periods is not None
        coords: dict[str, Any] = {"stratum": list(counts.strata)}
        n_dims = ["chain", "draw", "stratum"]
        if has_period:
            coords["period"] = list(counts.periods or ())
            n_dims.append("period")
        else:
            n_draws, unobs = n_draws[..., 0], unobs[..., 0]
        posterior: dict[str, xr.DataArray] = {
            "N": posterior_array(n_draws, n_dims, coords),
            "N_unobserved": posterior_array(unobs, n_dims, coords),
        }
        if tree is None:  # exact: add the parameters drawn from their prior
            for k, v in params.items():
                dims = ["chain", "draw", "stratum"][: v.ndim]
                posterior[k] = posterior_array(v, dims, coords)
        obs_dims = ["stratum", "period"] if has_period else ["stratum"]
        obs = counts.counts if has_period else counts.counts[:, 0]
        obs_da = xr.DataArray(obs, dims=obs_dims, coords={d: coords[d] for d in obs_dims})
        observed_data = {"confirmed": obs_da}
        if counts.audit_found is not None:
            observed_data["audit_found"] = xr.DataArray(
                counts.audit_found, dims=["stratum"], coords={"stratum": coords["stratum"]})
        constant = {"observed": obs_da}
        if counts.audit_checked is not None:
            constant["audit_checked"] = xr.DataArray(
                counts.audit_checked, dims=["stratum"], coords={"stratum": coords["stratum"]})
        beta = self.coverage_prior
        lo, hi = beta.ppf([0.05, 0.95]) if isinstance(self.coverage, BetaPrior) else self.coverage
        low_q, high_q = float(lo), float(hi)
        extra = {"fixed_multiplier_low": counts.total / high_q,
                 "fixed_multiplier_high": counts.total / low_q}
        if wall is not None:
            extra["wall_time"] = wall
        dt = build_datatree(
            posterior,
            model="UnderReporting",
            model_config=self.config(),
            priors=self.priors(len(counts.strata)),
            random_seed=random_seed,
            data_fingerprint=counts.fingerprint(),
            data_source=counts.source,
            sampler=sampler,
            observed=counts.total,
            observed_data=observed_data,
            constant_data=constant,
            base=tree,
            extra_attrs=extra,
        )
        return nuts_results(dt)
