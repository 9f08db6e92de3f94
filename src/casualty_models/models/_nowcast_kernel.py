r"""The nowcast's log density and gradient, written out for nutpie (array layer).

The same density as the PyMC model of :meth:`Nowcast.build_model
<casualty_models.models.nowcast.Nowcast.build_model>` (which stays the
reference, and the model for ``nuts_sampler="pymc"``), over the same
unconstrained parameters in the same order:

=====================================  =========================================
``x`` block                             parameter (transform)
=====================================  =========================================
``a``                                   :math:`\log \sigma_\lambda` (HalfNormal)
``b``, ``u`` (with delay drift)         :math:`\log \sigma_\gamma`, knot steps
``z`` (hazard) or ``mu``, ``ls``        logit-hazard deviations, or log median
                                        and log sdlog (lognormal); absent if
                                        :math:`D = 0`
``m`` (:math:`S \times T`)              :math:`\log m_{s,t}`, expected reported
                                        so far
``c``                                   :math:`\log \phi^{-1/2}` (HalfNormal)
=====================================  =========================================

Log density (constants dropped):

.. math::

    \ell = &-\tfrac12 (\sigma_\lambda/\tau_\lambda)^2 + a
       - \tfrac12 (\sigma_\gamma/\tau_\gamma)^2 + b - \tfrac12 \lVert u \rVert^2
       + \ell_{\text{delay prior}}
       - \tfrac{1}{2 \cdot 9} \sum_s (\log\lambda_{s,1} - \log r)^2 \\
      &- \sum_{s, t>1} \Big[\frac{(\log\lambda_{s,t} - \log\lambda_{s,t-1})^2}
         {2\sigma_\lambda^2} + \log\sigma_\lambda\Big]
       - \tfrac12 e^{2c} + c \\
      &+ \sum_{s,\,t,\,d\ \text{known}} \log \mathrm{NegBin}\big(y_{s,t,d} \mid
         e^{m_{s,t}} \pi_{t,d} / F_t,\ \phi\big),

with :math:`\log\lambda_{s,t} = m_{s,t} - \log F_t`, :math:`\phi = 1/(e^{2c} +
10^{-6})`, :math:`\pi` the delay pmf (line lists) or the masses between
successive known delays (snapshots), and :math:`F_t` the delay CDF at the
last known delay.  The gradient is the
reverse pass of the same computation, written by hand; ``tests/test_nowcast_kernel.py``
checks both against PyTensor's automatic differentiation of the PyMC model.

All inputs travel in one flat float64 array (``pack``), so the compiled
callbacks depend on no data and are cached on disk once for all fits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, cfunc, njit

from ._base import KERNEL_LOGP_SIGNATURE
from ._numba_special import density_status, digamma, numba_opt_level

_HEADER = 16
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def pack(*, n_strata: int, n_periods: int, max_delay: int, drift: bool, hazard: bool,
         snapshots: bool, intensity_drift: float, delay_drift: float, hazard_sd: float,
         lognormal: tuple[float, float, float, float], log_rate: float,
         interp: np.ndarray, gaps: np.ndarray, centre: np.ndarray, last: np.ndarray,
         prev: np.ndarray, known: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One float64 array with the layout, constants and counts the callbacks read.

    ``interp`` (T, K), ``gaps`` (K-1) the knot interpolation; ``centre`` (D)
    hazard prior centres; ``last`` (T) last known delay (-1 if none); ``prev``
    (T, D+1) previous known delay (-1 if none); ``known`` (T, D+1) mask;
    ``counts`` (S, T, D+1) increments at known delays (every known cell is read,
    zeros included).
    """
    s, t, d1 = counts.shape
    k1 = len(gaps) if drift else 0
    header = np.array([0.0, n_strata, n_periods, max_delay, float(drift), float(hazard),
                       float(snapshots), k1, intensity_drift, delay_drift, hazard_sd,
                       *lognormal, log_rate])
    assert header.size == _HEADER and (s, t, d1) == (n_strata, n_periods, max_delay + 1)
    known_f = np.asarray(known, dtype=float)
    y = np.asarray(counts, dtype=float) * known_f[None]
    xlog = np.log(np.arange(1, max_delay + 1, dtype=float))
    parts = [header,
             (np.asarray(interp, float) if drift else np.zeros((t, 1))).ravel(),
             np.sqrt(np.asarray(gaps, float)) if drift else np.zeros(0),
             np.asarray(centre, float).ravel(), xlog,
             np.asarray(last, float), np.asarray(prev, float).ravel(), known_f.ravel(),
             y.ravel()]
    out = np.ascontiguousarray(np.concatenate(parts))
    out[0] = out.size
    return out


def n_params(n_strata: int, n_periods: int, max_delay: int, drift: bool, hazard: bool,
             n_gaps: int) -> int:
    """Length of the unconstrained parameter vector."""
    n = 1 + (1 + n_gaps if drift else 0)
    if max_delay > 0:
        n += max_delay if hazard else 2
    return n + n_strata * n_periods + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _unpack(blob):
    s = int(blob[1])
    t = int(blob[2])
    d = int(blob[3])
    k1 = int(blob[7])
    d1 = d + 1
    o = _HEADER
    kk = k1 + 1 if k1 > 0 else 1
    interp = blob[o:o + t * kk].reshape((t, kk))
    o += t * kk
    sqrt_gaps = blob[o:o + k1]
    o += k1
    centre = blob[o:o + d]
    o += d
    xlog = blob[o:o + d]
    o += d
    last = blob[o:o + t]
    o += t
    prev = blob[o:o + t * d1].reshape((t, d1))
    o += t * d1
    known = blob[o:o + t * d1].reshape((t, d1))
    o += t * d1
    y = blob[o:o + s * t * d1].reshape((s, t, d1))
    return s, t, d, k1, interp, sqrt_gaps, centre, xlog, last, prev, known, y


@njit(cache=True, nogil=True, error_model="numpy")
def _delay(x, blob, gamma, log_pmf, aux, aux2, upto):
    """Forward pass of the delay: fills ``gamma`` (T), ``log_pmf`` (T, D+1).

    Only the first ``upto[t]`` delays of period ``t`` are computed: the density reads
    none beyond the last known delay (the expansion asks for all).

    ``aux`` keeps hazards (hazard) or raw masses (lognormal); ``aux2`` the
    standardised log delays (lognormal).  Returns the delay prior's log density.
    """
    lay = _unpack(blob)
    t_n, d, k1, interp, sqrt_gaps, centre, xlog = (lay[1], lay[2], lay[3], lay[4], lay[5],
                                                   lay[6], lay[7])
    drift = blob[4] > 0.5
    hazard = blob[5] > 0.5
    lp = 0.0
    k = 1
    for t in range(t_n):
        gamma[t] = 0.0
    if drift:
        sdg = math.exp(x[1])
        acc = 0.0
        # knots (oldest first): reverse cumulative sums of the steps; the last knot is 0
        for j in range(k1 - 1, -1, -1):
            acc += sdg * sqrt_gaps[j] * x[2 + j]
            for t in range(t_n):
                gamma[t] += interp[t, j] * acc
        k = 2 + k1
    if d == 0:
        for t in range(t_n):
            log_pmf[t, 0] = 0.0
        return lp
    if hazard:
        hsd = blob[10]
        for j in range(d):
            lp -= 0.5 * x[k + j] * x[k + j]
        for t in range(t_n):
            surv = 0.0
            for j in range(min(upto[t], d)):
                eta = centre[j] + hsd * x[k + j] + gamma[t]
                # log h = -softplus(-eta), log(1 - h) = -softplus(eta), h = sigmoid(eta):
                # one exp and one log1p between them
                ex = math.exp(-abs(eta))
                l1p = math.log1p(ex)
                if eta >= 0.0:
                    log_h, log_1mh, aux[t, j] = -l1p, -eta - l1p, 1.0 / (1.0 + ex)
                else:
                    log_h, log_1mh, aux[t, j] = eta - l1p, -l1p, ex / (1.0 + ex)
                log_pmf[t, j] = log_h + surv
                surv += log_1mh
            if upto[t] > d:
                log_pmf[t, d] = surv
        return lp
    mu = x[k]
    ls = x[k + 1]
    lp -= 0.5 * ((mu - blob[11]) / blob[12]) ** 2 + 0.5 * ((ls - blob[13]) / blob[14]) ** 2
    sig = math.exp(ls)
    for t in range(t_n):
        prev_cdf = 0.0
        for j in range(upto[t]):
            if j < d:
                z = (xlog[j] - mu - gamma[t]) / sig
                aux2[t, j] = z
                cdf = 0.5 * math.erfc(-z / _SQRT2)  # accurate in the lower tail
            else:
                cdf = 1.0
            raw = cdf - prev_cdf
            aux[t, j] = raw
            log_pmf[t, j] = math.log(min(max(raw, 1e-12), 1.0))
            prev_cdf = cdf
    return lp


@njit(cache=True, nogil=True, error_model="numpy")
def _log_cdf(log_pmf, log_cdf, e, cs, need, upto):
    """Running log-sum-exp along delays (as the PyMC model: shift by the row max).

    ``log_cdf`` is filled where ``need`` (the cells the density reads), ``e`` and
    ``cs`` (shifted pmf and its running sum) for the first ``upto[t]`` delays.
    """
    t_n, d1 = log_pmf.shape
    for t in range(t_n):
        if upto[t] == 0:
            continue
        top = log_pmf[t, 0]
        for j in range(1, upto[t]):
            top = max(top, log_pmf[t, j])
        acc = 0.0
        for j in range(upto[t]):
            e[t, j] = math.exp(log_pmf[t, j] - top)
            acc += e[t, j]
            cs[t, j] = max(acc, 1e-300)
            if need[t, j] > 0.5:
                log_cdf[t, j] = math.log(cs[t, j]) + top


@njit(cache=True, nogil=True, error_model="numpy")
def logp_grad(x, grad, blob):
    """Log density at ``x`` (constants dropped); writes its gradient into ``grad``."""
    s_n, t_n, d, k1, interp, sqrt_gaps, centre, xlog, last, prev, known, y = _unpack(blob)
    drift = blob[4] > 0.5
    hazard = blob[5] > 0.5
    snaps = blob[6] > 0.5
    tau_l = blob[8]
    tau_g = blob[9]
    log_rate = blob[15]
    d1 = d + 1
    for i in range(grad.size):
        grad[i] = 0.0
    gamma = np.empty(t_n)
    log_pmf = np.zeros((t_n, d1))
    aux = np.zeros((t_n, d1))
    aux2 = np.zeros((t_n, d1))
    upto = np.empty(t_n, dtype=np.int64)
    for t in range(t_n):
        upto[t] = int(last[t]) + 1
    lp = _delay(x, blob, gamma, log_pmf, aux, aux2, upto)
    # offsets
    k_delay = 2 + k1 if drift else 1
    k_m = k_delay + (0 if d == 0 else (d if hazard else 2))
    k_c = k_m + s_n * t_n
    # intensity_sd, delay_drift_sd priors (HalfNormal on the log scale, Jacobian +x)
    sdl = math.exp(x[0])
    lp += -0.5 * (sdl / tau_l) ** 2 + x[0]
    if drift:
        sdg = math.exp(x[1])
        lp += -0.5 * (sdg / tau_g) ** 2 + x[1]
        for j in range(k1):
            lp -= 0.5 * x[2 + j] * x[2 + j]
    log_cdf = np.zeros((t_n, d1))
    e = np.zeros((t_n, d1))
    cs = np.ones((t_n, d1))
    need = known.copy() if snaps else np.zeros((t_n, d1))
    for t in range(t_n):
        if last[t] >= 0:
            need[t, int(last[t])] = 1.0
    _log_cdf(log_pmf, log_cdf, e, cs, need, upto)
    log_f = np.zeros(t_n)
    for t in range(t_n):
        if last[t] >= 0:
            log_f[t] = log_cdf[t, int(last[t])]
    g_logf = np.zeros(t_n)
    g_ll = np.zeros((s_n, t_n))
    g_sdl = 0.0
    inv_var = 1.0 / (sdl * sdl)
    for s in range(s_n):
        v = x[k_m + s * t_n] - log_f[0] - log_rate
        lp -= v * v / 18.0
        g_ll[s, 0] -= v / 9.0
        for t in range(1, t_n):
            dif = (x[k_m + s * t_n + t] - log_f[t]) - (x[k_m + s * t_n + t - 1] - log_f[t - 1])
            lp -= 0.5 * dif * dif * inv_var + x[0]
            g = -dif * inv_var
            g_ll[s, t] += g
            g_ll[s, t - 1] -= g
            g_sdl += dif * dif * inv_var / sdl - 1.0 / sdl
    # dispersion, and every known cell: y ~ NegBin(lambda pi / ..., phi) with
    # lambda pi = m pi / F (the cell's own overdispersion: reports come in batches)
    inv = math.exp(x[k_c])
    lp += -0.5 * inv * inv + x[k_c]
    alpha = 1.0 / (inv * inv + 1e-6)
    g_alpha = 0.0
    lg_a = math.lgamma(alpha)
    dg_a = digamma(alpha)
    log_a = math.log(alpha)
    g_lpmf = np.zeros((t_n, d1))
    g_lcdf = np.zeros((t_n, d1))
    for t in range(t_n):
        for j in range(int(last[t]) + 1):
            if known[t, j] < 0.5:
                continue
            clipped = False
            mass = 1.0
            cdf_j = 0.0
            cdf_p = 0.0
            p = -1
            if not snaps:
                lpi = log_pmf[t, j]
            else:
                cdf_j = math.exp(log_cdf[t, j])
                p = int(prev[t, j])
                cdf_p = math.exp(log_cdf[t, p]) if p >= 0 else 0.0
                mass = cdf_j - cdf_p
                if mass < 1e-12:
                    clipped = True
                    lpi = math.log(1e-12)
                elif mass > 1.0:
                    clipped = True
                    lpi = 0.0
                else:
                    lpi = math.log(mass)
            g_pi = 0.0
            for s in range(s_n):
                lmu = x[k_m + s * t_n + t] + lpi - log_f[t]
                mu = math.exp(lmu)
                n = y[s, t, j]
                lam = math.log(alpha + mu)
                lp += (math.lgamma(n + alpha) - lg_a - math.lgamma(n + 1.0)
                       + alpha * (log_a - lam) + n * (lmu - lam))
                g_mu = n - (n + alpha) * mu / (alpha + mu)
                grad[k_m + s * t_n + t] += g_mu
                g_pi += g_mu
                g_logf[t] -= g_mu
                g_alpha += (digamma(n + alpha) - dg_a + log_a + 1.0 - lam
                            - (n + alpha) / (alpha + mu))
            if not snaps:
                g_lpmf[t, j] += g_pi
            elif not clipped:
                gm = g_pi / mass
                g_lcdf[t, j] += gm * cdf_j
                if p >= 0:
                    g_lcdf[t, p] -= gm * cdf_p
    grad[k_c] = g_alpha * (-2.0 * inv * inv * alpha * alpha) - inv * inv + 1.0
    # log lambda = m - log F: the walk's gradient reaches m and log F
    for s in range(s_n):
        for t in range(t_n):
            grad[k_m + s * t_n + t] += g_ll[s, t]
            g_logf[t] -= g_ll[s, t]
    for t in range(t_n):
        if last[t] >= 0:
            g_lcdf[t, int(last[t])] += g_logf[t]
    # log_cdf[t, j] = log sum_{k <= j} pmf[t, k]
    for t in range(t_n):
        acc = 0.0
        for j in range(d1 - 1, -1, -1):
            acc += g_lcdf[t, j] / cs[t, j]
            g_lpmf[t, j] += e[t, j] * acc
    grad[0] = g_sdl * sdl - (sdl / tau_l) ** 2 + 1.0
    # the delay's reverse pass
    g_gamma = np.zeros(t_n)
    if d > 0 and hazard:
        hsd = blob[10]
        for j in range(d):
            grad[k_delay + j] = -x[k_delay + j]
        for t in range(t_n):
            acc = g_lpmf[t, d]  # gradient of log-survival beyond delay j
            for j in range(d - 1, -1, -1):
                h = aux[t, j]
                g_eta = g_lpmf[t, j] * (1.0 - h) - acc * h
                grad[k_delay + j] += hsd * g_eta
                g_gamma[t] += g_eta
                acc += g_lpmf[t, j]
    elif d > 0:
        mu = x[k_delay]
        ls = x[k_delay + 1]
        sig = math.exp(ls)
        g_mu = -(mu - blob[11]) / blob[12] ** 2
        g_ls = -(ls - blob[13]) / blob[14] ** 2
        for t in range(t_n):
            g_cdf_next = 0.0  # gradient reaching cdf[j] through raw[j] = cdf[j] - cdf[j-1]
            for j in range(d, -1, -1):
                raw = aux[t, j]
                g_raw = g_lpmf[t, j] / raw if 1e-12 <= raw <= 1.0 else 0.0
                # raw[j] = cdf[j] - cdf[j - 1]; cdf[d] = 1 is constant
                g_cdf = g_raw - g_cdf_next
                g_cdf_next = g_raw
                if j < d:
                    z = aux2[t, j]
                    gz = g_cdf * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
                    g_mu -= gz / sig
                    g_gamma[t] -= gz / sig
                    g_ls -= gz * z
        grad[k_delay] = g_mu
        grad[k_delay + 1] = g_ls
    if drift:
        sdg = math.exp(x[1])
        g_sdg = 0.0
        g_steps = 0.0
        for j in range(k1):
            g_knot = 0.0
            for t in range(t_n):
                g_knot += interp[t, j] * g_gamma[t]
            g_steps += g_knot  # knot i sums the steps j >= i
            u = x[2 + j]
            grad[2 + j] = g_steps * sdg * sqrt_gaps[j] - u
            g_sdg += g_steps * sqrt_gaps[j] * u
        grad[1] = g_sdg * sdg - (sdg / tau_g) ** 2 + 1.0
    return lp


def derive(xs: np.ndarray, blob: np.ndarray) -> dict[str, np.ndarray]:
    """The posterior variables of draws ``xs`` (chain, draw, n_dim), by name.

    Runs in Python after sampling (nutpie stores the unconstrained draws): a C
    expansion callback would be a second function for Numba to compile on a
    first run (about 2 s of a cold command), for work that costs milliseconds
    here.  The delay reuses the density's own compiled :func:`_delay` and
    :func:`_log_cdf`, with every delay computed.
    """
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    blob = np.ascontiguousarray(blob, dtype=np.float64)
    n_c, n_d = xs.shape[:2]
    s_n, t_n, d, k1 = int(blob[1]), int(blob[2]), int(blob[3]), int(blob[7])
    drift, hazard = blob[4] > 0.5, blob[5] > 0.5
    lay = _unpack(blob)
    centre, last = lay[6], lay[8].astype(np.int64)
    d1 = d + 1
    gamma = np.empty(t_n)
    log_pmf, aux, aux2 = np.zeros((t_n, d1)), np.zeros((t_n, d1)), np.zeros((t_n, d1))
    log_cdf, e, cs = np.zeros((t_n, d1)), np.empty((t_n, d1)), np.empty((t_n, d1))
    upto = np.full(t_n, d1, dtype=np.int64)
    need = np.ones((t_n, d1))
    log_pmfs = np.empty((n_c, n_d, t_n, d1))
    lf = np.zeros((n_c, n_d, t_n))
    rows = np.flatnonzero(last >= 0)
    for c in range(n_c):
        for i in range(n_d):
            _delay(xs[c, i], blob, gamma, log_pmf, aux, aux2, upto)
            _log_cdf(log_pmf, log_cdf, e, cs, need, upto)
            log_pmfs[c, i] = log_pmf
            lf[c, i, rows] = log_cdf[rows, last[rows]]
    out = {"intensity_sd": np.exp(xs[..., 0])}
    k = 1
    if drift:
        out["delay_drift_sd"] = np.exp(xs[..., 1])
        out["delay_z"] = xs[..., 2:2 + k1].copy()
        k = 2 + k1
    if d > 0 and hazard:
        out["hazard_z"] = xs[..., k:k + d].copy()
        out["logit_hazard"] = centre + blob[10] * out["hazard_z"]
        k += d
    elif d > 0:
        out["delay_log_median"] = xs[..., k].copy()
        out["delay_log_sdlog"] = xs[..., k + 1].copy()
        k += 2
    m = xs[..., k:k + s_n * t_n].reshape(n_c, n_d, s_n, t_n)
    inv = np.exp(xs[..., k + s_n * t_n])
    out["log_expected_so_far"] = m.copy()
    out["inv_sqrt_dispersion"] = inv
    out["delay_pmf"] = np.exp(log_pmfs)
    out["intensity"] = np.exp(m - lf[:, :, None, :])
    out["dispersion"] = 1.0 / (inv * inv + 1e-6)
    return out


# the C callback (and the functions it calls) compiles when this module is imported; at
# LLVM level 1 they compile ~15% faster and sample as fast (numba_opt_level)
with numba_opt_level(1):

    @cfunc(KERNEL_LOGP_SIGNATURE, cache=True, nogil=True)
    def logp_cfunc(dim, x_, grad_, logp_, blob_):
        """C callback for nutpie: 0 on success, 3/4 for a non-finite gradient/density."""
        grad = carray(grad_, (dim,))
        lp = logp_grad(carray(x_, (dim,)), grad, carray(blob_, (int(blob_[0]),)))
        logp_[0] = lp
        return density_status(lp, grad)



def expanded_layout(n_strata: int, n_periods: int, max_delay: int, drift: bool,
                    hazard: bool, n_gaps: int) -> list[tuple[str, tuple[int, ...],
                                                             tuple[str, ...]]]:
    """Names, shapes and dims of the posterior variables (:func:`derive`'s order)."""
    st = (n_strata, n_periods)
    out: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = [("intensity_sd", (), ())]
    if drift:
        out += [("delay_drift_sd", (), ()), ("delay_z", (n_gaps,), ("delay_knot_step",))]
    if max_delay > 0 and hazard:
        out += [("hazard_z", (max_delay,), ("hazard_delay",)),
                ("logit_hazard", (max_delay,), ("hazard_delay",))]
    elif max_delay > 0:
        out += [("delay_log_median", (), ()), ("delay_log_sdlog", (), ())]
    out += [("log_expected_so_far", st, ("stratum", "period")),
            ("inv_sqrt_dispersion", (), ()),
            ("delay_pmf", (n_periods, max_delay + 1), ("period", "delay")),
            ("intensity", st, ("stratum", "period")),
            ("dispersion", (), ())]
    return out
