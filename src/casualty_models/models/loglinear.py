r"""Log-linear models for K overlapping lists (multiple systems estimation).

Model
-----
For stratum :math:`s` and each of the :math:`2^K - 1` observable capture
patterns :math:`\omega \in \{0,1\}^K \setminus \{0\}`,

.. math::

    n_{s\omega} &\sim \mathrm{Poisson}(\lambda_{s\omega}), \\
    \log \lambda_{s\omega} &= \beta_{s0} + \sum_{j} \beta_{sj}\,\omega_j
        + \sum_{t \in T} \beta_{st} \prod_{j \in t} \omega_j ,

where :math:`T` is a hierarchical set of interactions named by list
(``"hospital:survey"``; every subset of a term is in the model).  The
highest-order (K-way) interaction is never in the model, so the unobserved
cell :math:`\omega = 0` has expected count :math:`\lambda_{s0} = e^{\beta_{s0}}`
and :math:`N_s = n_s + n_{s0}`.

*Maximum likelihood* (:meth:`LogLinear.fit_mle`): Newton's method on the
observed cells (zeros included), :math:`\hat N_s = n_s + e^{\hat\beta_{s0}}`,
AIC :math:`= -2\ell + 2p`, BIC :math:`= -2\ell + p \log n`, and a profile
likelihood interval for :math:`N_s` (Cormack 1992; Rcapture's ``closedpCI``):
for fixed :math:`N` the model is fitted to the complete table and the
multinomial log-likelihood compared with its maximum by
:math:`\chi^2_1`.

*Bayes* (:meth:`LogLinear.fit`, PyMC NUTS), the Poisson "superpopulation"
form:

.. math::

    \beta_{s0} &\sim N(0, \sigma_0^2), \quad
    \beta_{sj} \sim N(0, \sigma_1^2), \quad
    \beta_{st} \sim N(0, \sigma_I^2) \ (t \in T), \\
    n_{s0} \mid \beta &\sim \mathrm{Poisson}(e^{\beta_{s0}}), \qquad
    N_s = n_s + n_{s0},

with defaults :math:`\sigma_0 = 10` (nearly flat on the log of the missing
count, close to :math:`p(\lambda_0) \propto 1/\lambda_0`), :math:`\sigma_1 = 5`
and :math:`\sigma_I = 1`: the interaction prior is the shrinkage, saying that
an odds ratio between lists (among the people on the other lists' given
pattern) lies within :math:`e^{\pm 1.96} \approx 1/7` to 7 with probability
0.95.  Large tables override it; sparse tables are pulled towards
conditional independence.  With ``pooling="partial"`` every main effect and
interaction varies around a common value across strata,
:math:`\beta_{st} \sim N(\mu_t, \tau_{o(t)}^2)`, :math:`\mu_t` with the prior
above, one between-strata sd for the main effects and one for the interactions,
:math:`\tau_{\text{main}}, \tau_{\text{interaction}} \sim \mathrm{HalfNormal}(0.5)`;
intercepts are always per stratum.  :math:`n_{s0}` is drawn after sampling.

Identifying assumption
----------------------
**The highest-order interaction is absent**: the association between the
lists among the people nobody recorded is what the chosen lower-order
interactions extrapolate from the recorded people.  The data cannot test
this.  Different interaction sets often fit equally well and give very
different totals; compare them with :func:`all_models` and report the range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..containers import CaptureTable, pattern_label
from ..errors import (
    DataValidationError,
    IdentifiabilityWarning,
    SparseDataWarning,
    warn,
)
from ..priors import HalfNormalPrior, NormalPrior, prior_record
from ..results import Results, build_datatree, posterior_array
from ..results_mle import LogLinearMLE
from ..validation import check_choice, check_int, check_number, check_probability
from ._base import (
    DensityKernel,
    check_sampling_args,
    nuts_results,
    resolve_nuts_sampler,
    run_kernel_nuts,
    run_nuts,
)
from ._loglinear_fit import (
    Term,
    batched_poisson_fit,
    design,
    profile_interval,
    total_profile_interval,
)
from ._loglinear_models import all_models, model_range
from ._loglinear_terms import generator_label, overlap_messages, parse_terms, term_name

__all__ = [
    "LogLinear",
    "LogLinearMLE",
    "all_models",
    "model_range",
    "posterior_predictive_check",
]

_POOLINGS = ("independent", "partial")


# ----------------------------------------------------------------- model
@dataclass(frozen=True)
class LogLinear:
    r"""Log-linear model for K overlapping lists, by maximum likelihood or Bayes.

    Parameters
    ----------
    interactions : sequence of str or tuples, default ()
        Interactions named by list, e.g. ``("hospital:survey",)``.  Lower-order
        terms are added (the model is hierarchical); main effects are always
        in.  The K-way interaction is refused (not identifiable).
    intercept_sd, main_sd, interaction_sd : float, default 10, 5, 1
        Prior standard deviations (Bayes) of the intercept (the log of the
        expected unobserved count), the main effects and the interactions
        (the shrinkage towards conditional independence).
    pooling : {"independent", "partial"}, default "independent"
        Bayes with strata: separate log-linear terms per stratum, or main
        effects and interactions partially pooled across strata.
    between_strata_sd : float, default 0.5
        Scale of the half-normal priors on the two between-strata sds (one for
        the main effects, one for the interactions; ``pooling="partial"``).
    min_records : int, default 30
        Strata with fewer records (or fewer than 5 records on two or more
        lists) get a :class:`SparseDataWarning` and status ``"sparse"``.
    max_ratio : float, default 10
        An MLE of N above ``max_ratio`` times the observed count is flagged
        ``"implausible"`` (more than 90% of deaths on no list), above 1,000
        times ``"unbounded"`` (reported as infinity).
    level : float, default 0.95
        Level of the profile-likelihood interval.

    Identifying assumption
    ----------------------
    No highest-order interaction: the dependence between lists among the
    people none of them recorded follows the chosen lower-order interactions.

    Examples
    --------
    >>> from casualty_models.datasets import load_capture_table
    >>> fit = LogLinear(["hospital:survey"]).fit_mle(load_capture_table("gaza"))
    >>> round(fit.N_total)
    51533
    """

    interactions: Sequence[Any] = ()
    intercept_sd: float = 10.0
    main_sd: float = 5.0
    interaction_sd: float = 1.0
    pooling: Literal["independent", "partial"] = "independent"
    between_strata_sd: float = 0.5
    min_records: int = 30
    max_ratio: float = 10.0
    level: float = 0.95

    def __post_init__(self) -> None:
        inter = self.interactions
        if isinstance(inter, str):
            inter = [x for x in inter.split(",") if x.strip()]
        object.__setattr__(self, "interactions",
                           tuple(x if isinstance(x, str) else tuple(map(str, x)) for x in inter))
        for name in ("intercept_sd", "main_sd", "interaction_sd"):
            NormalPrior(0.0, getattr(self, name))
        HalfNormalPrior(self.between_strata_sd)
        check_choice("pooling", self.pooling, _POOLINGS)
        check_int("min_records", self.min_records, low=0)
        check_probability("level", self.level)
        check_number("max_ratio", self.max_ratio, low=1.0, low_open=True)

    # ----------------------------------------------------------- describe
    def terms(self, lists: Sequence[str]) -> list[Term]:
        """The model's terms (main effects and interactions) for these lists."""
        return parse_terms(self.interactions, lists)

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"interactions": [x if isinstance(x, str) else ":".join(x)
                                 for x in self.interactions],
                "intercept_sd": self.intercept_sd, "main_sd": self.main_sd,
                "interaction_sd": self.interaction_sd, "pooling": self.pooling,
                "between_strata_sd": self.between_strata_sd,
                "min_records": self.min_records, "max_ratio": self.max_ratio,
                "level": self.level}

    def priors(self, n_strata: int = 1) -> dict[str, Any]:
        """The priors of the Bayesian fit, as a JSON-ready mapping."""
        out: dict[str, Any] = {}
        for key, sd in (("intercept", self.intercept_sd), ("main_effects", self.main_sd),
                        ("interactions", self.interaction_sd)):
            out[key] = prior_record(NormalPrior(0.0, sd))
        out["N_unobserved"] = prior_record(
            distribution="Poisson", text="Poisson(exp(intercept)) given the parameters")
        if n_strata > 1 and self.pooling == "partial":
            h = HalfNormalPrior(self.between_strata_sd)
            out["between_strata_sd"] = prior_record(
                h, text=f"{h}, one for the main effects and one for the interactions "
                "(partial pooling across strata)")
        return out

    def _checks(self, table: CaptureTable, terms: list[Term],
                quiet: bool = False) -> tuple[list[str], list[str]]:
        pats, y = table.dense()
        status, msgs = [], []
        for s, label in enumerate(table.strata):
            where = f"stratum {label!r}: " if table.is_stratified else ""
            ys = y[s]
            multi = int(ys[pats.sum(axis=1) >= 2].sum())
            st = "ok"
            if multi == 0:
                st = "not estimable"
                m = (f"{where}none of its {int(ys.sum())} records is on two or more lists, so "
                     "the data say nothing about how many deaths the lists missed: N is not "
                     "estimable there (reported as NaN, with no interval); merge "
                     "it with a neighbouring stratum or report its observed count only.")
                msgs.append(m)
                if not quiet:
                    warn(m, SparseDataWarning)
            elif ys.sum() < self.min_records or multi < 5:
                st = "sparse"
                m = (f"{where}{int(ys.sum())} records, {multi} of them on two or more lists: "
                     f"too few to estimate the unobserved count (minimum {self.min_records} "
                     "records and 5 overlaps). Its estimate is reported but unreliable; merge "
                     "it with a neighbouring stratum.")
                msgs.append(m)
                if not quiet:
                    warn(m, SparseDataWarning)
            o_msgs, bad = ([], False) if st == "not estimable" else overlap_messages(
                ys, pats, terms, table.lists, where)
            if bad and st == "ok":
                st = "boundary"
            for m in o_msgs:
                msgs.append(m)
                if not quiet:
                    warn(m, IdentifiabilityWarning)
            status.append(st)
        return status, msgs

    # -------------------------------------------------------------- MLE
    def fit_mle(self, table: CaptureTable, *, interval: bool = True) -> LogLinearMLE:
        """Maximum-likelihood fit, each stratum separately.

        Parameters
        ----------
        table : CaptureTable
        interval : bool, default True
            Compute the profile-likelihood interval (skip it for speed).

        Returns
        -------
        LogLinearMLE
        """
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"fit_mle needs a CaptureTable, got {type(table).__name__}. Fix: build one "
                "with CaptureTable.from_records / from_counts / from_mapping."
            )
        terms = self.terms(table.lists)
        status, msgs = self._checks(table, terms)
        pats, y = table.dense()
        X = design(pats, terms)
        n_s = len(table.strata)
        fit = batched_poisson_fit(np.broadcast_to(X, (n_s, *X.shape)), y)
        n = y.sum(axis=1).astype(float)
        n0 = np.exp(np.minimum(fit["beta"][:, 0], 700.0))
        N = n + n0
        low = np.full(n_s, np.nan)
        high = np.full(n_s, np.nan)
        for s in range(n_s):
            where = f"stratum {table.strata[s]!r}: " if table.is_stratified else ""
            if status[s] == "not estimable":
                # nothing is estimated: not the observed count standing in for N
                N[s], low[s], high[s] = math.nan, math.nan, math.inf
                continue
            if not np.isfinite(n0[s]) or n0[s] > 1e3 * max(n[s], 1.0) or not fit["converged"][s]:
                status[s] = "unbounded"
                N[s] = math.inf
                m = (f"{where}the maximum-likelihood N is unbounded (the likelihood keeps "
                     "rising as N grows, e.g. because a list overlaps no other under this "
                     "model): the data cannot bound the total. Reported as infinity; choose "
                     "a model the data can support.")
                msgs.append(m)
                warn(m, IdentifiabilityWarning)
                low[s], high[s] = n[s], math.inf
                continue
            if n0[s] > self.max_ratio * n[s]:
                if status[s] == "ok":
                    status[s] = "implausible"
                m = (f"{where}the MLE of N is {N[s]:,.0f}, {N[s] / n[s]:.0f} times the "
                     f"{int(n[s]):,} observed: the model implies more than "
                     f"{100 * (1 - 1 / self.max_ratio):.0f}% of deaths are on no list. "
                     "Such a total comes from the assumed dependence, not the data.")
                msgs.append(m)
                warn(m, IdentifiabilityWarning)
            if interval:
                lo, hi, _ = profile_interval(X, y[s], n0[s], level=self.level)
                low[s], high[s] = n[s] + lo, n[s] + hi
        p = X.shape[1]
        ll = fit["loglik"]
        est = np.isfinite(N)
        if n_s == 1:
            total_lo, total_hi = float(low[0]), float(high[0])
        elif np.isnan(N).any():
            total_lo, total_hi = math.nan, math.inf  # a total with an unknown part is unknown
        elif not est.all():
            # unbounded strata: their observed records bound the total from below only
            total_lo = float(np.where(est, low, n).sum()) if interval else math.nan
            total_hi = math.inf
        elif interval:
            total_lo, total_hi = total_profile_interval(X, y, N, self.level)
        else:
            total_lo = total_hi = math.nan
        n_total = float(N.sum())  # NaN if a stratum is not estimable, inf if one is unbounded
        if n_s > 1 and not est.all():
            bad = [table.strata[i] for i in np.flatnonzero(~est)]
            m = (f"strata {bad} have no finite estimate, so neither has the total (reported "
                 "as NaN if a stratum is not estimable, infinity if one is unbounded). Merge "
                 "them with other strata for a usable total.")
            msgs.append(m)
            warn(m, IdentifiabilityWarning)
        names = ["(Intercept)"] + [term_name(t, table.lists) for t in terms]
        return LogLinearMLE(
            lists=table.lists, strata=table.strata, terms=names, observed=n.astype(np.int64),
            N=N, N_low=low, N_high=high, N_total=n_total,
            N_total_low=total_lo, N_total_high=total_hi,
            loglik=ll, deviance=fit["deviance"], aic=-2 * ll + 2 * p,
            bic=-2 * ll + p * np.log(np.maximum(n, 1.0)), df=X.shape[0] - p,
            coefficients=pd.DataFrame(fit["beta"], index=list(table.strata), columns=names),
            fitted=fit["mu"], status=status, messages=msgs, model_config=self.config(),
            data_fingerprint=table.fingerprint(), data_source=table.source, level=self.level,
            extra={"label": generator_label(terms, table.lists)},
            patterns=[pattern_label(p) for p in pats],
        )

    # ------------------------------------------------------------- Bayes
    def fit(
        self,
        table: CaptureTable,
        *,
        draws: int = 2000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        target_accept: float | None = None,
        nuts_sampler: str | None = None,
    ) -> Results:
        """Sample the posterior with PyMC NUTS; N is drawn after sampling.

        Parameters
        ----------
        table : CaptureTable
        draws, chains, tune : int
        random_seed : int, optional
            Seeds NUTS and the draws of the unobserved cell.  Recorded.
        target_accept : float, optional
            NUTS target acceptance; default 0.9, or 0.95 with partial pooling
            (whose between-strata scales make a funnel; check the divergences).

        Returns
        -------
        Results
            Posterior ``N``, ``N_unobserved`` (stratum), ``beta`` (stratum,
            term), ``log_lambda`` (stratum, pattern), ``capture_prob``
            (stratum, list: expected share of N on each list); posterior
            predictive ``count`` (stratum, pattern); observed ``count``.
        """
        check_sampling_args(draws, chains, tune, random_seed)
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"fit needs a CaptureTable, got {type(table).__name__}."
            )
        terms = self.terms(table.lists)
        status, _ = self._checks(table, terms)
        bad = [s for s, st in zip(table.strata, status, strict=True) if st == "not estimable"]
        if bad:
            # the posterior would be the intercept prior's alone: a finite number the data
            # did not give (fit_mle reports such a stratum as NaN)
            raise DataValidationError(
                f"N is not estimable in {'strata' if len(bad) > 1 else 'stratum'} "
                f"{', '.join(map(repr, bad))}: no record is on two or more lists, so the "
                "posterior of the missing count would be its prior alone "
                f"(N(0, {self.intercept_sd:g}) on its log). Fix: merge the stratum with a "
                "neighbouring one, fit the others, or report its observed count only "
                "(fit_mle reports it as NaN).")
        pats, y = table.dense()
        X = design(pats, terms)
        names = ["(Intercept)"] + [term_name(t, table.lists) for t in terms]
        if target_accept is None:
            partial = len(table.strata) > 1 and self.pooling == "partial"
            target_accept = 0.95 if partial else 0.9
        if resolve_nuts_sampler(nuts_sampler) == "nutpie":
            tree, wall = run_kernel_nuts(
                self.density_kernel(X, y, terms, list(table.strata), names), draws=draws,
                tune=tune, chains=chains, random_seed=random_seed, target_accept=target_accept)
        else:
            model = self._pymc_model(X, y, terms, list(table.strata), names,
                                     [pattern_label(p) for p in pats])
            tree, wall = run_nuts(model, draws=draws, tune=tune, chains=chains,
                                  random_seed=random_seed, target_accept=target_accept,
                                  nuts_sampler=nuts_sampler)
        beta = np.asarray(tree["posterior"]["beta"].values)  # chain, draw, stratum, term
        rng = np.random.default_rng(None if random_seed is None else [random_seed, 7])
        log_lam = np.einsum("cdsp,kp->cdsk", beta, X)
        lam0 = np.exp(beta[..., 0])
        unobs = rng.poisson(lam0).astype(np.int64)
        obs = y.sum(axis=1)
        n_draws = unobs + obs[None, None, :]
        lam = np.exp(log_lam)
        cap = (lam @ pats.astype(float)) / (lam.sum(axis=-1) + lam0)[..., None]
        y_rep = rng.poisson(lam).astype(np.int64)
        strata = list(table.strata)
        plabels = [pattern_label(p) for p in pats]
        coords = {"stratum": strata, "pattern": plabels, "list": list(table.lists),
                  "term": names}
        posterior = {
            "N": posterior_array(n_draws, ["chain", "draw", "stratum"], coords),
            "N_unobserved": posterior_array(unobs, ["chain", "draw", "stratum"], coords),
            "log_lambda": posterior_array(log_lam, ["chain", "draw", "stratum", "pattern"],
                                          coords),
            "capture_prob": posterior_array(cap, ["chain", "draw", "stratum", "list"], coords),
        }
        count_da = xr.DataArray(y, dims=["stratum", "pattern"],
                                coords={"stratum": strata, "pattern": plabels})
        obs_da = xr.DataArray(obs, dims=["stratum"], coords={"stratum": strata})
        dt = build_datatree(
            posterior, model="LogLinear", model_config=self.config(),
            priors=self.priors(len(strata)), random_seed=random_seed,
            data_fingerprint=table.fingerprint(), data_source=table.source, sampler="nuts",
            observed=int(obs.sum()), observed_data={"count": count_da},
            constant_data={"observed": obs_da,
                           "design": xr.DataArray(X, dims=["pattern", "term"],
                                                  coords={"pattern": plabels, "term": names})},
            base=tree,
            extra_attrs={"wall_time": wall, "lists": list(table.lists),
                         "model_label": generator_label(terms, table.lists)},
        )
        pp = xr.Dataset({"count": posterior_array(
            y_rep, ["chain", "draw", "stratum", "pattern"], coords)})
        dt["posterior_predictive"] = xr.DataTree(pp)
        return nuts_results(dt)

    def _pymc_model(self, X: np.ndarray, y: np.ndarray, terms: list[Term], strata: list[str],
                    names: list[str], plabels: list[str]) -> Any:
        r"""The PyMC model, whitened around the posterior mode.

        NUTS samples :math:`u_s` with :math:`\beta_s = m_s + L_s u_s`, where
        :math:`m_s` is the posterior mode of stratum :math:`s` under the
        independent priors and :math:`L_s L_s^T` the inverse of the negative
        Hessian there (computed by Newton's method in NumPy).  The posterior of
        :math:`u` is then close to a standard normal, which removes the strong
        correlation between the intercept (the unobserved cell) and the main
        effects.  The priors are added on :math:`\beta` itself, so the model is
        unchanged (the transformation is linear with a constant Jacobian).
        """
        import pymc as pm
        import pytensor.tensor as pt

        order, sd, partial, mode, chol = self._whitening(X, y, terms)
        n_s, p = y.shape[0], X.shape[1]
        coords = {"stratum": strata, "term": names, "pattern": plabels,
                  "effect": names[1:], "term_": names,
                  "order": ["main", "interaction"]}
        with pm.Model(coords=coords) as model:
            Xd = pm.Data("X", X, dims=("pattern", "term"))
            yd = pm.Data("y", y, dims=("stratum", "pattern"))
            md = pm.Data("mode", mode, dims=("stratum", "term"))
            Ld = pm.Data("whitening", chol, dims=("stratum", "term", "term_"))
            u = pm.Flat("u", dims=("stratum", "term"))
            beta = pm.Deterministic("beta", md + pt.sum(Ld * u[:, None, :], axis=-1),
                                    dims=("stratum", "term"))
            if partial:
                mu = pm.Normal("effect_mean", 0.0, sd[1:], dims="effect")
                # one between-strata sd for the main effects, one for the interactions
                # (per-term scales are barely identified by a handful of strata)
                tau2 = pm.HalfNormal("between_strata_sd", self.between_strata_sd,
                                     dims="order")
                tau = pm.Deterministic("effect_sd", tau2[np.minimum(order[1:], 2) - 1],
                                       dims="effect")
                pm.Potential("prior_intercept", pm.logp(
                    pm.Normal.dist(0.0, self.intercept_sd), beta[:, 0]).sum())
                pm.Potential("prior_effects", pm.logp(
                    pm.Normal.dist(mu[None, :], tau[None, :]), beta[:, 1:]).sum())
            else:
                pm.Potential("prior", pm.logp(
                    pm.Normal.dist(0.0, np.broadcast_to(sd, (n_s, p))), beta).sum())
            pm.Poisson("count", mu=pt.exp(beta @ Xd.T), observed=yd, dims=("stratum", "pattern"))
        return model


    def _whitening(self, X: np.ndarray, y: np.ndarray, terms: list[Term]
                   ) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray]:
        """Term orders, prior sds, partial pooling or not, and the whitening.

        The whitening is the posterior mode of each stratum and the Cholesky factor
        of the inverse of the negative Hessian there.
        """
        order = np.array([0] + [len(t) for t in terms])
        sd = np.where(order == 0, self.intercept_sd,
                      np.where(order == 1, self.main_sd, self.interaction_sd))
        n_s, p = y.shape[0], X.shape[1]
        partial = n_s > 1 and self.pooling == "partial"
        prec, mean = 1.0 / sd**2, np.zeros(p)
        if partial:
            # centre the whitening on the partially pooled solution: effects near the
            # mode of the summed table, within the between-strata scale
            pooled = batched_poisson_fit(X[None], y.sum(axis=0)[None], prior_prec=1.0 / sd**2)
            mean = pooled["beta"][0].copy()
            mean[0] = 0.0
            prec = np.concatenate([[1.0 / self.intercept_sd**2],
                                   np.full(p - 1, 1.0 / self.between_strata_sd**2)])
        mode = batched_poisson_fit(np.broadcast_to(X, (n_s, *X.shape)), y,
                                   prior_prec=prec, prior_mean=mean)
        chol = np.linalg.cholesky(np.linalg.inv(mode["hessian"]))
        return order, sd, partial, np.asarray(mode["beta"]), chol

    def density_kernel(self, X: np.ndarray, y: np.ndarray, terms: list[Term],
                       strata: list[str], names: list[str]) -> DensityKernel:
        """The NUTS path's log density as a Numba kernel for nutpie.

        The same density and parameters as :meth:`_pymc_model`; see
        :mod:`~casualty_models.models._loglinear_kernel`.
        """
        from . import _loglinear_kernel as lk

        order, sd, partial, mode, chol = self._whitening(X, y, terms)
        n_s, p = y.shape[0], X.shape[1]
        blob = lk.pack(X=X, y=y, mode=mode, chol=chol, sd=sd, order=order, partial=partial,
                       between_sd=self.between_strata_sd)
        lay = lk.layout(partial, n_s, p)
        n_dim = lk.n_params(n_s, p, partial)
        log_bsd = float(np.log(self.between_strata_sd))

        def initial_point(seed: int) -> np.ndarray:
            # PyMC's default: support points (0, or the HalfNormal's sigma), jittered by
            # U(-1, 1) on the unconstrained scale
            x0 = np.zeros(n_dim)
            if partial:
                x0[-2:] = log_bsd
            return x0 + np.random.default_rng(seed).uniform(-1.0, 1.0, size=x0.size)

        return DensityKernel(
            n_dim=n_dim, logp=lk.logp_cfunc, derive=lk.derive,
            data=blob, names=tuple(n for n, _, _ in lay), shapes=tuple(sh for _, sh, _ in lay),
            dims={n: d for n, _, d in lay},
            coords={"stratum": strata, "term": names, "effect": names[1:],
                    "order": ["main", "interaction"]},
            initial_point=initial_point)


# ------------------------------------------------------------- PPC
def posterior_predictive_check(results: Results) -> pd.DataFrame:
    r"""Posterior predictive checks of a Bayesian log-linear fit.

    Compares the observed cell counts, list totals and pairwise overlaps
    with their replicates drawn from the posterior (``posterior_predictive``
    group).

    Returns
    -------
    DataFrame with columns ``stratum``, ``kind`` (``cell``, ``list_total``,
    ``overlap``), ``statistic``, ``observed``, ``median``, ``q025``, ``q975``
    and ``p_value`` (two-sided posterior predictive p-value,
    :math:`2\min(P(T^{rep} \ge T), P(T^{rep} \le T))`, capped at 1).
    """
    tree = results.tree
    if "posterior_predictive" not in tree.children or "count" not in tree["observed_data"]:
        raise DataValidationError(
            "these results have no posterior predictive cell counts: run "
            "LogLinear(...).fit(table) to get them."
        )
    rep = tree["posterior_predictive"]["count"]
    obs = tree["observed_data"]["count"]
    lists = json.loads(tree.attrs["lists"]) if isinstance(tree.attrs.get("lists"), str) \
        else list(tree.attrs["lists"])
    plabels = [str(p) for p in np.asarray(obs["pattern"].values)]
    pats = np.array([[int(c) for c in p] for p in plabels])
    rep_v = np.asarray(rep.transpose("chain", "draw", "stratum", "pattern").values)
    rep_v = rep_v.reshape(-1, *rep_v.shape[2:])  # sample, stratum, pattern
    obs_v = np.asarray(obs.values)
    stats: list[tuple[str, str, np.ndarray]] = []
    for i, p in enumerate(plabels):
        stats.append(("cell", p, np.eye(len(plabels))[i]))
    for j, name in enumerate(lists):
        stats.append(("list_total", name, pats[:, j].astype(float)))
    for a in range(len(lists)):
        for b in range(a + 1, len(lists)):
            stats.append(("overlap", f"{lists[a]}&{lists[b]}",
                          (pats[:, a] * pats[:, b]).astype(float)))
    rows = []
    strata = [str(s) for s in np.asarray(obs["stratum"].values)]
    for s, stratum in enumerate(strata):
        for kind, name, w in stats:
            t_obs = float(obs_v[s] @ w)
            t_rep = rep_v[:, s, :] @ w
            p = min(1.0, 2 * min(np.mean(t_rep >= t_obs), np.mean(t_rep <= t_obs)))
            rows.append({"stratum": stratum, "kind": kind, "statistic": name,
                         "observed": t_obs, "median": float(np.median(t_rep)),
                         "q025": float(np.quantile(t_rep, 0.025)),
                         "q975": float(np.quantile(t_rep, 0.975)), "p_value": p})
    return pd.DataFrame(rows)
