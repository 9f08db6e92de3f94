r"""Hand-written log density and gradient of :class:`~.excess_bayes.ExcessBayes` (Numba).

nutpie samples the PyMC model of :mod:`.excess_bayes` after compiling its
PyTensor graph with Numba, which costs 40-130 s in every fresh process for a
few seconds of sampling.  Here the same log density is written out by hand as
two Numba C callbacks cached on disk (:data:`LOGP`, :data:`EXPAND`), sampled
through :func:`~._base.run_kernel_nuts`; everything they read (sizes, prior
constants, counts) is one flat float64 array built by :func:`pack_data`, so
the compiled code is the same for every table.

Parameters (the unconstrained vector)
-------------------------------------
In the order and with the transforms of the PyMC model's value variables
(each block C-ordered; :func:`value_layout`), for replicate tables
:math:`r = 1..R`, regions :math:`g = 1..G` and age groups :math:`a = 1..A`:
:math:`\mu_\alpha, \mu_\beta, \mu_\kappa` (R each), :math:`y_\alpha, y_\beta,
y_\kappa = \log\sigma_\alpha, \log\sigma_\beta, \log\sigma_\kappa` (R each),
:math:`\alpha` (R, A), :math:`z^\beta` (R, A), :math:`z^\kappa` (R, A), and,
with more than one region, :math:`y_c, y_u, y_v` (R each), :math:`z_c` (R, G),
:math:`u` (R, G, A), :math:`v` (R, G, A).

Log density
-----------
With :math:`\sigma = e^{y}` for every scale, :math:`\beta_a = \mu_\beta +
\sigma_\beta z^\beta_a`, :math:`\lambda_a = \log\kappa_a = \mu_\kappa +
\sigma_\kappa z^\kappa_a`, per replicate (replicates add up):

.. math::

    \log p = C &- \tfrac12\Big(\frac{\mu_\alpha - m_\alpha}{s_\alpha}\Big)^2
      - \tfrac12\Big(\frac{\mu_\beta}{s_\beta}\Big)^2
      - \tfrac12\Big(\frac{\mu_\kappa - m_\kappa}{s_\kappa}\Big)^2
      + \sum_{j \in \{\alpha,\beta,\kappa\}} \Big(y_j - \tfrac12 \frac{e^{2y_j}}{h_A^2}\Big)
      \\
    &+ \sum_a \Big[-\tfrac12\Big(\frac{\alpha_a - \mu_\alpha}{\sigma_\alpha}\Big)^2
      - y_\alpha - \tfrac12 (z^\beta_a)^2 - \tfrac12 (z^\kappa_a)^2\Big]
      \\
    &+ [G > 1] \Big(\sum_{j \in \{c,u,v\}} \Big(y_j - \tfrac12 \frac{e^{2y_j}}{h_G^2}\Big)
      - \tfrac12 \sum_g z_{c,g}^2 - \tfrac12 \sum_{g,a} (u_{ga}^2 + v_{ga}^2)\Big)
      + \sum_{g,a,t:\ \mathrm{used}} \ell_{gat},

where :math:`y_j` appears once more as the Jacobian of the log transform of a
half-normal, :math:`C` gathers the normalising constants (computed once in
Python), and the beta-binomial term of a cell with :math:`m` male and
:math:`f` female deaths, :math:`n = m + f`, is

.. math::

    \ell = \log B(m + a, f + b) - \log B(a, b)
         = \log\Gamma(m + a) - \log\Gamma(a) + \log\Gamma(f + b) - \log\Gamma(b)
           - \log\Gamma(n + \kappa) + \log\Gamma(\kappa),

with :math:`\kappa = e^{\lambda_a}`, :math:`a = \kappa p`, :math:`b = \kappa (1 -
p)`, :math:`p = \mathrm{sigmoid}(\eta)` and
:math:`\eta_{gat} = \alpha_a + \sigma_c z_{c,g} + \sigma_u u_{ga} + (\beta_a +
\sigma_v v_{ga}) x_t` (the region terms only with :math:`G > 1`).  A cell with
:math:`n = 0` adds exactly 0 and is skipped, as are cells left out of the
baseline (flagged region-years).

Forward pass
------------
Per replicate: the scales :math:`\sigma = e^y`, the prior terms; per age group
:math:`\beta_a`, :math:`\kappa_a`, :math:`\log\Gamma(\kappa_a)`,
:math:`\psi(\kappa_a)`; per region and age group the intercept
:math:`e_{ga} = \alpha_a + \sigma_c z_{c,g} + \sigma_u u_{ga}` and slope
:math:`s_{ga} = \beta_a + \sigma_v v_{ga}`; per used year :math:`\eta = e_{ga}
+ s_{ga} x_t` and :math:`\ell`.

Reverse pass
------------
With the digamma function :math:`\psi`,

.. math::

    D_a = \frac{\partial \ell}{\partial a} = \psi(m + a) - \psi(a) - \psi(n + \kappa) + \psi(\kappa),
    \quad
    D_b = \frac{\partial \ell}{\partial b} = \psi(f + b) - \psi(b) - \psi(n + \kappa) + \psi(\kappa),

and since :math:`\partial a/\partial\eta = -\partial b/\partial\eta = \kappa p(1-p)`,
:math:`\partial a/\partial\lambda = a`, :math:`\partial b/\partial\lambda = b`:

.. math::

    \bar\eta = \kappa p (1-p) (D_a - D_b), \qquad
    \bar\lambda_a \mathrel{+}= a D_a + b D_b.

Then :math:`\bar e_{ga} = \sum_t \bar\eta_{gat}`, :math:`\bar s_{ga} = \sum_t
\bar\eta_{gat} x_t`; :math:`\bar\alpha_a \mathrel{+}= \sum_g \bar e_{ga}`,
:math:`\bar\beta_a = \sum_g \bar s_{ga}`; :math:`\bar z_{c,g} \mathrel{+}=
\sigma_c \sum_a \bar e_{ga}`, :math:`\bar u_{ga} \mathrel{+}= \sigma_u \bar
e_{ga}`, :math:`\bar v_{ga} \mathrel{+}= \sigma_v \bar s_{ga}`;
:math:`\bar\sigma_c = \sum_{g,a} z_{c,g} \bar e_{ga}` (likewise
:math:`\sigma_u`, :math:`\sigma_v`); :math:`\bar\mu_\beta \mathrel{+}= \sum_a
\bar\beta_a`, :math:`\bar z^\beta_a \mathrel{+}= \sigma_\beta \bar\beta_a`,
:math:`\bar\sigma_\beta = \sum_a z^\beta_a \bar\beta_a` (likewise
:math:`\kappa`); and every scale's :math:`\bar y = \sigma \bar\sigma` plus its
prior's and Jacobian's :math:`1 - e^{2y}/h^2`.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np
from numba import carray, cfunc, njit

from ._base import KERNEL_EXPAND_SIGNATURE, KERNEL_LOGP_SIGNATURE
from ._numba_special import density_status

__all__ = ["EXPAND", "LOGP", "evaluate", "expand", "expand_layout", "initial_point", "n_dim",
           "pack_data", "value_layout"]

# header of the data array: positions of sizes, prior constants and array offsets
_LEN, _R, _G, _A, _T = 0, 1, 2, 3, 4
_LEVEL_M, _LEVEL_S, _TREND_S, _AGE_H, _REGION_H, _DISP_M, _DISP_S, _CONST = range(5, 13)
_OX, _OM, _OF, _OU = 13, 14, 15, 16
_HEADER = 17

_LOG_2PI = math.log(2.0 * math.pi)


def n_dim(R: int, G: int, A: int) -> int:
    """Length of the unconstrained parameter vector."""
    return 6 * R + 3 * R * A + (3 * R + R * G + 2 * R * G * A if G > 1 else 0)


def value_layout(R: int, G: int, A: int) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the PyMC value variables, in the order of the vector."""
    out: list[tuple[str, tuple[int, ...]]] = [
        ("level_mean", (R,)), ("trend_mean", (R,)), ("dispersion_mean", (R,)),
        ("level_sd_log__", (R,)), ("trend_sd_log__", (R,)), ("dispersion_sd_log__", (R,)),
        ("level", (R, A)), ("z_trend", (R, A)), ("z_concentration", (R, A))]
    if G > 1:
        out += [("region_sd_log__", (R,)), ("region_age_sd_log__", (R,)),
                ("region_trend_sd_log__", (R,)), ("z_region", (R, G)),
                ("z_region_age", (R, G, A)), ("z_region_trend", (R, G, A))]
    return out


def expand_layout(R: int, G: int, A: int) -> list[tuple[str, tuple[int, ...], tuple[str, ...]]]:
    """Names, shapes and dims of the posterior variables :data:`EXPAND` writes, in order."""
    r, ra, rga = ("rep",), ("rep", "age"), ("rep", "region", "age")
    out = [("level_mean", (R,), r), ("trend_mean", (R,), r), ("dispersion_mean", (R,), r),
           ("level_sd", (R,), r), ("trend_sd", (R,), r), ("dispersion_sd", (R,), r),
           ("level", (R, A), ra), ("z_trend", (R, A), ra), ("trend", (R, A), ra),
           ("z_concentration", (R, A), ra), ("log_concentration", (R, A), ra)]
    if G > 1:
        out += [("region_sd", (R,), r), ("region_age_sd", (R,), r),
                ("region_trend_sd", (R,), r), ("z_region", (R, G), ("rep", "region")),
                ("z_region_age", (R, G, A), rga), ("z_region_trend", (R, G, A), rga)]
    return out


def pack_data(
    male: np.ndarray,
    female: np.ndarray,
    use: np.ndarray,
    x: np.ndarray,
    *,
    level_prior: tuple[float, float],
    trend_prior_sd: float,
    between_age_sd: float,
    between_region_sd: float,
    dispersion_prior: tuple[float, float],
) -> np.ndarray:
    """The flat float64 array the callbacks read.

    ``male``, ``female`` and ``use`` are ``(rep, region, age, baseline year)``;
    ``x`` the centred, scaled baseline years.  Layout: length, sizes
    ``R, G, A, T``, the prior constants, the normalising constant :math:`C`,
    offsets of ``x``, ``male``, ``female``, ``use``, then the arrays.
    """
    male = np.asarray(male, float)
    R, G, A, T = male.shape
    ls, ks = float(level_prior[1]), float(dispersion_prior[1])
    # normalising constants of the normal and half-normal priors (per replicate)
    half = math.log(2.0) - 0.5 * _LOG_2PI
    const = (-1.5 * _LOG_2PI - math.log(ls) - math.log(trend_prior_sd) - math.log(ks)
             + 3 * (half - math.log(between_age_sd)) - 3 * A * 0.5 * _LOG_2PI)
    if G > 1:
        const += 3 * (half - math.log(between_region_sd)) - (G + 2 * G * A) * 0.5 * _LOG_2PI
    header = np.zeros(_HEADER)
    header[[_R, _G, _A, _T]] = R, G, A, T
    header[[_LEVEL_M, _LEVEL_S, _TREND_S, _AGE_H, _REGION_H, _DISP_M, _DISP_S]] = (
        level_prior[0], ls, trend_prior_sd, between_age_sd, between_region_sd,
        dispersion_prior[0], ks)
    header[_CONST] = R * const
    n = male.size
    header[_OX] = _HEADER
    header[_OM] = _HEADER + T
    header[_OF] = _HEADER + T + n
    header[_OU] = _HEADER + T + 2 * n
    data = np.concatenate([header, np.asarray(x, float), male.ravel(),
                           np.asarray(female, float).ravel(),
                           np.asarray(use, float).ravel()])
    data[_LEN] = data.size
    return np.ascontiguousarray(data)


def initial_point(data: np.ndarray, seed: int) -> np.ndarray:
    """A start for one chain: data-based levels, jittered like PyMC's (uniform +-1 elsewhere).

    Levels start at each age group's observed log male/female ratio (+-0.05): the
    data pin them down to about 0.01, and a start a whole unit away only costs
    tuning steps.
    """
    R, G, A, T = (int(data[i]) for i in (_R, _G, _A, _T))
    n = R * G * A * T
    om, of, ou = int(data[_OM]), int(data[_OF]), int(data[_OU])
    use = data[ou:ou + n].reshape(R, G, A, T)
    m = (data[om:om + n].reshape(R, G, A, T) * use).sum(axis=(1, 3))
    f = (data[of:of + n].reshape(R, G, A, T) * use).sum(axis=(1, 3))
    level = np.log((m + 0.5) / (f + 0.5))  # (R, A)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n_dim(R, G, A))
    x[:R] = level.mean(axis=1) + rng.uniform(-0.05, 0.05, R)
    x[R:2 * R] *= 0.1
    x[2 * R:3 * R] += data[_DISP_M]
    x[3 * R:6 * R] += math.log(data[_AGE_H])
    x[6 * R:6 * R + R * A] = (level + rng.uniform(-0.05, 0.05, (R, A))).ravel()
    if G > 1:
        o = 6 * R + 3 * R * A
        x[o:o + 3 * R] += math.log(data[_REGION_H])
    return x


_HALF_LOG_2PI = 0.5 * _LOG_2PI


@njit(cache=True, nogil=True, error_model="numpy")
def _lgamma_digamma(x: float) -> tuple[float, float]:
    r""":math:`\log\Gamma(x)` and :math:`\psi(x)` together, for :math:`x > 0`.

    From :math:`x \ge 10` the two Stirling series share :math:`\log x` and
    :math:`1/x` (truncation errors below :math:`2 \times 10^{-14}`); below 10,
    ``math.lgamma`` and the digamma recurrence :math:`\psi(x) = \psi(x + 1) -
    1/x` up to 10.  Half the special-function work of a beta-binomial cell.
    """
    dg = 0.0
    small = x < 10.0
    lg = math.lgamma(x) if small else 0.0
    while x < 10.0:
        dg -= 1.0 / x
        x += 1.0
    lx = math.log(x)
    f = 1.0 / x
    f2 = f * f
    dg += lx - 0.5 * f - f2 * (1.0 / 12.0 - f2 * (1.0 / 120.0 - f2 * (1.0 / 252.0 - f2 * (
        1.0 / 240.0 - f2 * (1.0 / 132.0)))))
    if not small:
        lg = ((x - 0.5) * lx - x + _HALF_LOG_2PI
              + f * (1.0 / 12.0 - f2 * (1.0 / 360.0 - f2 * (1.0 / 1260.0 - f2 * (
                  1.0 / 1680.0 - f2 * (1.0 / 1188.0))))))
    return lg, dg


@njit(cache=True, nogil=True, error_model="numpy")
def _half_normal_log(y: float, h: float) -> tuple[float, float]:
    """Half-normal log density of e^y (scale h) with the log Jacobian y, and its derivative."""
    s = math.exp(y)
    w = (s / h) * (s / h)
    return y - 0.5 * w, 1.0 - w


@njit(cache=True, nogil=True, error_model="numpy")
def _logp_grad(x: np.ndarray, grad: np.ndarray, d: np.ndarray) -> float:
    R, G, A, T = int(d[_R]), int(d[_G]), int(d[_A]), int(d[_T])
    lm, ls, ts, ha, hg = d[_LEVEL_M], d[_LEVEL_S], d[_TREND_S], d[_AGE_H], d[_REGION_H]
    km, ks = d[_DISP_M], d[_DISP_S]
    ox, om, of, ou = int(d[_OX]), int(d[_OM]), int(d[_OF]), int(d[_OU])
    regions = G > 1
    RA = R * A
    o_a, o_zb, o_zk = 6 * R, 6 * R + RA, 6 * R + 2 * RA
    o_y2 = 6 * R + 3 * RA
    o_zc = o_y2 + 3 * R
    o_zu = o_zc + R * G
    o_zv = o_zu + R * G * A
    for i in range(grad.size):
        grad[i] = 0.0
    lp = d[_CONST]
    for r in range(R):
        mua, mub, muk = x[r], x[R + r], x[2 * R + r]
        lp -= 0.5 * ((mua - lm) / ls) ** 2 + 0.5 * (mub / ts) ** 2 + 0.5 * ((muk - km) / ks) ** 2
        grad[r] -= (mua - lm) / (ls * ls)
        grad[R + r] -= mub / (ts * ts)
        grad[2 * R + r] -= (muk - km) / (ks * ks)
        for j in range(3):
            v, dv = _half_normal_log(x[(3 + j) * R + r], ha)
            lp += v
            grad[(3 + j) * R + r] += dv
        ya = x[3 * R + r]
        sa, sb, sk = math.exp(ya), math.exp(x[4 * R + r]), math.exp(x[5 * R + r])
        sc = su = sv = 0.0
        if regions:
            for j in range(3):
                v, dv = _half_normal_log(x[o_y2 + j * R + r], hg)
                lp += v
                grad[o_y2 + j * R + r] += dv
            sc = math.exp(x[o_y2 + r])
            su = math.exp(x[o_y2 + R + r])
            sv = math.exp(x[o_y2 + 2 * R + r])
            for g in range(G):
                z = x[o_zc + r * G + g]
                lp -= 0.5 * z * z
                grad[o_zc + r * G + g] -= z
            for i in range(G * A):
                j = r * G * A + i
                zu, zv = x[o_zu + j], x[o_zv + j]
                lp -= 0.5 * (zu * zu + zv * zv)
                grad[o_zu + j] -= zu
                grad[o_zv + j] -= zv
        g_sb = g_sk = g_sc = g_su = g_sv = 0.0
        for a in range(A):
            ia = r * A + a
            alpha, zb, zk = x[o_a + ia], x[o_zb + ia], x[o_zk + ia]
            dev = (alpha - mua) / sa
            lp -= 0.5 * dev * dev + ya
            grad[o_a + ia] -= dev / sa
            grad[r] += dev / sa
            grad[3 * R + r] += dev * dev - 1.0
            lp -= 0.5 * (zb * zb + zk * zk)
            grad[o_zb + ia] -= zb
            grad[o_zk + ia] -= zk
            beta = mub + sb * zb
            k = math.exp(muk + sk * zk)
            lgk, psik = _lgamma_digamma(k)
            g_alpha = g_beta = g_logk = 0.0
            for g in range(G):
                e0, sl = alpha, beta
                iga = (r * G + g) * A + a
                if regions:
                    e0 += sc * x[o_zc + r * G + g] + su * x[o_zu + iga]
                    sl += sv * x[o_zv + iga]
                ge0 = gsl = 0.0
                for t in range(T):
                    c = iga * T + t
                    if d[ou + c] == 0.0:
                        continue
                    m, f = d[om + c], d[of + c]
                    if m + f == 0.0:
                        continue
                    xt = d[ox + t]
                    eta = e0 + sl * xt
                    e = math.exp(-abs(eta))  # p and 1 - p from one exponential
                    if eta >= 0.0:
                        p, q = 1.0 / (1.0 + e), e / (1.0 + e)
                    else:
                        p, q = e / (1.0 + e), 1.0 / (1.0 + e)
                    ka, kb = k * p, k * q
                    lg, dg = _lgamma_digamma(m + f + k)
                    ll = lgk - lg
                    da = psik - dg
                    db = da
                    if m > 0.0:
                        lg1, dg1 = _lgamma_digamma(m + ka)
                        lg0, dg0 = _lgamma_digamma(ka)
                        ll += lg1 - lg0
                        da += dg1 - dg0
                    if f > 0.0:
                        lg1, dg1 = _lgamma_digamma(f + kb)
                        lg0, dg0 = _lgamma_digamma(kb)
                        ll += lg1 - lg0
                        db += dg1 - dg0
                    lp += ll
                    geta = ka * q * (da - db)
                    g_logk += ka * da + kb * db
                    ge0 += geta
                    gsl += geta * xt
                g_alpha += ge0
                g_beta += gsl
                if regions:
                    zc = x[o_zc + r * G + g]
                    grad[o_zc + r * G + g] += sc * ge0
                    g_sc += zc * ge0
                    grad[o_zu + iga] += su * ge0
                    g_su += x[o_zu + iga] * ge0
                    grad[o_zv + iga] += sv * gsl
                    g_sv += x[o_zv + iga] * gsl
            grad[o_a + ia] += g_alpha
            grad[R + r] += g_beta
            grad[o_zb + ia] += sb * g_beta
            g_sb += zb * g_beta
            grad[2 * R + r] += g_logk
            grad[o_zk + ia] += sk * g_logk
            g_sk += zk * g_logk
        grad[4 * R + r] += sb * g_sb
        grad[5 * R + r] += sk * g_sk
        if regions:
            grad[o_y2 + r] += sc * g_sc
            grad[o_y2 + R + r] += su * g_su
            grad[o_y2 + 2 * R + r] += sv * g_sv
    return lp


@njit(cache=True, nogil=True, error_model="numpy")
def _expand(x: np.ndarray, out: np.ndarray, d: np.ndarray) -> None:
    R, G, A = int(d[_R]), int(d[_G]), int(d[_A])
    RA = R * A
    for i in range(3 * R):  # the means
        out[i] = x[i]
    for i in range(3 * R, 6 * R):  # the age scales
        out[i] = math.exp(x[i])
    o = 6 * R
    for ia in range(RA):
        r = ia // A
        out[o + ia] = x[6 * R + ia]  # level
        zb, zk = x[6 * R + RA + ia], x[6 * R + 2 * RA + ia]
        out[o + RA + ia] = zb
        out[o + 2 * RA + ia] = x[R + r] + math.exp(x[4 * R + r]) * zb  # trend
        out[o + 3 * RA + ia] = zk
        out[o + 4 * RA + ia] = x[2 * R + r] + math.exp(x[5 * R + r]) * zk  # log concentration
    if G > 1:
        src, dst = 6 * R + 3 * RA, 6 * R + 5 * RA
        for i in range(3 * R):
            out[dst + i] = math.exp(x[src + i])
        for i in range(R * G + 2 * R * G * A):
            out[dst + 3 * R + i] = x[src + 3 * R + i]


@cfunc(KERNEL_LOGP_SIGNATURE, cache=True)
def LOGP(dim, x_, grad_, logp_, data_):  # noqa: N802
    """Log density callback for nutpie: writes the gradient and the log density."""
    grad = carray(grad_, (dim,))
    lp = _logp_grad(carray(x_, (dim,)), grad, carray(data_, (int(data_[0]),)))
    logp_[0] = lp
    return density_status(lp, grad)


@cfunc(KERNEL_EXPAND_SIGNATURE, cache=True)
def EXPAND(dim, n_expanded, x_, out_, data_):  # noqa: N802
    """Expand callback for nutpie: the posterior variables of one draw (:func:`expand_layout`)."""
    d = carray(data_, (int(data_[0]),))
    _expand(carray(x_, (dim,)), carray(out_, (n_expanded,)), d)
    return 0


def evaluate(data: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray, int]:
    """Call :data:`LOGP` as nutpie does (through its C address).

    Returns ``(log density, gradient, status)``; status 0, or 3 (gradient not
    finite) / 4 (log density not finite), which nutpie treats as a divergence.
    """
    data = np.ascontiguousarray(data, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    lp = np.zeros(1)
    ptr = ctypes.POINTER(ctypes.c_double)
    fn: Any = LOGP.ctypes
    status = fn(x.size, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr),
                lp.ctypes.data_as(ptr), data.ctypes.data_as(ptr))
    return float(lp[0]), grad, int(status)


def expand(data: np.ndarray, x: np.ndarray, n_expanded: int) -> np.ndarray:
    """Call :data:`EXPAND` through its C address (for tests)."""
    data = np.ascontiguousarray(data, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.zeros(n_expanded)
    ptr = ctypes.POINTER(ctypes.c_double)
    fn: Any = EXPAND.ctypes
    fn(x.size, n_expanded, x.ctypes.data_as(ptr), out.ctypes.data_as(ptr),
       data.ctypes.data_as(ptr))
    return out
