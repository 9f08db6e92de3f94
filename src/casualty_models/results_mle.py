"""The result of a maximum-likelihood log-linear fit, :class:`LogLinearMLE`.

A point estimate with a profile-likelihood interval has no posterior draws,
so it is not a :class:`~casualty_models.results.Results`; it satisfies the same
:class:`~casualty_models.results.FitResult` interface (summary, JSON, plot,
save) so that callers treat both alike, and
:func:`~casualty_models.results.load_results` reads back what :meth:`LogLinearMLE.save`
writes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__

__all__ = ["RESULT_TYPE", "LogLinearMLE"]

#: Root attribute ``result_type`` of a saved :class:`LogLinearMLE` (how the loader tells it apart).
RESULT_TYPE = "LogLinearMLE"

_PER_STRATUM = {"N": "N", "N_low": "N_low", "N_high": "N_high", "observed": "observed",
                "loglik": "loglik", "deviance": "deviance", "aic": "AIC", "bic": "BIC"}
_TOTALS = ("N_total", "N_total_low", "N_total_high")


@dataclass
class LogLinearMLE:
    """Maximum-likelihood fit of one log-linear model, per stratum and in total.

    Attributes
    ----------
    lists, strata : tuple of str
    terms : list of str
        Model terms: ``"(Intercept)"``, main effects, interactions.
    observed : ndarray (n_stratum,)
    N, N_low, N_high : ndarray (n_stratum,)
        MLE of the total and its profile-likelihood interval per stratum.
    N_total, N_total_low, N_total_high : float
        Sum of the per-stratum MLEs and the profile interval of the total.
        ``N_total`` is NaN when a stratum's N is not estimable and infinite
        when one is unbounded (see :attr:`total_status`); it is never the
        observed count standing in for an estimate.
    loglik, deviance, aic, bic : ndarray (n_stratum,)
    df : int
        Residual degrees of freedom per stratum, :math:`2^K - 1 - p`.
    coefficients : DataFrame (stratum x term)
    fitted : ndarray (n_stratum, n_pattern)
        Fitted expected counts of the observable cells (``patterns``).
    status : list of str
        ``"ok"``, ``"sparse"`` (few records or overlaps), ``"not estimable"``
        (no record on two lists: N and the lower limit are NaN, the upper inf),
        ``"boundary"`` (an empty margin or a list that overlaps nothing),
        ``"implausible"`` (N above ``max_ratio`` times the observed) or
        ``"unbounded"`` (the MLE of N is infinite).
    messages : list of str
        What the data cannot tell, for every stratum that is not ``"ok"``.
    patterns : list of str
        0/1 labels of the observable cells, in the order of ``fitted``.
    """

    lists: tuple[str, ...]
    strata: tuple[str, ...]
    terms: list[str]
    observed: np.ndarray
    N: np.ndarray
    N_low: np.ndarray
    N_high: np.ndarray
    N_total: float
    N_total_low: float
    N_total_high: float
    loglik: np.ndarray
    deviance: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    df: int
    coefficients: pd.DataFrame
    fitted: np.ndarray
    status: list[str]
    messages: list[str]
    model_config: dict[str, Any]
    data_fingerprint: str = ""
    data_source: str = ""
    level: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)
    patterns: list[str] = field(default_factory=list)

    model: str = "LogLinear"
    sampler: str = "mle"

    # -- the FitResult interface shared with Results ------------------------
    @property
    def total_status(self) -> str:
        """Status of the total.

        ``"not estimable"`` (``N_total`` is NaN), ``"unbounded"`` (inf), the
        single stratum's status, ``"ok"`` or ``"see strata"``.
        """
        if math.isnan(self.N_total):
            return "not estimable"
        if math.isinf(self.N_total):
            return "unbounded"
        if len(self.strata) == 1:
            return self.status[0]
        return "ok" if all(x == "ok" for x in self.status) else "see strata"

    def summary(self) -> pd.DataFrame:
        """One row per stratum (and ``total``): observed, N, interval, fit criteria."""
        rows = []
        for i, s in enumerate(self.strata):
            rows.append({"stratum": s, "observed": int(self.observed[i]), "N": self.N[i],
                         "q025": self.N_low[i], "q975": self.N_high[i],
                         "N_unobserved": self.N[i] - self.observed[i],
                         "deviance": self.deviance[i], "AIC": self.aic[i],
                         "BIC": self.bic[i], "status": self.status[i]})
        if len(self.strata) > 1:
            rows.append({"stratum": "total", "observed": int(self.observed.sum()),
                         "N": self.N_total, "q025": self.N_total_low,
                         "q975": self.N_total_high,
                         "N_unobserved": self.N_total - self.observed.sum(),
                         "deviance": self.deviance.sum(), "AIC": self.aic.sum(),
                         "BIC": self.bic.sum(), "status": self.total_status})
        return pd.DataFrame(rows).set_index("stratum")

    def check_convergence(self, *args: Any, **kwargs: Any) -> list[str]:
        """Maximum likelihood has no MCMC to check: always ``[]``."""
        return []

    def describe_priors(self) -> str:
        """No priors: maximum likelihood.  Names the model instead."""
        return (f"maximum likelihood, Poisson log-linear model {self.extra.get('label', '')} "
                f"(terms: {', '.join(self.terms[1:])}); {int(self.level * 100)}% profile "
                "likelihood interval")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the foundation fields.

        ``N.estimate`` is the MLE and ``N.q025``/``N.q975`` the profile interval;
        ``N_status`` says whether the total is estimable at all.
        """

        def block(est: float, lo: float, hi: float) -> dict[str, Any]:
            return {"estimate": est, "median": est, "mean": est, "q025": lo, "q975": hi}

        obs = float(self.observed.sum())
        out: dict[str, Any] = {
            "model": self.model,
            "method": "mle",
            "observed": int(obs),
            "seed": None,
            "sampler": self.sampler,
            "N": block(self.N_total, self.N_total_low, self.N_total_high),
            "N_unobserved": block(self.N_total - obs, self.N_total_low - obs,
                                  self.N_total_high - obs),
            "N_status": self.total_status,
            "diagnostics": None,
            "priors": {},
            "casualty_models_version": __version__,
            "data_fingerprint": self.data_fingerprint,
            "lists": list(self.lists),
            "terms": self.terms,
            "model_label": self.extra.get("label", ""),
            "deviance": float(self.deviance.sum()),
            "df": int(self.df * len(self.strata)),
            "AIC": float(self.aic.sum()),
            "BIC": float(self.bic.sum()),
            "status": self.status if len(self.strata) > 1 else self.status[0],
            "messages": self.messages,
        }
        if len(self.strata) > 1:
            out["strata"] = {
                s: {"observed": int(self.observed[i]),
                    "N": block(float(self.N[i]), float(self.N_low[i]), float(self.N_high[i])),
                    "status": self.status[i]}
                for i, s in enumerate(self.strata)
            }
        return out

    # ------------------------------------------------------------ save/load
    def to_dataset(self) -> xr.Dataset:
        """Everything in the result as one :class:`xarray.Dataset` (what :meth:`save` writes)."""
        data: dict[str, Any] = {name: ("stratum", np.asarray(getattr(self, attr)))
                                for attr, name in _PER_STRATUM.items()}
        data["coefficients"] = (("stratum", "term"), self.coefficients.to_numpy())
        data["fitted"] = (("stratum", "pattern"), np.asarray(self.fitted))
        for name in _TOTALS:  # scalars as variables: NaN and inf survive netCDF there
            data[name] = ((), float(getattr(self, name)))
        return xr.Dataset(
            data,
            coords={"stratum": list(self.strata), "term": list(self.terms),
                    "pattern": list(self.patterns)},
            attrs={"result_type": RESULT_TYPE, "model": self.model, "sampler": self.sampler,
                   "lists": json.dumps(list(self.lists)), "df": int(self.df),
                   "level": float(self.level), "status": json.dumps(self.status),
                   "messages": json.dumps(self.messages),
                   "model_config": json.dumps(self.model_config),
                   "extra": json.dumps(self.extra), "data_fingerprint": self.data_fingerprint,
                   "data_source": self.data_source, "casualty_models_version": __version__},
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole result to netCDF; :func:`~casualty_models.load_results` reads it."""
        self.to_dataset().to_netcdf(os.fspath(path), engine="h5netcdf")

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> LogLinearMLE:
        """Rebuild the result from :meth:`to_dataset` output (the inverse of :meth:`save`)."""
        a = ds.attrs
        strata = tuple(str(s) for s in ds["stratum"].values)
        terms = [str(t) for t in ds["term"].values]
        per: dict[str, Any] = {attr: np.asarray(ds[name].values)
                               for attr, name in _PER_STRATUM.items()}
        per["observed"] = per["observed"].astype(np.int64)
        per.update({name: float(ds[name].values) for name in _TOTALS})
        return cls(
            lists=tuple(json.loads(a["lists"])), strata=strata, terms=terms,
            **per,
            df=int(a["df"]),
            coefficients=pd.DataFrame(np.asarray(ds["coefficients"].values),
                                      index=list(strata), columns=terms),
            fitted=np.asarray(ds["fitted"].values), status=list(json.loads(a["status"])),
            messages=list(json.loads(a["messages"])),
            model_config=dict(json.loads(a["model_config"])),
            data_fingerprint=str(a.get("data_fingerprint", "")),
            data_source=str(a.get("data_source", "")), level=float(a["level"]),
            extra=dict(json.loads(a["extra"])),
            patterns=[str(p) for p in ds["pattern"].values],
            model=str(a["model"]), sampler=str(a["sampler"]),
        )

    # ---------------------------------------------------------------- plot
    def plot(self, *, published_range: tuple[float, float] | None = None,
             published_label: str = "published range", title: str | None = None,
             ax: Any = None) -> Any:
        """MLE and profile interval of N per stratum (and the total)."""
        import matplotlib.pyplot as plt

        tab = self.summary()
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 0.5 * len(tab) + 1.5))
        else:
            fig = ax.figure
        yy = np.arange(len(tab))[::-1]
        est = tab["N"].to_numpy(dtype=float)
        lo_v = tab["q025"].to_numpy(dtype=float)
        hi_v = tab["q975"].to_numpy(dtype=float)
        fin = np.isfinite(est)
        hi_v = np.where(np.isfinite(hi_v), hi_v, np.nan)
        ax.errorbar(est[fin], yy[fin], xerr=[np.clip(est - lo_v, 0, None)[fin],
                                             np.clip(hi_v - est, 0, None)[fin]],
                    fmt="o", color="#4c72b0", capsize=3,
                    label=f"MLE and {self.level:.0%} profile interval")
        ax.scatter(tab["observed"], yy, marker="|", color="black", s=120, label="observed")
        if published_range is not None:
            ax.axvspan(*published_range, color="#c44e52", alpha=0.1, label=published_label)
        ax.set_yticks(yy, list(tab.index))
        ax.set_xlabel("total deaths N")
        ax.set_title(title or f"log-linear MLE {self.extra.get('label', '')}")
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return (f"<LogLinearMLE {self.extra.get('label', '')}: N {self.N_total:,.1f} "
                f"[{self.N_total_low:,.0f}, {self.N_total_high:,.0f}] ({self.total_status}), "
                f"observed {int(self.observed.sum()):,}>")
