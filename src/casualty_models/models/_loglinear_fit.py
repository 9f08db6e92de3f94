r"""Array maths of the K-list log-linear models.

Terms, design matrices, batched Poisson maximum likelihood, profile likelihood of N
and model enumeration.

Plain NumPy; no labels.  Cells are the :math:`2^K - 1` observable capture
patterns in the order of :meth:`CaptureTable.dense` (pattern code 1, 2, ...,
:math:`2^K - 1`, first list = most significant bit).  A *term* is a sorted
tuple of list indices (``(0, 2)`` is the interaction of lists 0 and 2); the
intercept is the empty tuple ``()``.  The design column of a term is the
product of its lists' 0/1 indicators, so the unobserved all-zero cell has the
design row ``(1, 0, ..., 0)`` and expected count :math:`e^{\beta_0}`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.special import gammaln

from ..containers import observable_patterns as all_patterns

Term = tuple[int, ...]

__all__ = [
    "all_patterns",
    "batched_poisson_fit",
    "design",
    "enumerate_hierarchical",
    "hierarchical_closure",
    "poisson_loglik",
    "profile_curve",
    "profile_interval",
    "total_profile_interval",
]


def hierarchical_closure(terms: Iterable[Term]) -> list[Term]:
    """Every non-empty subset of every term, sorted by (order, indices)."""
    out: set[Term] = set()
    for t in terms:
        t = tuple(sorted(t))
        for r in range(1, len(t) + 1):
            out.update(itertools.combinations(t, r))
    return sorted(out, key=lambda t: (len(t), t))


def design(patterns: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """Design matrix: intercept column then one 0/1 column per term.

    Parameters
    ----------
    patterns : (n_cell, K) 0/1 array
    terms : sequence of non-empty terms (the intercept is added)
    """
    p = np.asarray(patterns, dtype=float)
    cols = [np.ones(p.shape[0])]
    for t in terms:
        cols.append(np.prod(p[:, list(t)], axis=1))
    return np.stack(cols, axis=1)


def poisson_loglik(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Poisson log-likelihood summed over the last axis (``0 log 0 = 0``)."""
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogmu = np.where(y > 0, y * np.log(np.where(mu > 0, mu, 1.0)), 0.0)
    return np.sum(ylogmu - mu - gammaln(y + 1.0), axis=-1)


def _deviance(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ylog = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2.0 * np.sum(ylog - (y - mu), axis=-1)


def batched_poisson_fit(
    X: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    beta0: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
    prior_prec: np.ndarray | None = None,
    prior_mean: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    r"""Maximum likelihood of many Poisson log-linear models at once (Newton).

    Parameters
    ----------
    X : (M, C, P) design matrices; padding columns (``mask`` False) are zero.
    y : (M, C) or (C,) counts.
    mask : (M, P) bool, which columns are real (default all).
    beta0 : (M, P) starting values (default: least squares on log(y + 0.5)).
    prior_prec : (P,) or (M, P), optional
        Precisions of independent N(0, 1/prec) priors: the fit is then the
        posterior mode (MAP) and ``hessian`` the negative Hessian there.
    prior_mean : (P,) or (M, P), optional
        Means of those priors (default 0).

    Returns
    -------
    dict with ``beta`` (M, P), ``mu`` (M, C), ``loglik``, ``deviance``,
    ``converged`` (M,) and ``iterations``.

    Notes
    -----
    Newton-Raphson on the concave Poisson log-likelihood, with step halving
    whenever a step lowers it and steps capped at 10 on the log scale.  When
    the MLE lies on the boundary (a margin of zero), the coefficients drift
    towards :math:`-\infty` while the log-likelihood converges; the fit stops on
    the log-likelihood and the caller checks the margins.
    """
    X = np.asarray(X, dtype=float)
    m, c, p = X.shape
    y = np.broadcast_to(np.asarray(y, dtype=float), (m, c))
    if mask is None:
        mask = np.ones((m, p), dtype=bool)
    pad = (~mask).astype(float)
    eye = np.eye(p)
    if beta0 is None:
        z = np.log(y + 0.5)
        h = np.einsum("mcp,mcq->mpq", X, X) + 1e-8 * eye + pad[:, :, None] * eye
        beta = np.linalg.solve(h, np.einsum("mcp,mc->mp", X, z)[..., None])[..., 0]
    else:
        beta = np.array(beta0, dtype=float)
    beta = beta * mask
    prec = np.zeros((m, p)) if prior_prec is None else np.broadcast_to(
        np.asarray(prior_prec, dtype=float), (m, p)) * mask
    pmean = np.zeros((m, p)) if prior_mean is None else np.broadcast_to(
        np.asarray(prior_mean, dtype=float), (m, p)) * mask

    def ll(b: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta = np.matmul(X[idx], b[..., None])[..., 0]
        mu = np.exp(np.minimum(eta, 700.0))
        with np.errstate(invalid="ignore"):
            val = np.sum(np.where(y[idx] > 0, y[idx] * eta, 0.0) - mu, axis=1)
        return val - 0.5 * np.sum(prec[idx] * (b - pmean[idx]) ** 2, axis=1), mu

    active = np.arange(m)
    cur, mu = ll(beta, active)
    converged = np.zeros(m, dtype=bool)
    iters = np.zeros(m, dtype=np.int64)
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa = X[active]
        g = np.matmul(xa.transpose(0, 2, 1), (y[active] - mu[active])[..., None])[..., 0] - prec[active] * (
            beta[active] - pmean[active])
        h = np.matmul(xa.transpose(0, 2, 1) * mu[active][:, None, :], xa)
        h = h + pad[active][:, :, None] * eye + 1e-10 * eye + prec[active][:, :, None] * eye
        try:
            step = np.linalg.solve(h, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.einsum("mpq,mq->mp", np.linalg.pinv(h), g)
        step = np.where(np.isfinite(step), step, 0.0)
        big = np.max(np.abs(step), axis=1, keepdims=True)
        step = step * np.minimum(1.0, 10.0 / np.maximum(big, 1e-300))
        step = step * mask[active]
        new = beta[active] + step
        val, mu_new = ll(new, active)
        worse = ~(val >= cur[active] - 1e-12 * np.abs(cur[active]))
        t = 1.0
        for _h in range(30):
            if not worse.any():
                break
            t *= 0.5
            w = np.flatnonzero(worse)
            new[w] = beta[active[w]] + t * step[w]
            v2, m2 = ll(new[w], active[w])
            val[w], mu_new[w] = v2, m2
            worse[w] = ~(v2 >= cur[active[w]] - 1e-12 * np.abs(cur[active[w]]))
        gain = val - cur[active]
        beta[active] = new
        mu[active] = mu_new
        cur[active] = val
        iters[active] += 1
        scale = np.maximum(1.0, np.abs(val))
        done = ((np.abs(gain) <= tol * scale) & (np.max(np.abs(step), axis=1) < 1e-5)) | (
            np.abs(gain) <= 1e-12 * scale)
        converged[active[done]] = True
        active = active[~done]
    mu = np.exp(np.minimum(np.einsum("mcp,mp->mc", X, beta), 700.0))
    hess = np.matmul(X.transpose(0, 2, 1) * mu[:, None, :], X) + prec[:, :, None] * eye
    return {
        "hessian": hess,
        "beta": beta,
        "mu": mu,
        "loglik": poisson_loglik(y, mu),
        "deviance": _deviance(y, mu),
        "converged": converged,
        "iterations": iters,
    }


def _profile_loglik(X_full: np.ndarray, y_obs: np.ndarray, n0: float,
                    beta: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Multinomial log-likelihood of N = n + n0, maximised over the model.

    The cell probabilities come from a Poisson fit to the complete table.
    """
    y = np.concatenate([[n0], y_obs]).astype(float)
    fit = batched_poisson_fit(X_full[None], y[None], beta0=None if beta is None else beta[None])
    mu = fit["mu"][0]
    n_tot = y.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogp = np.where(y > 0, y * np.log(mu / n_tot), 0.0)
    ll = float(gammaln(n_tot + 1.0) - gammaln(y + 1.0).sum() + ylogp.sum())
    if not np.isfinite(ll):  # a failed fit counts as far outside the interval
        ll = -1e300
    return ll, fit["beta"][0]


def profile_curve(X_obs: np.ndarray, y_obs: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """Profile log-likelihood of N at ``n + n0`` for each value of ``n0``."""
    X_full = np.vstack([np.eye(1, X_obs.shape[1]), X_obs])
    out = np.empty(len(n0))
    beta = None
    for i, v in enumerate(n0):
        out[i], beta = _profile_loglik(X_full, y_obs, float(v), beta)
    return out


def profile_interval(
    X_obs: np.ndarray, y_obs: np.ndarray, n0_hat: float, *, level: float = 0.95,
    max_ratio: float = 1e4,
) -> tuple[float, float, float]:
    r"""Profile-likelihood interval of the unobserved count (Cormack 1992).

    For a fixed :math:`N = n + n_0` the cell probabilities of the model are
    fitted to the complete table (the unobserved cell set to :math:`n_0`) and
    the multinomial log-likelihood

    .. math::

        \ell(N) = \log N! - \sum_\omega \log n_\omega! - \log n_0!
                  + \sum_\omega n_\omega \log \hat p_\omega + n_0 \log \hat p_0

    is evaluated (:math:`n_0` continuous via the gamma function).  The interval
    is :math:`\{N : 2(\max \ell - \ell(N)) \le \chi^2_{1, \text{level}}\}`.

    Returns
    -------
    (low, high, n0_at_max) on the scale of ``n0`` (add ``n`` for N);
    ``high`` is ``inf`` when the bound exceeds ``max_ratio`` times ``n``.
    """
    from scipy.optimize import brentq, minimize_scalar
    from scipy.stats import chi2

    crit = chi2.ppf(level, 1) / 2.0
    X_full = np.vstack([np.eye(1, X_obs.shape[1]), X_obs])
    n = float(np.sum(y_obs))
    cache: dict[float, float] = {}
    state: dict[str, np.ndarray | None] = {"beta": None}

    def f(v: float) -> float:
        if v not in cache:
            cache[v], b = _profile_loglik(X_full, y_obs, max(v, 0.0), state["beta"])
            if np.all(np.isfinite(b)):
                state["beta"] = b
        return cache[v]

    hi0 = max(4.0 * n0_hat + 10.0, 10.0)
    opt = minimize_scalar(lambda v: -f(v), bounds=(0.0, hi0), method="bounded",
                          options={"xatol": 1e-3})
    v_max = float(opt.x)
    l_max = -float(opt.fun)
    l_max = max(l_max, f(n0_hat)) if n0_hat >= 0 else l_max

    def g(v: float) -> float:
        return l_max - f(v) - crit

    if g(0.0) <= 0:
        low = 0.0
    else:
        state["beta"] = None
        low = float(brentq(g, 0.0, v_max, xtol=1e-4))
    state["beta"] = None
    upper = max(2.0 * v_max, 10.0)
    high = float("inf")
    while upper <= max_ratio * max(n, 1.0):
        if g(upper) > 0:
            high = float(brentq(g, v_max, upper, xtol=1e-4))
            break
        upper *= 2.0
    return low, high, v_max


def enumerate_hierarchical(k: int) -> list[list[Term]]:
    """All hierarchical log-linear models for K lists (a fresh list; cached)."""
    return [list(m) for m in _enumerate_hierarchical(k)]


@functools.lru_cache(maxsize=8)
def _enumerate_hierarchical(k: int) -> tuple[tuple[Term, ...], ...]:
    """All hierarchical log-linear models for K lists without the K-way term.

    Each model is its list of *generating-closed* interaction terms (order
    >= 2, every subset of a term also present); main effects are implied.
    For K = 3, 4, 5 there are 8, 113 and 6,893 models.
    """
    terms = [t for r in range(2, k) for t in itertools.combinations(range(k), r)]
    models: list[list[Term]] = []

    def rec(i: int, chosen: list[Term], chosen_set: set[Term]) -> None:
        if i == len(terms):
            models.append(list(chosen))
            return
        t = terms[i]
        rec(i + 1, chosen, chosen_set)
        if len(t) == 2 or all(s in chosen_set for s in itertools.combinations(t, len(t) - 1)):
            chosen.append(t)
            chosen_set.add(t)
            rec(i + 1, chosen, chosen_set)
            chosen.pop()
            chosen_set.discard(t)

    rec(0, [], set())
    return tuple(tuple(m) for m in models)


def generators(terms: Sequence[Term]) -> list[Term]:
    """Maximal terms of a hierarchical model (its generating class)."""
    s = [tuple(t) for t in terms]
    return [t for t in s if not any(set(t) < set(u) for u in s)]


def total_profile_interval(X: np.ndarray, y: np.ndarray, N: np.ndarray,
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
