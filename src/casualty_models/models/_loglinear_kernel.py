r"""The Bayesian log-linear model's log density, written out for nutpie (array layer).

The same density as ``LogLinear._pymc_model`` (the reference, and the model for
``nuts_sampler="pymc"``), over the same unconstrained parameters in the same
order, constants dropped.  NUTS samples the whitened coefficients :math:`u_s`
(stratum :math:`s`, :math:`P` terms), :math:`\beta_s = m_s + L_s u_s`, and with
partial pooling also the effect means :math:`\mu` (:math:`P - 1`) and the logs
of the two between-strata sds :math:`\tau_o` (main effects, interactions):

.. math::

    \ell = \sum_{s,\omega} \big(n_{s\omega}\eta_{s\omega} - e^{\eta_{s\omega}}\big)
      + \ell_{\text{prior}}, \qquad \eta_s = X\beta_s,

with :math:`\ell_{\text{prior}} = -\tfrac12 \sum_{s,k} (\beta_{sk}/\sigma_k)^2`
(independent strata), or (partial pooling, :math:`\tau_j = \tau_{o(j)}`)

.. math::

    \ell_{\text{prior}} = -\tfrac12 \sum_s \Big[(\beta_{s0}/\sigma_0)^2
      + \sum_{j \ge 1} \big((\beta_{sj} - \mu_j)/\tau_j\big)^2\Big]
      - S \sum_{j\ge1} \log \tau_j - \tfrac12 \sum_{j \ge 1} (\mu_j/\sigma_j)^2
      + \sum_o \big[-\tfrac12 (\tau_o / b)^2 + \log \tau_o\big].

Gradient: :math:`\partial\ell/\partial\beta_s = X^T(n_s - e^{\eta_s}) +
\partial\ell_{\text{prior}}/\partial\beta_s`, and :math:`\partial\ell/\partial u_s
= L_s^T\, \partial\ell/\partial\beta_s`.  ``tests/test_loglinear_kernel.py``
checks both against PyTensor's automatic differentiation of the PyMC model.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, cfunc, njit

from ._base import KERNEL_LOGP_SIGNATURE
from ._numba_special import density_status

_HEADER = 8


def pack(*, X: np.ndarray, y: np.ndarray, mode: np.ndarray, chol: np.ndarray,
         sd: np.ndarray, order: np.ndarray, partial: bool, between_sd: float) -> np.ndarray:
    """One float64 array with the sizes, constants and counts the callback reads.

    The design ``X`` (pattern, term), counts ``y`` (stratum, pattern), the
    whitening ``mode`` (stratum, term) and ``chol`` (stratum, term, term), prior
    sds ``sd`` (term) and term orders (term).
    """
    n_s, n_pat = y.shape
    p = X.shape[1]
    head = [0.0, n_s, p, n_pat, float(partial), between_sd, 0.0, 0.0]
    assert len(head) == _HEADER
    out = np.ascontiguousarray(np.concatenate([
        np.asarray(head, float), np.asarray(X, float).ravel(), np.asarray(y, float).ravel(),
        np.asarray(mode, float).ravel(), np.asarray(chol, float).ravel(),
        np.asarray(sd, float), np.asarray(order, float)]))
    out[0] = out.size
    return out


def n_params(n_strata: int, n_terms: int, partial: bool) -> int:
    """Length of the unconstrained parameter vector."""
    return n_strata * n_terms + ((n_terms - 1) + 2 if partial else 0)


@njit(cache=True, nogil=True, error_model="numpy")
def _unpack(blob):
    s_n = int(blob[1])
    p = int(blob[2])
    n_pat = int(blob[3])
    o = _HEADER
    X = blob[o:o + n_pat * p].reshape((n_pat, p))
    o += n_pat * p
    y = blob[o:o + s_n * n_pat].reshape((s_n, n_pat))
    o += s_n * n_pat
    mode = blob[o:o + s_n * p].reshape((s_n, p))
    o += s_n * p
    chol = blob[o:o + s_n * p * p].reshape((s_n, p, p))
    o += s_n * p * p
    sd = blob[o:o + p]
    order = blob[o + p:o + 2 * p]
    return s_n, p, n_pat, X, y, mode, chol, sd, order


@njit(cache=True, nogil=True, error_model="numpy")
def _beta(x, s_n, p, mode, chol):
    r""":math:`\beta_s = m_s + L_s u_s` for every stratum, (stratum, term)."""
    beta = np.empty((s_n, p))
    for s in range(s_n):
        for i in range(p):
            acc = mode[s, i]
            for j in range(i + 1):  # L is lower triangular
                acc += chol[s, i, j] * x[s * p + j]
            beta[s, i] = acc
    return beta


@njit(cache=True, nogil=True, error_model="numpy")
def logp_grad(x, grad, blob):
    """Log density at ``x`` (constants dropped); writes its gradient into ``grad``."""
    s_n, p, n_pat, X, y, mode, chol, sd, order = _unpack(blob)
    partial = blob[4] > 0.5
    bsd = blob[5]
    for i in range(grad.size):
        grad[i] = 0.0
    beta = _beta(x, s_n, p, mode, chol)
    g_beta = np.zeros((s_n, p))
    lp = 0.0
    for s in range(s_n):
        for k in range(n_pat):
            eta = 0.0
            for j in range(p):
                eta += X[k, j] * beta[s, j]
            lam = math.exp(eta)
            lp += y[s, k] * eta - lam
            r = y[s, k] - lam
            for j in range(p):
                g_beta[s, j] += X[k, j] * r
    if partial:
        o_mu = s_n * p
        o_tau = o_mu + p - 1
        tau2 = np.empty(2)
        g_tau2 = np.zeros(2)
        for q in range(2):
            tau2[q] = math.exp(x[o_tau + q])
        for s in range(s_n):
            lp -= 0.5 * (beta[s, 0] / sd[0]) ** 2
            g_beta[s, 0] -= beta[s, 0] / sd[0] ** 2
        for j in range(1, p):
            q = 0 if order[j] < 1.5 else 1
            tau = tau2[q]
            mu = x[o_mu + j - 1]
            lp -= 0.5 * (mu / sd[j]) ** 2 + s_n * math.log(tau)
            g_mu = -mu / sd[j] ** 2
            g_tau = -s_n / tau
            for s in range(s_n):
                dev = (beta[s, j] - mu) / tau
                lp -= 0.5 * dev * dev
                g_beta[s, j] -= dev / tau
                g_mu += dev / tau
                g_tau += dev * dev / tau
            grad[o_mu + j - 1] = g_mu
            g_tau2[q] += g_tau
        for q in range(2):
            # HalfNormal(bsd) on the log scale, Jacobian log tau
            lp += -0.5 * (tau2[q] / bsd) ** 2 + x[o_tau + q]
            grad[o_tau + q] = g_tau2[q] * tau2[q] - (tau2[q] / bsd) ** 2 + 1.0
    else:
        for s in range(s_n):
            for j in range(p):
                lp -= 0.5 * (beta[s, j] / sd[j]) ** 2
                g_beta[s, j] -= beta[s, j] / sd[j] ** 2
    for s in range(s_n):  # d/du_s = L_s^T d/dbeta_s
        for j in range(p):
            acc = 0.0
            for i in range(j, p):
                acc += chol[s, i, j] * g_beta[s, i]
            grad[s * p + j] = acc
    return lp


@cfunc(KERNEL_LOGP_SIGNATURE, cache=True, nogil=True)
def logp_cfunc(dim, x_, grad_, logp_, blob_):
    """C callback for nutpie: 0 on success, 3/4 for a non-finite gradient/density."""
    grad = carray(grad_, (dim,))
    lp = logp_grad(carray(x_, (dim,)), grad, carray(blob_, (int(blob_[0]),)))
    logp_[0] = lp
    return density_status(lp, grad)


def derive(xs: np.ndarray, blob: np.ndarray) -> dict[str, np.ndarray]:
    """The posterior variables of draws ``xs`` (chain, draw, n_dim), by name (vectorised)."""
    s_n, p = int(blob[1]), int(blob[2])
    partial = blob[4] > 0.5
    lay = _unpack(np.ascontiguousarray(blob, dtype=np.float64))
    mode, chol, order = lay[5], lay[6], lay[8]
    u = xs[..., :s_n * p].reshape(*xs.shape[:2], s_n, p)
    out: dict[str, np.ndarray] = {"u": u.copy(), "beta": mode + np.einsum("sij,cdsj->cdsi", chol, u)}
    if partial:
        tau2 = np.exp(xs[..., s_n * p + p - 1:s_n * p + p + 1])
        out["effect_mean"] = xs[..., s_n * p:s_n * p + p - 1].copy()
        out["between_strata_sd"] = tau2
        out["effect_sd"] = tau2[..., np.where(order[1:] < 1.5, 0, 1)]
    return out


def layout(partial: bool, n_strata: int, n_terms: int
           ) -> list[tuple[str, tuple[int, ...], tuple[str, ...]]]:
    """Names, shapes and dims of the posterior variables (:func:`derive`'s)."""
    st = (n_strata, n_terms)
    out: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = [
        ("u", st, ("stratum", "term")), ("beta", st, ("stratum", "term"))]
    if partial:
        out += [("effect_mean", (n_terms - 1,), ("effect",)),
                ("between_strata_sd", (2,), ("order",)),
                ("effect_sd", (n_terms - 1,), ("effect",))]
    return out
