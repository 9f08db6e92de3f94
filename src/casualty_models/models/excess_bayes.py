r"""Bayesian excess male deaths: the male share of deaths with a pooled trend.

Model
-----
For region :math:`g`, age group :math:`a` and baseline year :math:`t`, with
male and female deaths :math:`M_{gat}` and :math:`F_{gat}` and
:math:`S = M + F`,

.. math::

    M_{gat} \mid S_{gat} &\sim \mathrm{BetaBinomial}\big(S_{gat},\,
        \kappa_a p_{gat},\, \kappa_a (1 - p_{gat})\big),
    \qquad \rho_{gat} = \frac{p_{gat}}{1 - p_{gat}}, \\
    \log \rho_{gat} &= \alpha_a + \beta_a x_t
        + c_g + \sigma_u u_{ga} + \sigma_v v_{ga} x_t,
    \qquad x_t = (t - \bar t) / 10, \\
    \alpha_a &\sim N(\mu_\alpha, \sigma_\alpha), \quad
    \beta_a \sim N(\mu_\beta, \sigma_\beta), \quad
    \log \kappa_a \sim N(\mu_\kappa, \sigma_\kappa), \\
    c_g &= \sigma_c z_g, \quad z_g, u_{ga}, v_{ga} \sim N(0, 1).

:math:`\rho` is the male/female death ratio of the classic method, here with
a linear trend on the log scale per age group, the age groups' levels, trends
and dispersions partially pooled, and (when regions are fitted) each region's
level and trend pooled towards the age group's, so that small regions borrow
strength.  Conditioning on :math:`S` is the exact conditional likelihood of
two Poisson (or gamma-Poisson) counts: the unknown size of the population at
risk drops out, zeros are harmless, and the noise of the female count is
carried too (the classic method treats :math:`F` as fixed).  :math:`\kappa_a`
absorbs year-to-year variation of the ratio beyond binomial noise.

Target years.  The female deaths :math:`F_{gat_0}` are taken as they were
(unaffected by the war).  The baseline male deaths are drawn from the
posterior predictive: a new year's share
:math:`\tilde p \sim \mathrm{Beta}(\kappa_a p_{gat_0}, \kappa_a (1-p_{gat_0}))`
and :math:`\tilde M_{gat_0} \mid F \sim \mathrm{NegBin}(F + \tfrac12,\, 1 -
\tilde p)` (mean :math:`\approx \tilde\rho F`; the gamma-Poisson predictive of
the male count given the female count under a Jeffreys prior on the
population's death rate).  Excess deaths are
:math:`E_{gat_0} = M_{gat_0} - \tilde M_{gat_0}`, integer draws; sums over age
groups and regions are sums of draws.

Regions and the national total.  Fitted on the 85 federal subjects
(:meth:`~casualty_models.containers.deaths.DeathTable.subjects`), the national excess is
the draw-by-draw sum of the regional excesses.  Its observed part is exactly
the national row (the subjects add up to it in every year from 2004, except
Krasnoyarsk's flagged 2016, which is left out of the baseline); its baseline
is the sum of the regional baselines, which differs from a fit of the
national row alone by a composition effect (a ratio of sums is not the sum of
ratios).  Both are reported in ``docs/excess.md``.

Computation
-----------
With nutpie (the default) the log density and its gradient are the
hand-written Numba callbacks of :mod:`._excess_kernel` (cached on disk: a
fresh process samples the national model in seconds instead of compiling a
PyTensor graph for a minute); :meth:`ExcessBayes.build_model` is the same
model in PyMC, sampled by the other NUTS implementations and used by the tests
as the reference (equal log density and gradient at random points).

Identifying assumption
----------------------
Female mortality in each age group and region is unaffected by the war, and
the male share of deaths would have continued its pre-war trend (linear in
:math:`\log\rho`).  The excess is every change in male-specific mortality,
war deaths included, in the age band and the calendar years asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..containers.deaths import DeathTable
from ..errors import DataValidationError, PriorError
from ..results import Results, build_datatree, posterior_array
from . import _excess_kernel as K
from ._base import (
    DensityKernel,
    check_sampling_args,
    nuts_results,
    resolve_nuts_sampler,
    run_kernel_nuts,
    run_nuts,
)
from .excess import DEFAULT_AGES, check_window, select_regions

__all__ = ["ExcessArrays", "ExcessBayes", "excess_arrays", "excess_summary",
           "simulate_excess_tables"]


@dataclass(frozen=True, eq=False)
class ExcessArrays:
    """Deaths arranged for the model: ``(rep, region, age, year, sex)``.

    ``rep`` is 1 for data; simulated calibration tables stack replicates
    there (each replicate its own independent model in one sampler run).
    ``use`` marks the baseline cells in the likelihood (flagged years out).
    """

    baseline: np.ndarray  # int (rep, region, age, baseline year, sex)
    target: np.ndarray  # int (rep, region, age, target year, sex)
    use: np.ndarray  # bool (rep, region, age, baseline year)
    regions: tuple[str, ...]
    ages: tuple[str, ...]
    baseline_years: tuple[int, ...]
    years: tuple[int, ...]


def excess_arrays(
    table: DeathTable,
    *,
    ages: str | Sequence[str] = DEFAULT_AGES,
    baseline: tuple[int, int] = (2015, 2019),
    years: Sequence[int] = (2022, 2023),
    regions: str | Sequence[str] | None = None,
    pooled: bool = False,
) -> ExcessArrays:
    """Select and check the cells of ``table`` the model needs (see :func:`classic_excess`)."""
    base, target = check_window(table, baseline, years, "linear")
    age_labels = table.age_band(ages)
    labels, w, members = select_regions(table, regions, pooled)
    table.check_years(members, base, "baseline")
    table.check_years(members, target, "target")
    ri = [table.regions.index(m) for m in members]
    wm = w[:, ri]
    ai = [table.ages.index(a) for a in age_labels]

    def block(yrs: list[int]) -> tuple[np.ndarray, np.ndarray]:
        yi = [table.years.index(y) for y in yrs]
        d = table.deaths[np.ix_(ri, yi, ai, [0, 1])]
        out = np.einsum("gm,myas->gays", wm, d).round().astype(np.int64)
        flag = (wm @ table.flagged[np.ix_(ri, yi)].astype(float)) > 0
        return out, flag

    b, bflag = block(base)
    t, tflag = block(target)
    if tflag.any():
        g, y = np.argwhere(tflag)[0]
        raise DataValidationError(
            f"{labels[g]}, target year {target[y]}: its age groups disagree with its total "
            "row (see DeathTable.notes). Fix: leave that region or year out.")
    use = np.broadcast_to(~bflag[:, None, :], b.shape[:-1]).copy()
    return ExcessArrays(baseline=b[None], target=t[None], use=use[None], regions=tuple(labels),
                        ages=tuple(age_labels), baseline_years=tuple(base), years=tuple(target))


@dataclass(frozen=True)
class ExcessBayes:
    r"""Bayesian excess male deaths over the pre-war trend of the male share of deaths.

    Parameters
    ----------
    level_prior : (mean, sd), default (1.0, 1.0)
        Normal prior of :math:`\mu_\alpha`, the mean log male/female ratio.
    trend_prior_sd : float, default 0.5
        Sd of the normal prior (mean 0) of :math:`\mu_\beta`, the mean change of
        :math:`\log\rho` per decade.
    between_age_sd : float, default 0.5
        Half-normal scale of :math:`\sigma_\alpha`, :math:`\sigma_\beta` and
        :math:`\sigma_\kappa` (spread of levels, trends and log dispersions
        across age groups).
    between_region_sd : float, default 0.3
        Half-normal scale of :math:`\sigma_c`, :math:`\sigma_u`, :math:`\sigma_v`.
    dispersion_prior : (mean, sd), default (7.0, 2.0)
        Normal prior of :math:`\mu_\kappa` (log concentration; :math:`e^7
        \approx 1100`: the male share varies by about 1.5% from year to year).
    target_accept : float, default 0.9

    Examples
    --------
    >>> from casualty_models.datasets import load_death_table
    >>> res = ExcessBayes().fit(load_death_table(), draws=200, chains=2,
    ...                         random_seed=1)  # doctest: +SKIP
    >>> excess_summary(res)["years"]["2022"]["excess"]["median"]  # doctest: +SKIP
    """

    level_prior: tuple[float, float] = (1.0, 1.0)
    trend_prior_sd: float = 0.5
    between_age_sd: float = 0.5
    between_region_sd: float = 0.3
    dispersion_prior: tuple[float, float] = (7.0, 2.0)
    target_accept: float = 0.9

    def __post_init__(self) -> None:
        for name in ("trend_prior_sd", "between_age_sd", "between_region_sd"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                raise PriorError(f"{name}={v!r} must be a positive number.")
        for name in ("level_prior", "dispersion_prior"):
            v = getattr(self, name)
            if len(v) != 2 or not v[1] > 0:
                raise PriorError(f"{name}={v!r} must be (mean, sd) with sd > 0.")
        if not 0.5 <= self.target_accept < 1:
            raise PriorError(f"target_accept={self.target_accept!r} must be in [0.5, 1).")

    def priors(self) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        m, s = self.level_prior
        km, ks = self.dispersion_prior
        a, r = self.between_age_sd, self.between_region_sd
        return {
            "level_mean": {"distribution": "Normal", "mu": m, "sigma": s,
                           "text": f"mean log male/female ratio ~ Normal({m}, {s})"},
            "trend_mean": {"distribution": "Normal", "mu": 0.0, "sigma": self.trend_prior_sd,
                           "text": f"mean trend of log ratio per decade ~ Normal(0, "
                                   f"{self.trend_prior_sd})"},
            "dispersion_mean": {"distribution": "Normal", "mu": km, "sigma": ks,
                                "text": f"mean log concentration ~ Normal({km}, {ks})"},
            "between_age_sd": {"distribution": "HalfNormal", "sigma": a,
                               "text": f"sd of level, trend, log concentration across age "
                                       f"groups ~ HalfNormal({a})"},
            "between_region_sd": {"distribution": "HalfNormal", "sigma": r,
                                  "text": f"sd of region level, region x age level and "
                                          f"trend ~ HalfNormal({r})"},
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"level_prior": list(self.level_prior), "trend_prior_sd": self.trend_prior_sd,
                "between_age_sd": self.between_age_sd,
                "between_region_sd": self.between_region_sd,
                "dispersion_prior": list(self.dispersion_prior),
                "target_accept": self.target_accept}

    # ------------------------------------------------------------ model
    def build_model(self, arrays: ExcessArrays) -> Any:
        """The PyMC model of the baseline years (one independent model per ``rep``).

        Region effects are included only with more than one region.
        """
        import pymc as pm
        import pytensor.tensor as pt
        from pytensor.tensor.special import betaln

        b = arrays.baseline
        R, G, A, T = b.shape[:4]
        x = (np.asarray(arrays.baseline_years, float)
             - np.mean(arrays.baseline_years)) / 10.0
        # dense (rep, region, age, year) arrays, broadcasting instead of gathers (cheap
        # gradients, small graphs); a cell left out has S = M = 0 and adds exactly 0
        m_obs = np.where(arrays.use, b[..., 0], 0).astype(float)
        s_obs = np.where(arrays.use, b[..., 0] + b[..., 1], 0).astype(float)
        lm, ls = self.level_prior
        km, ks = self.dispersion_prior
        coords = {"rep": np.arange(R), "region": list(arrays.regions),
                  "age": list(arrays.ages)}
        with pm.Model(coords=coords) as model:
            mu_a = pm.Normal("level_mean", lm, ls, dims="rep")
            mu_b = pm.Normal("trend_mean", 0.0, self.trend_prior_sd, dims="rep")
            mu_k = pm.Normal("dispersion_mean", km, ks, dims="rep")
            sd_a = pm.HalfNormal("level_sd", self.between_age_sd, dims="rep")
            sd_b = pm.HalfNormal("trend_sd", self.between_age_sd, dims="rep")
            sd_k = pm.HalfNormal("dispersion_sd", self.between_age_sd, dims="rep")
            # levels are pinned down by the data: centred; trends and dispersions are
            # weakly identified (five points, near-binomial noise): non-centred, no funnel
            alpha = pm.Normal("level", mu_a[:, None], sd_a[:, None], dims=("rep", "age"))
            zb = pm.Normal("z_trend", 0.0, 1.0, dims=("rep", "age"))
            beta = pm.Deterministic("trend", mu_b[:, None] + sd_b[:, None] * zb,
                                    dims=("rep", "age"))
            zk = pm.Normal("z_concentration", 0.0, 1.0, dims=("rep", "age"))
            logk = pm.Deterministic("log_concentration", mu_k[:, None] + sd_k[:, None] * zk,
                                    dims=("rep", "age"))
            eta = alpha[:, None, :, None] + beta[:, None, :, None] * x
            if G > 1:
                # small regions are weakly identified: non-centred
                sd_c = pm.HalfNormal("region_sd", self.between_region_sd, dims="rep")
                sd_u = pm.HalfNormal("region_age_sd", self.between_region_sd, dims="rep")
                sd_v = pm.HalfNormal("region_trend_sd", self.between_region_sd, dims="rep")
                zc = pm.Normal("z_region", 0.0, 1.0, dims=("rep", "region"))
                zu = pm.Normal("z_region_age", 0.0, 1.0, dims=("rep", "region", "age"))
                zv = pm.Normal("z_region_trend", 0.0, 1.0, dims=("rep", "region", "age"))
                eta = eta + (sd_c[:, None, None, None] * zc[:, :, None, None]
                             + sd_u[:, None, None, None] * zu[..., None]
                             + sd_v[:, None, None, None] * zv[..., None] * x)
            p = pt.sigmoid(eta)
            k = pt.exp(logk)[:, None, :, None]
            a_, b_ = k * p, k * (1.0 - p)
            # beta-binomial log likelihood without its constant binomial coefficient
            pm.Potential("male_loglik", (betaln(m_obs + a_, s_obs - m_obs + b_)
                                         - betaln(a_, b_)).sum())
        return model

    def density_kernel(self, arrays: ExcessArrays) -> DensityKernel:
        """The model's log density as Numba callbacks for nutpie (see ``_excess_kernel``).

        The same density, parameters and transforms as :meth:`build_model`'s
        value variables, written by hand: no PyTensor graph to compile, so a fresh
        process samples after loading cached machine code.
        """
        b = arrays.baseline
        R, G, A, _ = b.shape[:4]
        x = (np.asarray(arrays.baseline_years, float)
             - np.mean(arrays.baseline_years)) / 10.0
        data = K.pack_data(b[..., 0], b[..., 1], arrays.use, x,
                           level_prior=self.level_prior, trend_prior_sd=self.trend_prior_sd,
                           between_age_sd=self.between_age_sd,
                           between_region_sd=self.between_region_sd,
                           dispersion_prior=self.dispersion_prior)
        layout = K.expand_layout(R, G, A)
        coords: dict[str, Any] = {"rep": np.arange(R), "age": list(arrays.ages)}
        if G > 1:
            coords["region"] = list(arrays.regions)
        return DensityKernel(
            n_dim=K.n_dim(R, G, A), logp=K.LOGP, expand=K.EXPAND, data=data,
            names=tuple(n for n, _, _ in layout), shapes=tuple(s for _, s, _ in layout),
            dims={n: d for n, _, d in layout}, coords=coords,
            initial_point=lambda seed: K.initial_point(data, int(seed)))

    def _sample(self, arrays: ExcessArrays, *, draws: int, tune: int, chains: int,
                random_seed: int | None, nuts_sampler: str | None) -> tuple[Any, float]:
        """NUTS over the baseline years: nutpie on the hand-written kernel, else PyMC's model."""
        if resolve_nuts_sampler(nuts_sampler) == "nutpie":
            return run_kernel_nuts(self.density_kernel(arrays), draws=draws, tune=tune,
                                   chains=chains, random_seed=random_seed,
                                   target_accept=self.target_accept)
        return run_nuts(self.build_model(arrays), draws=draws, tune=tune, chains=chains,
                        random_seed=random_seed, target_accept=self.target_accept,
                        nuts_sampler=nuts_sampler)

    def _log_ratio(self, post: Any, arrays: ExcessArrays, x0: np.ndarray) -> np.ndarray:
        """Draws of log rho at ``x0``: (chain, draw, rep, region, age, year)."""
        alpha = np.asarray(post["level"])  # (c, d, rep, age)
        beta = np.asarray(post["trend"])
        eta = alpha[..., None, :, None] + beta[..., None, :, None] * x0
        if "z_region" in post:
            sc = np.asarray(post["region_sd"])[..., None, None, None]
            su = np.asarray(post["region_age_sd"])[..., None, None, None]
            sv = np.asarray(post["region_trend_sd"])[..., None, None, None]
            zc = np.asarray(post["z_region"])[..., None, None]
            zu = np.asarray(post["z_region_age"])[..., None]
            zv = np.asarray(post["z_region_trend"])[..., None]
            eta = eta + sc * zc + su * zu + sv * zv * x0
        else:
            eta = np.broadcast_to(eta, eta.shape[:3] + (len(arrays.regions),) + eta.shape[4:])
        return np.asarray(eta)

    def predict_baseline(self, post: Any, arrays: ExcessArrays,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Posterior predictive baseline male deaths and excess in the target years.

        Returns ``(expected, excess)``, int64 arrays (chain, draw, rep, region, age, year).
        """
        x0 = (np.asarray(arrays.years, float) - np.mean(arrays.baseline_years)) / 10.0
        eta = self._log_ratio(post, arrays, x0)
        p = 1.0 / (1.0 + np.exp(-eta))
        k = np.exp(np.asarray(post["log_concentration"]))[..., None, :, None]
        k = np.broadcast_to(k, p.shape)
        p_new = rng.beta(k * p, k * (1.0 - p))
        p_new = np.clip(p_new, 1e-12, 1 - 1e-12)
        F = arrays.target[..., 1].astype(float)
        M = arrays.target[..., 0]
        expected = rng.negative_binomial(np.broadcast_to(F + 0.5, p.shape), 1.0 - p_new)
        return expected.astype(np.int64), (M - expected).astype(np.int64)

    # ------------------------------------------------------------ fit
    def fit(
        self,
        table: DeathTable | ExcessArrays,
        *,
        ages: str | Sequence[str] = DEFAULT_AGES,
        baseline: tuple[int, int] = (2015, 2019),
        years: Sequence[int] = (2022, 2023),
        regions: str | Sequence[str] | None = None,
        pooled: bool = False,
        draws: int = 1000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        nuts_sampler: str | None = None,
    ) -> Results:
        """Sample the posterior of excess deaths per region, age group and target year.

        Parameters
        ----------
        table : DeathTable
            Deaths by region x year x age x sex.
        ages, baseline, years, regions, pooled
            As in :func:`~casualty_models.models.excess.classic_excess`:
            ``regions=None`` fits the national row; ``regions=table.subjects()``
            fits all 85 federal subjects in one model, the national total being
            the sum of their draws.
        draws, chains, tune : int
            NUTS settings.
        random_seed : int, optional
            Seeds NUTS and the predictive draws; recorded.
        nuts_sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, optional
            Default nutpie (or :func:`~._base.sampling_options`' choice), which
            samples the hand-written log density (:meth:`density_kernel`); the
            others sample the PyMC model (:meth:`build_model`), the same density.

        Returns
        -------
        Results
            ``posterior`` holds ``excess`` and ``expected`` ``(chain, draw,
            region, age, year)``, ``excess_by_age`` ``(chain, draw, age, year)``,
            ``excess_total`` ``(chain, draw, year)``, the model parameters, and,
            for the contract, ``N`` = ``N_unobserved`` = excess summed over age
            groups with dims ``(chain, draw, stratum, year)`` (``stratum`` =
            region).  ``excess_summary`` gives the command line's JSON.
        """
        check_sampling_args(draws, chains, tune)
        if isinstance(table, ExcessArrays):
            arrays = table
            source, fingerprint = "arrays", "none"
        else:
            arrays = excess_arrays(table, ages=ages, baseline=baseline, years=years,
                                   regions=regions, pooled=pooled)
            source, fingerprint = table.source, table.fingerprint()
        if arrays.baseline.shape[0] != 1:
            raise DataValidationError(
                "fit takes one table; stacked replicates go through fit_replicates.")
        tree, wall = self._sample(arrays, draws=draws, tune=tune, chains=chains,
                                  random_seed=random_seed, nuts_sampler=nuts_sampler)
        post = tree["posterior"].to_dataset()
        rng = np.random.default_rng(random_seed)
        expected, excess = self.predict_baseline(post, arrays, rng)
        return self._package(arrays, tree, expected[:, :, 0], excess[:, :, 0], random_seed,
                             wall, source, fingerprint)

    def fit_replicates(
        self,
        arrays: ExcessArrays,
        *,
        draws: int = 500,
        chains: int = 2,
        tune: int = 500,
        random_seed: int | None = None,
        nuts_sampler: str | None = None,
    ) -> tuple[np.ndarray, Any]:
        """Fit stacked independent tables (the ``rep`` axis) in one sampler run.

        The joint posterior factorises over replicates, so one compiled model
        and one run give every replicate's posterior: the calibration tests use
        this to fit 100 simulated tables at the cost of one.  Returns the excess
        draws ``(chain, draw, rep, region, age, year)`` and the sampler's tree.
        """
        check_sampling_args(draws, chains, tune)
        tree, _ = self._sample(arrays, draws=draws, tune=tune, chains=chains,
                               random_seed=random_seed, nuts_sampler=nuts_sampler)
        rng = np.random.default_rng(random_seed)
        _, excess = self.predict_baseline(tree["posterior"].to_dataset(), arrays, rng)
        return excess, tree

    def _package(self, arrays: ExcessArrays, tree: Any, expected: np.ndarray,
                 excess: np.ndarray, random_seed: int | None, wall: float, source: str,
                 fingerprint: str) -> Results:
        coords = {"region": list(arrays.regions), "age": list(arrays.ages),
                  "year": list(arrays.years), "stratum": list(arrays.regions)}
        dims = ["chain", "draw", "region", "age", "year"]
        by_region = excess.sum(axis=3)  # (c, d, region, year)
        posterior: dict[str, xr.DataArray] = {
            "excess": posterior_array(excess, dims, coords),
            "expected": posterior_array(expected, dims, coords),
            "excess_by_age": posterior_array(excess.sum(axis=2),
                                             ["chain", "draw", "age", "year"], coords),
            "excess_total": posterior_array(excess.sum(axis=(2, 3)),
                                            ["chain", "draw", "year"], coords),
            "N": posterior_array(by_region, ["chain", "draw", "stratum", "year"], coords),
            "N_unobserved": posterior_array(by_region, ["chain", "draw", "stratum", "year"],
                                            coords),
        }
        # drop the singleton rep dim of the sampled parameters
        groups = {"/posterior": tree["posterior"].to_dataset().isel(rep=0, drop=True)}
        if "sample_stats" in tree.children:
            groups["/sample_stats"] = tree["sample_stats"].to_dataset()
        base = xr.DataTree.from_dict(groups)
        cdims = ("region", "age", "baseline_year")
        ccoords = {"region": coords["region"], "age": coords["age"],
                   "baseline_year": list(arrays.baseline_years)}
        tcoords = {"region": coords["region"], "age": coords["age"], "year": coords["year"]}
        tdims = ("region", "age", "year")
        b, t = arrays.baseline[0], arrays.target[0]
        observed_data = {
            "male_baseline": xr.DataArray(b[..., 0], dims=cdims, coords=ccoords),
            "male": xr.DataArray(t[..., 0], dims=tdims, coords=tcoords),
        }
        constant_data = {
            "female_baseline": xr.DataArray(b[..., 1], dims=cdims, coords=ccoords),
            "female": xr.DataArray(t[..., 1], dims=tdims, coords=tcoords),
            "used": xr.DataArray(arrays.use[0], dims=cdims, coords=ccoords),
            "observed": xr.DataArray(t[..., 0].sum(axis=1), dims=("stratum", "year"),
                                     coords={"stratum": coords["stratum"],
                                             "year": coords["year"]}),
        }
        dt = build_datatree(
            posterior, model="ExcessBayes", model_config=self.config(), priors=self.priors(),
            random_seed=random_seed, data_fingerprint=fingerprint, data_source=source,
            sampler="nuts", observed=int(t[..., 0].sum()), observed_data=observed_data,
            constant_data=constant_data, base=base,
            extra_attrs={"wall_time": wall, "ages": list(arrays.ages),
                         "baseline": [arrays.baseline_years[0], arrays.baseline_years[-1]],
                         "years": list(arrays.years), "n_regions": len(arrays.regions),
                         "quantity": "excess male deaths (N = excess summed over age groups)"})
        # every NUTS fit ends in nuts_results: sampler and seed on the root, convergence checked
        return nuts_results(dt)


def _block(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, float).ravel()
    return {"median": float(np.median(x)), "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)), "q025": float(np.quantile(x, 0.025)),
            "q975": float(np.quantile(x, 0.975))}


def excess_summary(res: Results) -> dict[str, Any]:
    """JSON-ready summary of an :class:`ExcessBayes` fit (the ``--json`` contract).

    ``years`` maps each target year (string) to ``{"excess": {median, mean, sd,
    q025, q975}}`` of the total over age groups and regions; ``by_age`` lists
    ``{"age", "year", "excess"}``; ``total`` sums the target years (draw by
    draw); ``by_region`` (several regions) maps region to year to ``excess``.
    """
    post = res.posterior
    tot = post["excess_total"]
    years = [int(y) for y in tot.coords["year"].values]
    out: dict[str, Any] = {
        "method": "bayes",
        "years": {str(y): {"excess": _block(tot.sel(year=y).values)} for y in years},
        "by_age": [{"age": str(a), "year": y,
                    "excess": _block(post["excess_by_age"].sel(age=a, year=y).values)}
                   for a in post["excess_by_age"].coords["age"].values for y in years],
        "total": {"excess": _block(tot.sum("year").values)},
    }
    regions = [str(g) for g in post["excess"].coords["region"].values]
    if len(regions) > 1:
        by_region = post["excess"].sum("age")
        out["by_region"] = {g: {str(y): {"excess": _block(by_region.sel(region=g, year=y).values)}
                                for y in years} for g in regions}
    return out


def simulate_excess_tables(
    n_tables: int,
    *,
    n_regions: int = 1,
    ages: Sequence[str] = DEFAULT_AGES,
    baseline_years: Sequence[int] = tuple(range(2015, 2020)),
    years: Sequence[int] = (2022, 2023),
    female_deaths: np.ndarray | float = 2000.0,
    log_ratio: np.ndarray | float = 1.0,
    trend: np.ndarray | float = -0.2,
    concentration: float = 2000.0,
    excess: np.ndarray | float = 500.0,
    rng: np.random.Generator | None = None,
) -> tuple[ExcessArrays, np.ndarray]:
    """Tables with a known injected excess, drawn from the model's generative story.

    For each table, region and age group: expected female deaths ``female_deaths``
    (Poisson each year), a log male/female ratio ``log_ratio + trend * x_t`` with a
    Beta(``concentration``) year effect on the male share, male deaths
    gamma-Poisson given the female ones; in target years ``excess`` deaths are
    added to the male count (Poisson around it).  Returns the stacked arrays
    (``rep`` = table) and the injected excess ``(rep, region, age, year)``.
    """
    rng = rng or np.random.default_rng()
    A, G, R = len(ages), n_regions, n_tables
    all_years = np.asarray(list(baseline_years) + list(years), float)
    x = (all_years - np.mean(baseline_years)) / 10.0
    shape = (R, G, A, len(all_years))
    lam_f = np.broadcast_to(np.asarray(female_deaths, float), shape[:3])[..., None]
    lr = np.broadcast_to(np.asarray(log_ratio, float), shape[:3])[..., None]
    tr = np.broadcast_to(np.asarray(trend, float), shape[:3])[..., None]
    rho = np.exp(lr + tr * x)
    p = rho / (1 + rho)
    p_year = rng.beta(concentration * p, concentration * (1 - p))
    lam = np.broadcast_to(lam_f, shape) / (1 - p_year)  # all deaths' rate
    F = rng.poisson(lam * (1 - p_year))
    M = rng.poisson(lam * p_year)
    nb = len(baseline_years)
    inj = np.zeros(shape[:3] + (len(years),), np.int64)
    inj[...] = rng.poisson(np.broadcast_to(np.asarray(excess, float), inj.shape))
    M[..., nb:] += inj
    d = np.stack([M, F], axis=-1).astype(np.int64)
    arrays = ExcessArrays(
        baseline=d[..., :nb, :], target=d[..., nb:, :],
        use=np.ones(shape[:3] + (nb,), bool),
        regions=tuple(f"r{i}" for i in range(G)) if G > 1 else ("all",),
        ages=tuple(ages), baseline_years=tuple(int(y) for y in baseline_years),
        years=tuple(int(y) for y in years))
    return arrays, inj
