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

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..containers import CaptureTable
from ..errors import (
    ConvergenceWarning,
    DataValidationError,
    IdentifiabilityWarning,
    MultimodalityWarning,
    PriorError,
)
from ..errors import warn as _warn
from ..priors import GammaPrior, inverse_n_prior
from ..results import Results, build_datatree, posterior_array
from ..validation import check_choice, check_int, check_number, check_seed
from ._lc_modes import chain_mode_spread, find_modes

__all__ = ["LatentClass", "chain_disagreement", "describe_modes"]

#: default burn-in and thinning of :meth:`LatentClass.fit`
DEFAULT_BURN_IN = 10_000
DEFAULT_THIN = 50
#: default ladder of the replica exchange (chosen by measurement, see docs/latent_class.md)
DEFAULT_RUNGS = 4
DEFAULT_BETA_MIN = 0.3
#: chains whose shares of draws in one mode differ by more than this sit in different modes
MODE_SPREAD_MAX = 0.25


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


def overlap_problems(table: CaptureTable) -> list[str]:
    """Lists whose records are on no other list (the latent classes cannot be estimated)."""
    seen = table.counts.sum(axis=0) > 0
    multi = table.patterns[seen].sum(axis=1) >= 2
    lonely = [name for j, name in enumerate(table.lists)
              if not np.any(multi & (table.patterns[seen, j] == 1))]
    return lonely


@dataclass(frozen=True)
class LatentClass:
    r"""Latent-class capture-recapture with a truncated Dirichlet process (LCMCR).

    Parameters
    ----------
    classes : int, default 10
        Truncation :math:`K^*` of the stick-breaking prior (number of latent
        classes available; the data decide how many are occupied).  ``1`` is
        the independence model (all lists independent for everybody).
    alpha_prior : GammaPrior or (shape, rate), default GammaPrior(0.25, 0.25)
        Gamma prior on the concentration :math:`\alpha` (rate parametrisation,
        as LCMCR's ``a_alpha``, ``b_alpha``); a pair is converted to a
        :class:`~casualty_models.priors.GammaPrior`.
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
    tempering : bool, default True
        Replica exchange over a ladder of data-tempered posteriors (see
        Notes).  ``False`` runs the plain chains (one replica each).
    rungs : int, default DEFAULT_RUNGS
        Rungs of the ladder (including the posterior itself).
    beta_min : float, default DEFAULT_BETA_MIN
        Fraction of the data at the hottest rung; rung ``r`` holds the
        fraction :math:`\beta_r = \beta_{\min}^{r / (R - 1)}`.

    Notes
    -----
    The model in full (see the module docstring):

    .. math::

        z_i \sim \mathrm{Cat}(\pi), \quad x_{ij} \mid z_i = k \sim
        \mathrm{Bern}(\lambda_{jk}), \quad \lambda_{jk} \sim
        \mathrm{Beta}(a_\lambda, b_\lambda), \quad \pi \sim
        \mathrm{SB}_{K^*}(\alpha), \quad \alpha \sim \mathrm{Gamma}(a_\alpha,
        b_\alpha), \quad p(N) \propto 1/N.

    **Tempering (replica exchange).**  Write :math:`\theta = (\lambda, \pi,
    \alpha)` and :math:`P_x(\theta) = \sum_k \pi_k \prod_j
    \lambda_{jk}^{x_j}(1 - \lambda_{jk})^{1 - x_j}`.  Summing the memberships
    and :math:`N` out of the joint posterior (prior :math:`1/N`) leaves

    .. math::

        p(\theta \mid c) \propto p(\theta) \prod_x
        \Bigl(\frac{P_x(\theta)}{1 - P_0(\theta)}\Bigr)^{c_x},

    the prior times a product of probabilities (at most one), so every table
    :math:`c` gives a proper distribution of :math:`\theta`.  Rung :math:`r`
    targets :math:`p(\theta \mid c^{(r)})` with the *integer* table
    :math:`c^{(r)}_x = \mathrm{round}(\beta_r c_x)`, an approximate power
    posterior :math:`p(\theta)\,L(\theta)^{\beta_r}` whose augmented
    sampler is the ordinary Gibbs kernel run on :math:`c^{(r)}`: every
    conditional update at a hot rung is the exact conditional of that rung's
    target (with :math:`N_r \mid \theta \sim n_r + \mathrm{NegBin}(n_r, 1 -
    P_0)` and the memberships as data augmentation).  Rung 0 is the data
    itself.  After each sweep the parameters :math:`\theta` of rungs
    :math:`r, r + 1` are exchanged with probability

    .. math::

        \min\Bigl\{1, \exp\bigl(\ell_r(\theta_{r+1}) + \ell_{r+1}(\theta_r)
        - \ell_r(\theta_r) - \ell_{r+1}(\theta_{r+1})\bigr)\Bigr\},
        \quad \ell_r(\theta) = \sum_x c^{(r)}_x \log P_x(\theta) - n_r
        \log(1 - P_0(\theta)),

    the Metropolis ratio of the product target :math:`\prod_r p(\theta_r
    \mid c^{(r)})` (the prior cancels; with a proper prior on :math:`N` the
    last term is :math:`(a_N + n_r) \log(b_N + 1 - P_0)`).  Because each
    sweep redraws the memberships and :math:`N` from their conditionals
    given :math:`\theta` before using them, the state carried between sweeps
    is :math:`\theta`, and exchanging it leaves the joint target invariant.
    Only rung 0 is recorded, after its sweep and before the exchanges, so
    the draws of :math:`N` are from the posterior.  Even pairs are tried on
    even iterations and odd pairs on odd ones.

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
    alpha_prior: GammaPrior | tuple[float, float] = GammaPrior(0.25, 0.25)
    capture_prior: tuple[float, float] = (1.0, 1.0)
    n_prior: tuple[float, float] | None = None
    collapsed_moves: int = 1
    label_swaps: int = 10
    collapsed_alpha: bool = True
    parallel: bool = True
    tempering: bool = True
    rungs: int = DEFAULT_RUNGS
    beta_min: float = DEFAULT_BETA_MIN

    def __post_init__(self) -> None:
        k = self.classes
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= 1000:
            raise DataValidationError(
                f"classes={k!r} is not allowed: expected an integer between 1 and 1000 "
                "(LCMCR's default is 10; 1 is the independence model)."
            )
        if not isinstance(self.alpha_prior, GammaPrior):
            a, b = _pair("alpha_prior", self.alpha_prior)
            object.__setattr__(self, "alpha_prior", GammaPrior(a, b))
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
        check_choice("tempering", self.tempering, (True, False))
        object.__setattr__(self, "rungs", check_int("rungs", self.rungs, low=2, high=64))
        object.__setattr__(self, "beta_min", check_number(
            "beta_min", self.beta_min, low=0.0, high=1.0, low_open=True, high_open=True))

    @property
    def _alpha(self) -> GammaPrior:
        assert isinstance(self.alpha_prior, GammaPrior)
        return self.alpha_prior

    # ------------------------------------------------------------ records
    def priors(self) -> dict[str, Any]:
        """The priors used, as a JSON-ready mapping."""
        ga = self._alpha
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
            "alpha": {**ga.to_dict(), "text": f"Gamma(shape {ga.shape:g}, rate {ga.rate:g})"},
            "capture_prob": {"distribution": "Beta", "alpha": al, "beta": bl,
                             "text": f"Beta({al:g}, {bl:g}) for every list and class"},
            "class_weights": {"distribution": "stick-breaking", "classes": self.classes,
                              "text": f"Dirichlet process truncated at {self.classes} "
                                      "classes (stick-breaking, concentration alpha)"},
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (recorded with results)."""
        return {"classes": int(self.classes),
                "alpha_prior": [self._alpha.shape, self._alpha.rate],
                "capture_prior": list(self.capture_prior),
                "n_prior": None if self.n_prior is None else list(self.n_prior),
                "collapsed_moves": int(self.collapsed_moves),
                "label_swaps": int(self.label_swaps),
                "collapsed_alpha": bool(self.collapsed_alpha), "parallel": self.parallel,
                "tempering": self.tempering, "rungs": int(self.rungs),
                "beta_min": float(self.beta_min)}

    # ------------------------------------------------------------------ fit
    def _run(self, pats: np.ndarray, cnt: np.ndarray, *, draws: int, burn_in: int,
             thin: int, seeds: np.ndarray, tempered: bool,
             progress: Any = None) -> dict[str, np.ndarray]:
        from ._lcmcr_gibbs import ladder, run_chains

        a_n, b_n = (0.0, 0.0) if self.n_prior is None else self.n_prior
        n_chain = seeds.shape[0]
        return run_chains(
            pats, cnt, n_classes=int(self.classes),
            alpha_prior=(self._alpha.shape, self._alpha.rate),
            capture_prior=self.capture_prior, n_prior=(a_n, b_n), draws=draws,
            burn_in=burn_in, thin=thin, seeds=seeds, n_moves=int(self.collapsed_moves),
            n_swaps=int(self.label_swaps), collapsed_alpha=bool(self.collapsed_alpha),
            parallel=self.parallel,
            betas=ladder(int(self.rungs), float(self.beta_min)) if tempered else None,
            lam_scales=dispersed_starts(n_chain), progress=progress)

    def fit(
        self,
        table: CaptureTable,
        *,
        draws: int = 2000,
        chains: int = 4,
        burn_in: int | None = None,
        thin: int | None = None,
        random_seed: int | None = None,
        progress: bool = True,
        executor: Any = None,
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
            Chains, started from dispersed states (capture probabilities from
            their prior scaled by factors from 1 down to 0.02, so the chains
            start at very different totals).
        burn_in : int, optional
            Iterations discarded at the start of each chain (default 10,000).
        thin : int, optional
            Keep one iteration in ``thin`` (default 50); a chain runs
            ``burn_in + draws * thin`` iterations.
        random_seed : int, optional
            Same seed, same draws.  Without a seed one is drawn and recorded, so
            every result can be reproduced.  An unstratified table's chains get
            seeds ``SeedSequence(random_seed).generate_state(chains)``; with
            several strata, stratum ``s`` first gets its own seed
            ``run_seed(random_seed, {"stratum": label_s})`` (a function of its
            label, not of its position or of the executor; recorded in the root
            attr ``stratum_seeds``), so
            ``fit(table.select(label_s), random_seed=stratum_seeds[label_s])``
            reproduces that stratum's draws, as does a sensitivity grid over
            ``stratum`` with the same base seed.
        progress : bool, default True
            Show a progress bar (on standard error) when the fit lasts more
            than a couple of seconds (serial fits only).
        executor : optional
            Where the strata are fitted: ``None`` (here, one after another), or
            any executor of :func:`casualty_models.parallel.open_executor`
            (``"serial"``, a number of local processes, a dask ``Client`` or its
            executor, any ``concurrent.futures.Executor``).  The draws are
            identical whatever the executor; workers send back only the draws
            the result keeps.  Consider ``parallel=False`` on a busy pool (each
            fit would otherwise start a thread per chain).

        Returns
        -------
        Results
            ``N``, ``N_unobserved``, ``alpha``, ``prob_missed``,
            ``class_sizes`` (sorted, largest first) and ``occupied_classes``,
            per stratum.  Root attrs ``modes`` (per stratum: the modes of
            :math:`N`, their weights and each chain's share) and
            ``tempering`` (per stratum: whether tempering was used and why,
            the ladder, the observed count of each rung and the exchange
            acceptance rates per chain), ``stratum_seeds``.

        Raises
        ------
        CasualtyModelsError
            When a stratum's fit fails: the error names the stratum (its own
            error type is kept when it is one of the library's).

        Warns
        -----
        MultimodalityWarning
            When chains put different shares of their draws in different
            modes of :math:`N` (a subclass of ``ConvergenceWarning``).
        ConvergenceWarning
            When the chains disagree otherwise (per-chain medians of ``N``
            more than 20% apart or r-hat above 1.1).
        IdentifiabilityWarning
            With fewer than three lists, or when a list's records are on no
            other list.
        """
        burn_in = DEFAULT_BURN_IN if burn_in is None else burn_in
        thin = DEFAULT_THIN if thin is None else thin
        draws = check_int("draws", draws, low=1)
        chains = check_int("chains", chains, low=1)
        burn_in = check_int("burn_in", burn_in, low=0)
        thin = check_int("thin", thin, low=1)
        if random_seed is not None:
            random_seed = check_seed(random_seed, "random_seed")
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
        lonely = overlap_problems(table)
        if lonely:
            _warn(
                f"no record of list(s) {lonely} is on any other list: without overlaps the "
                "data say nothing about how many people those lists missed, and the "
                "estimate of N reflects the priors, not the data. Fix: check the record "
                "linkage, or merge or drop those lists.",
                IdentifiabilityWarning,
            )
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        n_s = len(table.strata)
        labels = [str(x) for x in table.strata]
        stratum_seeds = {lab: stratum_seed(random_seed, lab, n_s) for lab in labels}
        run = functools.partial(_fit_stratum, self, table, draws, burn_in, thin, chains)

        t0 = time.perf_counter()
        from ..parallel import gather, map_runs, named_error

        if executor is None:
            per: list[dict[str, Any]] = []
            bar = _progress_bar(progress, n_s * chains * (burn_in + draws * thin))
            try:
                for lab in labels:
                    try:
                        per.append(run({"stratum": lab}, stratum_seeds[lab],
                                       None if bar is None else bar.update))
                    except Exception as exc:  # name the stratum, keep the cause
                        if n_s == 1:
                            raise
                        raise named_error(f"stratum {lab!r}", exc) from exc
            finally:
                if bar is not None:
                    bar.close()
        else:
            outcomes, _ = map_runs(run, [{"stratum": lab} for lab in labels],
                                   [stratum_seeds[lab] for lab in labels], executor=executor)
            per = gather(outcomes, name="stratum")
        temper_info = {lab: d.pop("tempering") for lab, d in zip(labels, per, strict=True)}
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
        modes = {str(label): find_modes(n_draws[:, :, s])
                 for s, label in enumerate(table.strata)}
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
                         "iterations_per_chain": int(burn_in + draws * thin),
                         "modes": modes, "tempering": temper_info,
                         "stratum_seeds": stratum_seeds},
        )
        result = Results(dt)
        stuck, problems = [], []
        for s, label in enumerate(table.strata):
            where = "" if n_s == 1 else f"stratum {label!r}: "
            mm = modes[str(label)]
            if len(mm) > 1 and chain_mode_spread(mm) > MODE_SPREAD_MAX:
                stuck.append(where + describe_modes(mm))
                continue
            msg = chain_disagreement(n_draws[:, :, s])
            if msg:
                problems.append(where + msg)
        if stuck:
            _warn(
                "LatentClass chains sit in different modes of the posterior of N: "
                + "; ".join(stuck) + ". The weight of each mode, the pooled median and the "
                "interval are not trustworthy, even if r-hat looks fine. Fix: keep tempering "
                "on (the default) and use more rungs or a smaller beta_min, above all if "
                "the exchange rates in res.attrs['tempering'] are low, and run longer "
                "chains.",
                MultimodalityWarning,
            )
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


def stratum_seed(random_seed: int, label: str, n_strata: int) -> int:
    """Seed of one stratum's chains (from its label, never its position).

    The base seed itself for an unstratified table, else
    ``run_seed(random_seed, {"stratum": label})``.
    """
    if n_strata == 1:
        return int(random_seed)
    from ..parallel import run_seed

    return run_seed(int(random_seed), {"stratum": label})


def _fit_stratum(model: LatentClass, table: CaptureTable, draws: int, burn_in: int,
                 thin: int, chains: int, settings: dict[str, Any], seed: int | None,
                 progress: Any = None) -> dict[str, Any]:
    """Fit one stratum (serially, or as a run of :func:`casualty_models.parallel.map_runs`).

    Returns only what the result keeps: the draws (``n0``, ``alpha``,
    ``prob_missed``, ``class_sizes``, ``occupied``) and the ``tempering`` record.
    """
    s = table.strata.index(settings["stratum"])
    keep = table.counts[s] > 0
    pats, cnt = table.patterns[keep], table.counts[s, keep]
    chain_seeds = np.random.SeedSequence(seed).generate_state(chains, dtype=np.uint32)
    tempered = bool(model.tempering)
    out = model._run(pats, cnt, draws=draws, burn_in=burn_in, thin=thin,
                     seeds=chain_seeds.astype(np.int64), tempered=tempered, progress=progress)
    info: dict[str, Any] = {"used": tempered}
    if tempered:
        from ._lcmcr_gibbs import ladder, rung_tables

        lad = ladder(int(model.rungs), float(model.beta_min))
        info.update({
            "ladder": [float(b) for b in lad],
            "rung_observed": [int(v) for v in rung_tables(cnt, lad).sum(axis=1)],
            "swap_rate": [[float(v) for v in row] for row in out["swap_rate"]],
            "mean_swap_rate": [float(v) for v in out["swap_rate"].mean(axis=0)],
        })
    kept = {k: out[k] for k in ("n0", "alpha", "prob_missed", "class_sizes", "occupied")}
    return {**kept, "tempering": info}


def dispersed_starts(chains: int) -> np.ndarray:
    """Scales of the initial capture probabilities: 1 down to 0.02 (small N to large N)."""
    return np.geomspace(1.0, 0.02, chains) if chains > 1 else np.ones(1)


def describe_modes(modes: list[dict[str, Any]]) -> str:
    """One line: each mode's location, weight and the chains' shares."""
    parts = []
    for m in modes:
        shares = ", ".join(f"{w:.2f}" for w in m["chain_weights"])
        bounds = "" if len(modes) == 1 else \
            f" (between {m['lower']:,.0f} and {m['upper']:,.0f})"
        parts.append(f"N near {m['median']:,.0f}{bounds}: weight {m['weight']:.2f}, "
                     f"per chain [{shares}]")

    return "modes " + "; ".join(parts)


def _progress_bar(enabled: bool, total: int) -> Any:
    """A tqdm bar on standard error, shown only if the fit lasts more than two seconds."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="it", unit_scale=True, delay=2.0, leave=False,
                desc="LatentClass", mininterval=0.5)
