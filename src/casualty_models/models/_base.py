"""Shared machinery for model families: NUTS runs, seeding, draws of N.

Model classes hold configuration only; ``fit`` builds a fresh ``pm.Model``
each call (composition, never subclassing) and returns a
:class:`~casualty_models.results.Results`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..errors import DataValidationError
from ..results import Results


def check_sampling_args(draws: int, chains: int, tune: int | None = None) -> None:
    """Reject impossible sampler settings with a clear message."""
    for name, v, lo in (("draws", draws, 1), ("chains", chains, 1), ("tune", tune, 0)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise DataValidationError(
                f"{name}={v!r} is not allowed: expected an integer >= {lo}."
            )


#: NUTS implementations ``run_nuts`` can use (``nuts_sampler=``).
NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")

#: The default, chosen by measurement (``benchmarks/bench_nuts.py``): nutpie (Rust NUTS over
#: the PyMC model compiled with Numba) was 5-30x faster than PyMC's own sampler on every
#: model of the library and, unlike numpyro/blackjax, needs no JAX import (2-4 s).
DEFAULT_NUTS_SAMPLER = "nutpie"

#: Fits of at most this many seconds' expected work show no progress bar in ``"auto"`` mode.
_COMPILED_CACHE_SIZE = 32
_COMPILED: OrderedDict[str, Any] = OrderedDict()

_OPTIONS: ContextVar[dict[str, Any]] = ContextVar("casualty_models_sampling_options",
                                                  default={})


@contextmanager
def sampling_options(*, nuts_sampler: str | None = None,
                     progress: bool | None = None) -> Iterator[None]:
    """Set the NUTS implementation and progress display of every fit inside the block.

    Used by the command line (``--json`` turns progress off); an explicit
    ``nuts_sampler=``/``progress=`` argument of a ``fit`` still wins.
    """
    new = dict(_OPTIONS.get())
    if nuts_sampler is not None:
        new["nuts_sampler"] = _check_sampler(nuts_sampler)
    if progress is not None:
        new["progress"] = bool(progress)
    token = _OPTIONS.set(new)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _check_sampler(name: str) -> str:
    if name not in NUTS_SAMPLERS:
        raise DataValidationError(
            f"nuts_sampler={name!r} is unknown: expected one of {list(NUTS_SAMPLERS)}."
        )
    return name


def resolve_nuts_sampler(nuts_sampler: str | None) -> str:
    """The sampler a fit will use: the argument, else the block's option, else the default."""
    if nuts_sampler is None:
        nuts_sampler = _OPTIONS.get().get("nuts_sampler", DEFAULT_NUTS_SAMPLER)
    return _check_sampler(nuts_sampler)


def _progress(progress: bool | None) -> bool:
    if progress is None:
        progress = _OPTIONS.get().get("progress")
    if progress is None:  # auto: only where a person watches a terminal
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def graph_key(model: Any) -> str:
    """A key identifying ``model``'s log density: structure, constants and coordinates.

    Two models with the same key have the same compiled log density (``pm.Data``
    containers are shared variables, excluded: they are swapped in per fit), so the
    compiled sampler can be re-used across fits that build a fresh but identical graph
    (strata, sensitivity grids, backtests).
    """
    import hashlib

    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.printing import debugprint

    logp = model.logp()
    h = hashlib.sha256()
    h.update(debugprint(logp, file="str", print_type=True).encode())
    for var in ancestors([logp]):
        if isinstance(var, Constant):
            data = np.asarray(var.data)
            h.update(str((data.dtype, data.shape)).encode())
            h.update(np.ascontiguousarray(data).tobytes())
    for v in model.value_vars:
        h.update(f"{v.name}:{v.type}".encode())
    h.update(repr(sorted((k, tuple(map(str, c)) if c is not None else None)
                         for k, c in model.coords.items())).encode())
    h.update(repr(sorted(model.named_vars_to_dims.items())).encode())
    h.update(repr(sorted(model.named_vars)).encode())
    return h.hexdigest()


def _nutpie_compiled(model: Any) -> Any:
    """Compile ``model`` for nutpie, or take it from the in-process cache."""
    import nutpie

    key = graph_key(model)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = nutpie.compile_pymc_model(model, backend="numba")
        _COMPILED[key] = compiled
        while len(_COMPILED) > _COMPILED_CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    data = {name: np.asarray(var.get_value()) for name, var in model.data_vars_items()} \
        if hasattr(model, "data_vars_items") else _shared_data(model)
    return compiled.with_data(**data) if data else compiled


def _shared_data(model: Any) -> dict[str, np.ndarray]:
    from pytensor.compile.sharedvalue import SharedVariable

    return {name: np.asarray(var.get_value()) for name, var in model.named_vars.items()
            if isinstance(var, SharedVariable)}


def run_nuts(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    target_accept: float = 0.9,
    cores: int | None = None,
    nuts_sampler: str | None = None,
    progress: bool | None = None,
) -> tuple[Any, float]:
    """Sample ``model`` with NUTS and return the DataTree and wall seconds.

    Parameters
    ----------
    nuts_sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, optional
        Default :data:`DEFAULT_NUTS_SAMPLER` (``"nutpie"``) or the value set by
        :func:`sampling_options`.  Named explicitly, never left to PyMC (which
        silently picks nutpie when it is installed).
    cores : int, optional
        Chains run in parallel.  nutpie runs chains on threads (default: up to 2);
        each chain has its own seed derived from ``random_seed``, so the draws do
        not depend on the thread layout.  PyMC's sampler runs them one after another
        by default: its process pool costs more than it saves on our small models,
        and forking a process that runs Numba or BLAS threads risks deadlocks.
    progress : bool, optional
        Progress bar; default on only when standard error is a terminal.

    Notes
    -----
    nutpie models are compiled once per distinct graph (:func:`graph_key`) and kept
    in an in-process cache, so refits of the same structure skip compilation.
    """
    sampler = resolve_nuts_sampler(nuts_sampler)
    show = _progress(progress)
    if random_seed is None:  # a seed is always passed down, so a fit is repeatable
        random_seed = int(np.random.SeedSequence().generate_state(1)[0])
    t0 = time.perf_counter()
    if sampler == "nutpie":
        import nutpie

        compiled = _nutpie_compiled(model)
        tree = nutpie.sample(
            compiled, draws=draws, tune=tune, chains=chains,
            cores=min(chains, 2) if cores is None else cores,
            seed=int(random_seed) % (2**63), save_warmup=False, progress_bar=show,
            target_accept=target_accept,
        )
        return _stamp(_standard_tree(tree), sampler, random_seed), time.perf_counter() - t0
    import pymc as pm

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)  # convergence is checked by Results, not log lines
    try:
        with model:
            tree = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=1 if cores is None else cores,
                random_seed=random_seed,
                nuts_sampler=sampler,
                progressbar=show,
                target_accept=target_accept,
                compute_convergence_checks=False,
            )
    finally:
        logger.setLevel(level)
    return _stamp(tree, sampler, random_seed), time.perf_counter() - t0


def _stamp(tree: Any, sampler: str, seed: int) -> Any:
    """Record the NUTS implementation and the seed it got (kept by ``build_datatree``)."""
    import xarray as xr

    if "sample_stats" not in tree.children:
        tree["sample_stats"] = xr.DataTree()
    tree["sample_stats"].attrs.update({"nuts_sampler": sampler, "nuts_seed": int(seed)})
    return tree


def _standard_tree(tree: Any) -> Any:
    """Keep the groups the library uses: posterior and sample_stats (``diverging``)."""
    import xarray as xr

    groups = {}
    for name in ("posterior", "sample_stats"):
        if name in tree.children:
            ds = tree[name].to_dataset(inherit=False)
            if name == "sample_stats":
                keep = [v for v in ("diverging", "tree_depth", "n_steps", "step_size",
                                    "energy", "logp") if v in ds]
                ds = ds[keep]
            groups[f"/{name}"] = ds
    return xr.DataTree.from_dict(groups)


def nuts_results(tree: Any, *, chains: int) -> Results:
    """Wrap a NUTS fit's tree as :class:`Results` and check its convergence.

    Every NUTS ``fit`` ends here, so a fit called from Python warns
    (:class:`~casualty_models.errors.ConvergenceWarning`) as the command line does.
    The API flags clear failures, the thresholds at which intervals are not to be
    trusted at all: r-hat above :data:`FIT_R_HAT_MAX`, bulk or tail ESS of the total
    below :data:`FIT_ESS_PER_CHAIN` per chain, or any divergent transition.  The
    command line applies the stricter reporting thresholds (r-hat 1.01, ESS 400).
    """
    if "sample_stats" in tree.children:
        for k in ("nuts_sampler", "nuts_seed"):
            if k in tree["sample_stats"].attrs:
                tree.attrs[k] = tree["sample_stats"].attrs[k]
    res = Results(tree)
    res.check_convergence(r_hat_max=FIT_R_HAT_MAX, ess_min=FIT_ESS_PER_CHAIN * chains)
    return res


#: r-hat above which a fit warns from the API (Vehtari et al. 2021 recommend 1.01 for
#: final results; 1.05 flags chains that clearly disagree without crying wolf on short
#: exploratory fits).
FIT_R_HAT_MAX = 1.05
#: bulk/tail ESS of the total per chain below which a fit warns from the API.
FIT_ESS_PER_CHAIN = 25


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
