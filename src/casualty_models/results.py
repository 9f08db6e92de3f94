"""The results object every fit returns, around an :class:`xarray.DataTree`.

The contract (see ``ARCHITECTURE.md``):

- ``posterior``: integer draws ``N`` and ``N_unobserved`` with dims
  ``(chain, draw, stratum, ...)`` (``stratum`` always present, size one when
  unstratified), their sums over strata ``N_total`` and
  ``N_unobserved_total``, and the model's own parameters;
- ``observed_data`` / ``constant_data``: the inputs;
- ``sample_stats``: sampler diagnostics (``diverging`` for NUTS);
- root ``attrs``: provenance (``model``, ``model_config``, ``priors``,
  ``random_seed``, ``data_fingerprint``, ``sampler``,
  ``casualty_models_version``, ...), all strings or numbers so that they
  survive netCDF.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xarray as xr

from ._datatree import build_datatree, posterior_array
from ._plotting import (
    _DARK,
    _LIGHT,
    _MEDIAN,
    _RANGE,
    _beyond_note,
    _bracket,
    _count,
    _count_axis,
    _figure,
    _histogram,
    _legend,
    _patch,
    _var_label,
    plot_posteriors,
)
from .errors import ConvergenceWarning, DataValidationError, warn

if TYPE_CHECKING:
    from .results_mle import LogLinearMLE

__all__ = ["FitResult", "Results", "build_datatree", "load_results", "plot_posteriors", "posterior_array"]

#: Samplers whose draws are independent and exact: no convergence diagnostics.
EXACT_SAMPLERS = ("exact", "grid")
QUANTILES = {"q025": 0.025, "q05": 0.05, "q95": 0.95, "q975": 0.975}
#: Posterior mass beyond what the draws cover (a grid's end) from which the total is
#: reported as unbounded: infinite mean, infinite quantiles above the covered mass.
MATERIAL_TAIL = 1e-3
_N_VARS = ("N", "N_unobserved", "N_total", "N_unobserved_total")


def tail_levels(levels: Any, tail: float) -> np.ndarray:
    """Levels at which to read the covered part of a posterior with mass ``tail`` beyond it.

    If mass ``tail`` lies beyond everything the draws (or a grid) cover, the
    posterior's q-quantile is the covered part's quantile at level
    ``q / (1 - tail)`` when that is below 1, and lies beyond the draws
    otherwise (NaN here; reported as infinity).

    Examples
    --------
    >>> tail_levels([0.5, 0.9, 0.975], 0.05).round(4).tolist()
    [0.5263, 0.9474, nan]
    """
    lv = np.asarray(levels, dtype=float)
    if not tail < 1:  # an improper posterior: every quantile is beyond the grid
        return np.full(lv.shape, np.nan)
    adj = lv / (1.0 - max(float(tail), 0.0))
    return np.where(adj < 1.0, adj, np.nan)


def _tail_stats(x: np.ndarray, tail: float) -> dict[str, float]:
    """Mean, sd, median and quantiles of draws ``x`` that miss posterior mass ``tail``."""
    keys = ["median", *QUANTILES]
    lv = tail_levels([0.5, *QUANTILES.values()], tail)
    vals = [float(np.quantile(x, v)) if np.isfinite(v) else np.inf for v in lv]
    return {"mean": np.inf, "sd": np.inf, **dict(zip(keys, vals, strict=True))}


@runtime_checkable
class FitResult(Protocol):
    """What every fit returns and what callers (the command line) may rely on.

    Satisfied by :class:`Results` (posterior draws in a DataTree) and by
    :class:`~casualty_models.results_mle.LogLinearMLE` (a maximum-likelihood
    estimate with a profile interval).  Both survive :meth:`save` and
    :func:`load_results`.
    """

    @property
    def model(self) -> str:
        """Name of the model class that produced the result."""
        ...

    @property
    def sampler(self) -> str:
        """How it was computed: ``exact``, ``grid``, ``nuts``, ``gibbs`` or ``mle``."""
        ...

    def summary(self) -> pd.DataFrame:
        """Table of the total (and strata): point estimate and interval."""
        ...

    def check_convergence(self) -> list[str]:
        """Problems of the computation (empty when there is nothing to check)."""
        ...

    def describe_priors(self) -> str:
        """The priors (or, for maximum likelihood, the model) in words."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``--json``: ``model``, ``observed``, ``seed``, ``N``, ..."""
        ...

    def plot(self, *, published_range: tuple[float, float] | None = None,
             published_label: str = ..., title: str | None = None, ax: Any = None) -> Any:
        """A figure of the estimate of the total."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole result to netCDF (read back by :func:`load_results`)."""
        ...


def _exact_aware(stat: Any, da: xr.DataArray, exact_value: float, reduce: Any) -> float:
    """``reduce`` of a per-entry diagnostic; entries whose draws are all equal are exact.

    r-hat and ESS are 0/0 on a constant (a complete period's count, a fixed parameter):
    such entries get ``exact_value`` (r-hat 1, ESS = draws) instead of a NaN and a
    RuntimeWarning; a NaN anywhere else is kept (and fails the check).
    """
    const = (da.max(("chain", "draw")) == da.min(("chain", "draw"))).values
    if np.all(const):
        return float(exact_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals = np.asarray(stat(da).values, dtype=float)
    if vals.shape == np.shape(const):
        vals = vals[~const]
    return float(reduce(vals))


def rank_rhat(values: np.ndarray) -> np.ndarray:
    r"""Rank-normalised split r-hat of every entry at once (Vehtari et al. 2021).

    ``values`` has shape ``(chain, draw, ...)``; returns one r-hat per entry of
    the trailing axes: :math:`\max(\hat R_{\text{bulk}}, \hat R_{\text{tail}})`
    of the split chains' rank-normalised draws and of their distances to the
    median, the same formula as ArviZ's ``rhat(method="rank")``, vectorised
    over entries (ArviZ loops over them: 1.7 s for the 700 entries of a
    nowcast, 0.05 s here).  NaN with fewer than 2 chains or 4 draws.

    >>> rng = np.random.default_rng(0)
    >>> bool(rank_rhat(rng.normal(size=(4, 500, 3))).max() < 1.01)
    True
    """
    from scipy.special import ndtri

    x = np.asarray(values, dtype=float)
    c, n = x.shape[:2]
    x = x.reshape(c, n, -1)
    if c < 2 or n < 4:
        return np.full(x.shape[-1], np.nan)
    half = n // 2
    split = np.concatenate([x[:, :half], x[:, -half:]], axis=0)

    def z_scale(a: np.ndarray) -> np.ndarray:
        # average ranks (NUTS repeats draws, so ties are the rule), all columns at once: a
        # tied group's rank is the mean of its first and last sorted positions
        rows = np.ascontiguousarray(a.reshape(-1, a.shape[-1]).T)  # one row per entry
        n = rows.shape[1]
        order = np.argsort(rows, axis=1)
        srt = np.take_along_axis(rows, order, axis=1)
        pos = np.broadcast_to(np.arange(1.0, n + 1.0), rows.shape)
        starts = np.ones(rows.shape, dtype=bool)
        starts[:, 1:] = srt[:, 1:] != srt[:, :-1]
        ends = np.ones(rows.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, pos, 0.0), axis=1)
        last = np.minimum.accumulate(np.where(ends, pos, n + 1.0)[:, ::-1], axis=1)[:, ::-1]
        ranks = np.empty_like(rows)
        np.put_along_axis(ranks, order, 0.5 * (first + last), axis=1)
        ranks = ranks.T
        return ndtri((ranks - 0.375) / (n + 0.25)).reshape(a.shape)

    def split_rhat(a: np.ndarray) -> np.ndarray:
        m = a.shape[1]
        between = m * a.mean(axis=1).var(axis=0, ddof=1)
        within = a.var(axis=1, ddof=1).mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt((between / within + m - 1) / m)

    med = np.median(split.reshape(-1, split.shape[-1]), axis=0)
    return np.maximum(split_rhat(z_scale(split)), split_rhat(z_scale(np.abs(split - med))))


def _rank_rhat_da(da: xr.DataArray) -> xr.DataArray:
    """:func:`rank_rhat` of a ``(chain, draw, ...)`` DataArray, entries as its other dims."""
    other = [d for d in da.dims if d not in ("chain", "draw")]
    vals = rank_rhat(da.transpose("chain", "draw", *other).values)
    return xr.DataArray(vals.reshape([da.sizes[d] for d in other]), dims=other)


def _flat(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.stack(sample=("chain", "draw")).transpose("sample", ...).values)


class Results:
    """The outcome of a fit: posterior draws of the total and everything to check it.

    Parameters
    ----------
    tree : xarray.DataTree
        A tree following the result contract (see module docstring).

    Notes
    -----
    Summaries report the posterior median, mean and 95% equal-tailed interval
    (the convention of this field), plus r-hat and effective sample sizes for
    MCMC fits.  Exact samplers draw independent samples, so they have no
    convergence diagnostics.
    """

    def __init__(self, tree: xr.DataTree) -> None:
        if "posterior" not in tree.children or "N" not in tree["posterior"].data_vars:
            raise DataValidationError(
                "this DataTree is not a casualty_models result: it has no posterior/N."
            )
        self.tree = tree

    # ------------------------------------------------------------ accessors
    @property
    def posterior(self) -> xr.Dataset:
        """Posterior group as an ``xarray.Dataset``."""
        return self.tree["posterior"].to_dataset()

    @property
    def attrs(self) -> dict[str, Any]:
        """Provenance attributes (strings and numbers)."""
        return {str(k): v for k, v in self.tree.attrs.items()}

    @property
    def model(self) -> str:
        """Name of the model that produced the result."""
        return str(self.tree.attrs.get("model", ""))

    @property
    def sampler(self) -> str:
        """``"exact"``, ``"grid"``, ``"nuts"`` or ``"gibbs"``."""
        return str(self.tree.attrs.get("sampler", ""))

    @property
    def random_seed(self) -> int | None:
        """Seed the fit used (``None`` if it was not seeded)."""
        seed = self.tree.attrs.get("random_seed", "None")
        return None if seed == "None" else int(seed)

    @property
    def priors(self) -> dict[str, Any]:
        """The priors used, as recorded."""
        return dict(json.loads(self.tree.attrs.get("priors", "{}")))

    @property
    def model_config(self) -> dict[str, Any]:
        """The model's configuration, as recorded."""
        return dict(json.loads(self.tree.attrs.get("model_config", "{}")))

    @property
    def strata(self) -> list[str]:
        """Stratum labels."""
        return [str(s) for s in self.posterior["N"].coords["stratum"].values]

    @property
    def observed(self) -> int:
        """Total number of deaths observed (confirmed or on at least one list)."""
        return int(self.tree.attrs.get("observed", 0))

    @property
    def is_exact(self) -> bool:
        """Whether draws are exact and independent (no MCMC)."""
        return self.sampler in EXACT_SAMPLERS

    def draws(self, var: str = "N_total", **sel: Any) -> np.ndarray:
        """Posterior draws of ``var`` flattened over chains and draws.

        Keyword arguments select coordinates, e.g. ``draws("N", stratum="north")``.
        """
        if var not in self.posterior:
            raise DataValidationError(
                f"unknown variable {var!r}: the posterior has {sorted(map(str, self.posterior.data_vars))}."
            )
        da = self.posterior[var]
        if sel:
            da = da.sel(sel)
        return _flat(da)

    def describe_priors(self) -> str:
        """The priors actually used, one per line."""
        lines = []
        for k, v in self.priors.items():
            text = v.get("text", v) if isinstance(v, dict) else v
            lines.append(f"{k}: {text}")
        return "\n".join(lines)

    # ------------------------------------------------------------ summaries
    def tail_mass(self, var: str = "N_total", stratum: str | None = None) -> float:
        """Posterior mass of ``var`` (N or a total) beyond what the draws cover.

        Non-zero only for grid samplers whose grid ends before the posterior
        does (``constant_data['tail_mass']`` per stratum; for a total the
        probability that any stratum lies beyond its grid).
        """
        if var not in _N_VARS or "constant_data" not in self.tree.children or \
                "tail_mass" not in self.tree["constant_data"].data_vars:
            return 0.0
        t = self.tree["constant_data"].to_dataset()["tail_mass"]
        if stratum is not None:
            return float(t.sel(stratum=stratum))
        if var in ("N", "N_unobserved") and len(self.strata) == 1:
            return float(t.values.ravel()[0])
        return float(1.0 - np.prod(1.0 - np.asarray(t.values, dtype=float)))

    @property
    def N_status(self) -> str:
        """``"unbounded"`` if material posterior mass of the total lies beyond the draws, else ``"ok"``."""
        return "unbounded" if not self.tail_mass("N_total") < MATERIAL_TAIL else "ok"

    def _var_summary(self, da: xr.DataArray) -> pd.DataFrame:
        df = self._var_summary_draws(da)
        name = str(da.name)
        other = [d for d in da.dims if d not in ("chain", "draw")]
        if name in _N_VARS and other in ([], ["stratum"]):
            rows = [(name, None)] if not other else [(f"{name}[{s}]", s) for s in self.strata]
            for label, stratum in rows:
                t = self.tail_mass(name, stratum)
                if not t < MATERIAL_TAIL:
                    x = self.draws(name, **({} if stratum is None else {"stratum": stratum}))
                    st = _tail_stats(x, t)
                    df.loc[label, list(st)] = list(st.values())
        return df

    def _var_summary_draws(self, da: xr.DataArray) -> pd.DataFrame:
        other = [d for d in da.dims if d not in ("chain", "draw")]
        stacked = da.stack(sample=("chain", "draw"))
        stat = {
            "mean": stacked.mean("sample"),
            "sd": stacked.std("sample", ddof=1),
            "median": stacked.median("sample"),
        }
        for k, q in QUANTILES.items():
            stat[k] = stacked.quantile(q, dim="sample").drop_vars("quantile")
        if not self.is_exact and da.sizes["chain"] * da.sizes["draw"] > 3:
            import arviz_stats as azs

            # constant entries (complete periods) are exact: r-hat 1, ESS = draws, not 0/0
            const = da.max(("chain", "draw")) == da.min(("chain", "draw"))
            n_all = float(da.sizes["chain"] * da.sizes["draw"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                stat["r_hat"] = azs.rhat(da).where(~const, 1.0)
                stat["ess_bulk"] = azs.ess(da, method="bulk").where(~const, n_all)
                stat["ess_tail"] = azs.ess(da, method="tail").where(~const, n_all)
        else:
            for k in ("r_hat", "ess_bulk", "ess_tail"):
                stat[k] = xr.full_like(stat["mean"], np.nan, dtype=float)
        ds = xr.Dataset(stat)
        if not other:
            return pd.DataFrame([{k: float(v) for k, v in ds.items()}], index=[str(da.name)])
        df = ds.to_dataframe()
        df = df[[k for k in stat]]
        df.index = [f"{da.name}[{', '.join(map(str, i if isinstance(i, tuple) else (i,)))}]"
                    for i in df.index]
        return df

    def summary(self, var_names: Sequence[str] | None = None) -> pd.DataFrame:
        """Posterior summary table.

        Columns: ``mean``, ``sd``, ``median``, ``q025``, ``q05``, ``q95``,
        ``q975`` (equal-tailed quantiles), ``r_hat``, ``ess_bulk``,
        ``ess_tail`` (NaN for exact samplers).  Rows: ``N_total``,
        ``N_unobserved_total`` and, when stratified, ``N[stratum]``; pass
        ``var_names`` for other variables.
        """
        if var_names is None:
            var_names = ["N_total", "N_unobserved_total"]
            if len(self.strata) > 1:
                var_names.append("N")
        frames = []
        for v in var_names:
            if v not in self.posterior:
                raise DataValidationError(
                    f"unknown variable {v!r}: the posterior has "
                    f"{sorted(map(str, self.posterior.data_vars))}."
                )
            frames.append(self._var_summary(self.posterior[v]))
        return pd.concat(frames)

    def diagnostics(self) -> dict[str, Any] | None:
        """Convergence diagnostics of ``N_total``; ``None`` for exact samplers.

        r-hat (max over any extra dims), bulk and tail ESS (min), the number of
        divergences, the max r-hat of the float parameters and the wall time.
        """
        if self.is_exact:
            return None
        # a fit's diagnostics are read several times (the fit's own check, the summary,
        # the command line's report): computed once per set of draws (~0.3 s each time)
        key = self._draws_key()
        cached = getattr(self, "_diagnostics_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self._diagnostics())
            self._diagnostics_cache = cached
        out = dict(cached[1])
        if "wall_time" in self.tree.attrs:
            out["wall_time_s"] = float(self.tree.attrs["wall_time"])
        return out

    def _draws_key(self) -> tuple[Any, ...]:
        """Identity of the arrays the diagnostics read (changes if a group is replaced)."""
        parts: list[Any] = [id(self.tree)]
        for group in ("posterior", "sample_stats"):
            if group in self.tree.children:
                node = self.tree[group]
                parts += [(group, k, id(v.data)) for k, v in node.data_vars.items()]
        return tuple(parts)

    def _diagnostics(self) -> dict[str, Any]:
        import arviz_stats as azs

        da = self.posterior["N_total"]
        div = 0
        if "sample_stats" in self.tree.children:
            ss = self.tree["sample_stats"].to_dataset()
            if "diverging" in ss:
                div = int(ss["diverging"].sum())
        n_draws = da.sizes["chain"] * da.sizes["draw"]
        out: dict[str, Any] = {
            "r_hat": _exact_aware(azs.rhat, da, 1.0, np.max),
            "ess_bulk": _exact_aware(lambda x: azs.ess(x, method="bulk"), da, n_draws, np.min),
            "ess_tail": _exact_aware(lambda x: azs.ess(x, method="tail"), da, n_draws, np.min),
            "divergences": div,
        }
        # parameters of the model (not N) also need to have mixed
        params = [str(v) for v in self.posterior.data_vars
                  if not str(v).startswith("N") and np.issubdtype(self.posterior[v].dtype, np.floating)]
        if params:
            out["max_r_hat_parameters"] = max(
                _exact_aware(_rank_rhat_da, self.posterior[v], 1.0, np.max) for v in params)
        return out

    def check_convergence(
        self, r_hat_max: float = 1.01, ess_min: float = 400.0, *, emit: bool = True
    ) -> list[str]:
        """Check MCMC convergence of the total and the parameters.

        Returns the list of problems found (empty if none) and, with
        ``emit=True``, emits a :class:`~casualty_models.errors.ConvergenceWarning`
        that says what is wrong and what to do.  Exact samplers always pass.
        """
        d = self.diagnostics()
        if d is None:
            return []
        problems = []
        if not d["r_hat"] <= r_hat_max:
            problems.append(f"r-hat of N_total is {d['r_hat']:.3f} (> {r_hat_max})")
        if d.get("max_r_hat_parameters", 1.0) > r_hat_max:
            problems.append(
                f"max r-hat of the parameters is {d['max_r_hat_parameters']:.3f} (> {r_hat_max})"
            )
        if not d["ess_bulk"] >= ess_min:
            problems.append(f"bulk ESS of N_total is {d['ess_bulk']:.0f} (< {ess_min:.0f})")
        if not d["ess_tail"] >= ess_min:
            problems.append(f"tail ESS of N_total is {d['ess_tail']:.0f} (< {ess_min:.0f})")
        if d["divergences"]:
            problems.append(f"{d['divergences']} divergent transitions")
        if problems and emit:
            warn(
                f"{self.model} fit may not have converged: " + "; ".join(problems)
                + ". Intervals may be wrong; run more draws/tune steps (or more chains) "
                "before reporting these numbers.",
                ConvergenceWarning,
            )
        return problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the command line's ``--json`` contract)."""

        def block(da: xr.DataArray, tail: float = 0.0) -> dict[str, float]:
            # totals over every non-sample dim (e.g. all periods of a nowcast)
            x = _flat(da).astype(float)
            x = x.reshape(x.shape[0], -1).sum(axis=1)
            if not tail < MATERIAL_TAIL:
                st = _tail_stats(x, tail)
                return {k: st[k] for k in ("mean", "median", *QUANTILES)}
            out = {"mean": float(x.mean()), "median": float(np.median(x))}
            for k, q in QUANTILES.items():
                out[k] = float(np.quantile(x, q))
            return out

        post = self.posterior
        res: dict[str, Any] = {
            "model": self.model,
            "observed": self.observed,
            "seed": self.random_seed,
            "sampler": self.sampler,
            "N": block(post["N_total"], self.tail_mass("N_total")),
            "N_unobserved": block(post["N_unobserved_total"], self.tail_mass("N_total")),
            "N_status": self.N_status,
            "diagnostics": self.diagnostics(),
            "priors": self.priors,
            "casualty_models_version": self.tree.attrs.get("casualty_models_version"),
            "data_fingerprint": self.tree.attrs.get("data_fingerprint"),
        }
        if len(self.strata) > 1:
            obs = self.tree["constant_data"]["observed"].values if (
                "constant_data" in self.tree.children
                and "observed" in self.tree["constant_data"].data_vars) else None
            strata: dict[str, Any] = {}
            for i, s in enumerate(self.strata):
                t = self.tail_mass("N", s)
                entry: dict[str, Any] = {"N": block(post["N"].sel(stratum=s), t),
                                         "N_unobserved": block(post["N_unobserved"].sel(stratum=s), t)}
                if obs is not None:
                    entry["observed"] = int(np.asarray(obs)[i].sum())
                strata[s] = entry
            res["strata"] = strata
        return res

    # ---------------------------------------------------------------- plots
    def plot(
        self,
        var: str = "N_total",
        *,
        published_range: tuple[float, float] | None = None,
        published_label: str = "comparison range",
        unit: str = "deaths",
        ax: Any = None,
        title: str | None = None,
        **sel: Any,
    ) -> Any:
        """Histogram of the posterior of the total, ready to publish.

        The bars inside the 95% equal-tailed interval are dark, those outside
        light (one shape, no overlapping bands); the median and the observed
        count are vertical lines; a comparison range is drawn as a bracket
        above the histogram, never as a second shaded band.  Counts on the
        axis have thousands separators; the legend sits outside the data.

        Parameters
        ----------
        var : str, default "N_total"
            Posterior variable; summed over any dims left after ``sel``.
        published_range : (low, high), optional
            A range to compare with, such as the fixed-multiplier range
            ``(names / 0.65, names / 0.45)``.
        published_label : str, default "comparison range"
            Its legend label (e.g. ``"fixed-multiplier range"``).
        unit : str, default "deaths"
            What is counted, used in the axis label (``"total deaths"``).
        ax : matplotlib Axes, optional
        title : str, optional
        **sel
            Coordinates to select, e.g. ``stratum="north"``.

        Returns
        -------
        matplotlib.figure.Figure
        """
        x = self.draws(var, **sel)
        x = x.reshape(x.shape[0], -1).sum(axis=1)  # total over any extra dims
        fig, ax, own = _figure(ax)
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        tail = self.tail_mass(var, sel.get("stratum")) if var in _N_VARS else 0.0
        if not tail < MATERIAL_TAIL:  # mass beyond the draws: read the quantiles honestly
            st = _tail_stats(x, tail)
            lo, med, hi = st["q025"], st["median"], st["q975"]
        obs: float | None = None
        if var in ("N_total", "N") and not sel:
            obs = self.observed
        elif var == "N" and "stratum" in sel and "constant_data" in self.tree.children:
            obs = int(self.tree["constant_data"]["observed"].sel(stratum=sel["stratum"]).sum())
        marks = [v for v in (obs, *(published_range or ())) if v is not None]
        edges, heights, beyond = _histogram(x, marks)
        inside = (edges[1:] > lo) & (edges[:-1] < hi)
        ax.bar(edges[:-1], heights, width=np.diff(edges), align="edge", linewidth=0,
               color=np.where(inside, _DARK, _LIGHT))
        handles: list[Any] = [_patch(_DARK, f"95% interval: {lo:,.0f} to {_count(hi)}")]
        if np.isfinite(med):
            handles.append(ax.vlines(med, 0.0, 1.02, color=_MEDIAN, lw=2,
                                     label=f"median {med:,.0f}"))
        if obs is not None:
            handles.append(ax.axvline(obs, color="black", ls="--", lw=1.5,
                                      label=f"observed {obs:,.0f}"))
        if published_range is not None:
            a, b = published_range
            handles.append(_bracket(ax, a, b, 1.1, _RANGE,
                                    f"{published_label}: {a:,.0f} to {b:,.0f}"))
        ax.set_ylim(0, 1.22)
        _count_axis(ax, _var_label(var, unit, sel) + _beyond_note(beyond))
        if not tail < MATERIAL_TAIL:
            ax.set_xlabel(f"{_var_label(var, unit, sel)}: {tail:.1%} of the posterior lies "
                          "beyond the grid (the total is unbounded)")
        ax.set_title(title or f"Posterior of {_var_label(var, unit, sel)}")
        _legend(fig, ax, handles, own)
        return fig

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole tree (every group and attr) to a netCDF file."""
        self.tree.to_netcdf(os.fspath(path), engine="h5netcdf")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Results:
        """Read a result written by :meth:`save`."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise DataValidationError(f"result file {path!r} does not exist.")
        tree = xr.open_datatree(path, engine="h5netcdf").load()
        tree.close()
        return cls(tree)

    def __repr__(self) -> str:
        s = self.summary(["N_total"]).iloc[0]
        return (
            f"<Results {self.model} ({self.sampler}): N_total median {s['median']:,.0f}, "
            f"95% [{s['q025']:,.0f}, {s['q975']:,.0f}], observed {self.observed:,}>"
        )


def load_results(path: str | os.PathLike[str]) -> Results | LogLinearMLE:
    """Read any saved result: a :class:`Results`, or a :class:`LogLinearMLE` saved by its ``save``.

    The file's root attribute ``result_type`` tells them apart (a
    :class:`Results` file has none).
    """
    from .results_mle import RESULT_TYPE, LogLinearMLE

    if _result_type(path) != RESULT_TYPE:
        return Results.load(path)
    with xr.open_dataset(os.fspath(path), engine="h5netcdf") as ds:
        return LogLinearMLE.from_dataset(ds.load())


def _result_type(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataValidationError(f"result file {path!r} does not exist.")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return str(ds.attrs.get("result_type", ""))
