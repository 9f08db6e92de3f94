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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["run_chains"]

_TINY = 1e-300
#: classes with fewer observed members are left to the Gibbs draw of the unobserved count
_LAPLACE_MIN_OBSERVED = 10
#: Newton steps towards the mode of a class's unobserved count
_NEWTON_STEPS = 8
#: below this many people, a multinomial is drawn person by person
_SMALL = 6
#: Stirling-series remainders log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2], k < 10
_STIRLING_TAIL = np.array([
    0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
    0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
    0.00925546218271273, 0.00833056343336287])


@njit(cache=True, nogil=True)
def _stirling_tail(k: float) -> float:
    if k <= 9.0:
        return _STIRLING_TAIL[int(k)]
    kp1sq = (k + 1.0) * (k + 1.0)
    return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / 1260.0 / kp1sq) / kp1sq) / (k + 1.0)


@njit(cache=True, nogil=True)
def _binomial(g, n: int, p: float) -> int:
    """Binomial(n, p), exactly.

    Inversion for a small mean; otherwise Hörmann's (1993) transformed rejection
    with squeeze (BTRS, as in TensorFlow's and JAX's samplers): two uniforms per
    try, about 80-90% of tries accepted by the squeeze alone.  Its set-up is a
    few flops, unlike BTPE's, which matters here because ``n`` and ``p`` change
    at every call.
    """
    if p > 0.5:
        return n - _binomial_half(g, n, 1.0 - p)
    return _binomial_half(g, n, p)


@njit(cache=True, nogil=True)
def _binomial_half(g, n: int, p: float) -> int:
    """:func:`_binomial` for ``p <= 1/2``."""
    if n * p < 10.0:
        q = 1.0 - p
        s = p / q
        a = (n + 1) * s
        while True:
            r = math.exp(n * math.log1p(-p))
            u = g.random()
            x = 0
            while u > r:
                u -= r
                x += 1
                if x > n:
                    break
                r *= a / x - s
            if x <= n:
                return x
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    r = p / (1.0 - p)
    alpha = (2.83 + 5.1 / b) * spq
    m = math.floor((n + 1) * p)
    while True:
        u = g.random() - 0.5
        v = g.random()
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if us >= 0.07 and v <= v_r:
            return int(k)
        if k < 0 or k > n:
            continue
        v = math.log(v * alpha / (a / (us * us) + b))
        bound = ((m + 0.5) * math.log((m + 1.0) / (r * (n - m + 1.0)))
                 + (n + 1.0) * math.log((n - m + 1.0) / (n - k + 1.0))
                 + (k + 0.5) * math.log(r * (n - k + 1.0) / (k + 1.0))
                 + _stirling_tail(m) + _stirling_tail(n - m)
                 - _stirling_tail(k) - _stirling_tail(n - k))
        if v <= bound:
            return int(k)


@njit(cache=True, nogil=True)
def _categorical_into(g, n: int, prob: np.ndarray, order: np.ndarray, lo: int, hi: int,
                      mass: float, out: np.ndarray) -> None:
    """Add ``n`` draws over classes ``order[lo:hi]`` (total probability ``mass``)."""
    for _ in range(n):
        u = g.random() * mass
        acc = 0.0
        pick = order[hi - 1]
        for r in range(lo, hi):
            acc += prob[order[r]]
            if u < acc:
                pick = order[r]
                break
        out[pick] += 1


@njit(cache=True, nogil=True)
def _multinomial_into(g, n: int, prob: np.ndarray, out: np.ndarray, order: np.ndarray) -> None:
    """Draw ``out[:] = Multinomial(n, prob)`` (``prob`` sums to one).

    Classes are sorted by decreasing probability.  The tail of least likely
    classes holding at most one expected person is handled as one group: its
    total is one binomial draw (usually zero, by inversion) and its people are
    placed one by one.  The head is drawn by sequential binomials, largest
    first, so it usually ends after a few; its last few people are placed one
    by one.  Every step is an exact conditional of the multinomial.
    """
    k = prob.shape[0]
    for i in range(k):
        out[i] = 0
        # insertion sort, descending probability
        j = i
        while j > 0 and prob[order[j - 1]] < prob[i]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    if n == 0:
        return
    # ---- tail: least likely classes with at most one expected person in all
    h = k
    tail = 0.0
    while h > 1 and (tail + prob[order[h - 1]]) * n <= 1.0:
        h -= 1
        tail += prob[order[h]]
    left = n
    if h < k and tail > 0.0:
        t = _binomial(g, n, tail)
        if t > 0:
            _categorical_into(g, t, prob, order, h, k, tail, out)
            left -= t
    # ---- head, sequential binomials; rest is the head mass not yet drawn
    rest = 0.0
    for r in range(h):
        rest += prob[order[r]]
    for r in range(h - 1):
        if left == 0:
            return
        if left <= _SMALL:
            _categorical_into(g, left, prob, order, r, h, rest, out)
            return
        i = order[r]
        p = prob[i] / rest if rest > 0.0 else 1.0
        if p >= 1.0:
            out[i] = left
            return
        x = _binomial(g, left, p) if p > 0.0 else 0
        out[i] = x
        left -= x
        rest -= prob[i]
    out[order[h - 1]] += left


@njit(cache=True, nogil=True)
def _beta(g, a: float, b: float) -> float:
    """Beta(a, b) draw; closed forms when a parameter is one (empty classes)."""
    if a == 1.0:
        if b == 1.0:
            return g.random()
        return 1.0 - (1.0 - g.random()) ** (1.0 / b)
    if b == 1.0:
        return (1.0 - g.random()) ** (1.0 / a)
    x = g.standard_gamma(a)
    y = g.standard_gamma(b)
    s = x + y
    if s <= 0.0:
        return 0.5
    return x / s


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
                a_n: float, b_n: float, n_obs: int) -> float:
    """Change of log p(m | observed classes, alpha) when ``m[k]`` moves by ``d``.

    Capture probabilities and class weights are integrated out.  ``tail[l]`` is
    the number of people in classes after ``l``; ``n_cls[k]`` the observed
    people in class ``k``.
    """
    kk = m.shape[0]
    n_lists = s.shape[0]
    mk = m[k]
    mk2 = mk + d
    t = n_cls[k] + mk
    t2 = t + d
    out = math.lgamma(a_n + n_obs + big_m + d) - math.lgamma(a_n + n_obs + big_m)
    out -= math.lgamma(mk2 + 1.0) - math.lgamma(mk + 1.0)
    if b_n > 0.0:
        out -= d * math.log1p(b_n)
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
               a_n: float, b_n: float, n_obs: int) -> tuple[float, float]:
    """Log ratio p(m_k = x + 1) / p(m_k = x) of the collapsed target, and its derivative.

    ``x`` is real (for Newton's method); the others are held, capture
    probabilities and weights integrated out.
    """
    kk = m.shape[0]
    n_lists = s.shape[0]
    mk = m[k]
    t0 = n_cls[k]
    a0 = a_n + n_obs + big_m - mk
    val = math.log(a0 + x) - math.log(x + 1.0) - math.log1p(b_n)
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
                      alpha: float, a_lam: float, b_lam: float, a_n: float, b_n: float,
                      n_obs: int, n_moves: int, laplace_min: float) -> None:
    r"""Metropolis-Hastings updates of the unobserved people per class, ``m[k]``.

    Target: :math:`p(m_k \mid m_{-k}, \text{observed memberships}, \alpha)` with
    capture probabilities and class weights integrated out.  For each class
    the mode of that conditional is found by Newton's method on the log ratio
    of successive probabilities, started from a point that does not depend on
    ``m[k]``, so the mode and the Laplace standard deviation are functions of
    the other variables only.  If the mode is at least ``laplace_min`` the
    proposal is a discretised normal there with 1.25 times the Laplace standard
    deviation, an independence sampler that jumps across the whole conditional
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
                                          b_lam, a_n, b_n, n_obs)
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
                                          b_lam, a_n, b_n, n_obs)
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
                zc = (m[k] - mode) / sd
                zp = (prop - mode) / sd
                log_q = 0.5 * (zp * zp - zc * zc)
            else:
                w = 0 if g.random() < 0.5 else 1
                sc = _scale(m[k], w)
                d = 1 + int(g.random() * sc)
                if g.random() < 0.5:
                    d = -d
                if m[k] + d < 0:
                    continue
                log_q = _log_q(m[k] + d, -d) - _log_q(m[k], d)
            lr = _delta_logp(k, d, m, n_cls, s, big_m, tail, alpha, a_lam, b_lam, a_n, b_n,
                             n_obs) + log_q
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
def _one_chain(
    g,
    patterns: np.ndarray,
    counts: np.ndarray,
    n_classes: int,
    a_alpha: float,
    b_alpha: float,
    a_lam: float,
    b_lam: float,
    a_n: float,
    b_n: float,
    burn_in: int,
    thin: int,
    n_moves: int,
    n_swaps: int,
    collapsed_alpha: bool,
    laplace_min: float,
    out_n0: np.ndarray,
    out_alpha: np.ndarray,
    out_p0: np.ndarray,
    out_sizes: np.ndarray,
    out_occupied: np.ndarray,
) -> None:
    n_pat, n_lists = patterns.shape
    kk = n_classes
    n_obs = 0
    for p in range(n_pat):
        n_obs += counts[p]
    # ---- initial state: a draw from the prior of the parameters
    alpha = 1.0
    pi = np.empty(kk)
    rest = 1.0
    for k in range(kk - 1):
        v = _beta(g, 1.0, alpha)
        pi[k] = rest * v
        rest *= 1.0 - v
    pi[kk - 1] = rest
    lam = np.empty((n_lists, kk))
    for j in range(n_lists):
        for k in range(kk):
            lam[j, k] = _beta(g, a_lam, b_lam)
    dlog = np.empty((n_lists, kk))
    base = np.empty(kk)
    prob = np.empty(kk)
    order = np.empty(kk, dtype=np.int64)
    tot_buf = np.empty(kk, dtype=np.int64)
    alloc = np.empty(kk, dtype=np.int64)
    m = np.empty(kk, dtype=np.int64)
    n_cls = np.empty(kk, dtype=np.int64)
    m_un = np.empty(kk, dtype=np.int64)
    s = np.empty((n_lists, kk), dtype=np.int64)
    tail = np.empty(kk, dtype=np.int64)
    n_keep = out_n0.shape[0]
    total = burn_in + n_keep * thin
    keep_i = 0
    rho_scale = 1.0 / (1.0 + b_n)
    for it in range(total):
        # ---- log P(pattern | class) = base_k + sum over the pattern's lists of dlog_jk
        for k in range(kk):
            b0 = math.log(pi[k]) if pi[k] > _TINY else -690.0
            for j in range(n_lists):
                lj = max(lam[j, k], _TINY)
                lm = max(1.0 - lam[j, k], _TINY)
                l1m = math.log(lm)
                b0 += l1m
                dlog[j, k] = math.log(lj) - l1m
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
        rho = p0 * rho_scale
        if rho > 1.0 - 1e-12:
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
            _unobserved_moves(g, m_un, n_cls, s, tail, alpha, a_lam, b_lam, a_n, b_n, n_obs,
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
        # ---- 7. sticks
        rest = 1.0
        sum_log = 0.0
        for k in range(kk - 1):
            v = _beta(g, 1.0 + m[k], alpha + tail[k])
            if v > 1.0 - 1e-12:
                v = 1.0 - 1e-12
            pi[k] = rest * v
            rest *= 1.0 - v
            sum_log += math.log1p(-v)
        pi[kk - 1] = rest
        if not collapsed_alpha:
            rate = b_alpha - sum_log
            alpha = g.standard_gamma(a_alpha + kk - 1) / rate
        if alpha < 1e-6:
            alpha = 1e-6
        # ---- record
        if it >= burn_in and (it - burn_in) % thin == 0 and keep_i < n_keep:
            out_n0[keep_i] = n0
            out_alpha[keep_i] = alpha
            # probability of being missed by every list under the updated parameters
            q0 = 0.0
            for k in range(kk):
                lp = 0.0
                for j in range(n_lists):
                    lp += math.log1p(-min(lam[j, k], 1.0 - 1e-16))
                q0 += pi[k] * math.exp(lp)
            out_p0[keep_i] = q0
            occ = 0
            for k in range(kk):
                out_sizes[keep_i, k] = m[k]
                if m[k] > 0:
                    occ += 1
            out_occupied[keep_i] = occ
            keep_i += 1


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
) -> dict[str, np.ndarray]:
    r"""Run one Gibbs chain per seed and return the kept draws.

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

    Returns
    -------
    dict with ``n0`` (chain, draw) int64, ``alpha``, ``prob_missed`` (chain,
    draw), ``class_sizes`` (chain, draw, class; people per class, observed or
    not, unsorted) and ``occupied`` (chain, draw).
    """
    pats = np.ascontiguousarray(patterns, dtype=np.uint8)
    cnt = np.ascontiguousarray(counts, dtype=np.int64)
    seeds = np.ascontiguousarray(seeds, dtype=np.int64)
    n_chain = seeds.shape[0]
    out_n0 = np.zeros((n_chain, draws), dtype=np.int64)
    out_alpha = np.zeros((n_chain, draws))
    out_p0 = np.zeros((n_chain, draws))
    out_w = np.zeros((n_chain, draws, n_classes), dtype=np.int64)
    out_occ = np.zeros((n_chain, draws), dtype=np.int64)

    def chain(c: int) -> None:
        _one_chain(np.random.default_rng(int(seeds[c])), pats, cnt, int(n_classes),
                   float(alpha_prior[0]), float(alpha_prior[1]), float(capture_prior[0]),
                   float(capture_prior[1]), float(n_prior[0]), float(n_prior[1]),
                   int(burn_in), int(thin), int(n_moves), int(n_swaps), bool(collapsed_alpha),
                   float(laplace_min),
                   out_n0[c], out_alpha[c], out_p0[c], out_w[c], out_occ[c])

    workers = min(n_chain, os.cpu_count() or 1) if parallel else 1
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(chain, range(n_chain)))
    else:
        for c in range(n_chain):
            chain(c)
    return {"n0": out_n0, "alpha": out_alpha, "prob_missed": out_p0,
            "class_sizes": out_w, "occupied": out_occ}

