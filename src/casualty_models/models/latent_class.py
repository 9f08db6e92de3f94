r"""Latent-class multiple systems estimation (the LCMCR model).

Model
-----
Each of the :math:`N` people in the population (observed or not) belongs to
one of :math:`K^*` latent classes; within a class, the :math:`J` lists record
people independently, with class-specific capture probabilities:

.. math::

    z_i \mid \pi &\sim \mathrm{Categorical}(\pi_1, \dots, \pi_{K^*}), \\
    x_{ij} \mid z_i = k, \lambda &\sim \mathrm{Bernoulli}(\lambda_{jk}),
        \quad j = 1, \dots, J, \\
    \lambda_{jk} &\sim \mathrm{Beta}(a_\lambda, b_\lambda), \\
    \pi_k &= V_k \prod_{l<k} (1 - V_l), \quad
        V_k \sim \mathrm{Beta}(1, \alpha) \ (k < K^*), \quad V_{K^*} = 1, \\
    \alpha &\sim \mathrm{Gamma}(a_\alpha, b_\alpha) \quad \text{(rate } b_\alpha),\\
    p(N) &\propto 1/N .

Only people with at least one capture, :math:`x_i \neq 0`, are observed; the
probability of being missed by every list is :math:`p_0 = \sum_k \pi_k
\prod_j (1 - \lambda_{jk})`.  The stick-breaking weights are a Dirichlet
process truncated at :math:`K^*` classes (Manrique-Vallier 2016,
*Biometrics* 72(4)); the defaults (:math:`K^* = 10`, :math:`a_\alpha =
b_\alpha = 0.25`, :math:`a_\lambda = b_\lambda = 1`) are those of the R package
LCMCR.  Optionally a proper prior :math:`N \sim \mathrm{Poisson}(\Lambda)`,
:math:`\Lambda \sim \mathrm{Gamma}(a_N, b_N)` (a negative binomial) replaces
:math:`1/N`, which is its limit :math:`a_N, b_N \to 0`.

The posterior is sampled by a Gibbs sampler with data augmentation of the
class memberships and of the unobserved count, working on the table of
observed patterns (see :mod:`casualty_models.models._lcmcr_gibbs`), plus
Metropolis-Hastings moves of the unobserved count per class with the capture
probabilities and class weights integrated out, and label-swap moves.

Identifying assumption
----------------------
Within each latent class the lists capture people independently, and the
unobserved people belong to the same mixture of classes as the observed
ones (classes are defined by the capture probabilities alone).  Dependence
between lists is allowed only in the form "some people are more visible to
every list than others".  People who are invisible to all lists for the same
reason (a class with capture probabilities near zero everywhere) cannot be
detected from the data: no model fitted to the observed patterns can count
them.

Label switching
---------------
Class labels are exchangeable: classes swap labels between chains and within
a chain.  The result holds only label-invariant quantities: ``N``,
``N_unobserved``, ``alpha``, ``prob_missed`` (:math:`p_0`), the class sizes
sorted from largest to smallest (``class_sizes``: people in each class,
observed or not, in the current draw of the memberships) and the number of
occupied classes (``occupied_classes``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..containers import CaptureTable
from ..errors import ConvergenceWarning, DataValidationError, IdentifiabilityWarning, PriorError
from ..errors import warn as _warn
from ..priors import inverse_n_prior
from ..results import Results, build_datatree, posterior_array
from ._base import check_sampling_args

__all__ = ["LatentClass", "chain_disagreement"]

#: default burn-in and thinning of :meth:`LatentClass.fit`
DEFAULT_BURN_IN = 10_000
DEFAULT_THIN = 50


def _pair(name: str, value: Any, *, allow_zero: bool = False) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise PriorError(
            f"{name}={value!r} is not a pair of numbers: expected (shape, rate) such as "
            "(0.25, 0.25)."
        ) from None
    ok = (lambda v: math.isfinite(v) and v >= 0) if allow_zero else (
        lambda v: math.isfinite(v) and v > 0)
    if not (ok(a) and ok(b)):
        bound = ">= 0" if allow_zero else "> 0"
        raise PriorError(
            f"{name}={value!r} is not allowed: both numbers must be finite and {bound}."
        )
    return a, b


def chain_disagreement(n_draws: np.ndarray, *, ratio_max: float = 1.2,
                       r_hat_max: float = 1.1) -> str | None:
    """Describe how chains of ``N`` disagree, or return ``None`` when they agree.

    Parameters
    ----------
    n_draws : array (chain, draw)
        Draws of ``N`` (one stratum or the total).
    ratio_max : float
        Largest allowed ratio of the highest to the lowest per-chain median.
    r_hat_max : float
        Largest allowed rank-normalised r-hat.
    """
    x = np.asarray(n_draws, dtype=float)
    if x.shape[0] < 2 or x.shape[1] < 4:
        return None
    import arviz_stats as azs

    med = np.median(x, axis=1)
    rh = float(azs.rhat(xr.DataArray(x, dims=("chain", "draw"))))
    ratio = float(med.max() / max(med.min(), 1.0))
    if ratio > ratio_max or not rh <= r_hat_max:
        meds = ", ".join(f"{m:,.0f}" for m in med)
        return (f"per-chain medians of N are [{meds}] (ratio {ratio:.2f}) and r-hat is "
                f"{rh:.3f}")
    return None


@dataclass(frozen=True)
class LatentClass:
    r"""Latent-class capture-recapture with a truncated Dirichlet process (LCMCR).

    Parameters
    ----------
    classes : int, default 10
        Truncation :math:`K^*` of the stick-breaking prior (number of latent
        classes available; the data decide how many are occupied).  ``1`` is
        the independence model (all lists independent for everybody).
    alpha_prior : (shape, rate), default (0.25, 0.25)
        Gamma prior on the concentration :math:`\alpha` (rate parametrisation,
        as LCMCR's ``a_alpha``, ``b_alpha``).
    capture_prior : (a, b), default (1, 1)
        Beta prior on every capture probability :math:`\lambda_{jk}`.
    n_prior : (shape, rate) or None, default None
        ``None`` is :math:`p(N) \propto 1/N` (as LCMCR).  A pair
        :math:`(a_N, b_N)` is the proper prior :math:`N \sim
        \mathrm{Poisson}(\Lambda)`, :math:`\Lambda \sim \mathrm{Gamma}(a_N,
        b_N)` (prior mean :math:`a_N / b_N`).
    collapsed_moves : int, default 1
        Metropolis-Hastings sweeps per iteration over the unobserved count
        of each class with capture probabilities and weights integrated out:
        an independence proposal at the Laplace approximation of that
        conditional for classes whose mode is at least 30 people, a random
        walk for the others (0 and ``label_swaps=0``, ``collapsed_alpha=False``
        give LCMCR's plain Gibbs sampler; the target is the same).
    label_swaps : int, default 10
        Metropolis moves per iteration that swap the labels of two classes
        (class weights integrated out); they let the stick-breaking weights
        and :math:`\alpha` mix (Papaspiliopoulos & Roberts 2008).  0 turns
        them off; the target is the same.
    collapsed_alpha : bool, default True
        Update :math:`\alpha` by slice sampling from its conditional given the
        class sizes with the stick-breaking weights integrated out, instead of
        LCMCR's Gamma draw given the weights.
    parallel : bool, default True
        Run chains in threads, one per core (the compiled kernel releases
        the GIL); each chain has its own NumPy ``Generator``, so the draws do
        not depend on this setting.

    Notes
    -----
    The model in full (see the module docstring):

    .. math::

        z_i \sim \mathrm{Cat}(\pi), \quad x_{ij} \mid z_i = k \sim
        \mathrm{Bern}(\lambda_{jk}), \quad \lambda_{jk} \sim
        \mathrm{Beta}(a_\lambda, b_\lambda), \quad \pi \sim
        \mathrm{SB}_{K^*}(\alpha), \quad \alpha \sim \mathrm{Gamma}(a_\alpha,
        b_\alpha), \quad p(N) \propto 1/N.

    Identifying assumption
    ----------------------
    Lists capture people independently *within* each latent class, and the
    people no list recorded are a mixture of the same classes as those
    observed.  A group of people that every list misses for the same reason
    is invisible to this (and to any) model of the observed patterns.

    Examples
    --------
    >>> from casualty_models.datasets import load_capture_table
    >>> res = LatentClass().fit(load_capture_table("kosovo"), draws=500, thin=10,
    ...                         burn_in=2000, random_seed=1)  # doctest: +SKIP
    """

    classes: int = 10
    alpha_prior: tuple[float, float] = (0.25, 0.25)
    capture_prior: tuple[float, float] = (1.0, 1.0)
    n_prior: tuple[float, float] | None = None
    collapsed_moves: int = 1
    label_swaps: int = 10
    collapsed_alpha: bool = True
    parallel: bool = True

    def __post_init__(self) -> None:
        k = self.classes
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= 1000:
            raise DataValidationError(
                f"classes={k!r} is not allowed: expected an integer between 1 and 1000 "
                "(LCMCR's default is 10; 1 is the independence model)."
            )
        object.__setattr__(self, "alpha_prior", _pair("alpha_prior", self.alpha_prior))
        object.__setattr__(self, "capture_prior", _pair("capture_prior", self.capture_prior))
        if self.n_prior is not None:
            a, b = _pair("n_prior", self.n_prior)
            object.__setattr__(self, "n_prior", (a, b))
        for name in ("collapsed_moves", "label_swaps"):
            m = getattr(self, name)
            if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 0:
                raise DataValidationError(
                    f"{name}={m!r} is not allowed: expected an integer >= 0."
                )

    # ------------------------------------------------------------ records
    def priors(self) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        aa, ba = self.alpha_prior
        al, bl = self.capture_prior
        if self.n_prior is None:
            n_text: dict[str, Any] = inverse_n_prior()
        else:
            an, bn = self.n_prior
            n_text = {"distribution": "NegativeBinomial (Poisson-Gamma)", "shape": an,
                      "rate": bn, "text": f"N ~ Poisson(L), L ~ Gamma({an:g}, rate {bn:g}) "
                      f"(prior mean {an / bn:,.0f})"}
        return {
            "N": n_text,
            "alpha": {"distribution": "Gamma", "shape": aa, "rate": ba,
                      "text": f"Gamma(shape {aa:g}, rate {ba:g})"},
            "capture_prob": {"distribution": "Beta", "alpha": al, "beta": bl,
                             "text": f"Beta({al:g}, {bl:g}) for every list and class"},
            "class_weights": {"distribution": "stick-breaking", "classes": self.classes,
                              "text": f"Dirichlet process truncated at {self.classes} "
                                      "classes (stick-breaking, concentration alpha)"},
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"classes": int(self.classes), "alpha_prior": list(self.alpha_prior),
                "capture_prior": list(self.capture_prior),
                "n_prior": None if self.n_prior is None else list(self.n_prior),
                "collapsed_moves": int(self.collapsed_moves),
                "label_swaps": int(self.label_swaps),
                "collapsed_alpha": bool(self.collapsed_alpha), "parallel": self.parallel}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        table: CaptureTable,
        *,
        draws: int = 2000,
        chains: int = 4,
        burn_in: int | None = None,
        thin: int | None = None,
        random_seed: int | None = None,
    ) -> Results:
        """Sample the posterior of the total with the Gibbs sampler.

        Parameters
        ----------
        table : CaptureTable
            Observed capture patterns; each stratum is fitted separately and
            the totals are summed (``N_total``).
        draws : int, default 2000
            Kept draws per chain (after thinning).
        chains : int, default 4
        burn_in : int, optional
            Iterations discarded at the start of each chain (default 10,000).
        thin : int, optional
            Keep one iteration in ``thin`` (default 50); a chain runs
            ``burn_in + draws * thin`` iterations.
        random_seed : int, optional
            Same seed, same draws (per-chain seeds are derived from it with
            :class:`numpy.random.SeedSequence`).  Without a seed one is drawn
            and recorded, so every result can be reproduced.

        Returns
        -------
        Results
            ``N``, ``N_unobserved``, ``alpha``, ``prob_missed``,
            ``class_sizes`` (sorted, largest first) and ``occupied_classes``,
            per stratum.

        Warns
        -----
        ConvergenceWarning
            When the chains disagree (per-chain medians of ``N`` more than 20%
            apart or r-hat above 1.1).
        IdentifiabilityWarning
            With fewer than three lists.
        """
        from ._lcmcr_gibbs import run_chains

        burn_in = DEFAULT_BURN_IN if burn_in is None else burn_in
        thin = DEFAULT_THIN if thin is None else thin
        check_sampling_args(draws, chains, burn_in)
        check_sampling_args(thin, 1)
        if not isinstance(table, CaptureTable):
            raise DataValidationError(
                f"table must be a CaptureTable, got {type(table).__name__}. Fix: build one "
                "with CaptureTable.from_records / from_counts, or "
                "datasets.load_capture_table(name)."
            )
        if table.n_lists < 3 and self.classes > 1:
            _warn(
                f"the latent-class model is fitted to {table.n_lists} lists "
                f"{list(table.lists)}: with fewer than three lists the classes are not "
                "identified and the estimate of N reflects the priors, not the data. Use "
                "a log-linear or two-list model instead.",
                IdentifiabilityWarning,
            )
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        n_s = len(table.strata)
        seeds = np.random.SeedSequence(random_seed).generate_state(
            n_s * chains, dtype=np.uint32).astype(np.int64).reshape(n_s, chains)
        a_n, b_n = (0.0, 0.0) if self.n_prior is None else self.n_prior

        t0 = time.perf_counter()
        per: list[dict[str, np.ndarray]] = []
        for s in range(n_s):
            keep = table.counts[s] > 0
            per.append(run_chains(
                table.patterns[keep], table.counts[s, keep], n_classes=int(self.classes),
                alpha_prior=self.alpha_prior, capture_prior=self.capture_prior,
                n_prior=(a_n, b_n), draws=draws, burn_in=burn_in, thin=thin,
                seeds=seeds[s], n_moves=int(self.collapsed_moves),
                n_swaps=int(self.label_swaps), collapsed_alpha=bool(self.collapsed_alpha),
                parallel=self.parallel))
        wall = time.perf_counter() - t0

        obs = table.observed  # (stratum,)
        n0 = np.stack([d["n0"] for d in per], axis=-1)  # chain, draw, stratum
        n_draws = n0 + obs[None, None, :]
        sizes = np.stack([-np.sort(-d["class_sizes"], axis=-1) for d in per], axis=2)
        coords: dict[str, Any] = {"stratum": list(table.strata),
                                  "class_rank": np.arange(1, self.classes + 1),
                                  "pattern": table.pattern_labels, "list": list(table.lists)}
        posterior = {
            "N": posterior_array(n_draws, ["chain", "draw", "stratum"], coords),
            "N_unobserved": posterior_array(n0, ["chain", "draw", "stratum"], coords),
            "alpha": posterior_array(np.stack([d["alpha"] for d in per], axis=-1),
                                     ["chain", "draw", "stratum"], coords),
            "prob_missed": posterior_array(np.stack([d["prob_missed"] for d in per], axis=-1),
                                           ["chain", "draw", "stratum"], coords),
            "class_sizes": posterior_array(sizes, ["chain", "draw", "stratum",
                                                   "class_rank"], coords),
            "occupied_classes": posterior_array(
                np.stack([d["occupied"] for d in per], axis=-1).astype(np.int64),
                ["chain", "draw", "stratum"], coords),
        }
        count_da = xr.DataArray(table.counts, dims=("stratum", "pattern"),
                                coords={"stratum": coords["stratum"],
                                        "pattern": coords["pattern"]})
        constant = {
            "observed": xr.DataArray(obs, dims=("stratum",),
                                     coords={"stratum": coords["stratum"]}),
            "patterns": xr.DataArray(table.patterns.astype(np.int64), dims=("pattern", "list"),
                                     coords={"pattern": coords["pattern"],
                                             "list": coords["list"]}),
        }
        dt = build_datatree(
            posterior,
            model="LatentClass",
            model_config=self.config(),
            priors=self.priors(),
            random_seed=random_seed,
            data_fingerprint=table.fingerprint(),
            data_source=table.source,
            sampler="gibbs",
            observed=int(obs.sum()),
            observed_data={"count": count_da},
            constant_data=constant,
            extra_attrs={"wall_time": wall, "burn_in": int(burn_in), "thin": int(thin),
                         "iterations_per_chain": int(burn_in + draws * thin)},
        )
        result = Results(dt)
        problems = []
        for s, label in enumerate(table.strata):
            msg = chain_disagreement(n_draws[:, :, s])
            if msg:
                problems.append(msg if n_s == 1 else f"stratum {label!r}: {msg}")
        if problems:
            _warn(
                "LatentClass chains disagree: " + "; ".join(problems) + ". This means at "
                "least one chain is stuck in a different arrangement of the latent classes "
                "(a different mode of the posterior) or the run is too short, so the pooled "
                "median and interval are not trustworthy. Fix: run longer chains (larger "
                "burn_in, draws or thin) and more chains, and report only when they agree.",
                ConvergenceWarning,
            )
        return result
