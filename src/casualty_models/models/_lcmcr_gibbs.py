r"""Numba kernels of the latent-class (LCMCR) Gibbs sampler.

Plain array code, no labels: :mod:`casualty_models.models.latent_class` wires
data, priors and results around it.

The sampler works on the aggregated table of *observed* patterns (one row per
distinct pattern, with its count), never on individual records.  One
iteration:

1. class memberships of the observed people, pattern by pattern: the ``c_x``
   people with pattern ``x`` are split across the ``K*`` classes by one
   multinomial draw with probabilities :math:`\propto \pi_k \prod_j
   \lambda_{jk}^{x_j} (1 - \lambda_{jk})^{1 - x_j}`;
2. the unobserved count :math:`n_0` given the parameters (class memberships
   summed out): :math:`n_0 \sim \mathrm{NegBin}(a_N + n, 1 - p_0 / (1 + b_N))`
   with :math:`p_0 = \sum_k \pi_k \prod_j (1 - \lambda_{jk})` (``a_N = b_N =
   0`` is the improper prior :math:`p(N) \propto 1/N`), then their classes by
   one multinomial draw with probabilities :math:`\propto \pi_k \prod_j (1 -
   \lambda_{jk})`;
3. Metropolis-Hastings moves of the unobserved count of each class with the
   capture probabilities and weights integrated out (Beta-Binomial and
   stick-breaking marginals), :func:`_unobserved_moves`: an independence
   proposal at the Laplace approximation of that conditional for big classes,
   a random walk for small ones (``n_moves`` sweeps);
4. swaps of two class labels (``n_swaps``; the stick-breaking prior is not
   exchangeable, and without swaps the weights and :math:`\alpha` mix
   slowly), weights integrated out;
5. concentration: by slice sampling from :math:`p(\alpha \mid m)` with the
   weights integrated out (``collapsed_alpha``), or as LCMCR
   :math:`\alpha \sim \mathrm{Gamma}(a_\alpha + K^* - 1, b_\alpha -
   \sum_{k<K^*} \log(1 - V_k))` after step 7;
6. capture probabilities :math:`\lambda_{jk} \sim \mathrm{Beta}(a_\lambda +
   s_{jk}, b_\lambda + m_k - s_{jk})` (``m_k`` people in class ``k``,
   ``s_{jk}`` of them on list ``j``);
7. sticks :math:`V_k \sim \mathrm{Beta}(1 + m_k, \alpha + \sum_{l>k} m_l)`,
   :math:`k < K^*`, :math:`V_{K^*} = 1`.

Steps 3-5 integrate out variables that steps 6-7 draw afresh before anything
conditions on them (a partially collapsed Gibbs sampler, van Dyk & Park
2008), so the joint posterior is kept.  ``n_moves = n_swaps = 0`` with
``collapsed_alpha=False`` is LCMCR's plain Gibbs sampler.

Replica exchange (:func:`_run_block`): a chain holds one replica per rung of a
ladder of data fractions :math:`\beta_r`; rung ``r`` runs the sweep above on
the integer table ``round(beta_r * counts)`` (:func:`rung_tables`), so its
target is the exact posterior given that table and every update is its exact
conditional.  Neighbouring rungs exchange :math:`(\lambda, \pi, \alpha)`, the
only state a sweep carries over (memberships and the unobserved count are
redrawn from their conditionals first), with the Metropolis ratio of the
rung densities, :math:`p(\theta) \prod_x (P_x / (1 - P_0))^{c^{(r)}_x}`
(:func:`_rung_log_lik`; memberships and N summed out).  The derivation is in
:class:`casualty_models.models.latent_class.LatentClass`.

A sweep costs :math:`O(P K^* J)` for ``P`` distinct observed patterns and
``J`` lists, whatever the number of people.  Random numbers come from one
NumPy ``Generator`` (PCG64) per chain, seeded from the chain's seed, so draws
do not depend on which thread runs a chain.  Binomial draws, the bulk of the
work, use Hörmann's BTRS, whose set-up is a few flops: NumPy's BTPE recomputes
a long set-up at every call because ``n`` and ``p`` change at every call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from ._lc_random import _TINY, _beta, _log_beta_pair, _log_rounded_normal, _multinomial_into

__all__ = ["ladder", "rung_tables", "run_chains"]

#: classes with fewer observed members are left to the Gibbs draw of the unobserved count
_LAPLACE_MIN_OBSERVED = 10
#: Newton steps towards the mode of a class's unobserved count
_NEWTON_STEPS = 8


@njit(cache=True, nogil=True)
def _scale(m: int, which: int) -> int:
    if which == 0:
        return max(2, int(2.0 * math.sqrt(m + 1.0)))
    return max(2, int(0.3 * (m + 1.0)))


@njit(cache=True, nogil=True)
def _log_q(m_from: int, d: int) -> float:
    """Log probability of proposing a jump ``d`` from ``m_from`` (two-scale mixture)."""
    q = 0.0
    for w in range(2):
        sc = _scale(m_from, w)
        if abs(d) <= sc:
            q += 0.5 / (2.0 * sc)
    return math.log(q) if q > 0.0 else -np.inf


@njit(cache=True, nogil=True)
def _delta_logp(k: int, d: int, m: np.ndarray, n_cls: np.ndarray, s: np.ndarray,
                big_m: int, tail: np.ndarray, alpha: float, a_lam: float, b_lam: float,
                a_n: float, log_damp: float, n_obs: int) -> float:
    r"""Change of log p(m | observed classes, alpha) when ``m[k]`` moves by ``d``.

    Capture probabilities and class weights are integrated out.  ``tail[l]`` is
    the number of people in classes after ``l``; ``n_cls[k]`` the observed
    people in class ``k``; ``log_damp`` is :math:`\log(1 + b_N)`.
    """
    kk = m.shape[0]
    n_lists = s.shape[0]
    mk = m[k]
    mk2 = mk + d
    t = n_cls[k] + mk
    t2 = t + d
    out = math.lgamma(a_n + n_obs + big_m + d) - math.lgamma(a_n + n_obs + big_m)
    out -= math.lgamma(mk2 + 1.0) - math.lgamma(mk + 1.0)
    out -= d * log_damp
    for j in range(n_lists):
        out += math.lgamma(b_lam + t2 - s[j, k]) - math.lgamma(b_lam + t - s[j, k])
    out -= n_lists * (math.lgamma(a_lam + b_lam + t2) - math.lgamma(a_lam + b_lam + t))
    if k < kk - 1:
        tk = tail[k]
        out += math.lgamma(1.0 + t2) - math.lgamma(1.0 + t)
        out -= math.lgamma(1.0 + alpha + t2 + tk) - math.lgamma(1.0 + alpha + t + tk)
    for ll in range(min(k, kk - 1)):
        tl = tail[ll]
        own = n_cls[ll] + m[ll]
        out += math.lgamma(alpha + tl + d) - math.lgamma(alpha + tl)
        out -= math.lgamma(1.0 + alpha + own + tl + d) - math.lgamma(1.0 + alpha + own + tl)
    return out


@njit(cache=True, nogil=True)
def _log_ratio(k: int, x: float, m: np.ndarray, n_cls: np.ndarray, s: np.ndarray,
               big_m: int, tail: np.ndarray, alpha: float, a_lam: float, b_lam: float,
               a_n: float, log_damp: float, n_obs: int) -> tuple[float, float]:
    """Log ratio p(m_k = x + 1) / p(m_k = x) of the collapsed target, and its derivative.

    ``x`` is real (for Newton's method); the others are held, capture
    probabilities and weights integrated out.
    """
    kk = m.shape[0]
    n_lists = s.shape[0]
    mk = m[k]
    t0 = n_cls[k]
    a0 = a_n + n_obs + big_m - mk
    val = math.log(a0 + x) - math.log(x + 1.0) - log_damp
    der = 1.0 / (a0 + x) - 1.0 / (x + 1.0)
    for j in range(n_lists):
        v = b_lam + t0 + x - s[j, k]
        val += math.log(v)
        der += 1.0 / v
    v = a_lam + b_lam + t0 + x
    val -= n_lists * math.log(v)
    der -= n_lists / v
    if k < kk - 1:
        v1 = 1.0 + t0 + x
        v2 = 1.0 + alpha + t0 + x + tail[k]
        val += math.log(v1) - math.log(v2)
        der += 1.0 / v1 - 1.0 / v2
    for ll in range(min(k, kk - 1)):
        tl = tail[ll] - mk
        v1 = alpha + tl + x
        v2 = 1.0 + alpha + n_cls[ll] + m[ll] + tl + x
        val += math.log(v1) - math.log(v2)
        der += 1.0 / v1 - 1.0 / v2
    return val, der


@njit(cache=True, nogil=True)
def _unobserved_moves(g, m: np.ndarray, n_cls: np.ndarray, s: np.ndarray, tail: np.ndarray,
                      alpha: float, a_lam: float, b_lam: float, a_n: float, log_damp: float,
                      n_obs: int, n_moves: int, laplace_min: float) -> None:
    r"""Metropolis-Hastings updates of the unobserved people per class, ``m[k]``.

    Target: :math:`p(m_k \mid m_{-k}, \text{observed memberships}, \alpha)` with
    capture probabilities and class weights integrated out.  For each class
    the mode of that conditional is found by Newton's method on the log ratio
    of successive probabilities, started from a point that does not depend on
    ``m[k]``, so the mode and the Laplace standard deviation are functions of
    the other variables only.  If the mode is at least ``laplace_min`` the
    proposal is a rounded normal there with 1.25 times the Laplace standard
    deviation (the probability of integer ``i`` is :math:`\Phi((i + 1/2 -
    \mu)/\sigma) - \Phi((i - 1/2 - \mu)/\sigma)`, computed as a difference
    of log normal CDFs), an independence sampler that jumps across the whole conditional
    in one step (the big low-visibility class of Kosovo has a conditional sd of
    300-700 people); otherwise a random walk with a two-scale step.  Classes
    with fewer than ``_LAPLACE_MIN_OBSERVED`` observed members are skipped (a
    choice that depends on the observed memberships only, so the move stays
    valid): their unobserved count is small and the Gibbs draw moves it.
    ``m`` and ``tail`` are updated in place.
    """
    kk = m.shape[0]
    big_m = 0
    for k in range(kk):
        big_m += m[k]
    for _ in range(n_moves):
        for k in range(kk):
            mode = -1.0
            sd = 0.0
            if laplace_min >= 0.0 and n_cls[k] >= _LAPLACE_MIN_OBSERVED:
                # Newton's method from twice the observed members, a fixed number of
                # steps: mode and sd are then functions of the other variables only,
                # whether or not Newton has fully converged (it has, to < 0.1 person,
                # in 3-5 steps on the tables we ship).
                x = 2.0 * n_cls[k]
                der = 0.0
                for _it in range(_NEWTON_STEPS):
                    val, der = _log_ratio(k, x, m, n_cls, s, big_m, tail, alpha, a_lam,
                                          b_lam, a_n, log_damp, n_obs)
                    if der >= 0.0:
                        break
                    x_new = x - val / der
                    if x_new < 0.0:
                        x_new = 0.5 * x
                    if abs(x_new - x) < 0.01:
                        x = x_new
                        break
                    x = x_new
                if der < 0.0:
                    val, der = _log_ratio(k, x, m, n_cls, s, big_m, tail, alpha, a_lam,
                                          b_lam, a_n, log_damp, n_obs)
                    if der < 0.0:
                        # the log ratio at x compares x + 1 with x: the pmf peaks near x + 1/2
                        mode = x + 0.5
                        sd = 1.25 / math.sqrt(-der)
            else:
                # few observed members: the Gibbs draw of step 2 moves it well enough
                continue
            if laplace_min >= 0.0 and mode >= laplace_min:
                prop = int(math.floor(mode + sd * g.standard_normal() + 0.5))
                if prop < 0 or prop == m[k]:
                    continue
                d = prop - m[k]
                log_q = _log_rounded_normal(m[k], mode, sd) \
                    - _log_rounded_normal(prop, mode, sd)
            else:
                w = 0 if g.random() < 0.5 else 1
                sc = _scale(m[k], w)
                d = 1 + int(g.random() * sc)
                if g.random() < 0.5:
                    d = -d
                if m[k] + d < 0:
                    continue
                log_q = _log_q(m[k] + d, -d) - _log_q(m[k], d)
            lr = _delta_logp(k, d, m, n_cls, s, big_m, tail, alpha, a_lam, b_lam, a_n,
                             log_damp, n_obs) + log_q
            if math.log(g.random() + 1e-300) < lr:
                m[k] += d
                big_m += d
                for ll in range(k):
                    tail[ll] += d


@njit(cache=True, nogil=True)
def _stick_range(tot: np.ndarray, alpha: float, lo: int, hi: int, tail_hi: int) -> float:
    """Terms ``lo..hi`` of :func:`_stick_term`; ``tail_hi`` is the size after ``hi``."""
    kk = tot.shape[0]
    out = 0.0
    tail = tail_hi
    for k in range(hi, lo - 1, -1):
        if k < kk - 1:
            out += math.lgamma(1.0 + tot[k]) + math.lgamma(alpha + tail) \
                - math.lgamma(1.0 + alpha + tot[k] + tail)
        tail += tot[k]
    return out


@njit(cache=True, nogil=True)
def _label_swaps(g, n_cls: np.ndarray, m_un: np.ndarray, s: np.ndarray, alpha: float,
                 n_swaps: int, tot: np.ndarray) -> None:
    """Metropolis moves that swap the labels of two classes.

    The target is the distribution of the class sizes with the stick-breaking
    weights integrated out, which is not exchangeable in the labels (earlier
    sticks are larger); swapping helps the weights and ``alpha`` mix.  Capture
    probabilities are exchangeable across classes, so they do not enter.
    """
    kk = n_cls.shape[0]
    n_lists = s.shape[0]
    for k in range(kk):
        tot[k] = n_cls[k] + m_un[k]
    for _ in range(n_swaps):
        a = int(g.random() * kk)
        b = int(g.random() * (kk - 1))
        if b >= a:
            b += 1
        if tot[a] == tot[b]:
            continue
        lo = min(a, b)
        hi = max(a, b)
        tail_hi = 0
        for k in range(hi + 1, kk):
            tail_hi += tot[k]
        before = _stick_range(tot, alpha, lo, hi, tail_hi)
        ta = tot[a]
        tot[a] = tot[b]
        tot[b] = ta
        after = _stick_range(tot, alpha, lo, hi, tail_hi)
        if math.log(g.random() + 1e-300) < after - before:
            x = n_cls[a]
            n_cls[a] = n_cls[b]
            n_cls[b] = x
            x = m_un[a]
            m_un[a] = m_un[b]
            m_un[b] = x
            for j in range(n_lists):
                x = s[j, a]
                s[j, a] = s[j, b]
                s[j, b] = x
        else:
            tot[b] = tot[a]
            tot[a] = ta


@njit(cache=True, nogil=True)
def _log_alpha_target(u: float, tot: np.ndarray, tail: np.ndarray, a_alpha: float,
                      b_alpha: float) -> float:
    r"""Log p(log alpha = u | class sizes), stick-breaking weights integrated out.

    Gamma(a, b) prior on alpha (with the Jacobian of the log) times
    :math:`\prod_{k < K^*} \alpha\, B(1 + m_k, \alpha + \sum_{l > k} m_l)`.
    """
    al = math.exp(u)
    kk = tot.shape[0]
    out = (a_alpha + kk - 1) * u - b_alpha * al
    for k in range(kk - 1):
        out += math.lgamma(al + tail[k]) - math.lgamma(1.0 + al + tot[k] + tail[k])
    return out


@njit(cache=True, nogil=True)
def _slice_log_alpha(g, alpha: float, tot: np.ndarray, tail: np.ndarray, a_alpha: float,
                     b_alpha: float) -> float:
    """One slice-sampling update (stepping out, shrinkage; Neal 2003) of log alpha."""
    u0 = math.log(alpha)
    y = _log_alpha_target(u0, tot, tail, a_alpha, b_alpha) + math.log(1.0 - g.random())
    w = 1.0
    lo = u0 - w * g.random()
    hi = lo + w
    # at most 20 steps out, split at random between the two sides (Neal 2003, fig. 3)
    n_lo = int(20 * g.random())
    n_hi = 19 - n_lo
    while n_lo > 0 and _log_alpha_target(lo, tot, tail, a_alpha, b_alpha) > y:
        lo -= w
        n_lo -= 1
    while n_hi > 0 and _log_alpha_target(hi, tot, tail, a_alpha, b_alpha) > y:
        hi += w
        n_hi -= 1
    while True:
        u = lo + (hi - lo) * g.random()
        if _log_alpha_target(u, tot, tail, a_alpha, b_alpha) > y:
            return math.exp(u)
        if u < u0:
            lo = u
        else:
            hi = u
        if hi - lo < 1e-12:
            return alpha


@njit(cache=True, nogil=True)
def _init_replica(g, a_lam: float, b_lam: float, lam_scale: float, lam: np.ndarray,
                  log_pi: np.ndarray) -> None:
    """Initial weights (stick-breaking prior, alpha = 1) and capture probabilities.

    Capture probabilities are drawn from their prior times ``lam_scale`` (< 1
    starts the chain at a large N).
    """
    n_lists, kk = lam.shape
    rest = 0.0
    for k in range(kk - 1):
        lv, l1v = _log_beta_pair(g, 1.0, 1.0)
        log_pi[k] = rest + lv
        rest += l1v
    log_pi[kk - 1] = rest
    for j in range(n_lists):
        for k in range(kk):
            lam[j, k] = lam_scale * _beta(g, a_lam, b_lam)


@njit(cache=True, nogil=True)
def _sweep(
    g, patterns: np.ndarray, counts: np.ndarray, n_obs: int, log_damp: float,
    a_alpha: float, b_alpha: float, a_lam: float, b_lam: float, a_n: float,
    n_moves: int, n_swaps: int, collapsed_alpha: bool, laplace_min: float,
    alpha: float, lam: np.ndarray, log_pi: np.ndarray, n_cls: np.ndarray, m_un: np.ndarray,
    s: np.ndarray, dlog: np.ndarray, base: np.ndarray, prob: np.ndarray, order: np.ndarray,
    tot_buf: np.ndarray, alloc: np.ndarray, m: np.ndarray, tail: np.ndarray,
) -> tuple[float, int]:
    """One iteration (steps 1-7 of the module docstring) for the table ``counts``.

    Updates the replica's state in place; returns the new alpha and unobserved count.
    """
    n_pat, n_lists = patterns.shape
    kk = log_pi.shape[0]
    # ---- log P(pattern, class) = base_k + sum over the pattern's lists of dlog_jk
    for k in range(kk):
        b0 = log_pi[k]
        for j in range(n_lists):
            l1m = math.log(max(1.0 - lam[j, k], _TINY))
            b0 += l1m
            dlog[j, k] = math.log(max(lam[j, k], _TINY)) - l1m
        base[k] = b0
        n_cls[k] = 0
        for j in range(n_lists):
            s[j, k] = 0
    # ---- 1. classes of the observed people, pattern by pattern
    for p in range(n_pat):
        c = counts[p]
        if c == 0:
            continue
        mx = -np.inf
        for k in range(kk):
            lp = base[k]
            for j in range(n_lists):
                if patterns[p, j]:
                    lp += dlog[j, k]
            prob[k] = lp
            if lp > mx:
                mx = lp
        tot = 0.0
        for k in range(kk):
            prob[k] = math.exp(prob[k] - mx)
            tot += prob[k]
        for k in range(kk):
            prob[k] /= tot
        _multinomial_into(g, c, prob, alloc, order)
        for k in range(kk):
            a = alloc[k]
            if a:
                n_cls[k] += a
                for j in range(n_lists):
                    if patterns[p, j]:
                        s[j, k] += a
    # ---- 2. the unobserved count and its classes
    p0 = 0.0
    for k in range(kk):
        prob[k] = math.exp(base[k])
        p0 += prob[k]
    rho = p0 * math.exp(-log_damp)
    if rho > 1.0 - 1e-12:  # only if every capture probability is 0 to double precision
        rho = 1.0 - 1e-12
    n0 = 0
    for k in range(kk):
        m_un[k] = 0
    if rho > 0.0:
        gam = g.standard_gamma(a_n + n_obs) * (rho / (1.0 - rho))
        n0 = g.poisson(gam)
    if n0 > 0 and p0 > 0.0:
        for k in range(kk):
            prob[k] /= p0
        _multinomial_into(g, n0, prob, m_un, order)
    # ---- 3. unobserved count per class, 4. label swaps (collapsed moves)
    if n_moves > 0:
        acc = 0
        for k in range(kk - 1, -1, -1):
            tail[k] = acc
            acc += n_cls[k] + m_un[k]
        _unobserved_moves(g, m_un, n_cls, s, tail, alpha, a_lam, b_lam, a_n, log_damp, n_obs,
                          n_moves, laplace_min)
        n0 = 0
        for k in range(kk):
            n0 += m_un[k]
    if n_swaps > 0 and kk > 1:
        _label_swaps(g, n_cls, m_un, s, alpha, n_swaps, tot_buf)
    for k in range(kk):
        m[k] = n_cls[k] + m_un[k]
    acc = 0
    for k in range(kk - 1, -1, -1):
        tail[k] = acc
        acc += m[k]
    # ---- 5. concentration, sticks integrated out (LCMCR's update, given them, is below)
    if collapsed_alpha:
        alpha = _slice_log_alpha(g, alpha, m, tail, a_alpha, b_alpha)
    # ---- 6. capture probabilities
    for j in range(n_lists):
        for k in range(kk):
            lam[j, k] = _beta(g, a_lam + s[j, k], b_lam + m[k] - s[j, k])
    # ---- 7. sticks, in log space (no rounding of V to 1 for small alpha)
    rest = 0.0
    for k in range(kk - 1):
        lv, l1v = _log_beta_pair(g, 1.0 + m[k], alpha + tail[k])
        log_pi[k] = rest + lv
        rest += l1v
    log_pi[kk - 1] = rest
    if not collapsed_alpha:
        # -rest is -sum_{k < K*} log(1 - V_k)
        alpha = g.standard_gamma(a_alpha + kk - 1) / (b_alpha - rest)
    if alpha < 1e-300:
        alpha = 1e-300
    return alpha, n0


@njit(cache=True, nogil=True)
def _log_lik_terms(patterns: np.ndarray, lam: np.ndarray, log_pi: np.ndarray,
                   lpx: np.ndarray) -> float:
    """``lpx[x] = log P(x | lambda, pi)`` for every observed pattern; returns log(1 - p0)."""
    n_pat, n_lists = patterns.shape
    kk = log_pi.shape[0]
    l1m = np.empty((n_lists, kk))
    for k in range(kk):
        for j in range(n_lists):
            l1m[j, k] = math.log(max(1.0 - lam[j, k], _TINY))
    for p in range(n_pat):
        mx = -np.inf
        acc = 0.0
        for k in range(kk):
            lp = log_pi[k]
            for j in range(n_lists):
                if patterns[p, j]:
                    lp += math.log(max(lam[j, k], _TINY))
                else:
                    lp += l1m[j, k]
            if lp > mx:
                acc = acc * math.exp(mx - lp) + 1.0 if mx > -np.inf else 1.0
                mx = lp
            else:
                acc += math.exp(lp - mx)
        lpx[p] = mx + math.log(acc)
    # 1 - p0 = sum_k pi_k (1 - prod_j (1 - lambda_jk)), summed without cancellation
    mx = -np.inf
    acc = 0.0
    for k in range(kk):
        t = 0.0
        for j in range(n_lists):
            t += l1m[j, k]
        lp = log_pi[k] + (math.log(-math.expm1(t)) if t < 0.0 else -np.inf)
        if lp == -np.inf:
            continue
        if lp > mx:
            acc = acc * math.exp(mx - lp) + 1.0 if mx > -np.inf else 1.0
            mx = lp
        else:
            acc += math.exp(lp - mx)
    return mx + math.log(acc)


@njit(cache=True, nogil=True)
def _rung_log_lik(counts: np.ndarray, n_obs: int, lpx: np.ndarray, log1m_p0: float,
                  a_n: float, b_n: float) -> float:
    r"""Log p(table | lambda, pi) with N summed out, up to a constant of the table.

    :math:`\sum_x c_x \log P_x - (a_N + n) \log(b_N + 1 - p_0)`; with
    :math:`a_N = b_N = 0` (the :math:`1/N` prior) it is the conditional
    likelihood :math:`\sum_x c_x \log(P_x / (1 - p_0))`.
    """
    out = 0.0
    for p in range(counts.shape[0]):
        if counts[p]:
            out += counts[p] * lpx[p]
    if b_n > 0.0:
        return out - (a_n + n_obs) * math.log(b_n + math.exp(log1m_p0))
    return out - (a_n + n_obs) * log1m_p0


@njit(cache=True, nogil=True)
def _run_block(
    g, patterns: np.ndarray, rung_counts: np.ndarray,
    a_alpha: float, b_alpha: float, a_lam: float, b_lam: float, a_n: float, b_n: float,
    n_moves: int, n_swaps: int, collapsed_alpha: bool, laplace_min: float,
    alpha: np.ndarray, lam: np.ndarray, log_pi: np.ndarray, n_cls: np.ndarray,
    m_un: np.ndarray, s: np.ndarray, n0: np.ndarray, rep_at: np.ndarray,
    swap_try: np.ndarray, swap_acc: np.ndarray, it0: int, it1: int, burn_in: int, thin: int,
    out_n0: np.ndarray, out_alpha: np.ndarray, out_p0: np.ndarray, out_sizes: np.ndarray,
    out_occupied: np.ndarray, out_n0_rungs: np.ndarray,
) -> None:
    """Iterations ``it0 .. it1 - 1`` of one chain of ``R`` replicas.

    Rung ``r`` targets the posterior given the table ``rung_counts[r]`` (rung 0
    is the data).  Each iteration sweeps every replica with its rung's table,
    records the replica at rung 0 after burn-in, then tries to exchange the
    parameters of neighbouring rungs, even pairs on even iterations and odd
    pairs on odd ones (deterministic alternation, Syed et al. 2022).
    ``rep_at[r]`` is the replica at rung ``r``; exchanges swap these indices.
    """
    n_pat, n_lists = patterns.shape
    n_rung = rung_counts.shape[0]
    n_obs_r = np.zeros(n_rung, dtype=np.int64)
    for r in range(n_rung):
        for p in range(n_pat):
            n_obs_r[r] += rung_counts[r, p]
    log_damp = math.log1p(b_n)
    kk = log_pi.shape[1]
    dlog = np.empty((n_lists, kk))
    base = np.empty(kk)
    prob = np.empty(kk)
    order = np.empty(kk, dtype=np.int64)
    tot_buf = np.empty(kk, dtype=np.int64)
    alloc = np.empty(kk, dtype=np.int64)
    m = np.empty(kk, dtype=np.int64)
    tail = np.empty(kk, dtype=np.int64)
    lpx_i = np.empty(n_pat)
    lpx_j = np.empty(n_pat)
    n_keep = out_n0.shape[0]
    for it in range(it0, it1):
        for r in range(n_rung):
            i = rep_at[r]
            a_new, n0_new = _sweep(
                g, patterns, rung_counts[r], n_obs_r[r], log_damp, a_alpha, b_alpha, a_lam,
                b_lam, a_n, n_moves, n_swaps, collapsed_alpha, laplace_min, alpha[i], lam[i],
                log_pi[i], n_cls[i], m_un[i], s[i], dlog, base, prob, order, tot_buf, alloc,
                m, tail)
            alpha[i] = a_new
            n0[i] = n0_new
        # ---- record the replica at rung 0
        if it >= burn_in and (it - burn_in) % thin == 0:
            keep_i = (it - burn_in) // thin
            if keep_i < n_keep:
                i = rep_at[0]
                out_n0[keep_i] = n0[i]
                out_alpha[keep_i] = alpha[i]
                # probability of being missed by every list under the updated parameters
                q0 = 0.0
                for k in range(kk):
                    lp = log_pi[i, k]
                    for j in range(n_lists):
                        lp += math.log1p(-min(lam[i, j, k], 1.0 - 1e-16))
                    q0 += math.exp(lp)
                out_p0[keep_i] = q0
                occ = 0
                for k in range(kk):
                    mk = n_cls[i, k] + m_un[i, k]
                    out_sizes[keep_i, k] = mk
                    if mk > 0:
                        occ += 1
                out_occupied[keep_i] = occ
                for r in range(n_rung):
                    out_n0_rungs[keep_i, r] = n0[rep_at[r]]
        # ---- exchange (lambda, pi, alpha) between rungs r and r + 1: the rung densities
        # differ only in the likelihood of their tables, memberships and N summed out
        for r in range(it % 2, n_rung - 1, 2):
            i = rep_at[r]
            j = rep_at[r + 1]
            l1_i = _log_lik_terms(patterns, lam[i], log_pi[i], lpx_i)
            l1_j = _log_lik_terms(patterns, lam[j], log_pi[j], lpx_j)
            lr = (_rung_log_lik(rung_counts[r], n_obs_r[r], lpx_j, l1_j, a_n, b_n)
                  + _rung_log_lik(rung_counts[r + 1], n_obs_r[r + 1], lpx_i, l1_i, a_n, b_n)
                  - _rung_log_lik(rung_counts[r], n_obs_r[r], lpx_i, l1_i, a_n, b_n)
                  - _rung_log_lik(rung_counts[r + 1], n_obs_r[r + 1], lpx_j, l1_j, a_n, b_n))
            swap_try[r] += 1
            if math.log(g.random() + 1e-300) < lr:
                rep_at[r] = j
                rep_at[r + 1] = i
                swap_acc[r] += 1


@njit(cache=True, nogil=True)
def _init_chain(g, a_lam: float, b_lam: float, lam_scale: float, lam: np.ndarray,
                log_pi: np.ndarray) -> None:
    for i in range(lam.shape[0]):
        _init_replica(g, a_lam, b_lam, lam_scale, lam[i], log_pi[i])


def ladder(n_rungs: int, beta_min: float) -> np.ndarray:
    """Geometric ladder of data fractions from 1 down to ``beta_min``."""
    if n_rungs == 1:
        return np.ones(1)
    return beta_min ** (np.arange(n_rungs) / (n_rungs - 1))


def rung_tables(counts: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Integer tables of the rungs: ``round(beta * counts)``, at least one person in all."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.rint(np.asarray(betas, dtype=float)[:, None] * counts[None, :]).astype(np.int64)
    for r in range(out.shape[0]):
        if out[r].sum() == 0:
            out[r, int(np.argmax(counts))] = 1
    out[0] = counts
    return out


def run_chains(
    patterns: np.ndarray,
    counts: np.ndarray,
    *,
    n_classes: int,
    alpha_prior: tuple[float, float],
    capture_prior: tuple[float, float],
    n_prior: tuple[float, float],
    draws: int,
    burn_in: int,
    thin: int,
    seeds: np.ndarray,
    n_moves: int = 1,
    n_swaps: int = 10,
    collapsed_alpha: bool = True,
    laplace_min: float = 30.0,
    parallel: bool = True,
    betas: np.ndarray | None = None,
    lam_scales: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    block: int = 2000,
) -> dict[str, np.ndarray]:
    r"""Run one chain (of tempered replicas) per seed and return the kept draws.

    Parameters
    ----------
    patterns : uint8 array (n_pattern, K)
        Observed (non-zero) capture patterns.
    counts : int64 array (n_pattern,)
        People with each pattern.
    n_prior : (a_N, b_N)
        Gamma-Poisson prior on ``N`` (shape, rate); ``(0, 0)`` is
        :math:`p(N) \propto 1/N`.
    seeds : int64 array (n_chain,)
        One seed per chain; chain ``c`` draws from
        ``numpy.random.default_rng(seeds[c])`` (PCG64), whatever thread runs it.
    collapsed_alpha : bool
        Update the concentration with the stick-breaking weights integrated out
        (slice sampling); ``False`` is LCMCR's update given the weights.
    parallel : bool
        Run chains in threads (the kernel releases the GIL), one per core.
    betas : float array (n_rung,), optional
        Data fractions of the rungs, ``betas[0] = 1``, decreasing: rung ``r``
        targets the posterior given the table ``round(betas[r] * counts)``
        (default: one rung, no tempering).
    lam_scales : float array (n_chain,), optional
        Chain ``c`` starts with capture probabilities drawn from their prior times
        ``lam_scales[c]`` (dispersed starts: small scales start at a large N).
    progress : callable, optional
        Called with a number of iterations done (all chains), after each block.
    block : int
        Iterations per call of the compiled kernel; the draws do not depend on it.

    Returns
    -------
    dict with ``n0`` (chain, draw) int64, ``alpha``, ``prob_missed`` (chain,
    draw), ``class_sizes`` (chain, draw, class; people per class, observed or
    not, unsorted), ``occupied`` (chain, draw), ``n0_rungs`` (chain, draw,
    rung; unobserved count at every rung), ``swap_rate`` (chain, rung pair;
    acceptance rate of exchanges between rungs ``r`` and ``r + 1``).
    """
    pats = np.ascontiguousarray(patterns, dtype=np.uint8)
    cnt = np.ascontiguousarray(counts, dtype=np.int64)
    seeds = np.ascontiguousarray(seeds, dtype=np.int64)
    n_chain = seeds.shape[0]
    bet = np.ones(1) if betas is None else np.asarray(betas, dtype=float)
    tables = np.ascontiguousarray(rung_tables(cnt, bet))
    n_rung = tables.shape[0]
    scales = np.ones(n_chain) if lam_scales is None else np.asarray(lam_scales, dtype=float)
    n_lists = pats.shape[1]
    kk = int(n_classes)
    out_n0 = np.zeros((n_chain, draws), dtype=np.int64)
    out_alpha = np.zeros((n_chain, draws))
    out_p0 = np.zeros((n_chain, draws))
    out_w = np.zeros((n_chain, draws, kk), dtype=np.int64)
    out_occ = np.zeros((n_chain, draws), dtype=np.int64)
    out_rungs = np.zeros((n_chain, draws, n_rung), dtype=np.int64)
    swap_try = np.zeros((n_chain, max(n_rung - 1, 1)), dtype=np.int64)
    swap_acc = np.zeros((n_chain, max(n_rung - 1, 1)), dtype=np.int64)
    total = int(burn_in) + int(draws) * int(thin)

    def chain(c: int) -> None:
        g = np.random.default_rng(int(seeds[c]))
        lam = np.empty((n_rung, n_lists, kk))
        log_pi = np.empty((n_rung, kk))
        _init_chain(g, float(capture_prior[0]), float(capture_prior[1]), float(scales[c]),
                    lam, log_pi)
        alpha = np.ones(n_rung)
        n_cls = np.zeros((n_rung, kk), dtype=np.int64)
        m_un = np.zeros((n_rung, kk), dtype=np.int64)
        s = np.zeros((n_rung, n_lists, kk), dtype=np.int64)
        n0 = np.zeros(n_rung, dtype=np.int64)
        rep_at = np.arange(n_rung, dtype=np.int64)
        for it0 in range(0, total, block):
            it1 = min(total, it0 + block)
            _run_block(g, pats, tables, float(alpha_prior[0]), float(alpha_prior[1]),
                       float(capture_prior[0]), float(capture_prior[1]), float(n_prior[0]),
                       float(n_prior[1]), int(n_moves), int(n_swaps), bool(collapsed_alpha),
                       float(laplace_min), alpha, lam, log_pi, n_cls, m_un, s, n0, rep_at,
                       swap_try[c], swap_acc[c], it0, it1, int(burn_in), int(thin),
                       out_n0[c], out_alpha[c], out_p0[c], out_w[c], out_occ[c], out_rungs[c])
            if progress is not None:
                progress(it1 - it0)

    workers = min(n_chain, os.cpu_count() or 1) if parallel else 1
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(chain, range(n_chain)))
    else:
        for c in range(n_chain):
            chain(c)
    rate = swap_acc / np.maximum(swap_try, 1)
    return {"n0": out_n0, "alpha": out_alpha, "prob_missed": out_p0,
            "class_sizes": out_w, "occupied": out_occ, "n0_rungs": out_rungs,
            "swap_rate": rate[:, : n_rung - 1]}
