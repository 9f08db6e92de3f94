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
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..containers import CaptureTable
from ..errors import (
    DataValidationError,
    IdentifiabilityWarning,
    SparseDataWarning,
    warn,
)
from ..priors import HalfNormalPrior, NormalPrior
from ..results import Results, build_datatree, posterior_array
from ._base import check_sampling_args, nuts_results, run_nuts
from ._loglinear_fit import (
    Term,
    all_patterns,
    batched_poisson_fit,
    design,
    hierarchical_closure,
    profile_curve,
    profile_interval,
)

__all__ = [
    "LogLinear",
    "LogLinearMLE",
    "all_models",
    "model_range",
    "posterior_predictive_check",
    "run_cli_bayes",
    "run_cli_mle",
]

_POOLINGS = ("independent", "partial")


# ------------------------------------------------------------------ terms
def parse_terms(interactions: Sequence[Any], lists: Sequence[str]) -> list[Term]:
    """Interaction names (``"A:B"`` or ``("A", "B")``) as hierarchical terms.

    Terms are tuples of list indices, main effects included, sorted by order.
    """
    lists = list(lists)
    k = len(lists)
    out: list[Term] = [(j,) for j in range(k)]
    for item in interactions:
        names = item.split(":") if isinstance(item, str) else [str(x) for x in item]
        names = [x.strip() for x in names]
        unknown = [x for x in names if x not in lists]
        if unknown:
            raise DataValidationError(
                f"interaction {item!r} names unknown list(s) {unknown}: the lists are "
                f"{lists}. Fix: write interactions as 'A:B' with those names."
            )
        idx = tuple(sorted({lists.index(x) for x in names}))
        if len(idx) < 2:
            raise DataValidationError(
                f"interaction {item!r} names fewer than two distinct lists: an interaction "
                "joins two or more lists, e.g. 'A:B'. Main effects are always included."
            )
        if len(idx) == k:
            raise DataValidationError(
                f"interaction {item!r} is the highest-order ({k}-way) interaction: it is not "
                "identifiable, because it involves the unobserved cell. Fix: use interactions "
                f"of at most {k - 1} lists."
            )
        out.append(idx)
    return hierarchical_closure(out)


def term_name(term: Term, lists: Sequence[str]) -> str:
    """``(0, 2) -> "A:C"``; the intercept ``() -> "(Intercept)"``."""
    return ":".join(lists[j] for j in term) if term else "(Intercept)"


def generator_label(terms: Sequence[Term], lists: Sequence[str]) -> str:
    """Rcapture-style label of a model by its maximal interactions.

    E.g. ``"[EXH ABA OSCE, EXH HRW, OSCE HRW]"`` (``"[independence]"`` without any).
    """
    inter = [t for t in terms if len(t) >= 2]
    masks = [sum(1 << j for j in t) for t in inter]
    maxi = sorted((t for t, a in zip(inter, masks, strict=True)
                   if not any(a != b and a & b == a for b in masks)),
                  key=lambda t: (-len(t), t))
    if not maxi:
        return "[independence]"
    return "[" + ", ".join(" ".join(lists[j] for j in t) for t in maxi) + "]"


# ------------------------------------------------------------- data checks
def _overlap_messages(y: np.ndarray, pats: np.ndarray, terms: Sequence[Term],
                      lists: Sequence[str], where: str) -> tuple[list[str], bool]:
    """Explanations of what the data cannot tell, and whether N is at stake."""
    msgs: list[str] = []
    k = pats.shape[1]
    multi = pats.sum(axis=1) >= 2
    for j in range(k):
        on = pats[:, j] == 1
        tot = int(y[on].sum())
        if tot == 0:
            msgs.append(
                f"{where}list {lists[j]!r} records nobody, so its capture probability is "
                "zero and it carries no information; the estimate rests on the other lists."
            )
            continue
        if int(y[on & multi].sum()) == 0:
            msgs.append(
                f"{where}list {lists[j]!r} ({tot} records) overlaps no other list: the data "
                f"say nothing about how many people {lists[j]!r} misses, and any N is driven "
                "by the assumed dependence (the MLE can be infinite or absurd). Check the "
                "record linkage, or drop the list."
            )
    for t in terms:
        if len(t) < 2:
            continue
        on = np.all(pats[:, list(t)] == 1, axis=1)
        if int(y[on].sum()) == 0:
            msgs.append(
                f"{where}the interaction {term_name(t, lists)!r} has an empty margin (no "
                f"record is on all of {[lists[j] for j in t]}): its coefficient is minus "
                "infinity at the MLE and the model is on the boundary; drop the interaction."
            )
    return msgs, bool(msgs)


# ------------------------------------------------------------- MLE result
@dataclass
class LogLinearMLE:
    """Maximum-likelihood fit of one log-linear model, per stratum and in total.

    Attributes
    ----------
    lists, strata : tuple of str
    terms : list of str
        Model terms: ``"(Intercept)"``, main effects, interactions.
    observed : ndarray (n_stratum,)
    N, N_low, N_high : ndarray (n_stratum,)
        MLE of the total and its profile-likelihood interval per stratum.
    N_total, N_total_low, N_total_high : float
        Sum of the per-stratum MLEs and the profile interval of the total.
    loglik, deviance, aic, bic : ndarray (n_stratum,)
    df : int
        Residual degrees of freedom per stratum, :math:`2^K - 1 - p`.
    coefficients : DataFrame (stratum x term)
    status : list of str
        ``"ok"``, ``"sparse"`` (few records or overlaps), ``"not estimable"``
        (no record on two lists: N is NaN, its interval [observed, inf]),
        ``"boundary"`` (an empty margin or a list that overlaps nothing),
        ``"implausible"`` (N above ``max_ratio`` times the observed) or
        ``"unbounded"`` (the MLE of N is infinite).
    messages : list of str
        What the data cannot tell, for every stratum that is not ``"ok"``.
    """

    lists: tuple[str, ...]
    strata: tuple[str, ...]
    terms: list[str]
    observed: np.ndarray
    N: np.ndarray
    N_low: np.ndarray
    N_high: np.ndarray
    N_total: float
    N_total_low: float
    N_total_high: float
    loglik: np.ndarray
    deviance: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    df: int
    coefficients: pd.DataFrame
    fitted: np.ndarray
    status: list[str]
    messages: list[str]
    model_config: dict[str, Any]
    data_fingerprint: str = ""
    data_source: str = ""
    level: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    model: str = "LogLinear"
    sampler: str = "mle"

    # -- the interface shared with Results (used by the command line) --------
    def summary(self) -> pd.DataFrame:
        """One row per stratum (and ``total``): observed, N, interval, fit criteria."""
        rows = []
        for i, s in enumerate(self.strata):
            rows.append({"stratum": s, "observed": int(self.observed[i]), "N": self.N[i],
                         "q025": self.N_low[i], "q975": self.N_high[i],
                         "N_unobserved": self.N[i] - self.observed[i],
                         "deviance": self.deviance[i], "AIC": self.aic[i],
                         "BIC": self.bic[i], "status": self.status[i]})
        if len(self.strata) > 1:
            rows.append({"stratum": "total", "observed": int(self.observed.sum()),
                         "N": self.N_total, "q025": self.N_total_low,
                         "q975": self.N_total_high,
                         "N_unobserved": self.N_total - self.observed.sum(),
                         "deviance": self.deviance.sum(), "AIC": self.aic.sum(),
                         "BIC": self.bic.sum(),
                         "status": "ok" if all(x == "ok" for x in self.status) else "see strata"})
        return pd.DataFrame(rows).set_index("stratum")

    def check_convergence(self, *args: Any, **kwargs: Any) -> list[str]:
        """Maximum likelihood has no MCMC to check: always ``[]``."""
        return []

    def describe_priors(self) -> str:
        """No priors: maximum likelihood.  Names the model instead."""
        return (f"maximum likelihood, Poisson log-linear model {self.extra.get('label', '')} "
                f"(terms: {', '.join(self.terms[1:])}); {int(self.level * 100)}% profile "
                "likelihood interval")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the foundation fields.

        ``N.estimate`` is the MLE and ``N.q025``/``N.q975`` the profile interval.
        """
        from .._version import __version__

        def block(est: float, lo: float, hi: float, obs: float) -> dict[str, Any]:
            return {"estimate": est, "median": est, "mean": est, "q025": lo, "q975": hi}

        obs = float(self.observed.sum())
        out: dict[str, Any] = {
            "model": self.model,
            "method": "mle",
            "observed": int(obs),
            "seed": None,
            "sampler": self.sampler,
            "N": block(self.N_total, self.N_total_low, self.N_total_high, obs),
            "N_unobserved": block(self.N_total - obs, self.N_total_low - obs,
                                  self.N_total_high - obs, obs),
            "diagnostics": None,
            "priors": {},
            "casualty_models_version": __version__,
            "data_fingerprint": self.data_fingerprint,
            "lists": list(self.lists),
            "terms": self.terms,
            "model_label": self.extra.get("label", ""),
            "deviance": float(self.deviance.sum()),
            "df": int(self.df * len(self.strata)),
            "AIC": float(self.aic.sum()),
            "BIC": float(self.bic.sum()),
            "status": self.status if len(self.strata) > 1 else self.status[0],
            "messages": self.messages,
        }
        if len(self.strata) > 1:
            out["strata"] = {
                s: {"observed": int(self.observed[i]),
                    "N": block(float(self.N[i]), float(self.N_low[i]), float(self.N_high[i]),
                               float(self.observed[i])),
                    "status": self.status[i]}
                for i, s in enumerate(self.strata)
            }
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the estimates, coefficients and fitted cells to netCDF."""
        ds = xr.Dataset(
            {
                "N": ("stratum", self.N), "N_low": ("stratum", self.N_low),
                "N_high": ("stratum", self.N_high), "observed": ("stratum", self.observed),
                "deviance": ("stratum", self.deviance), "AIC": ("stratum", self.aic),
                "BIC": ("stratum", self.bic),
                "coefficients": (("stratum", "term"), self.coefficients.to_numpy()),
                "fitted": (("stratum", "pattern"), self.fitted),
            },
            coords={"stratum": list(self.strata), "term": self.terms,
                    "pattern": ["".join(map(str, p)) for p in all_patterns(len(self.lists))]},
            attrs={"model": self.model, "sampler": self.sampler,
                   "model_config": json.dumps(self.model_config),
                   "data_fingerprint": self.data_fingerprint, "N_total": self.N_total,
                   "N_total_low": self.N_total_low, "N_total_high": self.N_total_high},
        )
        ds.to_netcdf(os.fspath(path), engine="h5netcdf")

    def plot(self, published_range: tuple[float, float] | None = None, ax: Any = None) -> Any:
        """MLE and profile interval of N per stratum (and the total)."""
        import matplotlib.pyplot as plt

        tab = self.summary()
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 0.5 * len(tab) + 1.5))
        else:
            fig = ax.figure
        yy = np.arange(len(tab))[::-1]
        est = tab["N"].to_numpy(dtype=float)
        lo_v = tab["q025"].to_numpy(dtype=float)
        hi_v = tab["q975"].to_numpy(dtype=float)
        fin = np.isfinite(est)
        hi_v = np.where(np.isfinite(hi_v), hi_v, np.nan)
        ax.errorbar(est[fin], yy[fin], xerr=[np.clip(est - lo_v, 0, None)[fin],
                                             np.clip(hi_v - est, 0, None)[fin]],
                    fmt="o", color="#4c72b0", capsize=3, label="MLE and 95% profile interval")
        ax.scatter(tab["observed"], yy, marker="|", color="black", s=120, label="observed")
        if published_range is not None:
            ax.axvspan(*published_range, color="#c44e52", alpha=0.1, label="published range")
        ax.set_yticks(yy, list(tab.index))
        ax.set_xlabel("total deaths N")
        ax.set_title(f"log-linear MLE {self.extra.get('label', '')}")
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return (f"<LogLinearMLE {self.extra.get('label', '')}: N {self.N_total:,.1f} "
                f"[{self.N_total_low:,.0f}, {self.N_total_high:,.0f}], "
                f"observed {int(self.observed.sum()):,}>")


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
        if self.pooling not in _POOLINGS:
            raise DataValidationError(
                f"pooling={self.pooling!r} is unknown: expected one of {list(_POOLINGS)}."
            )
        if not 0 < self.level < 1:
            raise DataValidationError(f"level={self.level!r}: expected a number in (0, 1).")
        if not self.max_ratio > 1:
            raise DataValidationError(f"max_ratio={self.max_ratio!r}: expected a number > 1.")

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
            p = NormalPrior(0.0, sd)
            out[key] = {**p.to_dict(), "text": str(p)}
        out["N_unobserved"] = {"text": "Poisson(exp(intercept)) given the parameters"}
        if n_strata > 1 and self.pooling == "partial":
            h = HalfNormalPrior(self.between_strata_sd)
            out["between_strata_sd"] = {**h.to_dict(), "text": f"{h}, one for the main "
                                        "effects and one for the interactions (partial "
                                        "pooling across strata)"}
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
                     "estimable there (reported as NaN, interval [observed, infinity]); merge "
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
            o_msgs, bad = ([], False) if st == "not estimable" else _overlap_messages(
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
                N[s], low[s], high[s] = math.nan, n[s], math.inf
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
        elif not est.all():
            # strata without an estimate (or with an infinite one) count as their observed
            # records, and nothing bounds the total from above
            total_lo = float(np.where(est, low, n).sum()) if interval else math.nan
            total_hi = math.inf
        elif interval:
            total_lo, total_hi = _total_interval(X, y, N, self.level)
        else:
            total_lo = total_hi = math.nan
        n_total = float(np.where(np.isnan(N), n, N).sum())
        if n_s > 1 and not est.all():
            bad = [table.strata[i] for i in np.flatnonzero(~est)]
            m = (f"strata {bad} have no finite estimate: the total counts their observed "
                 "records only and its upper bound is infinite. Merge them with other strata "
                 "for a usable total.")
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
        check_sampling_args(draws, chains, tune)
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"fit needs a CaptureTable, got {type(table).__name__}."
            )
        terms = self.terms(table.lists)
        self._checks(table, terms)
        pats, y = table.dense()
        X = design(pats, terms)
        names = ["(Intercept)"] + [term_name(t, table.lists) for t in terms]
        model = self._pymc_model(X, y, terms, list(table.strata), names,
                                 [x for x in map("".join, pats.astype(str))])
        if target_accept is None:
            partial = len(table.strata) > 1 and self.pooling == "partial"
            target_accept = 0.95 if partial else 0.9
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
        plabels = ["".join(map(str, p)) for p in pats]
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
        coords = {"stratum": strata, "term": names, "pattern": plabels,
                  "effect": names[1:], "term_": names,
                  "order": ["main", "interaction"]}
        with pm.Model(coords=coords) as model:
            Xd = pm.Data("X", X, dims=("pattern", "term"))
            yd = pm.Data("y", y, dims=("stratum", "pattern"))
            md = pm.Data("mode", mode["beta"], dims=("stratum", "term"))
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


# ----------------------------------------------------------- total interval
def _total_interval(X: np.ndarray, y: np.ndarray, N: np.ndarray,
                    level: float, n_grid: int = 4000) -> tuple[float, float]:
    r"""Profile interval of the total over independent strata.

    The profile log-likelihood of :math:`T = \sum_s N_s` is
    :math:`\max_{\sum N_s = T} \sum_s \ell_s(N_s)`: a max-plus convolution of
    the strata's profile curves, computed on a common grid of the unobserved
    counts (each curve evaluated at 300 points and interpolated linearly).
    """
    from scipy.stats import chi2

    crit = chi2.ppf(level, 1) / 2.0
    n = y.sum(axis=1).astype(float)
    tops = []
    for s in range(y.shape[0]):
        n0 = N[s] - n[s]
        _, hi, _ = profile_interval(X, y[s], n0, level=0.9999)
        tops.append(hi * 1.1 + 1.0 if np.isfinite(hi) else 20.0 * max(n0, n[s]))
    h = sum(tops) / n_grid
    total: np.ndarray | None = None
    for s in range(y.shape[0]):
        coarse = np.linspace(0.0, tops[s], 300)
        curve = profile_curve(X, y[s], coarse)
        fine = np.interp(np.arange(int(np.ceil(tops[s] / h)) + 1) * h, coarse, curve)
        if total is None:
            total = fine
            continue
        out = np.full(total.size + fine.size - 1, -np.inf)
        for i in range(fine.size):
            seg = out[i:i + total.size]
            np.maximum(seg, total + fine[i], out=seg)
        total = out
    assert total is not None
    T = n.sum() + np.arange(total.size) * h
    ok = np.flatnonzero(total >= total.max() - crit)
    return float(T[ok[0]]), float(T[ok[-1]])


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


# -------------------------------------------------------- across models
from ._loglinear_models import all_models, model_range  # noqa: E402


# ------------------------------------------------------------ command line
def _interactions_arg(args: Any) -> list[str]:
    raw = getattr(args, "interactions", None)
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else []


def run_cli_mle(args: Any, table: CaptureTable) -> int:
    """Run ``casualty-models mse --method mle``.

    One model, and with ``--all-models`` every hierarchical model (terms, AIC, BIC, N).
    """
    from ..cli._common import emit

    res = LogLinear(interactions=_interactions_arg(args)).fit_mle(table)
    extra: dict[str, Any] = {}
    if getattr(args, "all_models", False):
        tab = all_models(table, quiet=True)
        extra["models"] = [
            {"model": str(r["model"]), "terms": list(r["interactions"]),
             "AIC": float(r["AIC"]), "BIC": float(r["BIC"]), "N": float(r["N"]),
             "status": str(r["status"])}
            for r in tab.to_dict("records")
        ]
        extra["models_searched"] = tab.attrs.get("search", "all")
        if not getattr(args, "json", False):
            cols = ["model", "N", "AIC", "BIC", "delta_AIC", "delta_BIC", "status"]
            with pd.option_context("display.width", 160, "display.max_colwidth", 70):
                print(f"{len(tab)} models ({extra['models_searched']}), best 20 by AIC:")
                print(tab[cols].head(20).to_string(index=False,
                                                   float_format="{:,.1f}".format))
        for crit in ("AIC", "BIC"):
            rng = model_range(tab, criterion=crit, within=2.0)
            extra[f"N_range_{crit}_within_2"] = [rng["N_min"], rng["N_max"]]
            extra[f"best_{crit}"] = rng["best"]
    return emit(res, args, extra)


def run_cli_bayes(args: Any, table: CaptureTable) -> int:
    """``casualty-models mse --method loglinear``: the Bayesian log-linear fit."""
    from ..cli._common import emit

    t0 = time.perf_counter()
    res = LogLinear(interactions=_interactions_arg(args)).fit(
        table, draws=args.draws, chains=args.chains, random_seed=args.seed)
    extra: dict[str, Any] = {"model_label": res.tree.attrs.get("model_label", ""),
                             "elapsed_s": time.perf_counter() - t0}
    ppc = posterior_predictive_check(res)
    bad = ppc[ppc["p_value"] < 0.01]
    extra["ppc_failures"] = [f"{r.stratum}:{r.kind}:{r.statistic}" for r in bad.itertuples()]
    return emit(res, args, extra)
