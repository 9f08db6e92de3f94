"""Shared machinery for model families: NUTS runs, seeding, draws of N.

Model classes hold configuration only; ``fit`` builds a fresh ``pm.Model``
each call (composition, never subclassing) and returns a
:class:`~casualty_models.results.Results`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..errors import DataValidationError
from ..validation import check_int, check_seed


def check_sampling_args(draws: int, chains: int, tune: int | None = None,
                        random_seed: Any = None) -> None:
    """Reject impossible sampler settings with a clear message (``ConfigurationError``)."""
    check_int("draws", draws, low=1)
    check_int("chains", chains, low=1)
    if tune is not None:
        check_int("tune", tune, low=0)
    check_seed(random_seed, "random_seed")


def run_nuts(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    target_accept: float = 0.9,
    cores: int = 1,
) -> tuple[Any, float]:
    """Sample ``model`` with PyMC's own NUTS and return the DataTree and wall seconds.

    The sampler is named explicitly so that nutpie, if installed, is never picked silently.
    Chains run one after another by default (``cores=1``): for the library's small models
    PyMC's process pool costs more than it saves (two-list model, 4 x 1,000 draws: 3.6 s
    sequential against 7.7 s on two processes), and forking a process that already runs
    Numba or BLAS threads risks deadlocks.
    """
    import pymc as pm

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)  # convergence is checked by Results, not log lines
    t0 = time.perf_counter()
    try:
        with model:
            tree = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=random_seed,
                nuts_sampler="pymc",
                progressbar=False,
                target_accept=target_accept,
                compute_convergence_checks=False,
            )
    finally:
        logger.setLevel(level)
    return tree, time.perf_counter() - t0


#: Largest total a draw may reach: int64 holds 9.2e18; 2**62 (4.6e18) leaves room to add a
#: draw's cells (strata, periods) and its observed count without overflow.
MAX_DRAW_TOTAL = 2**62
#: Standard deviations above the negative binomial's mean covered by the overflow check.
_OVERFLOW_SDS = 12.0


def check_draw_bound(observed: np.ndarray, detect: np.ndarray) -> None:
    r"""Refuse draws of :math:`N = n + \mathrm{NegBin}(n, q)` that could overflow int64.

    The bound is checked per draw on the sum over its cells (all axes after the
    first two, ``(chain, draw)``) of :math:`n + \mu + 12\sigma`, with
    :math:`\mu = n(1-q)/q` and :math:`\sigma = \sqrt{n(1-q)}/q`: a huge count, or a
    detection probability (coverage) near 0, is a clear error rather than
    negative or wrapped-around draws.
    """
    n = np.broadcast_to(np.asarray(observed, dtype=float), np.shape(detect))
    q = np.clip(np.asarray(detect, dtype=float), 1e-300, 1.0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        hi = n + n * (1.0 - q) / q + _OVERFLOW_SDS * np.sqrt(n * (1.0 - q)) / q
    hi = np.where(n > 0, hi, 0.0)
    per_draw = hi.reshape(hi.shape[:2] + (-1,)).sum(axis=-1) if hi.ndim > 2 else hi
    if not np.all(per_draw <= MAX_DRAW_TOTAL):  # also catches inf/nan
        cell = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(hi), hi, np.inf))),
                                hi.shape)
        raise DataValidationError(
            f"a count of {n[cell]:,.0f} with detection probability (coverage) {q[cell]:.3g} "
            f"gives totals up to {float(np.max(per_draw)):.3g}, beyond the largest total a "
            f"draw can hold ({float(MAX_DRAW_TOTAL):.3g}, int64 with room for sums). Fix: "
            "check the counts' units (no count of deaths is this large), or use a coverage "
            "or capture prior bounded away from 0 (e.g. BetaPrior.from_interval(low, high))."
        )


def negbin_unobserved(
    rng: np.random.Generator, observed: np.ndarray, detect: np.ndarray
) -> np.ndarray:
    r"""Draw the unobserved count given detection probabilities.

    With :math:`p(N) \propto 1/N` and :math:`n \mid N \sim \mathrm{Bin}(N, q)`,
    :math:`N - n \mid n, q \sim \mathrm{NegBin}(n, q)`: the number of failures
    before the ``n``-th success.  Cells with ``n = 0`` get 0 (their posterior is
    degenerate at zero under this prior).

    Parameters
    ----------
    observed : int array broadcastable against ``detect``
    detect : float array in (0, 1], shape of the draws; axes 0 and 1 are
        ``(chain, draw)`` when there are more than two

    Raises
    ------
    DataValidationError
        If the draws could exceed :data:`MAX_DRAW_TOTAL` (see :func:`check_draw_bound`).
    """
    check_draw_bound(observed, detect)
    n = np.broadcast_to(observed, detect.shape)
    q = np.clip(detect, 1e-300, 1.0)
    out = np.zeros(detect.shape, dtype=np.int64)
    pos = n > 0
    out[pos] = rng.negative_binomial(n[pos], q[pos])
    return out
