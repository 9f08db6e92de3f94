r"""Exact Bayesian model averaging over decomposable graphical models.

The method of Madigan & York (1997), as implemented by the R package dga
(Johndrow, Lum & Ball): average over every decomposable graphical model of
the :math:`2^K` capture table, each with a hyper-Dirichlet prior, with the
unobserved cell :math:`n_0` on an integer grid.  Everything is a closed form:
the posterior of :math:`N` is exact on the grid and its draws are exact
samples from it (no MCMC).

Model
-----
Let :math:`y_x` be the number of people with capture pattern
:math:`x \in \{0,1\}^K`, :math:`x \ne 0`, :math:`n_{obs} = \sum_x y_x`, and
:math:`N = n_{obs} + n_0`.  For a decomposable graph :math:`g` with maximal
cliques :math:`\mathcal C_g` and (non-empty) separators :math:`\mathcal S_g`,
the complete table is multinomial with cell probabilities that factorise over
:math:`g`, and the hyper-Dirichlet prior gives every marginal table
:math:`y_A` (:math:`A` a clique or separator, :math:`2^{|A|}` cells) a
Dirichlet prior with all parameters :math:`\delta_A = \delta\, 2^{K - |A|}`
(the :math:`\delta` of each full cell spread over its margin, so every margin
has total prior weight :math:`\alpha = 2^K \delta`).  Then

.. math::

    p(y, n_0 \mid g) &= \binom{N}{n_0, y} \,
      \frac{\prod_{C \in \mathcal C_g} M_C(n_0)}{\prod_{S \in \mathcal S_g} M_S(n_0)},
    \\
    M_A(n_0) &= \frac{\Gamma(\alpha)}{\Gamma(N + \alpha)}
      \prod_{z \in \{0,1\}^{|A|}} \frac{\Gamma(y_{A,z} + \delta_A)}{\Gamma(\delta_A)},

where the margin's all-zero cell :math:`y_{A,0}` includes :math:`n_0`.  With
a prior :math:`p(N)` (default :math:`\propto 1/N`) and a uniform prior over
graphs,

.. math::

    p(g, n_0 \mid y) \propto p(y, n_0 \mid g)\, p(N = n_{obs} + n_0),

evaluated for every graph and every :math:`n_0 = 0, 1, \dots, n_{max}`.
Summing over :math:`n_0` gives the posterior model probabilities; summing
over graphs gives the model-averaged posterior of :math:`N`.

This reproduces ``dga::bma.cr`` (``MakeCompMatrix``/``CompLogML``: each
margin's log marginal likelihood without the :math:`\Gamma(\alpha)/\Gamma(N+\alpha)`
factor, which is added (cliques - separators) times; the multinomial
coefficient ``lgamma(N+1) - sum(lgamma(y+1)) - lgamma(n0+1)``; the default
log prior ``-log(N)``).  The reference call, e.g. for Kosovo::

    library(dga); data(graphs4)
    Y <- array(c(0, y), dim = rep(2, 4))   # cells in dga's order
    w <- bma.cr(Y, Nmissing = 0:100000, delta = 1/16, graphs = graphs4)
    post <- colSums(w)                       # posterior of n0

Identifying assumption
----------------------
The people no list recorded follow the same dependence structure as the
recorded ones: within each decomposable model, the **highest-order
interaction is absent** (the :math:`K`-way and any interaction not contained
in a clique are zero), so the observed cells determine the unobserved one.
Averaging spreads the answer over the decomposable models in proportion to
how well each fits; models outside that family (for example heterogeneous
capture that no set of cliques describes) are not represented.  The prior
matters: :math:`\delta` is a pseudo-count per cell and the posterior of
:math:`N` (and the weight of the saturated model) moves with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numba import njit
from scipy.special import gammaln, logsumexp

from ..containers import CaptureTable
from ..errors import DataValidationError, IdentifiabilityWarning, PriorError, SparseDataWarning, warn
from ..priors import inverse_n_prior, prior_record
from ..results import Results, build_datatree, posterior_array
from ..validation import check_int, check_number
from ._base import check_sampling_args
from ._graphs import decomposable_graphs, graph_matrix

__all__ = ["DecomposableBMA", "GridPosterior", "bma_grid", "grid_summary", "model_table",
           "run_cli"]

#: Relative posterior mass allowed beyond the automatically chosen grid end.
TAIL_TOL = 1e-5
#: Mass beyond the grid above which an IdentifiabilityWarning is emitted.
TAIL_WARN = 1e-3
#: Posterior probability of the saturated graph above which N is flagged prior-driven.
SATURATED_WARN = 0.05
#: Per-graph quantiles of n0 reported in the model table.
_TARGETS = np.array([0.025, 0.5, 0.975])

LogPrior = str | Callable[[np.ndarray], np.ndarray] | Sequence[float] | np.ndarray


# --------------------------------------------------------------------- array layer
def _table_terms(y: np.ndarray, k: int, delta: float) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """Per vertex subset S: zero-cell count D0, cell prior a_S, and the n0-free part.

    ``y`` has length ``2**k`` indexed by bitmask (bit j = list j), ``y[0] = 0``.
    """
    n_sub = 1 << k
    codes = np.arange(n_sub)
    d0 = np.zeros(n_sub)
    a = np.zeros(n_sub)
    const = np.zeros(n_sub)
    for s in range(1, n_sub):
        size = bin(s).count("1")
        a_s = delta * 2.0 ** (k - size)
        marg = np.bincount(codes & s, weights=y, minlength=n_sub)
        cells = codes[(codes & s) == codes]  # the 2^|S| cells of the margin (as masks)
        d0[s] = marg[0]
        const[s] = gammaln(marg[cells[1:]] + a_s).sum() - cells.size * gammaln(a_s)
        a[s] = a_s
    return d0, a, const


@dataclass
class GridPosterior:
    """Exact joint posterior of (graph, n0) for one table, summarised.

    Attributes
    ----------
    n0 : ndarray of int, the grid ``0..n_max``
    posterior : ndarray, posterior probability of each ``n0`` (sums to one)
    model_prob : ndarray, posterior probability of each graph
    model_quantiles : ndarray (n_graph, 3), per-graph 2.5%, 50%, 97.5% of ``n0``
    tail_mass : float, estimated relative posterior mass beyond ``n_max``
    """

    n0: np.ndarray
    posterior: np.ndarray
    model_prob: np.ndarray
    model_quantiles: np.ndarray
    tail_mass: float
    n_observed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def quantile(self, q: float | Sequence[float]) -> np.ndarray:
        """Quantiles of ``N`` on the grid: the smallest N with cdf >= q."""
        cdf = np.cumsum(self.posterior)
        idx = np.searchsorted(cdf, np.asarray(q, dtype=float) * cdf[-1] - 1e-12)
        return self.n_observed + self.n0[np.minimum(idx, self.n0.size - 1)]

    @property
    def mean(self) -> float:
        """Posterior mean of ``N``."""
        return float(self.n_observed + (self.n0 * self.posterior).sum())


def log_joint(y: np.ndarray, k: int, delta: float, n0: np.ndarray,
              log_prior: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Unnormalised log posterior of (graph, n0), shape (n_graph, len(n0)).

    The direct (dense, NumPy) form of ``dga::bma.cr`` before normalisation:
    ``MakeCompMatrix`` rows summed over cliques minus separators, plus
    (cliques - separators) times ``lgamma(alpha) - lgamma(N + alpha)``, the
    multinomial coefficient and the log prior of N.  The fitted path uses the
    streaming kernels below; this one is the readable reference.
    """
    y = np.asarray(y, dtype=float).copy()
    y[0] = 0.0
    w, ncomp = graph_matrix(k)
    d0, a, const = _table_terms(y, k, delta)
    n0 = np.asarray(n0, dtype=float)
    n = n0 + y.sum()
    comp = gammaln(n0[None, :] + (d0 + a)[1:, None]) + const[1:, None]
    alpha = delta * 2.0 ** k
    dn = gammaln(alpha) - gammaln(n + alpha)
    common = gammaln(n + 1) - gammaln(n0 + 1) - gammaln(y[1:] + 1).sum() + log_prior(n)
    return np.asarray(w[:, 1:] @ comp + ncomp[:, None] * dn[None, :] + common[None, :])


#: Grid steps between exact lgamma evaluations (the recurrence
#: lgamma(x + 1) = lgamma(x) + log(x) is used in between; rounding stays < 1e-9).
_ANCHOR = 128


@njit(cache=True)
def _scan(n0: np.ndarray, lpn: np.ndarray, n_obs: float, d0a: np.ndarray, alpha: float,
          idx: np.ndarray, coef: np.ndarray, nnz: np.ndarray, base: np.ndarray,
          ncomp: np.ndarray, mode: int, gmax: np.ndarray, log_mass: np.ndarray,
          targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """One streaming pass over the grid (memory constant in the grid length).

    For each ``n0`` the log posterior of every graph is
    ``base[g] + sum_j coef[g, j] * lgamma(n0 + d0a[idx[g, j]]) + ncomp[g] * (lgamma(alpha)
    - lgamma(N + alpha)) + lgamma(N + 1) - lgamma(n0 + 1) + log p(N)``.

    mode 0: per-graph max of the log posterior (no exponentials);
    mode 1: log marginal over graphs at each n0 (``col``) and, relative to
    ``gmax``, the per-graph mass (``acc``);
    mode 2: per-graph quantiles: first grid index where the graph's cdf
    (``log_mass`` normalises it) reaches each target.
    """
    n_g = base.size
    n_s = d0a.size
    comp = np.empty(n_s)
    lp = np.empty(n_g)
    col = np.full(n0.size, -np.inf)
    acc = np.zeros(n_g)
    if mode == 0:
        acc[:] = -np.inf
    hit = np.full((n_g, targets.size), n0.size - 1, dtype=np.int64)
    nxt = np.zeros(n_g, dtype=np.int64)
    lg_alpha = math.lgamma(alpha)
    lg1 = 0.0
    lga = 0.0
    for i in range(n0.size):
        n = n0[i]
        big_n = n + n_obs
        if i > 0 and n == n0[i - 1] + 1.0 and i % _ANCHOR != 0:
            prev = n - 1.0
            for s in range(n_s):
                comp[s] += math.log(prev + d0a[s])
            lg1 += math.log(big_n) - math.log(n)
            lga += math.log(big_n - 1.0 + alpha)
        else:
            for s in range(n_s):
                comp[s] = math.lgamma(n + d0a[s])
            lg1 = math.lgamma(big_n + 1.0) - math.lgamma(n + 1.0)
            lga = math.lgamma(big_n + alpha)
        if lpn[i] == -np.inf:
            continue
        common = lg1 + lpn[i]
        dn = lg_alpha - lga
        for g in range(n_g):
            v = base[g] + common + ncomp[g] * dn
            for j in range(nnz[g]):
                v += coef[g, j] * comp[idx[g, j]]
            lp[g] = v
        if mode == 0:
            for g in range(n_g):
                if lp[g] > acc[g]:
                    acc[g] = lp[g]
            continue
        if mode == 1:
            m = lp.max()
            tot = 0.0
            for g in range(n_g):  # terms below exp(-745) underflow to zero anyway
                d = lp[g] - m
                if d > -745.0:
                    tot += math.exp(d)
                d = lp[g] - gmax[g]
                if d > -745.0:
                    acc[g] += math.exp(d)
            col[i] = m + math.log(tot)
            continue
        for g in range(n_g):
            if nxt[g] >= targets.size:
                continue
            d = lp[g] - log_mass[g]
            if d > -745.0:
                acc[g] += math.exp(d)
            while nxt[g] < targets.size and acc[g] >= targets[nxt[g]] - 1e-12:
                hit[g, nxt[g]] = i
                nxt[g] += 1
    return col, acc, hit


class _Evaluator:
    """The grid posterior of one table, evaluated by streaming kernels."""

    def __init__(self, y: np.ndarray, k: int, delta: float, log_prior: Callable[[np.ndarray],
                 np.ndarray]) -> None:
        self.n_obs = float(y.sum())
        w, ncomp = graph_matrix(k)
        d0, a, const = _table_terms(y, k, delta)
        self.d0a = np.ascontiguousarray((d0 + a)[1:])
        nz = [np.flatnonzero(row[1:]) for row in w]
        width = max(len(z) for z in nz)
        self.idx = np.zeros((w.shape[0], width), dtype=np.int64)
        self.coef = np.zeros((w.shape[0], width))
        for g, z in enumerate(nz):
            self.idx[g, :len(z)] = z
            self.coef[g, :len(z)] = w[g, 1:][z]
        self.nnz = np.array([len(z) for z in nz], dtype=np.int64)
        self.base = w[:, 1:] @ const[1:] - gammaln(y[1:] + 1).sum()
        self.ncomp = np.ascontiguousarray(ncomp, dtype=float)
        self.alpha = delta * 2.0 ** k
        self.log_prior = log_prior
        self.n_graphs = w.shape[0]

    def scan(self, n0: np.ndarray, mode: int, gmax: np.ndarray | None = None,
             log_mass: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run one streaming pass of :func:`_scan` over the grid values ``n0``."""
        n0 = np.ascontiguousarray(n0, dtype=float)
        lpn = np.ascontiguousarray(self.log_prior(n0 + self.n_obs), dtype=float)
        z = np.zeros(self.n_graphs)
        out: tuple[np.ndarray, np.ndarray, np.ndarray] = _scan(
            n0, lpn, self.n_obs, self.d0a, self.alpha, self.idx, self.coef, self.nnz,
            self.base, self.ncomp, mode, z if gmax is None else gmax,
            z if log_mass is None else log_mass, _TARGETS)
        return out

    def log_marginal(self, n0: np.ndarray) -> np.ndarray:
        """Return log p(n0, y) summed over graphs, at each ``n0``."""
        return self.scan(n0, 1, gmax=np.zeros(self.n_graphs))[0]


def _n_coarse(cap: int) -> int:
    """Geometric points for the coarse grid: about 150 per decade (ratio < 1.016)."""
    return int(150 * max(np.log10(max(cap, 65) / 64), 1.0)) + 2


def _tail_profile(ev: _Evaluator, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative posterior mass beyond each point of a coarse grid on ``[0, cap]``.

    The marginal density of :math:`n_0` is evaluated on all integers up to 64
    and about 150 geometrically spaced points per decade up to ``cap``; masses between them
    are trapezoids, and the mass beyond ``cap`` is extrapolated from the
    log-log slope of the last two points (infinite if the tail is improper).
    """
    geo = np.round(np.geomspace(64, max(cap, 65), _n_coarse(cap)))
    x = np.unique(np.concatenate([np.arange(0, min(cap, 64) + 1), geo])).astype(float)
    x = x[x <= cap]
    f = ev.log_marginal(x)
    if not np.isfinite(f.max()):
        raise PriorError(
            "the prior on N gives zero probability to every value on the grid: expected "
            "prior_n to be positive somewhere in n0 = 0..n_max."
        )
    f -= f.max()
    p = np.exp(f)
    seg = np.diff(x) * 0.5 * (p[1:] + p[:-1])
    beyond = np.inf
    if not np.isfinite(f[-1]):  # the prior ends inside the grid (an array prior)
        beyond = 0.0
    elif x.size > 2 and x[-2] > 0 and np.isfinite(f[-2]):
        beta = (f[-1] - f[-2]) / (np.log(x[-1]) - np.log(x[-2]))
        if beta < -1.0:
            beyond = p[-1] * x[-1] / (-beta - 1.0)
    tail = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]]) + beyond
    total = seg.sum() + p[0] + beyond
    rel = tail / total if np.isfinite(total) else np.full_like(tail, np.inf)
    return x, rel


def bma_grid(
    y: np.ndarray,
    k: int,
    delta: float,
    *,
    log_prior: Callable[[np.ndarray], np.ndarray],
    n_max: int | None = None,
    n_max_cap: int | None = None,
) -> GridPosterior:
    """Model-averaged posterior of the unobserved cell on the grid ``0..n_max``.

    Parameters
    ----------
    y : ndarray, shape (2**k,)
        Counts indexed by capture bitmask (bit ``j`` = list ``j``); ``y[0]``
        is ignored (the unobserved cell).
    delta : float
        Hyper-Dirichlet prior count of every full cell.
    log_prior : callable
        Log prior of the total ``N`` (vectorised over an array of N).
    n_max : int, optional
        Grid end; by default the smallest end leaving less than ``TAIL_TOL`` (1e-5) of
        the posterior beyond it (capped at ``n_max_cap``).
    """
    y = np.asarray(y, dtype=float).copy()
    y[0] = 0.0
    ev = _Evaluator(y, k, delta, log_prior)
    n_obs = int(y.sum())
    cap = n_max_cap if n_max_cap is not None else int(min(max(100 * n_obs, 20_000), 10**7))
    cap = max(cap, n_max or 0)
    x, rel = _tail_profile(ev, cap)
    if n_max is None:
        ok = np.flatnonzero(rel < TAIL_TOL)
        n_max = max(int(x[ok[0]]) if ok.size else cap, 10)
    i = min(int(np.searchsorted(x, n_max, side="right")) - 1, x.size - 1)
    tail = float(rel[max(i, 0)])  # relative mass beyond the grid (coarse estimate)
    grid = np.arange(n_max + 1)
    gmax = ev.scan(grid, 0)[1]
    col, acc, _ = ev.scan(grid, 1, gmax=gmax)
    with np.errstate(divide="ignore"):
        log_mg = np.log(acc) + gmax  # log mass of each graph
    log_z = logsumexp(col)
    post = np.exp(col - log_z)
    model_prob = np.exp(log_mg - log_z)
    mq = ev.scan(grid, 2, log_mass=log_mg)[2]
    return GridPosterior(grid, post, model_prob, mq, float(tail), n_obs)


# ------------------------------------------------------------------ model class
def _log_prior_fn(prior: LogPrior, n_obs: int) -> tuple[Callable[[np.ndarray], np.ndarray],
                                                      int | None, str]:
    """Callable log p(N), an implied grid end (array priors), and a description."""
    if isinstance(prior, str):
        if prior in ("1/N", "1/n", "inverse"):
            return (lambda n: -np.log(n)), None, "p(N) proportional to 1/N"
        if prior == "uniform":
            return (lambda n: np.zeros_like(n, dtype=float)), None, "p(N) uniform on the grid"
        raise PriorError(
            f"prior_n={prior!r} is unknown: expected '1/N', 'uniform', a function of N "
            "returning log prior values, or an array of log prior values over n0 = 0..n_max."
        )
    if callable(prior):
        def fn(n: np.ndarray) -> np.ndarray:
            out = np.asarray(prior(n), dtype=float)
            if out.shape != np.shape(n) or np.isnan(out).any() or np.isposinf(out).any():
                raise PriorError(
                    f"prior_n function returned shape {out.shape} (or NaN/+inf values): "
                    f"expected finite log prior values (or -inf) of shape {np.shape(n)}, one "
                    "per value of N."
                )
            return out

        name = getattr(prior, "__name__", "user function")
        return fn, None, f"log p(N) given by {name}"
    arr = np.asarray(prior, dtype=float)
    if arr.ndim != 1 or arr.size < 2 or np.isnan(arr).any() or np.isposinf(arr).any() \
            or not np.isfinite(arr).any():
        raise PriorError(
            f"prior_n array has shape {arr.shape}: expected a 1-d array of log prior values "
            "(finite or -inf, at least one finite) for n0 = 0, 1, ..., n_max."
        )

    def fn_arr(n: np.ndarray) -> np.ndarray:
        idx = np.asarray(n, dtype=np.int64) - n_obs
        out = np.full(idx.shape, -np.inf)
        ok = (idx >= 0) & (idx < arr.size)
        out[ok] = arr[idx[ok]]
        return out

    return fn_arr, arr.size - 1, f"log p(N) given as an array over n0 = 0..{arr.size - 1}"


@dataclass(frozen=True)
class DecomposableBMA:
    r"""Bayesian model averaging over decomposable graphs (Madigan & York; dga).

    Parameters
    ----------
    delta : float, optional
        Hyper-Dirichlet prior count per cell of the full :math:`2^K` table;
        default :math:`2^{-K}` (a total prior weight of one observation).
        A margin over :math:`|A|` lists gets :math:`\delta 2^{K-|A|}` per cell.
    prior_n : {"1/N", "uniform"}, callable or array, default "1/N"
        Prior on the total :math:`N`: ``"1/N"`` (dga's default), ``"uniform"``
        on the grid, a function returning :math:`\log p(N)` for an array of N,
        or an array of log prior values over :math:`n_0 = 0, \dots, n_{max}`
        (as dga's ``logprior`` over ``Nmissing = 0:n_max``; it fixes the grid).
    n_max : int, optional
        Last grid value of the unobserved count :math:`n_0`.  By default it is
        chosen per table so that less than :math:`10^{-5}` of the posterior lies
        beyond it (up to ``max(100 * observed, 20000)``; a heavier tail gives
        an :class:`~casualty_models.errors.IdentifiabilityWarning`).
    min_observed : int, default 20
        Strata with fewer records, or with no record on two or more lists,
        are flagged sparse (:class:`~casualty_models.errors.SparseDataWarning`):
        their posterior is driven by the prior.

    Identifying assumption
    ----------------------
    Within each decomposable model, the interactions not contained in a
    clique, in particular the highest-order (K-way) interaction, are absent:
    the unobserved people share the dependence structure of the observed
    ones.  The average is only over decomposable dependence structures.

    Examples
    --------
    >>> from casualty_models.datasets import load_capture_table
    >>> res = DecomposableBMA(delta=1/8).fit(load_capture_table("spina_bifida"),
    ...                                      random_seed=1)
    >>> int(grid_summary(res).loc["all", "median"])
    731
    >>> model_table(res).iloc[0]["graph"]
    '[L1][L2,L3]'
    """

    delta: float | None = None
    prior_n: LogPrior = "1/N"
    n_max: int | None = None
    min_observed: int = 20

    def __post_init__(self) -> None:
        if self.delta is not None:
            check_number("delta", self.delta, low=0.0, low_open=True, error=PriorError)
        if self.n_max is not None:
            check_int("n_max", self.n_max, low=1)
        check_int("min_observed", self.min_observed, low=0)
        _log_prior_fn(self.prior_n, 1)  # validate early

    def delta_for(self, k: int) -> float:
        """Return the cell parameter used for ``k`` lists."""
        return float(self.delta) if self.delta is not None else 2.0 ** -k

    def priors(self, k: int) -> dict[str, Any]:
        """Return the priors used, as a JSON-ready mapping."""
        d = self.delta_for(k)
        n_text = _log_prior_fn(self.prior_n, 1)[2]
        return {
            "N": (inverse_n_prior() if self.prior_n in ("1/N", "1/n", "inverse")
                  else prior_record(distribution="user" if not isinstance(self.prior_n, str)
                                    else str(self.prior_n), text=n_text)),
            "cells": prior_record(
                distribution="hyper-Dirichlet", delta=d,
                text=f"hyper-Dirichlet, delta = {d:g} per cell of the 2^{k} table "
                     f"(margin over m lists: delta * 2^({k}-m) per cell)"),
            "graphs": prior_record(
                distribution="uniform", text=f"uniform over the {len(decomposable_graphs(k))} "
                f"decomposable graphs on {k} lists"),
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        prior = self.prior_n if isinstance(self.prior_n, str) else _log_prior_fn(
            self.prior_n, 1)[2]
        return {"delta": self.delta, "prior_n": prior, "n_max": self.n_max,
                "min_observed": self.min_observed}

    # ------------------------------------------------------------------ fit
    def fit_grid(self, table: CaptureTable, stratum: str | None = None) -> GridPosterior:
        """Compute the exact grid posterior for one stratum (or an unstratified table)."""
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"DecomposableBMA.fit needs a CaptureTable, got {type(table).__name__}. Fix: "
                "build one with CaptureTable.from_counts / from_records / from_mapping."
            )
        k = table.n_lists
        decomposable_graphs(k)  # validates k
        i = 0 if stratum is None else table.strata.index(stratum)
        y = np.zeros(1 << k)
        codes = table.patterns.astype(np.int64) @ (1 << np.arange(k))
        np.add.at(y, codes, table.counts[i])
        n_obs = int(table.counts[i].sum())
        if n_obs == 0:
            raise DataValidationError(
                f"stratum {table.strata[i]!r} has no records: nothing to estimate from. "
                "Fix: drop it or merge it with another stratum."
            )
        fn, implied, _ = _log_prior_fn(self.prior_n, n_obs)
        n_max = self.n_max
        if implied is not None:
            if n_max is not None and n_max != implied:
                raise PriorError(
                    f"prior_n array covers n0 = 0..{implied} but n_max={n_max}: expected "
                    "them to agree. Fix: drop n_max or pass a prior array of length n_max + 1."
                )
            n_max = implied
        gp = bma_grid(y, k, self.delta_for(k), log_prior=fn, n_max=n_max)
        gp.extra["n_observed"] = n_obs
        return gp

    def fit(
        self,
        table: CaptureTable,
        *,
        draws: int = 4000,
        chains: int = 4,
        random_seed: int | None = None,
    ) -> Results:
        """Exact model-averaged posterior of the total, per stratum and summed.

        Parameters
        ----------
        table : CaptureTable
            K = 2..6 lists; strata are fitted independently.
        draws, chains : int
            Exact independent draws from the grid posterior, arranged in chains.
        random_seed : int, optional
            Same seed, same draws.  Recorded with the result.

        Returns
        -------
        Results
            ``posterior``: ``N``, ``N_unobserved`` (chain, draw, stratum) and
            their totals; ``constant_data``: ``posterior_grid`` (stratum,
            n_unobserved), ``model_probability`` and per-graph ``model_N_median``,
            ``model_N_q025``, ``model_N_q975`` (stratum, graph), ``sparse``
            (stratum), ``observed``.
        """
        check_sampling_args(draws, chains, random_seed=random_seed)
        t0 = time.perf_counter()
        if not isinstance(table, CaptureTable):
            self.fit_grid(table)  # raises the type error
        k = table.n_lists
        graphs = decomposable_graphs(k)
        labels = [g.label(table.lists) for g in graphs]
        rng = np.random.default_rng(random_seed)
        fits: list[GridPosterior] = []
        sparse: list[str] = []
        for s, name in enumerate(table.strata):
            n_obs = int(table.counts[s].sum())
            multi = int(table.counts[s][table.patterns.sum(axis=1) >= 2].sum())
            if n_obs < self.min_observed or multi == 0:
                sparse.append(name)
            fits.append(self.fit_grid(table, name))
        if sparse:
            why = [f"{s!r} ({int(table.counts[table.strata.index(s)].sum())} records)"
                   for s in sparse]
            warn(
                f"stratum(s) {', '.join(why)} are too sparse for multiple systems estimation "
                f"(fewer than {self.min_observed} records, or nobody on two or more lists): "
                "their posterior of N is driven by the prior (delta and p(N)), not by list "
                "overlaps. They are kept in the total and flagged in constant_data['sparse']; "
                "merge them with similar strata for an estimate the data support.",
                SparseDataWarning,
            )
        heavy = [(name, gp.tail_mass) for name, gp in zip(table.strata, fits, strict=True)
                 if not gp.tail_mass < TAIL_WARN]
        if heavy:
            txt = ", ".join(f"{n!r} ({'unbounded' if not np.isfinite(t) else f'{t:.2%}'})"
                            for n, t in heavy)
            warn(
                f"the posterior of N has a heavy tail beyond the grid in stratum(s) {txt}: "
                "the data do not bound the number of unobserved deaths under some models "
                "(typically the saturated one), so the upper end of the interval depends on "
                "where the grid stops (n_max). Report it as such, check a larger n_max, or "
                "use a proper prior_n.",
                IdentifiabilityWarning,
            )
        sat = [(name, float(gp.model_prob[-1])) for name, gp in zip(table.strata, fits,
                                                                   strict=True)
               if name not in sparse and gp.model_prob[-1] > SATURATED_WARN]
        if sat:
            txt = ", ".join(f"{n!r} ({p:.0%})" for n, p in sat)
            warn(
                f"the saturated model {labels[-1]} (every list dependent on every other, "
                f"no conditional independence) has posterior probability {txt}. Under it the "
                "observed cells say nothing about the unobserved one: that part of the "
                "posterior of N is the prior (delta and p(N)), with a long upper tail. The "
                "data do not identify N without an assumption of conditional independence; "
                "report the estimate as assumption-driven, compare models with model_table(), "
                "or look at a larger delta and at stratified fits.",
                IdentifiabilityWarning,
            )
        n_s = len(table.strata)
        unobs = np.empty((chains, draws, n_s), dtype=np.int64)
        for s, gp in enumerate(fits):
            cdf = np.cumsum(gp.posterior)
            u = rng.random(chains * draws) * cdf[-1]
            idx = np.minimum(np.searchsorted(cdf, u, side="right"), gp.n0.size - 1)
            unobs[:, :, s] = gp.n0[idx].reshape(chains, draws)
        obs = table.observed.astype(np.int64)
        wall = time.perf_counter() - t0
        return self._package(table, fits, labels, unobs, obs, sparse, random_seed, wall)

    def _package(self, table: CaptureTable, fits: list[GridPosterior], labels: list[str],
                 unobs: np.ndarray, obs: np.ndarray, sparse: list[str],
                 random_seed: int | None, wall: float) -> Results:
        k = table.n_lists
        strata = list(table.strata)
        coords = {"stratum": strata}
        dims = ["chain", "draw", "stratum"]
        posterior = {
            "N": posterior_array(unobs + obs[None, None, :], dims, coords),
            "N_unobserved": posterior_array(unobs, dims, coords),
        }
        width = max(gp.n0.size for gp in fits)
        grid = np.zeros((len(strata), width))
        for s, gp in enumerate(fits):
            grid[s, :gp.n0.size] = gp.posterior
        sg = {"stratum": strata, "graph": labels}
        mq = np.stack([gp.model_quantiles for gp in fits]) + obs[:, None, None]
        constant = {
            "observed": xr.DataArray(obs, dims=["stratum"], coords={"stratum": strata}),
            "posterior_grid": xr.DataArray(
                grid, dims=["stratum", "n_unobserved"],
                coords={"stratum": strata, "n_unobserved": np.arange(width)}),
            "n_max": xr.DataArray(np.array([gp.n0[-1] for gp in fits]), dims=["stratum"],
                                  coords={"stratum": strata}),
            "tail_mass": xr.DataArray(np.array([gp.tail_mass for gp in fits]),
                                      dims=["stratum"], coords={"stratum": strata}),
            "model_probability": xr.DataArray(np.stack([gp.model_prob for gp in fits]),
                                              dims=["stratum", "graph"], coords=sg),
            "model_N_q025": xr.DataArray(mq[..., 0], dims=["stratum", "graph"], coords=sg),
            "model_N_median": xr.DataArray(mq[..., 1], dims=["stratum", "graph"], coords=sg),
            "model_N_q975": xr.DataArray(mq[..., 2], dims=["stratum", "graph"], coords=sg),
            "sparse": xr.DataArray(np.array([s in sparse for s in strata]), dims=["stratum"],
                                   coords={"stratum": strata}),
        }
        observed_data = {"count": xr.DataArray(
            table.counts, dims=["stratum", "pattern"],
            coords={"stratum": strata, "pattern": table.pattern_labels})}
        dt = build_datatree(
            posterior,
            model="DecomposableBMA",
            model_config=self.config(),
            priors=self.priors(k),
            random_seed=random_seed,
            data_fingerprint=table.fingerprint(),
            data_source=table.source,
            sampler="grid",
            observed=int(obs.sum()),
            observed_data=observed_data,
            constant_data=constant,
            extra_attrs={"wall_time": wall, "delta": self.delta_for(k),
                         "n_graphs": len(labels), "lists": ",".join(table.lists),
                         "sparse_strata": ",".join(sparse)},
        )
        return Results(dt)


# ------------------------------------------------------------------ readers
def _check_bma(result: Results) -> xr.Dataset:
    if result.model != "DecomposableBMA" or "constant_data" not in result.tree.children:
        raise DataValidationError(
            f"this result comes from {result.model!r}: expected a DecomposableBMA result."
        )
    return result.tree["constant_data"].to_dataset()


def grid_summary(result: Results) -> pd.DataFrame:
    """Exact grid quantiles of ``N`` per stratum (no sampling noise).

    Columns ``mean``, ``median``, ``q025``, ``q975``, ``n_max``, ``sparse``;
    the quantile is the smallest N whose posterior cdf reaches the level.
    """
    cd = _check_bma(result)
    rows = {}
    for s in cd["stratum"].values:
        p = np.asarray(cd["posterior_grid"].sel(stratum=s).values, dtype=float)
        obs = int(cd["observed"].sel(stratum=s))
        gp = GridPosterior(np.arange(p.size), p, np.empty(0), np.empty((0, 3)), 0.0, obs)
        lo, med, hi = gp.quantile([0.025, 0.5, 0.975])
        rows[str(s)] = {"mean": gp.mean, "median": int(med), "q025": int(lo),
                        "q975": int(hi), "n_max": int(cd["n_max"].sel(stratum=s)),
                        "sparse": bool(cd["sparse"].sel(stratum=s))}
    return pd.DataFrame.from_dict(rows, orient="index")


def model_table(result: Results, stratum: str | None = None,
                top: int | None = None) -> pd.DataFrame:
    """Per-graph posterior probability and N quantiles, most probable first.

    Parameters
    ----------
    stratum : str, optional
        Default: the only stratum, or every stratum (with a ``stratum`` column).
    top : int, optional
        Keep the ``top`` most probable graphs (per stratum).
    """
    cd = _check_bma(result)
    strata = [str(s) for s in cd["stratum"].values] if stratum is None else [stratum]
    frames = []
    for s in strata:
        if s not in [str(x) for x in cd["stratum"].values]:
            raise DataValidationError(
                f"unknown stratum {s!r}: strata are {[str(x) for x in cd['stratum'].values]}."
            )
        df = pd.DataFrame({
            "stratum": s,
            "graph": [str(g) for g in cd["graph"].values],
            "probability": cd["model_probability"].sel(stratum=s).values,
            "N_median": cd["model_N_median"].sel(stratum=s).values,
            "N_q025": cd["model_N_q025"].sel(stratum=s).values,
            "N_q975": cd["model_N_q975"].sel(stratum=s).values,
        }).sort_values("probability", ascending=False, kind="stable")
        frames.append(df.head(top) if top else df)
    out = pd.concat(frames, ignore_index=True)
    return out if len(strata) > 1 else out.drop(columns="stratum")


# ------------------------------------------------------------------ command line
def run_cli(args: Any, table: CaptureTable) -> int:
    """``casualty-models mse --method bma``: fit, print or emit JSON."""
    import warnings

    from ..cli._common import emit

    model = DecomposableBMA(delta=args.delta)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(table, draws=args.draws, chains=args.chains, random_seed=args.seed)
    for w in caught:  # shown on stderr as usual, and kept in the JSON
        warn(str(w.message), w.category)
    top = model_table(res, top=5)
    if "stratum" not in top.columns:
        top.insert(0, "stratum", res.strata[0])
    rows = top.to_dict(orient="records")
    gs = grid_summary(res)
    extra: dict[str, Any] = {
        "delta": model.delta_for(table.n_lists),
        "n_graphs": len(decomposable_graphs(table.n_lists)),
        "grid": {s: {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                 for s, r in gs.to_dict(orient="index").items()},
        "sparse_strata": [s for s in res.strata if bool(gs.loc[s, "sparse"])],
        "top_models": [_row(r) for r in rows],
        "fit_warnings": [str(w.message) for w in caught],
    }
    if args.all_models:
        allm = model_table(res)
        if "stratum" not in allm.columns:
            allm.insert(0, "stratum", res.strata[0])
        extra["all_models"] = [_row(r) for r in allm.to_dict(orient="records")]
    if not args.json:
        with pd.option_context("display.width", 140, "display.max_colwidth", 60):
            print(("all" if args.all_models else "most probable") + " decomposable models "
                  "(posterior probability; N median and 95% interval within each model):")
            shown = model_table(res) if args.all_models else top
            print(shown.to_string(index=False, float_format="{:.4f}".format))
            for s, r in gs.iterrows():
                flag = "  (sparse: prior-driven)" if r["sparse"] else ""
                print(f"exact grid posterior of N [{s}]: median {r['median']:,}, 95% "
                      f"[{r['q025']:,}, {r['q975']:,}] (n0 grid 0..{r['n_max']:,}){flag}")
    return emit(res, args, extra=extra)


def _row(r: Any) -> dict[str, Any]:
    return {"stratum": str(r["stratum"]), "graph": str(r["graph"]),
            "probability": float(r["probability"]), "N_median": int(r["N_median"]),
            "N_q025": int(r["N_q025"]), "N_q975": int(r["N_q975"])}
