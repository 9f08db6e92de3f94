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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .errors import ConvergenceWarning, DataValidationError, warn

if TYPE_CHECKING:
    from .results_mle import LogLinearMLE

__all__ = ["FitResult", "Results", "build_datatree", "load_results", "plot_posteriors"]

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


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    return x


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pymc", "pytensor", "arviz-base", "arviz-stats", "numpy", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - optional packages
            continue
    return json.dumps(out)


def build_datatree(
    posterior: Mapping[str, xr.DataArray],
    *,
    model: str,
    model_config: Mapping[str, Any],
    priors: Mapping[str, Any],
    random_seed: int | None,
    data_fingerprint: str,
    data_source: str,
    sampler: str,
    observed: int,
    observed_data: Mapping[str, xr.DataArray] | None = None,
    constant_data: Mapping[str, xr.DataArray] | None = None,
    sample_stats: xr.Dataset | None = None,
    base: xr.DataTree | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Assemble a result DataTree following the contract.

    Parameters
    ----------
    posterior : mapping of name to DataArray
        Posterior variables with dims ``(chain, draw, ...)``; ``N`` and
        ``N_unobserved`` must be present and have a ``stratum`` dim.  Their
        totals over strata are added here.
    observed : int
        Total number of deaths observed (recorded as attr ``observed``).
    base : DataTree, optional
        A tree from ``pm.sample`` whose groups are kept (its posterior is
        extended with ``posterior``).
    """
    for name in ("N", "N_unobserved"):
        if name not in posterior:
            raise ValueError(f"internal: posterior lacks {name!r}")
        if "stratum" not in posterior[name].dims:
            raise ValueError(f"internal: {name} lacks the stratum dim")
    post_vars = dict(posterior)
    post_vars["N_total"] = post_vars["N"].sum("stratum")
    post_vars["N_unobserved_total"] = post_vars["N_unobserved"].sum("stratum")
    for name in ("N", "N_unobserved", "N_total", "N_unobserved_total"):
        post_vars[name] = post_vars[name].astype(np.int64)

    groups: dict[str, xr.Dataset] = {}
    if base is not None:
        for path, node in base.subtree_with_keys:
            if path and node.has_data:
                groups[path] = node.to_dataset(inherit=False)
    post = groups.get("posterior", xr.Dataset())
    post = post.assign(post_vars)
    groups["posterior"] = post
    if observed_data:
        groups["observed_data"] = groups.get("observed_data", xr.Dataset()).assign(observed_data)
    if constant_data:
        groups["constant_data"] = groups.get("constant_data", xr.Dataset()).assign(constant_data)
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    groups.setdefault("sample_stats", xr.Dataset())

    attrs = {
        "model": model,
        "model_config": json.dumps(_jsonable(model_config), sort_keys=True),
        "priors": json.dumps(_jsonable(priors), sort_keys=True),
        "random_seed": "None" if random_seed is None else int(random_seed),
        "data_fingerprint": data_fingerprint,
        "data_source": data_source,
        "sampler": sampler,
        "observed": int(observed),
        "casualty_models_version": __version__,
        "library_versions": _library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if extra_attrs:
        attrs.update({k: (json.dumps(_jsonable(v)) if isinstance(v, dict | list) else v)
                      for k, v in extra_attrs.items()})
    tree = xr.DataTree.from_dict({f"/{k}": v for k, v in groups.items()})
    tree.attrs = attrs
    return tree


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

            stat["r_hat"] = azs.rhat(da)
            stat["ess_bulk"] = azs.ess(da, method="bulk")
            stat["ess_tail"] = azs.ess(da, method="tail")
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
        import arviz_stats as azs

        da = self.posterior["N_total"]
        div = 0
        if "sample_stats" in self.tree.children:
            ss = self.tree["sample_stats"].to_dataset()
            if "diverging" in ss:
                div = int(ss["diverging"].sum())
        out: dict[str, Any] = {
            "r_hat": float(np.nanmax(azs.rhat(da).values)),
            "ess_bulk": float(np.nanmin(azs.ess(da, method="bulk").values)),
            "ess_tail": float(np.nanmin(azs.ess(da, method="tail").values)),
            "divergences": div,
        }
        # parameters of the model (not N) also need to have mixed
        params = [str(v) for v in self.posterior.data_vars
                  if not str(v).startswith("N") and np.issubdtype(self.posterior[v].dtype, np.floating)]
        if params:
            rh = azs.rhat(self.posterior[params])
            out["max_r_hat_parameters"] = float(max(np.nanmax(rh[v].values) for v in params))
        if "wall_time" in self.tree.attrs:
            out["wall_time_s"] = float(self.tree.attrs["wall_time"])
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


# ---------------------------------------------------------------------- plotting helpers
_DARK, _LIGHT, _MEDIAN, _RANGE = "#3b6aa0", "#c6d4e6", "#15314f", "#b2182b"
#: Colour-blind-safe line colours (Okabe-Ito) for several posteriors on one axis.
_LINES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_VAR_TEXT = {"N_total": "total {unit}", "N": "{unit}", "N_unobserved_total": "{unit} not recorded",
             "N_unobserved": "{unit} not recorded", "eventual": "eventually reported {unit}",
             "N_cumulative": "cumulative {unit}"}


def _var_label(var: str, unit: str, sel: Mapping[str, Any] | None = None) -> str:
    """Words for a posterior variable: ``"total deaths"``, never ``"N_total"``."""
    text = _VAR_TEXT.get(var, var.replace("_", " ")).format(unit=unit)
    if sel:
        text += " (" + ", ".join(f"{k} {v}" for k, v in sel.items()) + ")"
    return text


def _figure(ax: Any) -> tuple[Any, Any, bool]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
        return fig, ax, True
    return ax.figure, ax, False


def _histogram(x: np.ndarray, marks: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Bins over the bulk of the draws (to the 99.9% quantile, and any marked value).

    Returns the edges, bar heights scaled to a tallest bar of 1 (a density's
    scale is not a number to read) and the share of draws beyond the last edge.
    """
    x = np.asarray(x, dtype=float)
    top = max([float(np.quantile(x, 0.999)), *marks])
    bottom = min([float(x.min()), *marks])
    n_unique = int(np.unique(x[x <= top]).size)
    edges = np.histogram_bin_edges(x, bins=min(80, max(10, n_unique)), range=(bottom, top))
    counts, edges = np.histogram(x, bins=edges)
    beyond = float(np.mean(x > top))
    return edges, counts / max(int(counts.max()), 1), beyond


def _count(v: float) -> str:
    """A count with thousands separators; infinity in words."""
    return f"{v:,.0f}" if np.isfinite(v) else "unbounded"


def _beyond_note(beyond: float) -> str:
    """Axis-label note on the draws cut off the right of the axis (never silently)."""
    return f" ({beyond:.1%} of draws lie beyond the axis)" if beyond else ""


def _patch(color: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor="none", label=label)


def _bracket(ax: Any, a: float, b: float, y: float, color: str, label: str) -> Any:
    """A range drawn as a horizontal bracket at height ``y`` (data units) above the bars."""
    (line,) = ax.plot([a, b], [y, y], color=color, lw=2, marker="|", markersize=12,
                      markeredgewidth=2, solid_capstyle="butt", label=label)
    return line


def _thousands(axis: Any) -> None:
    """Integer ticks with thousands separators on a count axis (``ax.xaxis``)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _count_axis(ax: Any, label: str) -> None:
    """Counts on x with thousands separators; no density ticks on y."""
    _thousands(ax.xaxis)
    ax.set_xlabel(label)
    ax.set_ylabel("posterior probability (relative)")
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _legend(fig: Any, ax: Any, handles: Sequence[Any], own: bool) -> None:
    """Legend outside the data: below our own figure, right of a caller's axes."""
    if own:
        fig.legend(handles=list(handles), loc="outside lower center", ncol=2, frameon=False,
                   fontsize=9)
    else:
        ax.legend(handles=list(handles), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, fontsize=8)


def plot_posteriors(
    results: Mapping[str, Results],
    var: str = "N_total",
    *,
    unit: str = "deaths",
    observed: float | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Several posteriors of the same quantity on one axis, e.g. one per assumption.

    Each is an outline (no fill, so nothing overlaps into an unreadable
    colour) on a common scale, labelled with its median and 95% interval.

    Parameters
    ----------
    results : mapping of label to Results
        E.g. ``{"shared": r1, "partial": r2, "independent": r3}``.
    var : str, default "N_total"
    unit : str, default "deaths"
    observed : float, optional
        An observed count to mark (dashed line).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not results:
        raise DataValidationError("plot_posteriors needs at least one result.")
    fig, ax, own = _figure(ax)
    draws = {k: r.draws(var).reshape(r.draws(var).shape[0], -1).sum(axis=1)
             for k, r in results.items()}
    pooled = np.concatenate(list(draws.values()))
    marks = [] if observed is None else [float(observed)]
    edges, _, beyond = _histogram(pooled, marks)
    dens = {k: np.histogram(x, bins=edges)[0] / x.size for k, x in draws.items()}
    top = max(float(d.max()) for d in dens.values()) or 1.0
    handles = []
    for i, (k, x) in enumerate(draws.items()):
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        color = _LINES[i % len(_LINES)]
        handles.append(ax.stairs(dens[k] / top, edges, color=color, lw=2,
                                 label=f"{k}: median {med:,.0f}, 95% {lo:,.0f} to {hi:,.0f}"))
    if observed is not None:
        handles.append(ax.axvline(observed, color="black", ls="--", lw=1.5,
                                  label=f"observed {observed:,.0f}"))
    ax.set_ylim(0, 1.08)
    _count_axis(ax, _var_label(var, unit) + _beyond_note(beyond))
    ax.set_title(title or f"Posterior of {_var_label(var, unit)}")
    if own:
        fig.legend(handles=handles, loc="outside lower center", ncol=1, frameon=False,
                   fontsize=9)
    else:
        _legend(fig, ax, handles, own)
    return fig


def posterior_array(
    values: np.ndarray, dims: Sequence[str], coords: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Wrap an array of draws with shape (chain, draw, ...) as a named DataArray."""
    values = np.asarray(values)
    if len(dims) != values.ndim:
        raise ValueError(f"internal: {values.shape} vs dims {dims}")
    coords = dict(coords or {})
    c = {d: coords[d] for d in dims if d in coords}
    c.setdefault("chain", np.arange(values.shape[0]))
    c.setdefault("draw", np.arange(values.shape[1]))
    return xr.DataArray(values, dims=tuple(dims), coords=c, name=name)
