"""Simulators: data with a known truth, for recovery checks, calibration and examples.

Every simulator takes a ``random_seed`` (an int or a NumPy ``Generator``) and
returns the library's own containers, so that a simulated dataset goes
through exactly the validation real data do.

- :func:`simulate_table`: a capture table from latent classes of known sizes
  (lists independent within a class), the model of
  :class:`~casualty_models.models.latent_class.LatentClass`.
- :func:`simulate_line_list`: a daily line list (event and report dates) with known
  intensity, delay and coverage, for the nowcast's calibration checks.
- :func:`simulate_nowcast_prior`: a daily line list drawn from the nowcast model's own
  prior (the generative process of :class:`~casualty_models.models.nowcast.Nowcast`
  with hazard delays), for simulation-based calibration of its sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .containers import CaptureTable
from .errors import DataValidationError

__all__ = ["simulate_line_list", "simulate_nowcast_prior", "simulate_table"]


def simulate_table(
    class_sizes: Sequence[int],
    capture_probs: Sequence[Sequence[float]] | np.ndarray,
    *,
    lists: Sequence[str] | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> CaptureTable:
    """Simulate a capture table from a population of latent classes of known sizes.

    Parameters
    ----------
    class_sizes : sequence of int
        People in each class (the true ``N`` is their sum).
    capture_probs : array (class, list)
        Probability that each list records a member of each class; lists are
        independent within a class.
    lists : sequence of str, optional
        List names (default ``L1, L2, ...``).
    random_seed : int or Generator, optional

    Returns
    -------
    CaptureTable
        Only the observed (non-zero) patterns are kept, so memory grows with
        the number of distinct patterns, not with the number of people.
    """
    rng = random_seed if isinstance(random_seed, np.random.Generator) else \
        np.random.default_rng(random_seed)
    probs = np.asarray(capture_probs, dtype=float)
    sizes = np.asarray(class_sizes, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != sizes.shape[0]:
        raise DataValidationError(
            f"capture_probs has shape {probs.shape}: expected (classes, lists) with "
            f"{sizes.shape[0]} classes."
        )
    if np.any(sizes < 0) or np.any((probs < 0) | (probs > 1)):
        raise DataValidationError(
            "class sizes must be >= 0 and capture probabilities in [0, 1]."
        )
    n_lists = probs.shape[1]
    if n_lists > 62:
        raise DataValidationError(f"{n_lists} lists: at most 62 are supported.")
    weights = (1 << np.arange(n_lists - 1, -1, -1)).astype(np.int64)
    keys = []
    for size, p in zip(sizes, probs, strict=True):
        for start in range(0, int(size), 100_000):  # bounded memory per block
            bits = rng.random((min(100_000, int(size) - start), n_lists)) < p
            keys.append(bits.astype(np.int64) @ weights)
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    key = key[key > 0]
    if key.size == 0:
        raise DataValidationError("the simulated lists recorded nobody: raise the "
                                  "capture probabilities or class sizes.")
    uniq, counts = np.unique(key, return_counts=True)
    pats = ((uniq[:, None] & weights[None, :]) > 0).astype(np.uint8)
    names = list(lists) if lists is not None else [f"L{j + 1}" for j in range(n_lists)]
    return CaptureTable(tuple(names), pats, counts.astype(np.int64), source="simulated")


def simulate_line_list(
    rng: np.random.Generator,
    intensity: np.ndarray,
    delay_pmf: np.ndarray,
    coverage: float | np.ndarray = 1.0,
    start: Any = "2020-01-01",
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    r"""Simulate a daily line list with known intensity, delay and coverage.

    True deaths :math:`N_t \sim \mathrm{Poisson}(\lambda_t / c_t)`, the
    eventually reported :math:`E_t \sim \mathrm{Binomial}(N_t, c_t)` (so
    :math:`E_t \sim \mathrm{Poisson}(\lambda_t)`), and their delays
    :math:`\sim` ``delay_pmf[t]``.

    Parameters
    ----------
    intensity : float array (n_period,)
        Expected eventual reported count per day, :math:`\lambda_t`.
    delay_pmf : float array (n_period, max_delay + 1)
        Delay distribution of each event day (rows sum to one).
    coverage : float or array (n_period,)

    Returns
    -------
    line list (columns ``event``, ``report``), eventual counts ``E``, true deaths ``N``.
    """
    lam = np.asarray(intensity, dtype=float)
    pmf = np.asarray(delay_pmf, dtype=float)
    cov = np.broadcast_to(np.asarray(coverage, dtype=float), lam.shape)
    n_true = rng.poisson(lam / cov)
    eventual = rng.binomial(n_true, cov)
    start_ts = pd.Timestamp(start)
    cells = np.stack([rng.multinomial(e, pmf[t] / pmf[t].sum())
                      for t, e in enumerate(eventual)])
    return _line_list(cells, start_ts), eventual.astype(np.int64), n_true.astype(np.int64)


def _line_list(cells: np.ndarray, start: pd.Timestamp) -> pd.DataFrame:
    """One row per count of ``cells[t, d]`` (event day ``t``, report day ``t + d``)."""
    t_idx, d_idx = np.indices(cells.shape)
    reps = cells.ravel()
    ev = np.repeat(t_idx.ravel(), reps)
    dl = np.repeat(d_idx.ravel(), reps)
    return pd.DataFrame({"event": start + pd.to_timedelta(ev, unit="D"),
                         "report": start + pd.to_timedelta(ev + dl, unit="D")})


def simulate_nowcast_prior(
    rng: np.random.Generator,
    n_periods: int,
    max_delay: int,
    *,
    start_intensity: float = 25.0,
    start_log_sd: float = 0.5,
    intensity_drift: float = 0.5,
    delay_drift: float = 0.3,
    hazard_prior_sd: float = 1.5,
    start: Any = "2020-01-01",
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    r"""Simulate a daily line list from the nowcast model's own prior (hazard delays).

    The generative process of :class:`~casualty_models.models.nowcast.Nowcast`
    with ``delay="hazard"``, ``delay_knots=1`` and no coverage, for
    simulation-based calibration: :math:`\sigma_\lambda \sim
    \mathrm{HalfNormal}(\tau_\lambda)`, :math:`\log\lambda_1 \sim
    N(\log \lambda_0, s_0^2)` then a random walk with sd :math:`\sigma_\lambda`;
    :math:`\sigma_\gamma \sim \mathrm{HalfNormal}(\tau_\gamma)` and
    :math:`\gamma_t = \sigma_\gamma \sum_{j \ge t} u_j` (:math:`\gamma_T = 0`);
    :math:`\beta_d \sim N(\mathrm{logit}\,\tfrac{1}{D + 1 - d}, s_\beta^2)`;
    :math:`\phi^{-1/2} \sim \mathrm{HalfNormal}(1)`; every cell
    :math:`n_{t,d} \sim \mathrm{NegBin}(\lambda_t p_{t,d}, \phi)`.

    The model's own prior on the first log intensity is a normal of sd 3 around the
    log mean reported count, nearly flat where the data are; the simulator draws it
    from :math:`N(\log \lambda_0, s_0^2)` (``start_intensity``, ``start_log_sd``), a
    prior the data of the complete first periods dominate.

    Returns
    -------
    line list (columns ``event``, ``report``), eventual counts ``E`` (n_periods,) and
    the drawn truth: ``intensity_sd``, ``delay_drift_sd``, ``inv_sqrt_dispersion``,
    ``logit_hazard`` (D,) (:math:`\beta`), ``delay_shift`` (T,) (:math:`\gamma`),
    ``intensity`` (T,), ``delay_pmf`` (T, D + 1), ``cells`` (T, D + 1).
    """
    if n_periods < 1 or max_delay < 0:
        raise DataValidationError(
            f"n_periods={n_periods}, max_delay={max_delay}: expected >= 1 and >= 0.")
    t_n, d = int(n_periods), int(max_delay)
    sd_l = abs(rng.normal(0.0, intensity_drift))
    log_lam = np.log(start_intensity) + start_log_sd * rng.normal()
    log_lam = log_lam + np.concatenate([[0.0], np.cumsum(sd_l * rng.normal(size=t_n - 1))])
    sd_g = abs(rng.normal(0.0, delay_drift)) if delay_drift > 0 and t_n > 1 else 0.0
    steps = sd_g * rng.normal(size=t_n - 1)
    gamma = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    j = np.arange(d)
    centre = np.log(1.0 / (d + 1 - j)) - np.log1p(-1.0 / (d + 1 - j))
    beta = centre + hazard_prior_sd * rng.normal(size=d)
    h = 1.0 / (1.0 + np.exp(-(beta[None, :] + gamma[:, None])))  # (T, D)
    surv = np.concatenate([np.ones((t_n, 1)), np.cumprod(1.0 - h, axis=1)], axis=1)
    pmf = np.concatenate([h * surv[:, :d], surv[:, d:]], axis=1)
    inv = abs(rng.normal())
    phi = 1.0 / (inv * inv + 1e-6)
    lam = np.exp(log_lam)
    frailty = rng.gamma(phi, 1.0 / phi, size=pmf.shape)
    cells = rng.poisson(lam[:, None] * pmf * frailty).astype(np.int64)
    truth = {"intensity_sd": sd_l, "delay_drift_sd": sd_g, "inv_sqrt_dispersion": inv,
             "logit_hazard": beta, "delay_shift": gamma, "intensity": lam, "delay_pmf": pmf,
             "cells": cells}
    return _line_list(cells, pd.Timestamp(start)), cells.sum(axis=1), truth
