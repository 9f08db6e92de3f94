r"""Many fits on a :class:`concurrent.futures.Executor`: local processes or dask.distributed.

Every many-fit operation of the library (sensitivity grids, simulation and
coverage studies, per-stratum fits) hands its runs to :func:`map_runs`, which
submits them to an executor and gathers what they return:

- ``executor=None``: a local pool of processes, one per core, started with
  the ``forkserver`` (or ``spawn``) method, never ``fork``: forking a process
  that already runs Numba or BLAS threads can deadlock the child.
- ``"serial"`` or ``1``: in this process, one run after another.
- an integer ``n``: a local pool of ``n`` processes.
- a scheduler address such as ``"tcp://10.0.0.5:8786"``: a
  ``dask.distributed.Client`` is connected and its executor used.
- any :class:`~concurrent.futures.Executor`, e.g. ``client.get_executor()``
  of a dask ``Client``: used as given (and not shut down).

Reproducibility: each run's seed derives from the base seed and the run's
settings only (:func:`run_seed`), never from the order in which runs are
submitted or complete, so results are identical whatever the executor and
the number of workers.  A run that raises is reported with its settings and
the error (status ``"error"``); a run whose worker died is resubmitted up to
``retries`` times and reported as ``"lost"`` if it never comes back.  The
other runs are kept in both cases.

Workers return what the run function returns (summaries, not whole traces):
keep it small, since it is pickled back to the caller.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as _wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import CasualtyModelsError, DataValidationError

__all__ = [
    "RunOutcome",
    "SerialExecutor",
    "canonical_settings",
    "coverage_study",
    "gather",
    "local_executor",
    "map_runs",
    "named_error",
    "open_executor",
    "run_seed",
]

#: Environment variables that cap BLAS / OpenMP / Numba threads in a worker process.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS")


# ------------------------------------------------------------------ seeds
def _canon(x: Any) -> Any:
    """JSON-ready form of a setting value (tuples as lists, NumPy scalars as Python)."""
    if hasattr(x, "item") and not isinstance(x, list | tuple | dict):
        try:
            x = x.item()
        except (ValueError, TypeError):
            pass
    if isinstance(x, Mapping):
        return {str(k): _canon(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_canon(v) for v in x]
    if hasattr(x, "to_dict"):
        return _canon(x.to_dict())
    return x


def canonical_settings(settings: Mapping[str, Any]) -> str:
    """Canonical JSON text of a run's settings: sorted keys, tuples as lists.

    Two runs with equal settings have equal text whatever the order in which
    the settings were given.
    """
    return json.dumps(_canon(dict(settings)), sort_keys=True, separators=(",", ":"),
                      default=repr)


def run_seed(base_seed: int, settings: Mapping[str, Any]) -> int:
    """Seed of one run: a function of the base seed and the run's settings only.

    ``SeedSequence([base_seed, *sha256(canonical settings)])`` gives a 32-bit
    seed; it does not depend on the position of the run in a grid, on the
    other runs, or on the order of completion.

    Examples
    --------
    >>> run_seed(1, {"delta": 0.5, "classes": 10}) == run_seed(1, {"classes": 10, "delta": 0.5})
    True
    """
    import numpy as np

    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise DataValidationError(
            f"random_seed={base_seed!r} is not allowed: expected an integer >= 0 (every run's "
            "seed derives from it)."
        )
    digest = hashlib.sha256(canonical_settings(settings).encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    ss = np.random.SeedSequence([int(base_seed), *words])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


# ------------------------------------------------------------------ runs
@dataclass
class RunOutcome:
    """What happened to one run.

    Attributes
    ----------
    index : int
        Position of the run in the submitted sequence.
    settings : dict
        The run's settings (as given).
    seed : int or None
        The seed the run used.
    status : {"ok", "error", "lost"}
        ``"error"``: the run raised (``error`` holds the message);
        ``"lost"``: its worker died or the executor broke, even after retries.
    value : object
        What the run function returned (``None`` unless ``"ok"``).
    warnings : list of str
        Warnings the run emitted, ``"Category: message"``.
    warning_records : list of (category, message)
        The same warnings with their classes (:func:`gather` re-emits them).
    exception : Exception or None
        What the run raised (``status == "error"``).
    wall_time : float
        Seconds the run took on its worker.
    cpu_time : float
        CPU seconds of the worker process during the run (all its threads): on a
        shared machine, the run's cost without the time other processes took.
    worker : str
        ``host:pid`` of the process that ran it.
    attempts : int
        Submissions needed (more than one after a lost worker).
    """

    index: int
    settings: dict[str, Any]
    seed: int | None
    status: str = "ok"
    value: Any = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    warning_records: list[tuple[type[Warning], str]] = field(default_factory=list)
    exception: Exception | None = None
    wall_time: float = math.nan
    cpu_time: float = math.nan
    worker: str = ""
    attempts: int = 1


def _worker_init() -> None:
    """Cap each worker process to one BLAS/OpenMP thread (the pool supplies the parallelism)."""
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")


_LOCAL = threading.local()
_HOOK_LOCK = threading.Lock()
_ORIGINAL_SHOW: list[Any] = []


def _dispatch_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` that sends a worker thread's warnings to its run."""
    sink = getattr(_LOCAL, "sink", None)
    if sink is None:
        _ORIGINAL_SHOW[-1](message, category, filename, lineno, file, line)
    else:
        sink.append(warnings.WarningMessage(message, category, filename, lineno, file, line))


@contextmanager
def _recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings of one run.

    In the main thread (serial runs, process pools) ``catch_warnings`` does it.  It
    changes process-wide state, so in a thread (a thread pool, a dask worker) a
    thread-local sink behind one shared ``showwarning`` is used instead; the
    process's warning filters then apply (in a dask worker they are set to show
    every warning).
    """
    if threading.current_thread() is threading.main_thread():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
        return
    with _HOOK_LOCK:
        if warnings.showwarning is not _dispatch_warning:
            _ORIGINAL_SHOW.append(warnings.showwarning)
            warnings.showwarning = _dispatch_warning
        if _in_dask_worker():
            warnings.simplefilter("always")  # the worker process is ours to configure
    sink: list[warnings.WarningMessage] = []
    _LOCAL.sink = sink
    try:
        yield sink
    finally:
        _LOCAL.sink = None


def _in_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _call(fn: Callable[[dict[str, Any], int | None], Any], index: int,
          settings: dict[str, Any], seed: int | None, attempt: int = 1) -> RunOutcome:
    """Run ``fn(settings, seed)`` on a worker, catching its warnings and errors.

    ``attempt`` only makes a resubmission a different task for executors that
    name tasks by their arguments (dask's ``pure`` tasks).
    """
    out = RunOutcome(index=index, settings=settings, seed=seed,
                     worker=f"{socket.gethostname()}:{os.getpid()}")
    t0, c0 = time.perf_counter(), time.process_time()
    with _recorded_warnings() as caught:
        try:
            out.value = fn(settings, seed)
        except Exception as exc:  # a failed run is reported, never raised
            out.status = "error"
            out.exception = exc if _picklable(exc) else None
            out.error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, CasualtyModelsError):
                out.error += "\n" + "".join(traceback.format_exception(exc)[-3:])
    out.wall_time = time.perf_counter() - t0
    out.cpu_time = time.process_time() - c0
    seen: set[str] = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            out.warnings.append(text)
            out.warning_records.append((w.category, str(w.message)))
    return out


def _picklable(x: Any) -> bool:
    """Whether ``x`` can travel back from a worker (else only its text does)."""
    import pickle

    try:
        pickle.dumps(x)
    except Exception:  # any pickling failure means "send the text only"
        return False
    return True


class SerialExecutor(Executor):
    """An executor that runs each submitted call at once, in this process.

    Useful for debugging and for runs so cheap that starting processes would
    cost more than the fits.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` now and return a finished future."""
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as any executor does
            fut.set_exception(exc)
        return fut


def local_executor(workers: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` local processes (default: one per core).

    Uses the ``forkserver`` start method where available, else ``spawn``:
    never ``fork``, which can deadlock a child of a process that already runs
    Numba or BLAS threads.  Each worker is capped to one BLAS thread.
    """
    import multiprocessing as mp

    n = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataValidationError(f"workers={workers!r} is not allowed: expected an integer >= 1.")
    ctx: Any
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # the server imports the library once (no threads running yet); each worker is a
        # fork of it, so a new worker starts in milliseconds instead of re-importing
        ctx.set_forkserver_preload(["casualty_models.sensitivity"])
    else:  # pragma: no cover - Windows, macOS without forkserver
        ctx = mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init)


def _is_address(text: str) -> bool:
    return "://" in text or (":" in text and text.rsplit(":", 1)[1].isdigit())


@dataclass
class _Handle:
    """An executor plus whether (and how) this module must shut it down."""

    executor: Executor
    description: str
    owned: bool = False
    client: Any = None
    workers: int | None = None

    def close(self) -> None:
        if not self.owned:
            return
        if self.client is not None:
            self.client.close()
        else:
            self.executor.shutdown(wait=True, cancel_futures=True)


def open_executor(executor: Any = None, *, timeout: float = 10.0) -> _Handle:
    """Resolve the ``executor=`` argument of the many-fit functions.

    Parameters
    ----------
    executor : None, "serial", "processes", int, str address, Executor or dask Client
        See the module docstring.
    timeout : float, default 10
        Seconds to wait for a dask scheduler before giving up.

    Raises
    ------
    DataValidationError
        For an unknown value, or a scheduler that cannot be reached.
    """
    if executor is None or executor == "processes":
        n = os.cpu_count() or 1
        return _Handle(local_executor(n), f"local processes ({n})", owned=True, workers=n)
    if isinstance(executor, str) and executor == "serial":
        return _Handle(SerialExecutor(), "serial", owned=True, workers=1)
    if isinstance(executor, int) and not isinstance(executor, bool):
        if executor == 1:
            return _Handle(SerialExecutor(), "serial", owned=True, workers=1)
        return _Handle(local_executor(executor), f"local processes ({executor})", owned=True,
                       workers=executor)
    if isinstance(executor, str) and _is_address(executor):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - dask is a declared dependency
            raise DataValidationError(
                f"scheduler {executor!r} needs dask.distributed: pip install distributed."
            ) from None
        try:
            client = Client(executor, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise DataValidationError(
                f"cannot reach the dask scheduler at {executor!r} within {timeout:g} s ({exc}). "
                "Fix: start one (dask scheduler; dask worker ADDRESS) or check the address."
            ) from None
        return _Handle(client.get_executor(pure=False), f"dask scheduler {executor}",
                       owned=True, client=client,
                       workers=len(client.scheduler_info().get("workers", {})) or None)
    if hasattr(executor, "get_executor") and hasattr(executor, "scheduler_info"):
        return _Handle(executor.get_executor(pure=False),
                       f"dask client {executor.scheduler.address}",
                       workers=len(executor.scheduler_info().get("workers", {})) or None)
    if isinstance(executor, Executor):
        return _Handle(executor, type(executor).__name__,
                       workers=getattr(executor, "_max_workers", None))
    raise DataValidationError(
        f"executor={executor!r} is not allowed: expected None (local processes, one per "
        "core), 'serial', a number of worker processes, a dask scheduler address "
        "('tcp://host:8786'), a dask Client, or a concurrent.futures.Executor."
    )


def _replace_pool(handle: _Handle) -> bool:
    """After a broken local pool, start a new one (only for pools this module owns)."""
    if not handle.owned or not isinstance(handle.executor, ProcessPoolExecutor):
        return False
    handle.executor.shutdown(wait=False, cancel_futures=True)
    handle.executor = local_executor(handle.workers)
    return True


def map_runs(
    fn: Callable[[dict[str, Any], int | None], Any],
    settings: Sequence[Mapping[str, Any]],
    seeds: Sequence[int | None],
    *,
    executor: Any = None,
    retries: int = 1,
) -> tuple[list[RunOutcome], str]:
    """Run ``fn(settings[i], seeds[i])`` for every ``i`` on an executor.

    Parameters
    ----------
    fn : callable
        A picklable function (module-level, or a ``functools.partial`` of one)
        of ``(settings, seed)``.  Its return value is sent back to the caller:
        return summaries, not whole traces.
    settings, seeds : sequences of equal length
    executor : see :func:`open_executor`
    retries : int, default 1
        Resubmissions of a run whose worker died (a run that raises is not
        retried: it would raise again).

    Returns
    -------
    outcomes : list of RunOutcome
        In the order of ``settings``, whatever the order of completion.
    description : str
        The executor used (for provenance).
    """
    if len(settings) != len(seeds):
        raise ValueError("internal: one seed per run")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise DataValidationError(f"retries={retries!r}: expected an integer >= 0.")
    handle = open_executor(executor)
    results: list[RunOutcome | None] = [None] * len(settings)
    attempts = [0] * len(settings)
    last_error = [""] * len(settings)
    try:
        todo = list(range(len(settings)))
        while todo:
            pending: dict[Future[Any], int] = {}
            for i in todo:
                attempts[i] += 1
                try:
                    fut = handle.executor.submit(_call, fn, i, dict(settings[i]), seeds[i],
                                                 attempts[i])
                except RuntimeError as exc:  # a broken or shut-down pool refuses work
                    last_error[i] = f"{type(exc).__name__}: {exc}"
                    continue
                pending[fut] = i
            _wait(list(pending))
            again: list[int] = []
            broken = False
            for fut, i in pending.items():
                try:
                    out = fut.result()
                except Exception as exc:  # worker died, pool broke, task cancelled
                    last_error[i] = f"{type(exc).__name__}: {exc}"
                    broken = broken or "Broken" in type(exc).__name__
                    continue
                out.attempts = attempts[i]
                results[i] = out
            again = [i for i in todo if results[i] is None and attempts[i] <= retries]
            if again and broken and not _replace_pool(handle):
                break
            todo = again
    finally:
        handle.close()
    final: list[RunOutcome] = []
    for i, r in enumerate(results):
        if r is None:
            r = RunOutcome(index=i, settings=dict(settings[i]), seed=seeds[i], status="lost",
                           error=f"the worker running it was lost after {attempts[i]} "
                                 f"attempt(s): {last_error[i]}", attempts=attempts[i])
        final.append(r)
    return final, handle.description


def gather(outcomes: Sequence[RunOutcome], *, name: str | None = None) -> list[Any]:
    """The runs' values, for a caller that needs every run (e.g. one per stratum).

    Re-emits each run's warnings with their category (pointed at the caller's
    line) and raises the first failure: the run's own exception, or a
    :class:`~casualty_models.errors.CasualtyModelsError` naming a lost run.

    Parameters
    ----------
    outcomes : sequence of RunOutcome
    name : str, optional
        A setting that names each run (e.g. ``"stratum"``): a failure is then
        raised as ``"stratum 'north': <the error>"`` (the library's own error
        types are kept; any other exception becomes a
        :class:`~casualty_models.errors.CasualtyModelsError` chained to it).
    """
    from .errors import warn

    for o in outcomes:
        for category, message in o.warning_records:
            warn(message, category)
    for o in outcomes:
        if o.status == "ok":
            continue
        if name is None:
            if o.exception is not None:
                raise o.exception
            raise CasualtyModelsError(f"run {o.settings} was lost: {o.error}")
        where = f"{name} {o.settings.get(name)!r}"
        if o.status == "lost":
            raise CasualtyModelsError(f"{where} was lost: {o.error}")
        raise named_error(where, o.exception, o.error) from o.exception
    return [o.value for o in outcomes]


def named_error(where: str, exc: BaseException | None, text: str | None = None) -> Exception:
    """The error of a failed run, its message prefixed with the run's name (``where``).

    The library's own error types are kept; anything else becomes a
    :class:`~casualty_models.errors.CasualtyModelsError` (raise it ``from exc``).
    """
    text = text if text is not None else f"{type(exc).__name__}: {exc}"
    kind = type(exc) if isinstance(exc, CasualtyModelsError) else CasualtyModelsError
    try:
        return kind(f"{where}: {text}")
    except TypeError:  # a subclass with another constructor
        return CasualtyModelsError(f"{where}: {text}")


# ------------------------------------------------------ simulation studies
def _simulate_and_fit(model: Any, simulate: Callable[[Any], tuple[Any, float]],
                      fit_kwargs: dict[str, Any], method: str, settings: dict[str, Any],
                      seed: int | None) -> dict[str, Any]:
    import numpy as np

    from .sensitivity import summarize

    rng = np.random.default_rng([0 if seed is None else seed, 1])
    data, truth = simulate(rng)
    res = getattr(model, method)(data, **fit_kwargs, random_seed=seed)
    out = summarize(res)
    out["truth"] = float(truth)
    return out


def coverage_study(
    model: Any,
    simulate: Callable[[Any], tuple[Any, float]],
    n_datasets: int,
    *,
    executor: Any = None,
    random_seed: int = 0,
    fit_kwargs: Mapping[str, Any] | None = None,
    method: str = "fit",
    retries: int = 1,
) -> Any:
    """Fit a model to ``n_datasets`` simulated datasets and check its intervals.

    Parameters
    ----------
    model : a model instance (e.g. ``TwoList()``)
    simulate : callable ``rng -> (data, true_total)``
        A picklable (module-level) function that draws one dataset with the
        given :class:`numpy.random.Generator` and returns it with the true N.
    n_datasets : int
    executor : see :func:`open_executor`
    random_seed : int
        Dataset ``i`` and its fit use the seed ``run_seed(random_seed, {"replicate": i})``.
    fit_kwargs : mapping, optional
        Passed to the fit (``draws``, ``chains``, ...).

    Returns
    -------
    DataFrame
        One row per dataset: ``replicate``, ``seed``, ``truth``, ``median``,
        ``q025``, ``q975``, ``covered`` (truth within the 95% interval),
        ``status``, ``message``.  ``attrs`` holds ``coverage`` (share of the
        fitted datasets covered), its Wilson 95% interval ``coverage_interval``,
        ``n_ok``, ``executor`` and ``wall_time``.
    """
    import functools

    import numpy as np
    import pandas as pd

    if isinstance(n_datasets, bool) or not isinstance(n_datasets, int) or n_datasets < 1:
        raise DataValidationError(f"n_datasets={n_datasets!r}: expected an integer >= 1.")
    settings = [{"replicate": i} for i in range(n_datasets)]
    seeds: list[int | None] = [run_seed(random_seed, s) for s in settings]
    fn = functools.partial(_simulate_and_fit, model, simulate, dict(fit_kwargs or {}), method)
    t0 = time.perf_counter()
    outcomes, desc = map_runs(fn, settings, seeds, executor=executor, retries=retries)
    rows = []
    for o in outcomes:
        v = o.value or {}
        truth = v.get("truth", math.nan)
        rows.append({"replicate": o.settings["replicate"], "seed": o.seed, "truth": truth,
                     "median": v.get("median", math.nan), "q025": v.get("q025", math.nan),
                     "q975": v.get("q975", math.nan),
                     "covered": bool(v and v["q025"] <= truth <= v["q975"]),
                     "status": o.status if o.status != "ok" else v.get("status", "ok"),
                     "message": o.error})
    df = pd.DataFrame(rows)
    ok = df["status"] != "error"
    ok &= df["status"] != "lost"
    n_ok = int(ok.sum())
    k = int(df.loc[ok, "covered"].sum())
    if n_ok:
        # Wilson score interval for the coverage rate
        z, p = 1.959964, k / n_ok
        centre = (p + z * z / (2 * n_ok)) / (1 + z * z / n_ok)
        half = z * np.sqrt(p * (1 - p) / n_ok + z * z / (4 * n_ok**2)) / (1 + z * z / n_ok)
        ci = (float(centre - half), float(centre + half))
    else:
        p, ci = math.nan, (math.nan, math.nan)
    df.attrs.update({"coverage": p, "coverage_interval": ci, "n_ok": n_ok, "executor": desc,
                     "wall_time": time.perf_counter() - t0})
    return df
