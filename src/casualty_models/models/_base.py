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
    detect : float array in (0, 1], shape of the draws
    """
    n = np.broadcast_to(observed, detect.shape)
    q = np.clip(detect, 1e-300, 1.0)
    out = np.zeros(detect.shape, dtype=np.int64)
    pos = n > 0
    out[pos] = rng.negative_binomial(n[pos], q[pos])
    return out
