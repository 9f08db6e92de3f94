r"""Under-reporting's NUTS log density, written out for nutpie (array layer).

The same density as the PyMC model of ``UnderReporting._pymc_model`` (the
reference, and the model for ``nuts_sampler="pymc"``), over the same
unconstrained parameters in the same order, constants dropped.  With
:math:`\sigma(x) = 1/(1 + e^{-x})`, a Beta(a, b) prior on the log-odds scale
(Jacobian included) is :math:`a \log\sigma(x) + b \log(1 - \sigma(x))`, and a
binomial audit of :math:`k_s` found among :math:`n_s` checked adds
:math:`k_s \log c_s + (n_s - k_s) \log(1 - c_s)`:

- ``shared`` (mode 0): :math:`x` = logit of the one coverage :math:`c`;
- ``independent`` (mode 1): :math:`x_s` = logit :math:`c_s`, one per stratum;
- ``partial`` (mode 2): :math:`(r, w, z_1..z_S)` with :math:`\rho = \sigma(r)`
  (absent when the share is fixed), :math:`\operatorname{logit} c_s = m + v
  \sqrt{1 - \rho}\, w + v \sqrt{\rho}\, z_s`, :math:`w, z_s \sim N(0, 1)`.

``tests/test_underreporting_kernel.py`` checks density differences and gradients
against PyTensor's automatic differentiation of the PyMC model.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, cfunc, njit

from ._base import KERNEL_LOGP_SIGNATURE
from ._numba_special import density_status, log1pexp, sigmoid

_HEADER = 12
MODES = {"shared": 0, "independent": 1, "partial": 2}


def pack(*, n_strata: int, mode: str, a: float, b: float, share: tuple[float, float] | float,
         m: float, v: float, found: np.ndarray | None, checked: np.ndarray | None) -> np.ndarray:
    """One float64 array with the layout, prior constants and audit counts.

    ``share`` is the Beta(alpha, beta) of the between-strata share, or a fixed share.
    """
    has_rho = isinstance(share, tuple)
    sa, sb = share if isinstance(share, tuple) else (0.0, 0.0)
    rho = 0.0 if isinstance(share, tuple) else float(share)
    has_audit = found is not None
    k = np.zeros(n_strata) if found is None else np.asarray(found, float)
    n = np.zeros(n_strata) if checked is None else np.asarray(checked, float)
    head = [0.0, n_strata, MODES[mode], a, b, float(has_rho), rho, sa, sb, m, v, float(has_audit)]
    out = np.ascontiguousarray(np.concatenate([head, k, n]))
    out[0] = out.size
    return out


def n_params(n_strata: int, mode: str, has_rho: bool) -> int:
    """Length of the unconstrained parameter vector."""
    if mode == "shared":
        return 1
    if mode == "independent":
        return n_strata
    return int(has_rho) + 1 + n_strata


@njit(cache=True, nogil=True, error_model="numpy")
def _log_sig(x):
    """(log sigma(x), log(1 - sigma(x)))."""
    return -log1pexp(-x), -log1pexp(x)


@njit(cache=True, nogil=True, error_model="numpy")
def logp_grad(x, grad, blob):
    """Log density at ``x`` (constants dropped); writes its gradient into ``grad``."""
    s_n = int(blob[1])
    mode = int(blob[2])
    a = blob[3]
    b = blob[4]
    found = blob[_HEADER:_HEADER + s_n]
    checked = blob[_HEADER + s_n:_HEADER + 2 * s_n]
    for i in range(grad.size):
        grad[i] = 0.0
    lp = 0.0
    if mode == 0:
        lo, l1 = _log_sig(x[0])
        p = sigmoid(x[0])
        k = 0.0
        n = 0.0
        for s in range(s_n):
            k += found[s]
            n += checked[s]
        lp = (a + k) * lo + (b + n - k) * l1
        grad[0] = (a + k) * (1.0 - p) - (b + n - k) * p
        return lp
    if mode == 1:
        for s in range(s_n):
            lo, l1 = _log_sig(x[s])
            p = sigmoid(x[s])
            k = found[s]
            n = checked[s]
            lp += (a + k) * lo + (b + n - k) * l1
            grad[s] = (a + k) * (1.0 - p) - (b + n - k) * p
        return lp
    has_rho = blob[5] > 0.5
    m = blob[9]
    v = blob[10]
    o = 0
    if has_rho:
        lo, l1 = _log_sig(x[0])
        rho = sigmoid(x[0])
        lp += blob[7] * lo + blob[8] * l1
        grad[0] = blob[7] * (1.0 - rho) - blob[8] * rho
        o = 1
    else:
        rho = blob[6]
    w = x[o]
    lp -= 0.5 * w * w
    grad[o] = -w
    sq1 = math.sqrt(1.0 - rho)
    sq = math.sqrt(rho)
    shared = m + v * sq1 * w
    g_rho = 0.0
    for s in range(s_n):
        z = x[o + 1 + s]
        lp -= 0.5 * z * z
        grad[o + 1 + s] = -z
        eta = shared + v * sq * z
        lo, l1 = _log_sig(eta)
        c = sigmoid(eta)
        k = found[s]
        n = checked[s]
        lp += k * lo + (n - k) * l1
        g_eta = k - n * c
        grad[o] += g_eta * v * sq1
        grad[o + 1 + s] += g_eta * v * sq
        if has_rho:
            g_rho += g_eta * (-v * w / (2.0 * sq1) + v * z / (2.0 * sq))
    if has_rho:
        grad[0] += g_rho * rho * (1.0 - rho)
    return lp


def derive(xs: np.ndarray, blob: np.ndarray) -> dict[str, np.ndarray]:
    """The posterior variables of draws ``xs`` (chain, draw, n_dim), by name.

    Vectorised over the draws after sampling (nutpie stores the unconstrained
    draws), which spares Numba a second callback to compile on a first run.
    """
    from scipy.special import expit

    s_n = int(blob[1])
    mode = int(blob[2])
    if mode == 0:
        p = expit(xs[..., 0])
        return {"coverage_shared": p,
                "coverage": np.repeat(p[..., None], s_n, axis=-1)}
    if mode == 1:
        return {"coverage": expit(xs[..., :s_n])}
    has_rho = blob[5] > 0.5
    out: dict[str, np.ndarray] = {}
    o = 0
    if has_rho:
        rho = expit(xs[..., 0])
        out["between_strata_share"] = rho
        o = 1
    else:
        rho = np.full(xs.shape[:-1], blob[6])
    m, v = blob[9], blob[10]
    w = xs[..., o]
    z = xs[..., o + 1:o + 1 + s_n]
    shared = m + v * np.sqrt(1.0 - rho) * w
    sigma = v * np.sqrt(rho)
    out.update({"coverage_shared_z": w.copy(), "z": z.copy(),
                "coverage": expit(shared[..., None] + sigma[..., None] * z),
                "coverage_mean": expit(shared), "between_strata_sd": sigma})
    return out


@cfunc(KERNEL_LOGP_SIGNATURE, cache=True, nogil=True)
def logp_cfunc(dim, x_, grad_, logp_, blob_):
    """C callback for nutpie: 0 on success, 3/4 for a non-finite gradient/density."""
    grad = carray(grad_, (dim,))
    lp = logp_grad(carray(x_, (dim,)), grad, carray(blob_, (int(blob_[0]),)))
    logp_[0] = lp
    return density_status(lp, grad)


def expanded_layout(n_strata: int, mode: str,
                    has_rho: bool) -> list[tuple[str, tuple[int, ...], tuple[str, ...]]]:
    """Names, shapes and dims of the posterior variables (:func:`derive`'s order)."""
    st = ("stratum",)
    if mode == "shared":
        return [("coverage_shared", (), ()), ("coverage", (n_strata,), st)]
    if mode == "independent":
        return [("coverage", (n_strata,), st)]
    out: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = []
    if has_rho:
        out.append(("between_strata_share", (), ()))
    return out + [("coverage_shared_z", (), ()), ("z", (n_strata,), st),
                  ("coverage", (n_strata,), st), ("coverage_mean", (), ()),
                  ("between_strata_sd", (), ())]
