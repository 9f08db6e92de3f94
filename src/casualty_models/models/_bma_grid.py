r"""Array layer of :mod:`.bma`: the exact grid posterior of (graph, n0), streamed by Numba.

Plain NumPy/Numba on a table indexed by capture bitmask; no labels, no
results.  The model, its formulas and the reference to ``dga::bma.cr`` are in
the docstring of :mod:`casualty_models.models.bma`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit
from scipy.special import gammaln, logsumexp

from ..errors import PriorError
from ..results import MATERIAL_TAIL, tail_levels
from ._graphs import graph_matrix

__all__ = ["TAIL_TOL", "TAIL_WARN", "GridPosterior", "LogPrior", "bma_grid", "log_joint",
           "log_prior_fn"]

#: Relative posterior mass allowed beyond the automatically chosen grid end.
TAIL_TOL = 1e-5
#: Mass beyond the grid above which an IdentifiabilityWarning is emitted and N is unbounded.
TAIL_WARN = MATERIAL_TAIL
#: Per-graph quantiles of n0 reported in the model table.
_TARGETS = np.array([0.025, 0.5, 0.975])

LogPrior = str | Callable[[np.ndarray], np.ndarray] | Sequence[float] | np.ndarray



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

    @property
    def unbounded(self) -> bool:
        """Whether material posterior mass (``TAIL_WARN``) lies beyond the grid."""
        return not self.tail_mass < TAIL_WARN

    def quantile(self, q: float | Sequence[float]) -> np.ndarray:
        """Quantiles of ``N``: the smallest N on the grid with cdf >= q.

        With material mass beyond the grid, the levels the grid does not reach
        are infinite and the others account for that mass
        (:func:`~casualty_models.results.tail_levels`).
        """
        lv = np.asarray(q, dtype=float)
        if self.unbounded:
            lv = tail_levels(lv, self.tail_mass)
        cdf = np.cumsum(self.posterior)
        idx = np.searchsorted(cdf, np.nan_to_num(lv, nan=0.0) * cdf[-1] - 1e-12)
        out = (self.n_observed + self.n0[np.minimum(idx, self.n0.size - 1)]).astype(float)
        return np.where(np.isnan(lv), np.inf, out)

    @property
    def mean(self) -> float:
        """Posterior mean of ``N`` (infinite when the grid misses material mass)."""
        if self.unbounded:
            return math.inf
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


def log_prior_fn(prior: LogPrior, n_obs: int) -> tuple[Callable[[np.ndarray], np.ndarray],
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
