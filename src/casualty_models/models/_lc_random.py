"""Random variates for the latent-class Gibbs kernels (Numba, one NumPy Generator per chain).

Binomials by Hormann's BTRS for large means and inversion below (the parameters change at
every call, so NumPy's BTPE set-up would be redone each time); multinomials by successive
binomials over classes sorted by probability; Beta and log-Beta draws through log-Gamma
draws (so that Beta(1, alpha) for small alpha keeps its whole range: log(1 - V) is drawn in
log space, never clamped); the log of the standard normal cdf and the rounded-normal
probability used by the Laplace independence proposals.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_TINY = 1e-300
_SQRT2 = math.sqrt(2.0)
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
        return -math.expm1(math.log1p(-g.random()) / b)
    if b == 1.0:
        return math.exp(math.log1p(-g.random()) / a)
    x = g.standard_gamma(a)
    y = g.standard_gamma(b)
    s = x + y
    if s <= 0.0:
        return _log_beta_pair(g, a, b)[0]
    return x / s


@njit(cache=True, nogil=True)
def _log_gamma_draw(g, a: float) -> float:
    r"""Log of a Gamma(a, 1) draw, without underflow for small ``a``.

    For ``a < 1``, :math:`G_a = G_{a+1} U^{1/a}` (Marsaglia & Tsang 2000), so
    :math:`\log G_a = \log G_{a+1} + \log(U)/a`, finite however small ``a``.
    """
    if a >= 1.0:
        return math.log(g.standard_gamma(a))
    return math.log(g.standard_gamma(a + 1.0)) + math.log1p(-g.random()) / a


@njit(cache=True, nogil=True)
def _log_beta_pair(g, a: float, b: float) -> tuple[float, float]:
    r"""(log V, log(1 - V)) for V ~ Beta(a, b), computed in log space.

    A stick :math:`V \sim \mathrm{Beta}(1, \alpha)` with small
    :math:`\alpha` is 1 to double precision, and :math:`\log(1 - V)` is then
    lost; here, for ``a = 1``, :math:`\log(1 - V) = \log(U)/\alpha` exactly
    (:math:`1 - V \sim \mathrm{Beta}(\alpha, 1)`), and otherwise
    :math:`V = G_a/(G_a + G_b)` with both gammas drawn on the log scale.
    """
    if a == 1.0:
        l1v = math.log1p(-g.random()) / b
        if l1v == 0.0:
            return -np.inf, 0.0
        return math.log(-math.expm1(l1v)), l1v
    lx = _log_gamma_draw(g, a)
    ly = _log_gamma_draw(g, b)
    mx = max(lx, ly)
    lse = mx + math.log(math.exp(lx - mx) + math.exp(ly - mx))
    return lx - lse, ly - lse


@njit(cache=True, nogil=True)
def _log_ndtr(z: float) -> float:
    """Log Phi(z), accurate in both tails (``math.erfc`` is accurate in relative terms)."""
    if z > 0.0:
        return math.log1p(-0.5 * math.erfc(z / _SQRT2))
    if z > -30.0:
        return math.log(0.5 * math.erfc(-z / _SQRT2))
    # asymptotic series of Mills' ratio; at z <= -30 its error is below 1e-16
    z2 = z * z
    series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2)
    return -0.5 * z2 - math.log(-z) - 0.5 * math.log(2.0 * math.pi) + math.log(series)


@njit(cache=True, nogil=True)
def _log_ndtr_diff(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)) for a < b, without cancellation in either tail."""
    if a > 0.0:  # upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
        hi = _log_ndtr(-a)
        lo = _log_ndtr(-b)
    else:
        hi = _log_ndtr(b)
        lo = _log_ndtr(a)
    return hi + math.log1p(-math.exp(lo - hi))


@njit(cache=True, nogil=True)
def _log_rounded_normal(i: int, mode: float, sd: float) -> float:
    """Log P(floor(mode + sd Z + 1/2) = i), Z standard normal."""
    return _log_ndtr_diff((i - 0.5 - mode) / sd, (i + 0.5 - mode) / sd)
