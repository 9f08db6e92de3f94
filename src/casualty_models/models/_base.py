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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataValidationError
from ..results import Results
from ..validation import check_int, check_seed


def check_sampling_args(draws: int, chains: int, tune: int | None = None,
                        random_seed: Any = None) -> None:
    """Reject impossible sampler settings with a clear message (``ConfigurationError``)."""
    check_int("draws", draws, low=1)
    check_int("chains", chains, low=1)
    if tune is not None:
        check_int("tune", tune, low=0)
    check_seed(random_seed, "random_seed")


#: NUTS implementations ``run_nuts`` can use (``nuts_sampler=``).
NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")

#: The default, chosen by measurement (``benchmarks/bench_nuts.py``): nutpie (Rust NUTS over
#: the PyMC model compiled with Numba) was 5-30x faster than PyMC's own sampler on every
#: model of the library and, unlike numpyro/blackjax, needs no JAX import (2-4 s).
DEFAULT_NUTS_SAMPLER = "nutpie"

#: Fits of at most this many seconds' expected work show no progress bar in ``"auto"`` mode.
_COMPILED_CACHE_SIZE = 32
_COMPILED: OrderedDict[str, Any] = OrderedDict()

_OPTIONS: ContextVar[dict[str, Any] | None] = ContextVar("casualty_models_sampling_options",
                                                         default=None)


@contextmanager
def sampling_options(*, nuts_sampler: str | None = None, progress: bool | None = None,
                     cores: int | None = None) -> Iterator[None]:
    """Set the NUTS implementation, progress display and threads of every fit inside the block.

    Used by the command line (``--json`` turns progress off); an explicit
    ``nuts_sampler=``/``progress=`` argument of a ``fit`` still wins.
    """
    new = dict(_OPTIONS.get() or {})
    if nuts_sampler is not None:
        new["nuts_sampler"] = _check_sampler(nuts_sampler)
    if progress is not None:
        new["progress"] = bool(progress)
    if cores is not None:
        new["cores"] = int(cores)
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
        nuts_sampler = (_OPTIONS.get() or {}).get("nuts_sampler", DEFAULT_NUTS_SAMPLER)
    return _check_sampler(nuts_sampler)


def _progress(progress: bool | None) -> bool:
    if progress is None:
        progress = (_OPTIONS.get() or {}).get("progress")
    if progress is None:  # auto: only where a person watches a terminal
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _run_settings(progress: bool | None, cores: int | None,
                  random_seed: int | None) -> tuple[bool, int | None, int]:
    """Progress display, threads and seed of a NUTS run (arguments, else the block's options).

    A seed is always passed down (drawn here if none was given), so a fit is repeatable.
    """
    if cores is None:
        cores = (_OPTIONS.get() or {}).get("cores")
    if random_seed is None:
        random_seed = int(np.random.SeedSequence().generate_state(1)[0])
    return _progress(progress), cores, int(random_seed)


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
    h.update(str(debugprint(logp, file="str", print_type=True)).encode())
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
    show, cores, random_seed = _run_settings(progress, cores, random_seed)
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


#: C signatures nutpie calls (its numba backend's): ``logp(dim, x, grad, logp, data)`` and
#: ``expand(dim, n_expanded, x, out, data)``, returning 0 on success.
KERNEL_LOGP_SIGNATURE = ("int64(uint64, CPointer(float64), CPointer(float64), CPointer(float64), "
                         "CPointer(float64))")
KERNEL_EXPAND_SIGNATURE = "int64(uint64, uint64, CPointer(float64), CPointer(float64), CPointer(float64))"


@dataclass(frozen=True)
class DensityKernel:
    """A log density written by hand as Numba C callbacks, sampled by nutpie.

    For models whose PyTensor graph takes far longer to compile than to sample
    (the nowcast: about 100 s of Numba compilation for 2 s of sampling), the
    log density and its gradient are written out as Numba functions cached on
    disk (``cache=True``: a new process loads machine code instead of
    compiling).  nutpie's Rust sampler calls them directly, without the GIL,
    as it calls the functions it compiles from PyMC models.  The arithmetic is
    fixed by the source, so draws do not depend on graph rewrites, compile
    caches or thread layout.

    Attributes
    ----------
    n_dim : int
        Length of the unconstrained parameter vector.
    logp : numba CFunc
        :data:`KERNEL_LOGP_SIGNATURE`; writes the gradient and the log density.
    data : float64 array
        Everything the callbacks read (layout, constants, counts), passed as
        their last argument; a new fit with other counts passes another array
        to the same compiled callbacks.
    names, shapes, dims : the expanded variables' names, shapes and dims.
    coords : dict of dim -> labels.
    initial_point : callable
        ``seed -> x0``, a start for each chain (deterministic in the seed).
    adaptation : {"diag", "low_rank"}
        nutpie's mass-matrix adaptation; ``"low_rank"`` (diagonal plus the
        leading eigenvectors of the draws' covariance) suits posteriors with a
        few strongly correlated directions, such as random walks.
    expand : numba CFunc, optional
        :data:`KERNEL_EXPAND_SIGNATURE`; writes the ``n_expanded`` values of the
        posterior variables of one draw, in ``names`` order, each C-ordered.
    derive : callable, optional
        Instead of ``expand`` (exactly one is given): ``(draws, data) -> {name:
        array}``, the posterior variables of the unconstrained draws (chain,
        draw, n_dim), computed in Python after sampling.  It spares Numba a
        second callback to compile on a first run.
    """

    n_dim: int
    logp: Any
    data: np.ndarray
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, Any]
    initial_point: Any
    adaptation: str = "diag"
    expand: Any = None
    derive: Any = None

    def __post_init__(self) -> None:
        if (self.expand is None) == (self.derive is None):
            raise ValueError("a DensityKernel needs exactly one of expand and derive")

    @property
    def n_expanded(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.shapes))


def _kernel_model(kernel: DensityKernel) -> Any:
    """The compiled-model object nutpie samples, over our callbacks (its numba path)."""
    import pandas as pd
    from nutpie import _lib
    from nutpie.sample import CompiledModel

    data = np.ascontiguousarray(kernel.data, dtype=np.float64)
    if kernel.derive is None:
        expand_fn, n_out = kernel.expand, kernel.n_expanded
        names, shapes, dims = kernel.names, kernel.shapes, kernel.dims
        coords = {k: pd.Index(v) for k, v in kernel.coords.items()}  # nutpie's type
    else:  # nutpie stores the unconstrained draws; derive() names them afterwards
        from ._kernel_identity import identity_expand

        expand_fn, n_out = identity_expand, kernel.n_dim
        names, shapes = (_UNCONSTRAINED,), ((kernel.n_dim,),)
        dims = {_UNCONSTRAINED: (_UNCONSTRAINED,)}
        coords = {_UNCONSTRAINED: pd.Index(np.arange(kernel.n_dim))}

    @dataclass(frozen=True)
    class _Compiled(CompiledModel):
        @property
        def n_dim(self) -> int:
            return kernel.n_dim

        @property
        def shapes(self) -> dict[str, tuple[int, ...]]:
            return dict(zip(names, shapes, strict=True))

        @property
        def coords(self) -> dict[str, Any]:
            return coords

        def _make_sampler(self, settings: Any, init_mean: Any, cores: int, progress_type: Any,
                          extra_callback: Any, extra_callback_rate: Any, store: Any) -> Any:
            return _lib.PySampler.from_pymc(settings, cores, self._make_model(init_mean),
                                            progress_type, extra_callback,
                                            extra_callback_rate, store)

        def _make_model(self, init_mean: Any) -> Any:
            expand = _lib.ExpandFunc(kernel.n_dim, n_out, expand_fn.address,
                                     data.ctypes.data, (self, data))
            logp = _lib.LogpFunc(kernel.logp.address, data.ctypes.data, (self, data))
            dim_sizes = {k: len(v) for k, v in coords.items()}
            variables = _lib.PyVariable.new_variables(
                list(names), ["float64"] * len(names), [tuple(s) for s in shapes],
                dim_sizes, dims)
            return _lib.PyMcModel(logp, expand, variables, kernel.n_dim, dim_sizes,
                                  coords, kernel.initial_point, None)

    return _Compiled(dims=dims)


def run_kernel_nuts(
    kernel: DensityKernel,
    *,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    target_accept: float = 0.9,
    cores: int | None = None,
    progress: bool | None = None,
) -> tuple[Any, float]:
    """Sample a :class:`DensityKernel` with nutpie; the DataTree and wall seconds.

    The same contract as :func:`run_nuts` (``posterior`` and ``sample_stats``
    groups, ``nuts_sampler``/``nuts_seed`` recorded, ``log_density`` =
    ``"numba kernel"``); each chain's start and stream derive from
    ``random_seed`` alone.
    """
    import nutpie

    show, cores, random_seed = _run_settings(progress, cores, random_seed)
    t0 = time.perf_counter()
    tree = nutpie.sample(
        _kernel_model(kernel), draws=draws, tune=tune, chains=chains,
        cores=min(chains, 2) if cores is None else cores,
        seed=int(random_seed) % (2**63), save_warmup=False, progress_bar=show,
        target_accept=target_accept, adaptation=kernel.adaptation,
    )
    tree = _standard_tree(tree)
    if kernel.derive is not None:
        tree["posterior"] = _derived_posterior(kernel, tree["posterior"].to_dataset())
    tree = _stamp(tree, "nutpie", random_seed)
    tree["sample_stats"].attrs["log_density"] = "numba kernel"
    return tree, time.perf_counter() - t0


#: Name (and dim) of the unconstrained draws nutpie stores for a kernel with ``derive``.
_UNCONSTRAINED = "unconstrained"


def _derived_posterior(kernel: DensityKernel, raw: Any) -> Any:
    """The posterior variables of a ``derive`` kernel, from its unconstrained draws."""
    import xarray as xr

    values = kernel.derive(raw[_UNCONSTRAINED].transpose("chain", "draw", ...).values,
                           kernel.data)
    base = {"chain": raw["chain"].values, "draw": raw["draw"].values}
    out = {}
    for name, shape in zip(kernel.names, kernel.shapes, strict=True):
        arr = np.asarray(values[name], dtype=np.float64)
        dims = kernel.dims.get(name, ())
        if arr.shape[2:] != tuple(shape) or len(dims) != len(shape):
            raise RuntimeError(f"derive() gave {name} with shape {arr.shape[2:]}, expected "
                               f"{tuple(shape)} over dims {dims}")  # a kernel's own bug
        out[name] = xr.Variable(("chain", "draw", *dims), arr)
    coords = {**base, **{k: v for k, v in kernel.coords.items()
                         if any(k in kernel.dims.get(n, ()) for n in kernel.names)}}
    return xr.Dataset(out, coords=coords)


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


def nuts_results(tree: Any) -> Results:
    """Wrap a NUTS fit's tree as :class:`Results` and check its convergence.

    Every NUTS ``fit`` ends here, so a fit called from Python warns
    (:class:`~casualty_models.errors.ConvergenceWarning`) as the command line does.
    The API flags clear failures, the thresholds at which intervals are not to be
    trusted at all: r-hat above :data:`FIT_R_HAT_MAX`, bulk or tail ESS of the total
    below :data:`FIT_ESS_PER_CHAIN` per chain, or any divergent transition.  The
    command line applies the stricter reporting thresholds (r-hat 1.01, ESS 400).
    Exact samplers pass through unchecked.
    """
    if "sample_stats" in tree.children:
        for k in ("nuts_sampler", "nuts_seed"):
            if k in tree["sample_stats"].attrs:
                tree.attrs[k] = tree["sample_stats"].attrs[k]
    res = Results(tree)
    chains = int(tree["posterior"].sizes.get("chain", 1))
    res.check_convergence(r_hat_max=FIT_R_HAT_MAX, ess_min=FIT_ESS_PER_CHAIN * chains)
    return res


#: r-hat above which a fit warns from the API: chains that clearly disagree (the classic
#: 1.1 of Gelman & Rubin).  Vehtari et al. (2021) ask 1.01 of results to report, which the
#: command line applies; on a short exploratory fit, the max over hundreds of parameters
#: exceeds 1.01 by chance alone.
FIT_R_HAT_MAX = 1.1
#: bulk/tail ESS of the total per chain below which a fit warns from the API.
FIT_ESS_PER_CHAIN = 25


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
