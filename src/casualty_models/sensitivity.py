r"""Sensitivity analysis: how much the total moves when an assumption moves.

:func:`sensitivity` fits one model over a grid of settings, the Cartesian
product of lists of values (or an explicit list of settings), and returns a
:class:`SensitivityResult`: the posterior summary of the total for every run
as an :class:`xarray.Dataset` with one dim per varied setting, the runs'
seeds, status and warnings, and the provenance of the whole study.

A *setting* is any of

- a constructor option of the model (``coverage``, ``pooling``, ``delta``,
  ``classes``, ``interactions``, ...): the run fits
  ``dataclasses.replace(model, **options)``;
- an option of its fit method (``draws``, ``chains``, ``burn_in``, ...);
- ``seed``: the fit's ``random_seed`` itself (replicate runs);
- ``stratum``: fit one stratum of a :class:`~casualty_models.CaptureTable`
  (``data.select(stratum)``);
- ``drop``: fit the data without one source (``data.drop(source)``; ``"none"``
  keeps them all), for data that can drop a source, such as the fused model's
  sources: ``{"drop": ["none", *sources.active_sources]}`` is a
  leave-one-source-out table.

Seeds: unless ``seed`` is a setting, run :math:`r` uses
:math:`\mathrm{seed}_r = \mathrm{SeedSequence}(\text{base seed},
\mathrm{sha256}(\text{settings}_r))`, which depends neither on the executor,
the number of workers nor the order of completion (see
:mod:`casualty_models.parallel`).  Every run is reproduced exactly by
``replace(model, **options).fit(data, random_seed=seed_r)``.

The runs go to an executor (local processes by default; dask.distributed for
a cluster) and send back summaries, not traces (draws of the total on
request).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import json
import math
import os
import sys
import time
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .errors import DataValidationError
from .parallel import RunOutcome, canonical_settings, map_runs, run_seed

__all__ = ["SensitivityResult", "load_sensitivity", "sensitivity", "summarize"]

#: Statistics of the total kept for every run.
STATS = ("median", "mean", "sd", "q025", "q05", "q95", "q975")
_QUANTILES = {"q025": 0.025, "q05": 0.05, "q95": 0.95, "q975": 0.975}
#: Settings that are not options of the model or of its fit.
_SPECIAL = ("seed", "stratum", "drop")
#: Values of ``drop`` that keep every source.
_KEEP_ALL = (None, "none", "")


# ------------------------------------------------------------------ worker side
def summarize(result: Any, var: str = "N_total", keep_draws: bool = False) -> dict[str, Any]:
    """Posterior summary of ``var`` from a fit's result (what a worker sends back).

    Works for :class:`~casualty_models.Results` (quantiles of the draws) and
    for maximum-likelihood results with ``N_total``/``N_total_low``/
    ``N_total_high`` (estimate and profile interval; ``sd`` is NaN).  A result
    that carries its exact grid posterior (:class:`~casualty_models.DecomposableBMA`)
    is summarised from the grid for ``N_total`` and ``N_unobserved_total``: exact
    quantiles, mean and sd, no sampling noise, and status ``unbounded`` when the
    grid misses material mass.  ``summary_source`` records which: ``"grid"`` or
    ``"draws"`` (``"mle"`` for maximum likelihood).
    """
    out: dict[str, Any] = {"status": "ok", "sampler": str(getattr(result, "sampler", ""))}
    if hasattr(result, "draws"):
        x = np.asarray(result.draws(var), dtype=float)
        x = x.reshape(x.shape[0], -1).sum(axis=1)
        exact = _exact_summary(result, var)
        if exact is not None:
            out.update(exact, summary_source="grid")
        else:
            out.update(median=float(np.median(x)), mean=float(x.mean()),
                       sd=float(x.std(ddof=1)) if x.size > 1 else math.nan,
                       summary_source="draws")
            for k, q in _QUANTILES.items():
                out[k] = float(np.quantile(x, q))
        out["observed"] = float(result.observed)
        diag = result.diagnostics()
        out["r_hat"] = math.nan if diag is None else float(diag["r_hat"])
        out["ess_bulk"] = math.nan if diag is None else float(diag["ess_bulk"])
        if keep_draws:
            out["draws"] = x
    elif hasattr(result, "N_total_low"):
        if var != "N_total":
            raise DataValidationError(
                f"var={var!r}: a maximum-likelihood fit reports only N_total."
            )
        est = float(result.N_total)
        out.update(median=est, mean=est, sd=math.nan, q025=float(result.N_total_low),
                   q975=float(result.N_total_high), q05=math.nan, q95=math.nan,
                   observed=float(np.sum(result.observed)), r_hat=math.nan,
                   ess_bulk=math.nan, AIC=float(np.sum(result.aic)),
                   BIC=float(np.sum(result.bic)), summary_source="mle")
        bad = [s for s in result.status if s != "ok"]
        out["status"] = bad[0] if bad else "ok"
    else:
        raise DataValidationError(
            f"cannot summarise a {type(result).__name__}: expected a Results or a "
            "maximum-likelihood result with N_total."
        )
    return out


def _exact_summary(result: Any, var: str) -> dict[str, Any] | None:
    """The exact grid summary of the total, for results that carry their grid posterior."""
    if var not in ("N_total", "N_unobserved_total") or getattr(result, "model", "") != \
            "DecomposableBMA":
        return None
    from .models.bma import exact_total_summary

    ex = exact_total_summary(result)
    if var == "N_unobserved_total":  # the same posterior shifted by the observed count
        obs = float(result.observed)
        ex.update({k: ex[k] - obs for k in ("mean", "median", *_QUANTILES)})
    return ex


def _fit_one(model: Any, data: Any, method: str, fit_kwargs: dict[str, Any],
             fit_params: tuple[str, ...], seeded: bool, var: str, keep_draws: bool,
             settings: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """One run of a sensitivity grid (executed on a worker)."""
    ctor = {k: v for k, v in settings.items() if k not in _SPECIAL and k not in fit_params}
    kw = dict(fit_kwargs)
    kw.update({k: v for k, v in settings.items() if k in fit_params})
    if seeded:
        kw["random_seed"] = seed
    if "stratum" in settings:
        data = data.select(settings["stratum"])
    if settings.get("drop") not in _KEEP_ALL:
        data = data.drop(settings["drop"])
    m = dataclasses.replace(model, **ctor) if ctor else model
    return summarize(getattr(m, method)(data, **kw), var, keep_draws)


# ------------------------------------------------------------------ grid
def _as_setting_value(v: Any) -> Any:
    """Lists (from TOML/JSON) become tuples, as the frozen model classes expect."""
    if isinstance(v, list):
        return tuple(_as_setting_value(x) for x in v)
    return v


def _label(v: Any) -> Any:
    """Coordinate label of a setting value (numbers stay numbers)."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + ", ".join(str(_label(x)) for x in v) + "]"
    if hasattr(v, "to_dict"):
        return json.dumps(v.to_dict(), sort_keys=True)
    return repr(v)


def _coord(values: Sequence[Any]) -> list[Any]:
    labels = [_label(v) for v in values]
    if not all(isinstance(x, int | float) for x in labels):
        labels = [str(x) for x in labels]
    if len(set(labels)) != len(labels):
        raise DataValidationError(
            f"grid values {list(values)!r} repeat (or have equal labels {labels}): expected "
            "distinct values."
        )
    return labels


def _settable(model: Any, method: str) -> tuple[set[str], tuple[str, ...]]:
    if not dataclasses.is_dataclass(model) or isinstance(model, type):
        raise DataValidationError(
            f"model={model!r} is not a model instance: expected e.g. UnderReporting(), "
            "DecomposableBMA() or LatentClass(classes=10)."
        )
    fit = getattr(model, method, None)
    if not callable(fit):
        raise DataValidationError(
            f"method={method!r}: {type(model).__name__} has no such fit method."
        )
    params = list(inspect.signature(fit).parameters)[1:]  # drop the data argument
    ctor = {f.name for f in dataclasses.fields(model) if f.init}
    return ctor, tuple(params)


def _expand(grid: Any, valid: set[str]) -> tuple[list[str], list[list[Any]] | None,
                                                 list[dict[str, Any]]]:
    """Names, value lists (None for an explicit list) and the runs' settings."""
    values: list[list[Any]] | None
    if isinstance(grid, Mapping):
        if not grid:
            raise DataValidationError(
                "the grid is empty: expected a mapping of setting -> list of values, e.g. "
                "{'delta': [1/16, 1/4, 1]}."
            )
        names = [str(k) for k in grid]
        values = []
        for k, v in grid.items():
            vals = list(v) if isinstance(v, list | tuple | np.ndarray | range) else None
            if not vals:
                raise DataValidationError(
                    f"grid[{k!r}] = {v!r}: expected a non-empty list of values to try."
                )
            values.append([_as_setting_value(x) for x in vals])
            _coord(values[-1])  # distinct values, checked before any fit runs
        runs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and grid and all(
            isinstance(r, Mapping) for r in grid):
        names = [str(k) for k in grid[0]]
        for r in grid:
            if sorted(map(str, r)) != sorted(names):
                raise DataValidationError(
                    f"run {dict(r)!r} does not name the same settings as the first run "
                    f"{names}: every run of an explicit list must set the same settings."
                )
        values = None
        runs = [{k: _as_setting_value(r[k]) for k in names} for r in grid]
    else:
        raise DataValidationError(
            f"grid={grid!r} is not a grid: expected a non-empty mapping of setting -> list of "
            "values (Cartesian product) or a non-empty list of settings mappings."
        )
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise DataValidationError(
            f"unknown setting(s) {unknown}: this model can vary {sorted(valid)}."
        )
    if "seed" in names and "random_seed" in names:
        raise DataValidationError("grid sets both 'seed' and 'random_seed': keep one.")
    return names, values, runs


# ------------------------------------------------------------------ public API
def sensitivity(
    model: Any,
    data: Any,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    executor: Any = None,
    random_seed: int = 0,
    method: str = "fit",
    fit_kwargs: Mapping[str, Any] | None = None,
    default: Mapping[str, Any] | None = None,
    var: str = "N_total",
    keep_draws: bool = False,
    retries: int = 1,
) -> SensitivityResult:
    """Fit ``model`` over a grid of settings and collect the posterior of the total.

    Parameters
    ----------
    model : model instance
        The default configuration, e.g. ``UnderReporting(coverage=(0.45, 0.65))``;
        each run replaces the constructor options it varies.
    data : the model's data (``ConfirmedCounts``, ``CaptureTable``, ...)
        Sent to every worker once per run.
    grid : mapping of setting -> list, or list of mappings
        A mapping gives the Cartesian product of its lists (one dim per
        setting); a list of settings mappings gives exactly those runs (one
        ``run`` dim).  Settings: constructor options, fit options, ``seed``,
        ``stratum``, ``drop`` (see module docstring).
    executor : None, "serial", int, dask scheduler address, dask Client or Executor
        Where the runs go (default: local processes, one per core); see
        :func:`casualty_models.parallel.open_executor`.
    random_seed : int, default 0
        Base seed; each run's seed derives from it and the run's settings.
    method : str, default "fit"
        Fit method to call (``"fit_mle"`` for :class:`~casualty_models.LogLinear`
        maximum likelihood).
    fit_kwargs : mapping, optional
        Fixed fit options for every run (``draws``, ``chains``, ...).
    default : mapping, optional
        The default run's settings, marked in plots; by default the model's
        own values (and ``fit_kwargs``/the fit's defaults).
    var : str, default "N_total"
        Posterior variable summarised (summed over any extra dims).
    keep_draws : bool, default False
        Also send back every run's draws of ``var`` (variable ``posterior_draws``,
        dims: the settings' and ``sample``).
    retries : int, default 1
        Resubmissions of a run whose worker died.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    DataValidationError
        An unknown setting, an empty grid or an unknown executor.  A run that
        fails is reported in the result (status ``"error"``), not raised.
    """
    ctor, fit_params = _settable(model, method)
    valid = ctor | set(fit_params) | set(_SPECIAL)
    names, values, runs = _expand(grid, valid)
    for name, needs in (("stratum", "select"), ("drop", "drop")):
        if name in names and not hasattr(data, needs):
            raise DataValidationError(
                f"setting {name!r} needs data with a {needs}() method (strata to select, "
                f"sources to drop), got {type(data).__name__}."
            )
    fixed = dict(fit_kwargs or {})
    bad = [k for k in fixed if k not in fit_params or k == "random_seed"]
    if bad:
        raise DataValidationError(
            f"fit_kwargs {bad} are not options of {type(model).__name__}.{method} (seeds come "
            f"from random_seed): expected some of {[p for p in fit_params if p != 'random_seed']}."
        )
    seed_name = "seed" if "seed" in names else "random_seed" if "random_seed" in names else None
    seeds: list[int | None] = []
    for r in runs:
        if seed_name is not None:
            s = r[seed_name]
            if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0:
                raise DataValidationError(f"{seed_name}={s!r} in the grid: expected integers >= 0.")
            seeds.append(int(s))
        else:
            seeds.append(run_seed(random_seed, r))
    fit_only = tuple(p for p in fit_params if p != "random_seed")
    to_worker = [{k: v for k, v in r.items() if k not in ("seed", "random_seed")} for r in runs]
    fn = functools.partial(_fit_one, model, data, method, fixed, fit_only,
                           "random_seed" in fit_params, var, keep_draws)
    t0 = time.perf_counter()
    outcomes, desc = map_runs(fn, to_worker, seeds, executor=executor, retries=retries)
    wall = time.perf_counter() - t0
    for o, r in zip(outcomes, runs, strict=True):
        o.settings = r
    if default is None:
        sig = inspect.signature(getattr(model, method)).parameters
        default = {}
        for n in names:
            if n in ctor:
                default[n] = getattr(model, n)
            elif n in fixed:
                default[n] = fixed[n]
            elif n in sig and sig[n].default is not inspect.Parameter.empty:
                default[n] = sig[n].default
    config = model.config() if hasattr(model, "config") else {}
    provenance = {
        "model": type(model).__name__,
        "model_config": json.dumps(json.loads(canonical_settings(config)), sort_keys=True),
        "method": method,
        "fit_kwargs": canonical_settings(fixed),
        "var": var,
        "random_seed": int(random_seed),
        "data_fingerprint": str(data.fingerprint()) if hasattr(data, "fingerprint") else "",
        "data_source": str(getattr(data, "source", "")),
        "settings": json.dumps(names),
        "grid": canonical_settings({n: [r[n] for r in runs] for n in names}) if values is None
        else canonical_settings(dict(zip(names, values, strict=True))),
        "default": canonical_settings({k: v for k, v in default.items() if k in names}),
        "seeds": "from the grid" if seed_name else "run_seed(random_seed, settings)",
        "executor": desc,
        "wall_time": wall,
        "casualty_models_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return SensitivityResult(_build_dataset(names, values, outcomes, provenance))


def _build_dataset(names: list[str], values: list[list[Any]] | None,
                   outcomes: list[RunOutcome], attrs: dict[str, Any]) -> xr.Dataset:
    if values is not None:
        dims = names
        coords: dict[str, Any] = {n: _coord(v) for n, v in zip(names, values, strict=True)}
        shape = tuple(len(v) for v in values)
        index: list[tuple[Any, ...]] = [
            tuple(int(i) for i in np.unravel_index(o.index, shape)) for o in outcomes]
    else:
        dims = ["run"]
        shape = (len(outcomes),)
        coords = {"run": np.arange(len(outcomes))}
        for n in names:
            labels = [_label(o.settings[n]) for o in outcomes]
            if not all(isinstance(x, int | float) for x in labels):
                labels = [str(x) for x in labels]
            coords[n] = ("run", labels)
        index = [(o.index,) for o in outcomes]
    extra = sorted({k for o in outcomes if o.value for k, v in o.value.items()
                    if isinstance(v, float) and k not in STATS})
    num: dict[str, np.ndarray] = {k: np.full(shape, np.nan) for k in (*STATS, *extra)}
    num["seed"] = np.full(shape, -1, dtype=np.int64)  # dropped below if a setting is 'seed'
    num["wall_time"] = np.full(shape, np.nan)
    num["cpu_time"] = np.full(shape, np.nan)
    num["attempts"] = np.zeros(shape, dtype=np.int64)
    text = {k: np.full(shape, "", dtype=object) for k in ("status", "message", "warnings",
                                                         "worker", "sampler",
                                                         "summary_source")}
    draws = [o.value.get("draws") for o in outcomes if o.status == "ok" and o.value]
    keep = any(d is not None for d in draws)
    if keep:
        n_draw = max(len(d) for d in draws if d is not None)
        dr = np.full((*shape, n_draw), np.nan)
    for o, ix in zip(outcomes, index, strict=True):
        v = o.value or {}
        for k in (*STATS, *extra):
            if k in v:
                num[k][ix] = v[k]
        num["seed"][ix] = -1 if o.seed is None else o.seed
        num["wall_time"][ix] = o.wall_time
        num["cpu_time"][ix] = o.cpu_time
        num["attempts"][ix] = o.attempts
        text["status"][ix] = o.status if o.status != "ok" else v.get("status", "ok")
        text["message"][ix] = o.error
        text["warnings"][ix] = "\n".join(o.warnings)
        text["worker"][ix] = o.worker
        text["sampler"][ix] = v.get("sampler", "")
        text["summary_source"][ix] = v.get("summary_source", "")
        if keep and v.get("draws") is not None:
            d = v["draws"]
            dr[(*ix, slice(0, len(d)))] = d
    data_vars: dict[str, Any] = {k: (dims, a) for k, a in num.items() if k not in coords}
    data_vars.update({k: (dims, a.astype(str)) for k, a in text.items()})
    if keep:
        data_vars["posterior_draws"] = ((*dims, "sample"), dr)
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = {k: (v if isinstance(v, int | float | str) else json.dumps(v))
                for k, v in attrs.items()}
    ds.attrs["n_runs"] = len(outcomes)
    ds.attrs["n_failed"] = sum(o.status != "ok" for o in outcomes)
    return ds


class SensitivityResult:
    """Every run of a sensitivity grid: summaries, seeds, status and provenance.

    Parameters
    ----------
    dataset : xarray.Dataset
        One dim per varied setting (or one ``run`` dim for an explicit list of
        runs); variables ``median``, ``mean``, ``sd``, ``q025``, ``q05``,
        ``q95``, ``q975`` of the total, ``seed``, ``status`` (``ok``, a model
        status such as ``unbounded``, ``error`` or ``lost``), ``message``,
        ``warnings``, ``wall_time``, ``cpu_time``, ``worker``, ``attempts`` (and ``AIC``,
        ``BIC`` for maximum likelihood, ``posterior_draws`` on request); attrs hold the
        provenance (model, base configuration, data fingerprint, base seed,
        grid, default run, executor, versions).
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        if "median" not in dataset or "settings" not in dataset.attrs:
            raise DataValidationError(
                "this Dataset is not a sensitivity result: it lacks 'median' or the "
                "'settings' attribute."
            )
        self.dataset = dataset

    # ------------------------------------------------------------ accessors
    @property
    def settings(self) -> list[str]:
        """Names of the varied settings, in grid order."""
        return list(json.loads(self.dataset.attrs["settings"]))

    @property
    def default(self) -> dict[str, Any]:
        """The default run's settings (those the model was given)."""
        return dict(json.loads(self.dataset.attrs.get("default", "{}")))

    @property
    def wall_time(self) -> float:
        """Seconds the whole grid took."""
        return float(self.dataset.attrs.get("wall_time", math.nan))

    def __len__(self) -> int:
        return int(self.dataset.attrs["n_runs"])

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per run, a column per setting, then the summary."""
        ds = self.dataset.drop_vars([v for v in ("posterior_draws",)
                                     if v in self.dataset.data_vars])
        df = ds.to_dataframe().reset_index()
        if "run" in df.columns:
            df = df.drop(columns="run")
        cols = self.settings + [c for c in (*STATS, "AIC", "BIC", "observed", "r_hat",
                                            "ess_bulk", "status", "seed", "wall_time",
                                            "cpu_time", "attempts", "sampler",
                                            "summary_source", "message", "warnings",
                                            "worker") if c in df.columns and c not in
                                self.settings]
        return df[cols]

    @property
    def failed(self) -> pd.DataFrame:
        """Runs that raised or were lost, with their settings and error."""
        df = self.to_frame()
        return df[df["status"].isin(["error", "lost"])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``runs`` (settings, N, status, seed, ...), ``wall_time``, provenance."""
        runs = []
        for row in self.to_frame().to_dict(orient="records"):
            n = {k: _num(row[k]) for k in (*STATS, "AIC", "BIC", "r_hat", "ess_bulk")
                 if k in row}
            runs.append({"settings": {k: _py(row[k]) for k in self.settings}, "N": n,
                         "status": row["status"], "seed": int(row["seed"]),
                         "summary_source": row.get("summary_source", ""),
                         "wall_time": _num(row["wall_time"]), "message": row["message"],
                         "warnings": [w for w in str(row["warnings"]).split("\n") if w]})
        attrs = {k: _py(v) for k, v in self.dataset.attrs.items()}
        return {"runs": runs, "wall_time": self.wall_time, "n_runs": len(self),
                "n_failed": int(attrs.get("n_failed", 0)), "provenance": attrs}

    def _at_default(self, frame: pd.DataFrame, names: Sequence[str], *,
                    strict: bool) -> pd.Series:
        """Rows whose settings ``names`` are at the default run's values.

        A setting without a default (e.g. ``stratum``) excludes every row when
        ``strict``, and is not constrained otherwise.
        """
        mask = pd.Series(True, index=frame.index)
        default = self.default
        for k in names:
            if k not in default:
                if strict:
                    return pd.Series(False, index=frame.index)
                continue
            lab = _label(_as_setting_value(default[k]))
            mask &= frame[k].astype(str) == str(lab)
        return mask

    # ------------------------------------------------------------ plots
    def plot(self, kind: str = "multiples", *, title: str | None = None) -> Any:
        """Median and 95% interval of the total against each setting.

        Parameters
        ----------
        kind : {"multiples", "tornado"}
            ``"multiples"``: one panel per setting, every run at its value of
            that setting (runs that differ only in that setting from the
            default in black, the others grey), the default run's interval as
            a band.  ``"tornado"``: one bar per setting, the range of the
            median when that setting alone moves away from the default run,
            longest first (needs the default run in the grid).

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        if kind not in ("multiples", "tornado"):
            raise DataValidationError(f"kind={kind!r}: expected 'multiples' or 'tornado'.")
        df = self.to_frame()
        ok = df[np.isfinite(df["median"].astype(float))]
        if ok.empty:
            raise DataValidationError("no run has a finite estimate: nothing to plot.")
        names = self.settings
        is_default = self._at_default(ok, names, strict=True)
        base = ok[is_default]
        if kind == "tornado":
            if base.empty:
                raise DataValidationError(
                    f"the default run {self.default} is not in the grid: a tornado plot needs "
                    "it. Fix: include the default values, pass default=..., or use "
                    "kind='multiples'."
                )
            b = float(base["median"].iloc[0])
            rows = []
            for n in names:
                others = [m for m in names if m != n]
                sub = ok[self._at_default(ok, others, strict=False)]
                rows.append((n, float(sub["median"].min()), float(sub["median"].max())))
            rows.sort(key=lambda r: r[2] - r[1])
            fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
            for i, (_, lo, hi) in enumerate(rows):
                ax.barh(i, hi - lo, left=lo, color="tab:blue", alpha=0.7)
                ax.text(hi, i, f"  {lo:,.0f} to {hi:,.0f}", va="center", fontsize=8)
            ax.axvline(b, color="black", lw=1, label=f"default run: {b:,.0f}")
            ax.margins(x=0.3)
            ax.set_yticks(range(len(rows)), [r[0] for r in rows])
            ax.set_xlabel(f"posterior median of {self.dataset.attrs.get('var', 'N_total')}")
            ax.legend(frameon=False, fontsize=8)
        else:
            fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.8, 3.8),
                                     sharey=True, squeeze=False)
            for ax, n in zip(axes[0], names, strict=True):
                levels = list(dict.fromkeys(ok[n].tolist()))
                pos = {v: i for i, v in enumerate(levels)}
                others = [m for m in names if m != n]
                alone = self._at_default(ok, others, strict=False)
                groups = ok.groupby(n, sort=False).cumcount()
                width = max(1, int(groups.max()) + 1)
                for (_, row), g, a in zip(ok.iterrows(), groups, alone, strict=True):
                    x = pos[row[n]] + (g - (width - 1) / 2) * (0.5 / width)
                    col = "black" if a else "0.65"
                    ax.plot([x, x], [row["q025"], row["q975"]], color=col, lw=1.5)
                    ax.plot(x, row["median"], "o", color=col, ms=4)
                if not base.empty:
                    r = base.iloc[0]
                    ax.axhspan(r["q025"], r["q975"], color="tab:orange", alpha=0.15,
                               label="default run, 95%")
                    ax.axhline(r["median"], color="tab:orange", lw=1)
                    if r[n] in pos:
                        ax.plot(pos[r[n]], r["median"], "*", color="tab:orange", ms=12,
                                zorder=5)
                ticks = [_short(v) for v in levels]
                long = len(levels) > 4 or max(len(t) for t in ticks) * len(levels) > 40
                ax.set_xticks(range(len(levels)), ticks, rotation=30 if long else 0,
                              ha="right" if long else "center", fontsize=8)
                ax.set_xlabel(n)
            axes[0][0].set_ylabel("median and 95% interval of "
                                  f"{self.dataset.attrs.get('var', 'N_total')}")
            axes[0][0].plot([], [], "o-", color="black", ms=4, label="other settings at default")
            if len(names) > 1:
                axes[0][0].plot([], [], "o-", color="0.65", ms=4, label="other settings varied")
            axes[0][0].legend(frameon=False, fontsize=7)
        fig.suptitle(title or f"{self.dataset.attrs['model']}: sensitivity of the total "
                     f"({len(self)} runs)", fontsize=10)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------ io
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the result to a netCDF file (``load_sensitivity`` reads it back)."""
        self.dataset.to_netcdf(os.fspath(path), engine="h5netcdf")

    def __repr__(self) -> str:
        return (f"SensitivityResult({self.dataset.attrs['model']}, {len(self)} runs over "
                f"{self.settings}, {self.dataset.attrs['n_failed']} failed, "
                f"{self.wall_time:.1f} s on {self.dataset.attrs['executor']})")


def load_sensitivity(path: str | os.PathLike[str]) -> SensitivityResult:
    """Read a result written by :meth:`SensitivityResult.save`."""
    with xr.open_dataset(os.fspath(path), engine="h5netcdf") as ds:
        return SensitivityResult(ds.load())


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _short(v: Any) -> str:
    s = f"{v:g}" if isinstance(v, float) else str(v)
    return s if len(s) <= 24 else s[:22] + "..."


class _CallableModule(types.ModuleType):
    """``casualty_models.sensitivity`` is both this module and the function.

    Importing the submodule makes ``casualty_models.sensitivity`` the module,
    so the module itself is made callable: ``casualty_models.sensitivity(model,
    data, grid)`` works whichever was imported first.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> SensitivityResult:
        return sensitivity(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
