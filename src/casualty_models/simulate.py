"""Simulators: data with a known truth, for recovery checks, calibration and examples.

Every simulator takes a ``random_seed`` (an int or a NumPy ``Generator``) and
returns the library's own containers, so that a simulated dataset goes
through exactly the validation real data do.

- :func:`simulate_table`: a capture table from latent classes of known sizes
  (lists independent within a class), the model of
  :class:`~casualty_models.models.latent_class.LatentClass`.
- :func:`simulate_line_list`: a daily line list (event and report dates) with known
  intensity, delay and coverage, for the nowcast's calibration checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .containers import CaptureTable
from .errors import DataValidationError

__all__ = ["simulate_line_list", "simulate_table"]


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
    ev_days, delays = [], []
    for t, e in enumerate(eventual):
        cells = rng.multinomial(e, pmf[t] / pmf[t].sum())
        ev_days.append(np.full(e, t))
        delays.append(np.repeat(np.arange(pmf.shape[1]), cells))
    ev = np.concatenate(ev_days)
    dl = np.concatenate(delays)
    df = pd.DataFrame({"event": start_ts + pd.to_timedelta(ev, unit="D"),
                       "report": start_ts + pd.to_timedelta(ev + dl, unit="D")})
    return df, eventual.astype(np.int64), n_true.astype(np.int64)
