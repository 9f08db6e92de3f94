r"""Exact Bayesian model averaging over decomposable graphical models.

The method of Madigan & York (1997), as implemented by the R package dga
(Johndrow, Lum & Ball): average over every decomposable graphical model of
the :math:`2^K` capture table, each with a hyper-Dirichlet prior, with the
unobserved cell :math:`n_0` on an integer grid.  Everything is a closed form:
the posterior of :math:`N` is exact on the grid and its draws are exact
samples from it (no MCMC).

Model
-----
Let :math:`y_x` be the number of people with capture pattern
:math:`x \in \{0,1\}^K`, :math:`x \ne 0`, :math:`n_{obs} = \sum_x y_x`, and
:math:`N = n_{obs} + n_0`.  For a decomposable graph :math:`g` with maximal
cliques :math:`\mathcal C_g` and (non-empty) separators :math:`\mathcal S_g`,
the complete table is multinomial with cell probabilities that factorise over
:math:`g`, and the hyper-Dirichlet prior gives every marginal table
:math:`y_A` (:math:`A` a clique or separator, :math:`2^{|A|}` cells) a
Dirichlet prior with all parameters :math:`\delta_A = \delta\, 2^{K - |A|}`
(the :math:`\delta` of each full cell spread over its margin, so every margin
has total prior weight :math:`\alpha = 2^K \delta`).  Then

.. math::

    p(y, n_0 \mid g) &= \binom{N}{n_0, y} \,
      \frac{\prod_{C \in \mathcal C_g} M_C(n_0)}{\prod_{S \in \mathcal S_g} M_S(n_0)},
    \\
    M_A(n_0) &= \frac{\Gamma(\alpha)}{\Gamma(N + \alpha)}
      \prod_{z \in \{0,1\}^{|A|}} \frac{\Gamma(y_{A,z} + \delta_A)}{\Gamma(\delta_A)},

where the margin's all-zero cell :math:`y_{A,0}` includes :math:`n_0`.  With
a prior :math:`p(N)` (default :math:`\propto 1/N`) and a uniform prior over
graphs,

.. math::

    p(g, n_0 \mid y) \propto p(y, n_0 \mid g)\, p(N = n_{obs} + n_0),

evaluated for every graph and every :math:`n_0 = 0, 1, \dots, n_{max}`.
Summing over :math:`n_0` gives the posterior model probabilities; summing
over graphs gives the model-averaged posterior of :math:`N`.

This reproduces ``dga::bma.cr`` (``MakeCompMatrix``/``CompLogML``: each
margin's log marginal likelihood without the :math:`\Gamma(\alpha)/\Gamma(N+\alpha)`
factor, which is added (cliques - separators) times; the multinomial
coefficient ``lgamma(N+1) - sum(lgamma(y+1)) - lgamma(n0+1)``; the default
log prior ``-log(N)``).  The reference call, e.g. for Kosovo::

    library(dga); data(graphs4)
    Y <- array(c(0, y), dim = rep(2, 4))   # cells in dga's order
    w <- bma.cr(Y, Nmissing = 0:100000, delta = 1/16, graphs = graphs4)
    post <- colSums(w)                       # posterior of n0

Identifying assumption
----------------------
The people no list recorded follow the same dependence structure as the
recorded ones: within each decomposable model, the **highest-order
interaction is absent** (the :math:`K`-way and any interaction not contained
in a clique are zero), so the observed cells determine the unobserved one.
Averaging spreads the answer over the decomposable models in proportion to
how well each fits; models outside that family (for example heterogeneous
capture that no set of cliques describes) are not represented.  The prior
matters: :math:`\delta` is a pseudo-count per cell and the posterior of
:math:`N` (and the weight of the saturated model) moves with it.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..containers import CaptureTable
from ..errors import DataValidationError, IdentifiabilityWarning, PriorError, SparseDataWarning, warn
from ..priors import inverse_n_prior, prior_record
from ..results import QUANTILES, Results, build_datatree, posterior_array
from ..validation import check_int, check_number
from ._base import check_sampling_args
from ._bma_grid import TAIL_WARN, GridPosterior, LogPrior, bma_grid, log_joint, log_prior_fn
from ._graphs import decomposable_graphs

__all__ = ["DecomposableBMA", "GridPosterior", "bma_grid", "exact_total_summary",
           "grid_summary", "log_joint", "model_table", "total_grid"]

#: Posterior probability of the saturated graph above which N is flagged prior-driven.
SATURATED_WARN = 0.05


# ------------------------------------------------------------------ model class
@dataclass(frozen=True)
class DecomposableBMA:
    r"""Bayesian model averaging over decomposable graphs (Madigan & York; dga).

    Parameters
    ----------
    delta : float, optional
        Hyper-Dirichlet prior count per cell of the full :math:`2^K` table;
        default :math:`2^{-K}` (a total prior weight of one observation).
        A margin over :math:`|A|` lists gets :math:`\delta 2^{K-|A|}` per cell.
    prior_n : {"1/N", "uniform"}, callable or array, default "1/N"
        Prior on the total :math:`N`: ``"1/N"`` (dga's default), ``"uniform"``
        on the grid, a function returning :math:`\log p(N)` for an array of N,
        or an array of log prior values over :math:`n_0 = 0, \dots, n_{max}`
        (as dga's ``logprior`` over ``Nmissing = 0:n_max``; it fixes the grid).
    n_max : int, optional
        Last grid value of the unobserved count :math:`n_0`.  By default it is
        chosen per table so that less than :math:`10^{-5}` of the posterior lies
        beyond it (up to ``max(100 * observed, 20000)``; a heavier tail gives
        an :class:`~casualty_models.errors.IdentifiabilityWarning`).
    min_observed : int, default 20
        Strata with fewer records, or with no record on two or more lists,
        are flagged sparse (:class:`~casualty_models.errors.SparseDataWarning`):
        their posterior is driven by the prior.

    Identifying assumption
    ----------------------
    Within each decomposable model, the interactions not contained in a
    clique, in particular the highest-order (K-way) interaction, are absent:
    the unobserved people share the dependence structure of the observed
    ones.  The average is only over decomposable dependence structures.

    Examples
    --------
    >>> from casualty_models.datasets import load_capture_table
    >>> res = DecomposableBMA(delta=1/8).fit(load_capture_table("spina_bifida"),
    ...                                      random_seed=1)
    >>> int(grid_summary(res).loc["all", "median"])
    731
    >>> model_table(res).iloc[0]["graph"]
    '[L1][L2,L3]'
    """

    delta: float | None = None
    prior_n: LogPrior = "1/N"
    n_max: int | None = None
    min_observed: int = 20

    def __post_init__(self) -> None:
        if self.delta is not None:
            check_number("delta", self.delta, low=0.0, low_open=True, error=PriorError)
        if self.n_max is not None:
            check_int("n_max", self.n_max, low=1)
        check_int("min_observed", self.min_observed, low=0)
        log_prior_fn(self.prior_n, 1)  # validate early

    def delta_for(self, k: int) -> float:
        """Return the cell parameter used for ``k`` lists."""
        return float(self.delta) if self.delta is not None else 2.0 ** -k

    def priors(self, k: int) -> dict[str, Any]:
        """Return the priors used, as a JSON-ready mapping."""
        d = self.delta_for(k)
        n_text = log_prior_fn(self.prior_n, 1)[2]
        return {
            "N": (inverse_n_prior() if self.prior_n in ("1/N", "1/n", "inverse")
                  else prior_record(distribution="user" if not isinstance(self.prior_n, str)
                                    else str(self.prior_n), text=n_text)),
            "cells": prior_record(
                distribution="hyper-Dirichlet", delta=d,
                text=f"hyper-Dirichlet, delta = {d:g} per cell of the 2^{k} table "
                     f"(margin over m lists: delta * 2^({k}-m) per cell)"),
            "graphs": prior_record(
                distribution="uniform", text=f"uniform over the {len(decomposable_graphs(k))} "
                f"decomposable graphs on {k} lists"),
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        prior = self.prior_n if isinstance(self.prior_n, str) else log_prior_fn(
            self.prior_n, 1)[2]
        return {"delta": self.delta, "prior_n": prior, "n_max": self.n_max,
                "min_observed": self.min_observed}

    # ------------------------------------------------------------------ fit
    def fit_grid(self, table: CaptureTable, stratum: str | None = None) -> GridPosterior:
        """Compute the exact grid posterior for one stratum (or an unstratified table)."""
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"DecomposableBMA.fit needs a CaptureTable, got {type(table).__name__}. Fix: "
                "build one with CaptureTable.from_counts / from_records / from_mapping."
            )
        k = table.n_lists
        decomposable_graphs(k)  # validates k
        i = 0 if stratum is None else table.strata.index(stratum)
        y = np.zeros(1 << k)
        codes = table.patterns.astype(np.int64) @ (1 << np.arange(k))
        np.add.at(y, codes, table.counts[i])
        n_obs = int(table.counts[i].sum())
        if n_obs == 0:
            raise DataValidationError(
                f"stratum {table.strata[i]!r} has no records: nothing to estimate from. "
                "Fix: drop it or merge it with another stratum."
            )
        fn, implied, _ = log_prior_fn(self.prior_n, n_obs)
        n_max = self.n_max
        if implied is not None:
            if n_max is not None and n_max != implied:
                raise PriorError(
                    f"prior_n array covers n0 = 0..{implied} but n_max={n_max}: expected "
                    "them to agree. Fix: drop n_max or pass a prior array of length n_max + 1."
                )
            n_max = implied
        gp = bma_grid(y, k, self.delta_for(k), log_prior=fn, n_max=n_max)
        gp.extra["n_observed"] = n_obs
        return gp

    def fit(
        self,
        table: CaptureTable,
        *,
        draws: int = 4000,
        chains: int = 4,
        random_seed: int | None = None,
        executor: Any = None,
    ) -> Results:
        """Exact model-averaged posterior of the total, per stratum and summed.

        Parameters
        ----------
        table : CaptureTable
            K = 2..6 lists; strata are fitted independently.
        draws, chains : int
            Exact independent draws from the grid posterior, arranged in chains.
        random_seed : int, optional
            Same seed, same draws.  Recorded with the result.
        executor : optional
            Where the strata's grid posteriors are computed: ``None`` (here, one
            after another), or any executor of :func:`casualty_models.parallel.open_executor`
            (local processes, a dask cluster).  The grids are exact, so the
            result does not depend on it.

        Returns
        -------
        Results
            ``posterior``: ``N``, ``N_unobserved`` (chain, draw, stratum) and
            their totals; ``constant_data``: ``posterior_grid`` (stratum,
            n_unobserved), ``model_probability`` and per-graph ``model_N_median``,
            ``model_N_q025``, ``model_N_q975`` (stratum, graph), ``sparse``
            (stratum), ``observed``.
        """
        check_sampling_args(draws, chains, random_seed=random_seed)
        t0 = time.perf_counter()
        if not isinstance(table, CaptureTable):
            self.fit_grid(table)  # raises the type error
        k = table.n_lists
        graphs = decomposable_graphs(k)
        labels = [g.label(table.lists) for g in graphs]
        rng = np.random.default_rng(random_seed)
        sparse: list[str] = []
        for s, name in enumerate(table.strata):
            n_obs = int(table.counts[s].sum())
            multi = int(table.counts[s][table.patterns.sum(axis=1) >= 2].sum())
            if n_obs < self.min_observed or multi == 0:
                sparse.append(name)
        if executor is None:
            fits = [self.fit_grid(table, name) for name in table.strata]
        else:
            from ..parallel import gather, map_runs

            outcomes, _ = map_runs(functools.partial(_fit_grid_run, self, table),
                                   [{"stratum": name} for name in table.strata],
                                   [None] * len(table.strata), executor=executor)
            fits = gather(outcomes)
        if sparse:
            why = [f"{s!r} ({int(table.counts[table.strata.index(s)].sum())} records)"
                   for s in sparse]
            warn(
                f"stratum(s) {', '.join(why)} are too sparse for multiple systems estimation "
                f"(fewer than {self.min_observed} records, or nobody on two or more lists): "
                "their posterior of N is driven by the prior (delta and p(N)), not by list "
                "overlaps. They are kept in the total and flagged in constant_data['sparse']; "
                "merge them with similar strata for an estimate the data support.",
                SparseDataWarning,
            )
        heavy = [(name, gp.tail_mass) for name, gp in zip(table.strata, fits, strict=True)
                 if not gp.tail_mass < TAIL_WARN]
        if heavy:
            txt = ", ".join(f"{n!r} ({'unbounded' if not np.isfinite(t) else f'{t:.2%}'})"
                            for n, t in heavy)
            warn(
                f"the posterior of N has a heavy tail beyond the grid in stratum(s) {txt}: "
                "the data do not bound the number of unobserved deaths under some models "
                "(typically the saturated one). N is reported as unbounded (N_status "
                "'unbounded': infinite mean, infinite quantiles above the mass the grid "
                "covers), never as quantiles of the truncated grid. Check a larger n_max, or "
                "use a proper prior_n.",
                IdentifiabilityWarning,
            )
        sat = [(name, float(gp.model_prob[-1])) for name, gp in zip(table.strata, fits,
                                                                   strict=True)
               if name not in sparse and gp.model_prob[-1] > SATURATED_WARN]
        if sat:
            txt = ", ".join(f"{n!r} ({p:.0%})" for n, p in sat)
            warn(
                f"the saturated model {labels[-1]} (every list dependent on every other, "
                f"no conditional independence) has posterior probability {txt}. Under it the "
                "observed cells say nothing about the unobserved one: that part of the "
                "posterior of N is the prior (delta and p(N)), with a long upper tail. The "
                "data do not identify N without an assumption of conditional independence; "
                "report the estimate as assumption-driven, compare models with model_table(), "
                "or look at a larger delta and at stratified fits.",
                IdentifiabilityWarning,
            )
        n_s = len(table.strata)
        unobs = np.empty((chains, draws, n_s), dtype=np.int64)
        for s, gp in enumerate(fits):
            cdf = np.cumsum(gp.posterior)
            u = rng.random(chains * draws) * cdf[-1]
            idx = np.minimum(np.searchsorted(cdf, u, side="right"), gp.n0.size - 1)
            unobs[:, :, s] = gp.n0[idx].reshape(chains, draws)
        obs = table.observed.astype(np.int64)
        wall = time.perf_counter() - t0
        return self._package(table, fits, labels, unobs, obs, sparse, random_seed, wall)

    def _package(self, table: CaptureTable, fits: list[GridPosterior], labels: list[str],
                 unobs: np.ndarray, obs: np.ndarray, sparse: list[str],
                 random_seed: int | None, wall: float) -> Results:
        k = table.n_lists
        strata = list(table.strata)
        coords = {"stratum": strata}
        dims = ["chain", "draw", "stratum"]
        posterior = {
            "N": posterior_array(unobs + obs[None, None, :], dims, coords),
            "N_unobserved": posterior_array(unobs, dims, coords),
        }
        width = max(gp.n0.size for gp in fits)
        grid = np.zeros((len(strata), width))
        for s, gp in enumerate(fits):
            grid[s, :gp.n0.size] = gp.posterior
        sg = {"stratum": strata, "graph": labels}
        mq = np.stack([gp.model_quantiles for gp in fits]) + obs[:, None, None]
        constant = {
            "observed": xr.DataArray(obs, dims=["stratum"], coords={"stratum": strata}),
            "posterior_grid": xr.DataArray(
                grid, dims=["stratum", "n_unobserved"],
                coords={"stratum": strata, "n_unobserved": np.arange(width)}),
            "n_max": xr.DataArray(np.array([gp.n0[-1] for gp in fits]), dims=["stratum"],
                                  coords={"stratum": strata}),
            "tail_mass": xr.DataArray(np.array([gp.tail_mass for gp in fits]),
                                      dims=["stratum"], coords={"stratum": strata}),
            "model_probability": xr.DataArray(np.stack([gp.model_prob for gp in fits]),
                                              dims=["stratum", "graph"], coords=sg),
            "model_N_q025": xr.DataArray(mq[..., 0], dims=["stratum", "graph"], coords=sg),
            "model_N_median": xr.DataArray(mq[..., 1], dims=["stratum", "graph"], coords=sg),
            "model_N_q975": xr.DataArray(mq[..., 2], dims=["stratum", "graph"], coords=sg),
            "sparse": xr.DataArray(np.array([s in sparse for s in strata]), dims=["stratum"],
                                   coords={"stratum": strata}),
        }
        observed_data = {"count": xr.DataArray(
            table.counts, dims=["stratum", "pattern"],
            coords={"stratum": strata, "pattern": table.pattern_labels})}
        dt = build_datatree(
            posterior,
            model="DecomposableBMA",
            model_config=self.config(),
            priors=self.priors(k),
            random_seed=random_seed,
            data_fingerprint=table.fingerprint(),
            data_source=table.source,
            sampler="grid",
            observed=int(obs.sum()),
            observed_data=observed_data,
            constant_data=constant,
            extra_attrs={"wall_time": wall, "delta": self.delta_for(k),
                         "n_graphs": len(labels), "lists": ",".join(table.lists),
                         "sparse_strata": ",".join(sparse)},
        )
        return Results(dt)


def _fit_grid_run(model: DecomposableBMA, table: CaptureTable, settings: dict[str, Any],
                  seed: int | None) -> GridPosterior:
    """One stratum's grid posterior (a run of :func:`casualty_models.parallel.map_runs`)."""
    return model.fit_grid(table, settings["stratum"])


# ------------------------------------------------------------------ readers
def _check_bma(result: Results) -> xr.Dataset:
    if result.model != "DecomposableBMA" or "constant_data" not in result.tree.children:
        raise DataValidationError(
            f"this result comes from {result.model!r}: expected a DecomposableBMA result."
        )
    return result.tree["constant_data"].to_dataset()


def _stratum_grids(result: Results) -> list[tuple[str, GridPosterior, int, bool]]:
    """(label, grid posterior of N, n_max, sparse) of every stratum of a result."""
    cd = _check_bma(result)
    fits = []
    for s in cd["stratum"].values:
        p = np.asarray(cd["posterior_grid"].sel(stratum=s).values, dtype=float)
        fits.append((str(s), GridPosterior(
            np.arange(p.size), p, np.empty(0), np.empty((0, 3)),
            float(cd["tail_mass"].sel(stratum=s)), int(cd["observed"].sel(stratum=s))),
            int(cd["n_max"].sel(stratum=s)), bool(cd["sparse"].sel(stratum=s))))
    return fits


def _convolve(grids: list[GridPosterior]) -> GridPosterior:
    """Exact posterior of the sum of independent strata (their grids convolved)."""
    from scipy.signal import fftconvolve

    pmf = grids[0].posterior
    for gp in grids[1:]:
        pmf = np.clip(fftconvolve(pmf, gp.posterior), 0.0, None)
    tail = 1.0 - float(np.prod([1.0 - gp.tail_mass for gp in grids]))
    return GridPosterior(np.arange(pmf.size), pmf / pmf.sum(), np.empty(0), np.empty((0, 3)),
                         tail, sum(gp.n_observed for gp in grids))


def total_grid(result: Results) -> GridPosterior:
    """Exact grid posterior of ``N_total``: the only stratum's, or the strata convolved."""
    grids = [gp for _, gp, _, _ in _stratum_grids(result)]
    return grids[0] if len(grids) == 1 else _convolve(grids)


def grid_summary(result: Results) -> pd.DataFrame:
    """Exact grid quantiles of ``N`` per stratum and, with strata, of the total.

    Columns ``mean``, ``median``, ``q025``, ``q05``, ``q95``, ``q975``,
    ``n_max``, ``tail_mass``, ``status`` and ``sparse``; a quantile is the
    smallest N whose posterior cdf reaches the level (no sampling noise).  With
    material mass beyond the grid (``status`` ``"unbounded"``) the mean and
    the quantiles the grid does not reach are infinite.  The ``total`` row
    (strata only) is the convolution of the independent strata's grids.
    """
    fits = _stratum_grids(result)
    if len(fits) > 1:
        total = _convolve([gp for _, gp, _, _ in fits])
        fits.append(("total", total, total.n0.size - 1, any(f[3] for f in fits)))
    levels = {"median": 0.5, **QUANTILES}
    rows = {}
    for name, gp, n_max, sparse in fits:
        qs = gp.quantile(list(levels.values()))
        rows[name] = {"mean": gp.mean, **{k: float(v) for k, v in zip(levels, qs, strict=True)},
                      "n_max": n_max, "tail_mass": gp.tail_mass,
                      "status": "unbounded" if gp.unbounded else "ok", "sparse": sparse}
    return pd.DataFrame.from_dict(rows, orient="index")


def exact_total_summary(result: Results) -> dict[str, Any]:
    """Exact summary of ``N_total`` from the grid (what sensitivity grids report).

    Keys ``mean``, ``sd``, ``median``, ``q025``, ``q05``, ``q95``, ``q975``
    (infinite where the grid misses material mass, as in :func:`grid_summary`)
    and ``status`` (``ok`` or ``unbounded``).
    """
    gp = total_grid(result)
    levels = {"median": 0.5, **QUANTILES}
    qs = gp.quantile(list(levels.values()))
    if gp.unbounded:
        sd = math.inf
    else:
        m = float((gp.n0 * gp.posterior).sum())
        sd = math.sqrt(max(float((gp.n0.astype(float) ** 2 * gp.posterior).sum()) - m * m,
                           0.0))
    return {"mean": gp.mean, "sd": sd, **{k: float(v) for k, v in zip(levels, qs, strict=True)},
            "status": "unbounded" if gp.unbounded else "ok"}


def model_table(result: Results, stratum: str | None = None,
                top: int | None = None) -> pd.DataFrame:
    """Per-graph posterior probability and N quantiles, most probable first.

    Parameters
    ----------
    stratum : str, optional
        Default: the only stratum, or every stratum (with a ``stratum`` column).
    top : int, optional
        Keep the ``top`` most probable graphs (per stratum).
    """
    cd = _check_bma(result)
    strata = [str(s) for s in cd["stratum"].values] if stratum is None else [stratum]
    frames = []
    for s in strata:
        if s not in [str(x) for x in cd["stratum"].values]:
            raise DataValidationError(
                f"unknown stratum {s!r}: strata are {[str(x) for x in cd['stratum'].values]}."
            )
        df = pd.DataFrame({
            "stratum": s,
            "graph": [str(g) for g in cd["graph"].values],
            "probability": cd["model_probability"].sel(stratum=s).values,
            "N_median": cd["model_N_median"].sel(stratum=s).values,
            "N_q025": cd["model_N_q025"].sel(stratum=s).values,
            "N_q975": cd["model_N_q975"].sel(stratum=s).values,
        }).sort_values("probability", ascending=False, kind="stable")
        frames.append(df.head(top) if top else df)
    out = pd.concat(frames, ignore_index=True)
    return out if len(strata) > 1 else out.drop(columns="stratum")
