r"""The registry multiplier: war deaths = excess registry cases / registry coverage.

Model
-----
A registry (for example the notarial probate registry of Meduza and
Mediazona) records a share of all deaths.  Its excess male cases in age group
:math:`a` and year :math:`t` over a demographic baseline, :math:`X_{at}`, are
the war deaths it recaptured.  The named list marks war deaths; :math:`q_a`,
the share of the list's deaths in age group :math:`a` found in the registry,
is the registry's coverage of war deaths.  With :math:`D_{at}` war deaths,

.. math::

    X_{at} \mid D_{at}, q_a &\sim \mathrm{Binomial}(D_{at}, q_a), \\
    m_a \mid q_a &\sim \mathrm{Binomial}(m_a + u_a, q_a),
    \qquad q_a \sim \mathrm{Beta}(a_0, b_0), \\
    p(D_{at}) &\propto 1 / D_{at},

so that :math:`D_{at} - X_{at} \mid X_{at}, q_a \sim \mathrm{NegBin}(X_{at},
q_a)` (mean :math:`X/q - X`: the published estimator :math:`D = X / q`), with
:math:`m_a`, :math:`u_a` the list's matches and non-matches and
:math:`q_a \mid m, u \sim \mathrm{Beta}(a_0 + m_a, b_0 + u_a)`.

:math:`X_{at}` is not observed but estimated: from the registry's male and
female cases by year and age with
:class:`~casualty_models.models.excess_bayes.ExcessBayes` (the baseline's
posterior uncertainty is carried draw by draw), or, when only an estimate
and its sd are available, :math:`X_{at} \sim N(\hat X_{at}, \mathrm{sd}^2)`.
The joint posterior factorises into the registry's excess and the list's
matching (they share no parameter), so each is sampled exactly or by its own
NUTS run and the draws are combined: one Bayesian model, no plug-in.  A draw
with :math:`X \le 0` (no excess) gives :math:`D = X / q`; when more than 2.5%
of the draws do, an :class:`~casualty_models.errors.IdentifiabilityWarning`
says so.

Identifying assumption
----------------------
Being on the named list is independent of having a registry case, given age
(a dual-system estimator: the list marks, the registry recaptures).  Also
those of the excess model: female registry cases are unaffected by the war
and the male/female ratio would have continued its pre-war trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..containers.deaths import DeathTable, ExcessCases, ListMatches, read_registry_counts
from ..errors import DataValidationError, IdentifiabilityWarning, PriorError, warn
from ..results import Results, build_datatree, posterior_array
from ._base import check_sampling_args
from .excess_bayes import ExcessBayes

__all__ = ["RegistryMultiplier", "multiplier_draws", "read_excess_cases", "read_list_matches",
           "read_registry_counts", "registry_summary", "simulate_registry"]


def read_list_matches(path: Any) -> ListMatches:
    """The named list's matches by age from a CSV (columns ``age, matched, unmatched``)."""
    return ListMatches.from_frame(path)


def read_excess_cases(path: Any) -> ExcessCases:
    """Excess registry cases from a CSV (columns ``age, excess, sd`` [, ``year``])."""
    return ExcessCases.from_frame(path)


def multiplier_draws(
    excess: np.ndarray,
    matched: np.ndarray,
    unmatched: np.ndarray,
    rng: np.random.Generator,
    q_prior: tuple[float, float] = (0.5, 0.5),
) -> tuple[np.ndarray, np.ndarray]:
    """Draws of war deaths ``D`` and coverage ``q`` given draws of the excess.

    Parameters
    ----------
    excess : array (..., age, year)
        Draws of the registry's excess cases.
    matched, unmatched : int arrays broadcastable to (..., age)
        The named list's deaths found / not found in the registry.
    """
    a0, b0 = q_prior
    shape = excess.shape[:-1]
    q = rng.beta(np.broadcast_to(a0 + matched, shape), np.broadcast_to(b0 + unmatched, shape))
    qy = np.broadcast_to(q[..., None], excess.shape)
    x = np.asarray(excess, float)
    pos = x > 0
    d = x / qy
    n = np.round(x[pos])
    ok = n > 0
    extra = np.zeros(n.shape)
    extra[ok] = rng.negative_binomial(n[ok], qy[pos][ok])
    d[pos] = n + extra
    return d, q


@dataclass(frozen=True)
class RegistryMultiplier:
    r"""War deaths from a registry's excess cases and the named list's match rate.

    Parameters
    ----------
    q_prior : (a0, b0), default (0.5, 0.5)
        Beta prior of each age group's registry coverage :math:`q_a` (Jeffreys).
    excess_model : ExcessBayes
        Model of the registry's excess cases when counts by sex are given.
    """

    q_prior: tuple[float, float] = (0.5, 0.5)
    excess_model: ExcessBayes = field(default_factory=ExcessBayes)

    def __post_init__(self) -> None:
        if len(self.q_prior) != 2 or min(self.q_prior) <= 0:
            raise PriorError(f"q_prior={self.q_prior!r} must be two positive Beta parameters.")

    def priors(self) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        a0, b0 = self.q_prior
        return {"q": {"distribution": "Beta", "alpha": a0, "beta": b0,
                      "text": f"registry coverage of war deaths per age ~ Beta({a0}, {b0})"},
                "D": "p(D) proportional to 1/D",
                **{f"excess_{k}": v for k, v in self.excess_model.priors().items()}}

    def fit(
        self,
        cases: DeathTable | ExcessCases,
        matches: ListMatches,
        *,
        baseline: tuple[int, int] | None = None,
        years: Sequence[int] | None = None,
        draws: int = 1000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
    ) -> Results:
        """Posterior of war deaths per age group and year, and their total.

        Parameters
        ----------
        cases : DeathTable or ExcessCases
            The registry's male and female cases by year and age (one region),
            e.g. :func:`read_registry_counts`, or excess cases with their sd.
        matches : ListMatches
            The named list's matches and non-matches per age group (the same
            groups as ``cases``).
        baseline, years
            With counts: baseline window (default: every year before the first
            target year) and target years (default: the last year).
        """
        check_sampling_args(draws, chains, tune)
        rng = np.random.default_rng(random_seed)
        excess_tree = None
        if isinstance(cases, DeathTable):
            if len(cases.regions) != 1:
                raise DataValidationError(
                    f"registry counts have {len(cases.regions)} regions: expected one table "
                    "(sum the regions first).")
            target = list(years) if years else [cases.years[-1]]
            if baseline is None:
                have = [y for y in cases.years if y < min(target)
                        and cases.known[0, cases.years.index(y)]]
                if len(have) < 2:
                    raise DataValidationError(
                        f"registry counts have {len(have)} year(s) before {min(target)}: a "
                        "baseline trend needs at least two. Fix: add baseline years.")
                baseline = (have[0], have[-1])
            ages = self._common_ages(cases.ages, matches)
            res = self.excess_model.fit(cases, ages=ages, baseline=baseline, years=target,
                                        regions=None, draws=draws, chains=chains, tune=tune,
                                        random_seed=random_seed)
            x = np.asarray(res.posterior["excess"].isel(region=0).values, float)
            year_labels = [str(y) for y in target]
            excess_tree = res.tree
            source, fingerprint = cases.source, cases.fingerprint()
            sampler = "nuts"
        else:
            ages = self._common_ages(cases.ages, matches)
            ia = [cases.ages.index(a) for a in ages]
            est, sd = cases.estimate[ia], cases.sd[ia]
            x = rng.normal(est, sd, size=(chains, draws) + est.shape)
            year_labels = list(cases.years)
            source, fingerprint = cases.source, "user-excess"
            sampler = "exact"
        im = [matches.ages.index(a) for a in ages]
        d, q = multiplier_draws(x, matches.matched[im], matches.unmatched[im], rng,
                                self.q_prior)
        share = float((x <= 0).mean())
        if share > 0.025:
            warn(f"{share:.1%} of the draws of excess registry cases are <= 0: the data do not "
                 "show an excess everywhere, and D = excess / q is then not a count of war "
                 "deaths. Widen the age groups or the years, or report the excess itself.",
                 IdentifiabilityWarning)
        return self._package(x, d, q, ages, year_labels, matches, sampler, random_seed,
                             source, fingerprint, excess_tree)

    @staticmethod
    def _common_ages(have: Sequence[str], matches: ListMatches) -> tuple[str, ...]:
        missing = [a for a in matches.ages if a not in have]
        if missing:
            raise DataValidationError(
                f"the named list's age groups {missing} are not among the registry's "
                f"{list(have)}. Fix: use the same age groups in both files.")
        return tuple(matches.ages)

    def _package(self, x: np.ndarray, d: np.ndarray, q: np.ndarray, ages: Sequence[str],
                 years: Sequence[str], matches: ListMatches, sampler: str,
                 random_seed: int | None, source: str, fingerprint: str,
                 excess_tree: Any) -> Results:
        coords = {"age": list(ages), "year": list(years), "stratum": list(ages)}
        n = np.round(d.sum(axis=-1))  # over years: (chain, draw, age)
        captured = np.round(np.clip(x, 0, None).sum(axis=-1))
        posterior = {
            "D": posterior_array(d, ["chain", "draw", "age", "year"], coords),
            "D_total": posterior_array(d.sum(axis=(-2, -1)), ["chain", "draw"]),
            "q": posterior_array(q, ["chain", "draw", "age"], coords),
            "excess_cases": posterior_array(x, ["chain", "draw", "age", "year"], coords),
            "N": posterior_array(n, ["chain", "draw", "stratum"], coords),
            "N_unobserved": posterior_array(n - captured, ["chain", "draw", "stratum"], coords),
        }
        im = [matches.ages.index(a) for a in ages]
        observed_data = {
            "matched": xr.DataArray(matches.matched[im], dims=("age",), coords={"age": coords["age"]}),
            "unmatched": xr.DataArray(matches.unmatched[im], dims=("age",),
                                      coords={"age": coords["age"]}),
        }
        constant = {"observed": xr.DataArray(np.asarray(np.median(captured, axis=(0, 1))),
                                             dims=("stratum",),
                                             coords={"stratum": coords["stratum"]})}
        extra: dict[str, Any] = {"quantity": "war deaths D = excess registry cases / q",
                                 "share_excess_nonpositive": float((x <= 0).mean())}
        if excess_tree is not None:
            extra["excess_model_wall_time"] = float(excess_tree.attrs.get("wall_time", 0.0))
        dt = build_datatree(
            posterior, model="RegistryMultiplier",
            model_config={"q_prior": list(self.q_prior),
                          "excess_model": self.excess_model.config()},
            priors=self.priors(), random_seed=random_seed, data_fingerprint=fingerprint,
            data_source=source, sampler=sampler,
            observed=int(np.median(captured.sum(axis=-1))),
            observed_data=observed_data, constant_data=constant, extra_attrs=extra)
        return Results(dt)


def _block(v: np.ndarray) -> dict[str, float]:
    v = np.asarray(v, float).ravel()
    return {"median": float(np.median(v)), "mean": float(v.mean()), "sd": float(v.std(ddof=1)),
            "q025": float(np.quantile(v, 0.025)), "q975": float(np.quantile(v, 0.975))}


def registry_summary(res: Results) -> dict[str, Any]:
    """JSON-ready summary: ``D`` (total), ``by_age`` {age: {D, q, excess}}, ``by_year``."""
    post = res.posterior
    years = [str(y) for y in post["D"].coords["year"].values]
    return {
        "model": "RegistryMultiplier",
        "seed": res.random_seed,
        "sampler": res.sampler,
        "D": _block(post["D_total"].values),
        "by_age": {str(a): {"D": _block(post["D"].sel(age=a).sum("year").values),
                            "q": _block(post["q"].sel(age=a).values),
                            "excess": _block(post["excess_cases"].sel(age=a).sum("year").values)}
                   for a in post["D"].coords["age"].values},
        "by_year": {y: {"D": _block(post["D"].sel(year=y).sum("age").values)} for y in years},
        "priors": res.priors,
        "assumption": "being on the named list is independent of having a registry case, "
                      "given age",
    }


def simulate_registry(
    n_tables: int,
    *,
    war_deaths: Sequence[float] = (3000.0, 5000.0, 4000.0, 2000.0),
    coverage: Sequence[float] = (0.5, 0.6, 0.7, 0.75),
    list_size: Sequence[int] = (800, 1200, 1000, 500),
    female_cases: Sequence[float] = (4000.0, 8000.0, 12000.0, 16000.0),
    ages: Sequence[str] = ("20-29", "30-39", "40-49", "50-59"),
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Registry tables and list matches with known war deaths (for calibration).

    Per table and age group: ``D`` war deaths (Poisson around ``war_deaths``) in
    one target year; ``X ~ Binomial(D, q)`` of them reach the registry and are
    added to its male cases (baseline from
    :func:`~casualty_models.models.excess_bayes.simulate_excess_tables`); the
    named list holds ``list_size`` of the war dead, each found in the registry
    with probability ``q``.  Returns ``arrays`` (stacked registry tables),
    ``matched``, ``unmatched`` ``(rep, age)`` and the true ``D`` ``(rep, age)``.
    """
    from .excess_bayes import simulate_excess_tables

    rng = rng or np.random.default_rng()
    A = len(ages)
    D = rng.poisson(np.broadcast_to(np.asarray(war_deaths, float), (n_tables, A)))
    q = np.broadcast_to(np.asarray(coverage, float), (n_tables, A))
    X = rng.binomial(D, q)
    arrays, _ = simulate_excess_tables(
        n_tables, ages=ages, years=(2022,), female_deaths=np.asarray(female_cases, float),
        log_ratio=np.log(np.linspace(2.2, 1.6, A)), excess=0.0, rng=rng)
    target = arrays.target.copy()
    target[:, 0, :, 0, 0] += X
    arrays = type(arrays)(baseline=arrays.baseline, target=target, use=arrays.use,
                          regions=arrays.regions, ages=arrays.ages,
                          baseline_years=arrays.baseline_years, years=arrays.years)
    size = np.broadcast_to(np.asarray(list_size), (n_tables, A))
    matched = rng.binomial(size, q)
    return {"arrays": arrays, "matched": matched, "unmatched": size - matched, "D": D}

