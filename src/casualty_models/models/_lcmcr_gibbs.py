r"""Numba kernels of the latent-class (LCMCR) Gibbs sampler.

Plain array code, no labels: :mod:`casualty_models.models.latent_class` wires
data, priors and results around it.

The sampler works on the aggregated table of *observed* patterns (one row per
distinct pattern, with its count), never on individual records:

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
3. capture probabilities :math:`\lambda_{jk} \sim \mathrm{Beta}(a_\lambda +
   s_{jk}, b_\lambda + m_k - s_{jk})` (``m_k`` people in class ``k``,
   ``s_{jk}`` of them on list ``j``);
4. sticks :math:`V_k \sim \mathrm{Beta}(1 + m_k, \alpha + \sum_{l>k} m_l)`,
   :math:`k < K^*`, :math:`V_{K^*} = 1`;
5. concentration :math:`\alpha \sim \mathrm{Gamma}(a_\alpha + K^* - 1,
   b_\alpha - \sum_{k<K^*} \log(1 - V_k))`.

Between steps 2 and 3 two kinds of Metropolis-Hastings moves leave the
posterior of the class counts (capture probabilities and weights integrated
out, Beta-Binomial and stick-breaking marginals) invariant, so the parameters
drawn afterwards from their full conditionals keep the joint posterior: moves
of the unobserved count of one class (``n_moves`` sweeps; they loosen the tie
between :math:`n_0` and :math:`\lambda`) and swaps of two class labels
(``n_swaps``; the stick-breaking prior is not exchangeable, and without swaps
the weights and :math:`\alpha` mix slowly).

A sweep costs :math:`O(P K^* J)` for ``P`` distinct observed patterns and
``J`` lists, whatever the number of people.  Each chain reseeds Numba's
generator (per thread) from its own seed at its start, so draws do not depend
on how chains are spread over threads.
"""

# ruff: noqa: NPY002  (Numba supports only the legacy np.random API, seeded per chain)
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["run_chains", "sweep_cost"]

_TINY = 1e-300
#: below this many people, a multinomial is drawn person by person
_SMALL = 12


@njit(cache=True, nogil=True)
def _binomial(n: int, p: float) -> int:
    """Binomial(n, p): inversion for a small mean (cheaper than BTPE), else NumPy's."""
    if p > 0.5:
        return n - _binomial(n, 1.0 - p)
    if n * p >= 14.0:
        return np.random.binomial(n, p)
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    while True:
        r = math.exp(n * math.log1p(-p))
        u = np.random.random()
        x = 0
        while u > r:
            u -= r
            x += 1
            if x > n:
                break
            r *= a / x - s
        if x <= n:
            return x


@njit(cache=True, nogil=True)
def _multinomial_into(n: int, prob: np.ndarray, out: np.ndarray, order: np.ndarray) -> None:
    """Draw ``out[:] = Multinomial(n, prob)`` (``prob`` sums to one).

    Sequential binomials, largest probabilities first, so that the draw usually
    ends after a few binomials; the last few people are drawn one by one.
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
    rest = 1.0
    left = n
    for r in range(k - 1):
        i = order[r]
        if left == 0:
            return
        if left <= _SMALL:
            # few people left: one categorical draw each over the remaining classes
            for _ in range(left):
                u = np.random.random() * rest
                acc = 0.0
                pick = order[k - 1]
                for rr in range(r, k):
                    acc += prob[order[rr]]
                    if u < acc:
                        pick = order[rr]
                        break
                out[pick] += 1
            return
        p = prob[i] / rest if rest > 0.0 else 1.0
        if p >= 1.0:
            out[i] = left
            return
        x = _binomial(left, p) if p > 0.0 else 0
        out[i] = x
        left -= x
        rest -= prob[i]
    out[order[k - 1]] += left


@njit(cache=True, nogil=True)
def _beta(a: float, b: float) -> float:
    """Beta(a, b) draw; closed forms when a parameter is one (empty classes)."""
    if a == 1.0:
        if b == 1.0:
            return np.random.random()
        return 1.0 - (1.0 - np.random.random()) ** (1.0 / b)
    if b == 1.0:
        return (1.0 - np.random.random()) ** (1.0 / a)
    x = np.random.gamma(a, 1.0)
    y = np.random.gamma(b, 1.0)
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
def _collapsed_moves(m: np.ndarray, n_cls: np.ndarray, s: np.ndarray, tail: np.ndarray,
                     alpha: float, a_lam: float, b_lam: float, a_n: float, b_n: float,
                     n_obs: int, n_moves: int) -> None:
    """Metropolis-Hastings moves of the unobserved people per class, ``m[k]``.

    Capture probabilities and class weights are integrated out; ``m`` and
    ``tail`` are updated in place.
    """
    kk = m.shape[0]
    big_m = 0
    for k in range(kk):
        big_m += m[k]
    for _ in range(n_moves):
        for k in range(kk):
            w = 0 if np.random.random() < 0.5 else 1
            sc = _scale(m[k], w)
            d = np.random.randint(1, sc + 1)
            if np.random.random() < 0.5:
                d = -d
            if m[k] + d < 0:
                continue
            lr = _delta_logp(k, d, m, n_cls, s, big_m, tail, alpha, a_lam, b_lam, a_n, b_n,
                             n_obs)
            lr += _log_q(m[k] + d, -d) - _log_q(m[k], d)
            if math.log(np.random.random() + 1e-300) < lr:
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
def _label_swaps(n_cls: np.ndarray, m_un: np.ndarray, s: np.ndarray, alpha: float,
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
        a = np.random.randint(0, kk)
        b = np.random.randint(0, kk - 1)
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
        if math.log(np.random.random() + 1e-300) < after - before:
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
def _one_chain(
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
    seed: int,
    out_n0: np.ndarray,
    out_alpha: np.ndarray,
    out_p0: np.ndarray,
    out_sizes: np.ndarray,
    out_occupied: np.ndarray,
) -> None:
    np.random.seed(seed)
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
        v = _beta(1.0, alpha)
        pi[k] = rest * v
        rest *= 1.0 - v
    pi[kk - 1] = rest
    lam = np.empty((n_lists, kk))
    for j in range(n_lists):
        for k in range(kk):
            lam[j, k] = _beta(a_lam, b_lam)
    loglam = np.empty((n_lists, kk))
    log1m = np.empty((n_lists, kk))
    prob = np.empty(kk)
    logpi = np.empty(kk)
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
        # ---- logs of the capture probabilities
        for j in range(n_lists):
            for k in range(kk):
                lj = lam[j, k]
                if lj < _TINY:
                    lj = _TINY
                lm = 1.0 - lam[j, k]
                if lm < _TINY:
                    lm = _TINY
                loglam[j, k] = math.log(lj)
                log1m[j, k] = math.log(lm)
        for k in range(kk):
            logpi[k] = math.log(pi[k]) if pi[k] > _TINY else -690.0
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
                lp = logpi[k]
                for j in range(n_lists):
                    if patterns[p, j]:
                        lp += loglam[j, k]
                    else:
                        lp += log1m[j, k]
                prob[k] = lp
                if lp > mx:
                    mx = lp
            tot = 0.0
            for k in range(kk):
                prob[k] = math.exp(prob[k] - mx)
                tot += prob[k]
            for k in range(kk):
                prob[k] /= tot
            _multinomial_into(c, prob, alloc, order)
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
            lp = 0.0
            for j in range(n_lists):
                lp += log1m[j, k]
            prob[k] = pi[k] * math.exp(lp)
            p0 += prob[k]
        rho = p0 * rho_scale
        if rho > 1.0 - 1e-12:
            rho = 1.0 - 1e-12
        n0 = 0
        for k in range(kk):
            m_un[k] = 0
        if rho > 0.0:
            g = np.random.gamma(a_n + n_obs, rho / (1.0 - rho))
            n0 = np.random.poisson(g)
        if n0 > 0 and p0 > 0.0:
            for k in range(kk):
                prob[k] /= p0
            _multinomial_into(n0, prob, m_un, order)
        if n_moves > 0:
            acc = 0
            for k in range(kk - 1, -1, -1):
                tail[k] = acc
                acc += n_cls[k] + m_un[k]
            _collapsed_moves(m_un, n_cls, s, tail, alpha, a_lam, b_lam, a_n, b_n, n_obs,
                             n_moves)
            n0 = 0
            for k in range(kk):
                n0 += m_un[k]
        if n_swaps > 0 and kk > 1:
            _label_swaps(n_cls, m_un, s, alpha, n_swaps, tot_buf)
        for k in range(kk):
            m[k] = n_cls[k] + m_un[k]
        # ---- 3. capture probabilities
        for j in range(n_lists):
            for k in range(kk):
                lam[j, k] = _beta(a_lam + s[j, k], b_lam + m[k] - s[j, k])
        # ---- 4. sticks, 5. concentration
        acc = 0
        for k in range(kk - 1, -1, -1):
            tail[k] = acc
            acc += m[k]
        rest = 1.0
        sum_log = 0.0
        for k in range(kk - 1):
            v = _beta(1.0 + m[k], alpha + tail[k])
            if v > 1.0 - 1e-12:
                v = 1.0 - 1e-12
            pi[k] = rest * v
            rest *= 1.0 - v
            sum_log += math.log1p(-v)
        pi[kk - 1] = rest
        rate = b_alpha - sum_log
        alpha = np.random.gamma(a_alpha + kk - 1, 1.0 / rate)
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


@njit(cache=True, parallel=True)
def _chains_parallel(patterns, counts, n_classes, a_alpha, b_alpha, a_lam, b_lam, a_n, b_n,
                     burn_in, thin, n_moves, n_swaps, seeds, out_n0, out_alpha, out_p0, out_sizes,
                     out_occupied):
    for c in prange(seeds.shape[0]):
        _one_chain(patterns, counts, n_classes, a_alpha, b_alpha, a_lam, b_lam, a_n, b_n,
                   burn_in, thin, n_moves, n_swaps, seeds[c], out_n0[c], out_alpha[c], out_p0[c],
                   out_sizes[c], out_occupied[c])


@njit(cache=True)
def _chains_serial(patterns, counts, n_classes, a_alpha, b_alpha, a_lam, b_lam, a_n, b_n,
                   burn_in, thin, n_moves, n_swaps, seeds, out_n0, out_alpha, out_p0, out_sizes,
                   out_occupied):
    for c in range(seeds.shape[0]):
        _one_chain(patterns, counts, n_classes, a_alpha, b_alpha, a_lam, b_lam, a_n, b_n,
                   burn_in, thin, n_moves, n_swaps, seeds[c], out_n0[c], out_alpha[c], out_p0[c],
                   out_sizes[c], out_occupied[c])


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
        One seed per chain.

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
    fn = _chains_parallel if (parallel and n_chain > 1) else _chains_serial
    fn(pats, cnt, int(n_classes), float(alpha_prior[0]), float(alpha_prior[1]),
       float(capture_prior[0]), float(capture_prior[1]), float(n_prior[0]),
       float(n_prior[1]), int(burn_in), int(thin), int(n_moves), int(n_swaps), seeds,
       out_n0, out_alpha, out_p0, out_w, out_occ)
    return {"n0": out_n0, "alpha": out_alpha, "prob_missed": out_p0,
            "class_sizes": out_w, "occupied": out_occ}


def sweep_cost(n_pattern: int, n_lists: int, n_classes: int) -> int:
    """Rough number of inner-loop operations of one sweep (for benchmarks)."""
    return n_pattern * n_classes * (n_lists + 2) + 2 * n_lists * n_classes
