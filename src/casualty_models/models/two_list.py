r"""Two lists: Bayesian Lincoln-Petersen capture-recapture.

Model
-----
In each stratum, :math:`N` people; list A records each with probability
:math:`p_A`, list B with :math:`p_B`, independently.  The observed cells are
:math:`n_{11}` (both), :math:`n_{10}` (A only), :math:`n_{01}` (B only);
:math:`n_A = n_{10} + n_{11}`, :math:`n_B = n_{01} + n_{11}`,
:math:`r = n_{10} + n_{01} + n_{11}`.

.. math::

    (n_{11}, n_{10}, n_{01}, N - r) &\sim \mathrm{Multinomial}\big(N;\,
        p_A p_B,\; p_A(1-p_B),\; (1-p_A)p_B,\; (1-p_A)(1-p_B)\big), \\
    p_A \sim \mathrm{Beta}(a_A, b_A), &\quad p_B \sim \mathrm{Beta}(a_B, b_B), \quad
    p(N) \propto 1/N.

Integrating the capture probabilities out gives the exact posterior of
:math:`N` on the integers,

.. math::

    p(N \mid n) \propto \frac{1}{N}\,\frac{N!}{(N-r)!}\,
    B(a_A + n_A,\, b_A + N - n_A)\, B(a_B + n_B,\, b_B + N - n_B),

evaluated on a grid (``sampler="grid"``, the default): every integer up to
far into the tail, then a fine geometric grid for the heavy tail; draws of
:math:`N` are exact, and :math:`p_A \mid N \sim \mathrm{Beta}(a_A + n_A, b_A
+ N - n_A)`.  With ``sampler="nuts"`` the capture probabilities are sampled
with NUTS from the conditional multinomial likelihood of the observed cells
(:math:`N` summed out under :math:`1/N`), and :math:`N - r \sim
\mathrm{NegBin}(r, 1 - (1-p_A)(1-p_B))` is drawn afterwards.

The classical estimators are reported alongside: Lincoln-Petersen
:math:`\hat N = n_A n_B / n_{11}` and Chapman
:math:`\tilde N = (n_A+1)(n_B+1)/(n_{11}+1) - 1`.

Identifying assumption
----------------------
Within each stratum the two lists are **independent** and every person has
the **same** capture probability on each list.  Positive dependence (the
same deaths are easy for both lists to find) or heterogeneous visibility
biases :math:`N` downward; negative dependence biases it upward.  The data
cannot test this; stratify on what drives visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from ..containers import CaptureTable, pattern_label
from ..errors import DataValidationError, IdentifiabilityWarning, PriorError, warn
from ..priors import BetaPrior, inverse_n_prior
from ..results import Results, build_datatree, posterior_array
from ..validation import check_choice
from ._base import check_sampling_args, negbin_unobserved, nuts_results, run_nuts

__all__ = ["TwoList", "classical_estimates", "grid_posterior"]

_DENSE_MAX = 5_000_000  # integers evaluated exactly before the geometric tail
_TAIL_POINTS = 20_000
_TAIL_END = 1e13
#: Most people observed in a stratum: the grid must reach far beyond it (1,000 times).
_MAX_OBSERVED = int(_TAIL_END / 1000)
#: Posterior mass beyond the grid's end above which N is refused as unbounded.
_TAIL_WARN = 1e-3


def _cells(table: CaptureTable) -> np.ndarray:
    """Counts (n11, n10, n01) per stratum, shape (n_stratum, 3)."""
    if table.n_lists != 2:
        raise DataValidationError(
            f"TwoList needs exactly 2 lists, got {table.n_lists} {list(table.lists)}. "
            "Fix: use a K-list model (casualty_models.LogLinear, LatentClass) or select two lists."
        )
    pats, dense = table.dense()  # patterns 01, 10, 11
    lab = [pattern_label(p) for p in pats]
    return np.stack([dense[:, lab.index("11")], dense[:, lab.index("10")],
                     dense[:, lab.index("01")]], axis=1)


def classical_estimates(table: CaptureTable) -> pd.DataFrame:
    """Lincoln-Petersen and Chapman estimates per stratum (and their sum).

    Columns: ``n_a``, ``n_b``, ``both``, ``observed``, ``lincoln_petersen``
    (infinite when the lists never overlap), ``chapman``, ``chapman_se``
    (Seber's variance) and a normal 95% interval ``chapman_q025``/``chapman_q975``.
    """
    c = _cells(table).astype(float)
    m, n_a, n_b = c[:, 0], c[:, 0] + c[:, 1], c[:, 0] + c[:, 2]
    with np.errstate(divide="ignore"):
        lp = np.where(m > 0, n_a * n_b / np.where(m > 0, m, 1), np.inf)
    ch = (n_a + 1) * (n_b + 1) / (m + 1) - 1
    var = (n_a + 1) * (n_b + 1) * (n_a - m) * (n_b - m) / ((m + 1) ** 2 * (m + 2))
    se = np.sqrt(var)
    df = pd.DataFrame({
        "n_a": n_a.astype(int), "n_b": n_b.astype(int), "both": m.astype(int),
        "observed": c.sum(axis=1).astype(int), "lincoln_petersen": lp, "chapman": ch,
        "chapman_se": se, "chapman_q025": ch - 1.959964 * se, "chapman_q975": ch + 1.959964 * se,
    }, index=pd.Index(table.strata, name="stratum"))
    if len(df) > 1:
        tot = df.sum(numeric_only=True)
        tot["chapman_se"] = float(np.sqrt((df["chapman_se"] ** 2).sum()))
        tot["chapman_q025"] = tot["chapman"] - 1.959964 * tot["chapman_se"]
        tot["chapman_q975"] = tot["chapman"] + 1.959964 * tot["chapman_se"]
        df.loc["total"] = tot
    return df


def grid_posterior(
    n11: int, n10: int, n01: int, prior_a: BetaPrior, prior_b: BetaPrior
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact posterior of N on a grid for one stratum.

    Returns
    -------
    lower, upper : int arrays
        Each grid cell covers the integers ``lower[i] .. upper[i] - 1``
        (width one over the dense part, wider in the geometric tail).
    prob : float array
        Posterior probability of each cell (sums to one).

    Raises
    ------
    PriorError
        If more than 0.1% of the posterior mass lies beyond the grid's end
        (lists that barely overlap with weak capture priors): the total is
        then unbounded for practical purposes and no finite summary is given.
    """
    r = n11 + n10 + n01
    n_a, n_b = n11 + n10, n11 + n01
    chapman = (n_a + 1) * (n_b + 1) / (n11 + 1) - 1
    dense = int(min(max(200_000, 50 * chapman), _DENSE_MAX))
    lower = np.arange(r, r + dense, dtype=np.float64)
    tail = np.unique(np.round(np.geomspace(r + dense, _TAIL_END, _TAIL_POINTS)))
    lower = np.concatenate([lower, tail])
    upper = np.concatenate([lower[1:], [lower[-1] + 1]])
    # density at each integer, evaluated at the cell's midpoint for tail cells
    x = np.where(upper - lower > 1, np.floor(0.5 * (lower + upper)), lower)
    logp = (
        -np.log(x)
        + special.gammaln(x + 1) - special.gammaln(x - r + 1)
        + special.betaln(prior_a.alpha + n_a, prior_a.beta + x - n_a)
        + special.betaln(prior_b.alpha + n_b, prior_b.beta + x - n_b)
    )
    logw = logp + np.log(upper - lower)
    top = logw.max()
    w = np.exp(logw - top)
    # Mass beyond the grid: for large N the density decays like N^-(1 + s), with
    # s = a_A + a_B + n11 (Stirling on each factor), so the tail beyond T is p(T) T / s.
    s = prior_a.alpha + prior_b.alpha + n11
    end = float(upper[-1])
    log_end = (-np.log(end) + special.gammaln(end + 1) - special.gammaln(end - r + 1)
               + special.betaln(prior_a.alpha + n_a, prior_a.beta + end - n_a)
               + special.betaln(prior_b.alpha + n_b, prior_b.beta + end - n_b))
    beyond = float(np.exp(log_end - top) * end / s / w.sum())
    if not beyond < _TAIL_WARN:
        raise PriorError(
            f"with {n11} people on both lists and capture priors Beta({prior_a.alpha:g}, "
            f"{prior_a.beta:g}) and Beta({prior_b.alpha:g}, {prior_b.beta:g}), the posterior of "
            f"N decays only like N^-{1 + s:.3g}: {beyond:.1%} of its mass lies beyond "
            f"{_TAIL_END:.0e}, so no finite summary of N is honest (the total is unbounded "
            "for practical purposes). Fix: report N as not identified by these lists, or use "
            "capture priors with more weight (Beta(1, 1) or an informed interval)."
        )
    prob = w / w.sum()
    return lower.astype(np.int64), upper.astype(np.int64), prob


def _sample_grid(rng: np.random.Generator, lower: np.ndarray, upper: np.ndarray,
                 prob: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    idx = rng.choice(prob.size, size=size, p=prob)
    width = upper[idx] - lower[idx]
    return lower[idx] + np.floor(rng.random(size) * width).astype(np.int64)


@dataclass(frozen=True)
class TwoList:
    """Bayesian Lincoln-Petersen estimate of the total from two overlapping lists.

    Parameters
    ----------
    prior_a, prior_b : BetaPrior, default uniform
        Priors on the capture probability of each list.
    sampler : {"grid", "nuts"}, default "grid"
        ``"grid"`` draws exactly from the grid posterior of N; ``"nuts"``
        samples the capture probabilities with PyMC's NUTS and draws N
        afterwards (same model; useful as a check and as a template).

    Examples
    --------
    >>> table = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    >>> res = TwoList().fit(table, random_seed=1)
    >>> bool(1_950 < res.summary().loc["N_total", "mean"] < 2_050)  # Lincoln-Petersen: 2,000
    True
    """

    prior_a: BetaPrior = BetaPrior(1.0, 1.0, source="uniform")
    prior_b: BetaPrior = BetaPrior(1.0, 1.0, source="uniform")
    sampler: Literal["grid", "nuts"] = "grid"

    def __post_init__(self) -> None:
        check_choice("sampler", self.sampler, ("grid", "nuts"))
        for name, p in (("prior_a", self.prior_a), ("prior_b", self.prior_b)):
            if not isinstance(p, BetaPrior):
                raise DataValidationError(
                    f"{name}={p!r} is not a BetaPrior. Fix: pass BetaPrior(alpha, beta) or "
                    "BetaPrior.from_interval(low, high)."
                )

    def priors(self, lists: tuple[str, ...] = ("A", "B")) -> dict[str, Any]:
        """The priors used, JSON-ready."""
        return {
            "N": inverse_n_prior(),
            f"capture_prob[{lists[0]}]": {**self.prior_a.to_dict(), "text": str(self.prior_a)},
            f"capture_prob[{lists[1]}]": {**self.prior_b.to_dict(), "text": str(self.prior_b)},
        }

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration."""
        return {"prior_a": self.prior_a.to_dict(), "prior_b": self.prior_b.to_dict(),
                "sampler": self.sampler}

    def fit(
        self,
        table: CaptureTable | dict[Any, Any],
        *,
        draws: int = 4000,
        chains: int = 4,
        tune: int = 1000,
        random_seed: int | None = None,
        nuts_sampler: str | None = None,
    ) -> Results:
        """Sample the posterior of N (per stratum and total).

        Parameters
        ----------
        table : CaptureTable with two lists, or a mapping such as
            ``{"A": 400, "B": 300, "AB": 100}``
        draws, chains, tune : int
        random_seed : int, optional
        """
        check_sampling_args(draws, chains, tune)
        if not isinstance(table, CaptureTable):
            table = CaptureTable.from_mapping(table)
        cells = _cells(table)
        for s, (m, n10, n01) in zip(table.strata, cells, strict=True):
            if m + n10 + n01 > _MAX_OBSERVED:
                raise DataValidationError(
                    f"stratum {s!r} has {m + n10 + n01:,} people observed: expected at most "
                    f"{_MAX_OBSERVED:,} (the exact grid of N ends at {_TAIL_END:.0e}, and the "
                    "draws must fit in int64). Fix: check the counts' units; no list of "
                    "deaths is this long."
                )
            if m == 0:
                warn(
                    f"the two lists never overlap in stratum {s!r} (A only {n10}, B only "
                    f"{n01}, both 0): the data cannot bound N from above; the posterior "
                    "is heavy-tailed and driven by the priors (Lincoln-Petersen is "
                    "infinite). Report it as 'not identifiable', not as an estimate.",
                    IdentifiabilityWarning,
                )
            elif m < 7:
                warn(
                    f"only {m} people are on both lists in stratum {s!r}: the estimate is "
                    "very uncertain and sensitive to the priors.",
                    IdentifiabilityWarning,
                )
        rng = np.random.default_rng(random_seed)
        shape = (chains, draws)
        tree, wall = None, None
        if self.sampler == "grid":
            n_draws = np.empty(shape + (len(table.strata),), dtype=np.int64)
            p_draws = np.empty(shape + (len(table.strata), 2))
            for i, (m, n10, n01) in enumerate(cells):
                lo, hi, pr = grid_posterior(int(m), int(n10), int(n01), self.prior_a, self.prior_b)
                n_i = _sample_grid(rng, lo, hi, pr, shape)
                n_draws[..., i] = n_i
                n_a, n_b = m + n10, m + n01
                p_draws[..., i, 0] = rng.beta(self.prior_a.alpha + n_a, self.prior_a.beta + n_i - n_a)
                p_draws[..., i, 1] = rng.beta(self.prior_b.alpha + n_b, self.prior_b.beta + n_i - n_b)
            unobs = n_draws - cells.sum(axis=1)
        else:
            tree, wall = self._nuts(table, cells, draws=draws, chains=chains, tune=tune,
                                    random_seed=random_seed, nuts_sampler=nuts_sampler)
            p_draws = np.asarray(tree["posterior"]["capture_prob"].values)
            detect = 1.0 - np.prod(1.0 - p_draws, axis=-1)
            unobs = negbin_unobserved(rng, cells.sum(axis=1), detect)
            n_draws = unobs + cells.sum(axis=1)
        return self._package(table, cells, n_draws, unobs, p_draws, random_seed, tree, wall)

    def posterior_grid(self, table: CaptureTable | dict[Any, Any]) -> dict[str, pd.DataFrame]:
        """The exact grid posterior per stratum: columns ``lower``, ``upper``, ``prob``."""
        if not isinstance(table, CaptureTable):
            table = CaptureTable.from_mapping(table)
        out = {}
        for s, (m, n10, n01) in zip(table.strata, _cells(table), strict=True):
            lo, hi, pr = grid_posterior(int(m), int(n10), int(n01), self.prior_a, self.prior_b)
            out[s] = pd.DataFrame({"lower": lo, "upper": hi, "prob": pr})
        return out

    # ----------------------------------------------------------- internals
    def _nuts(self, table: CaptureTable, cells: np.ndarray, *, draws: int, chains: int,
              tune: int, random_seed: int | None,
              nuts_sampler: str | None = None) -> tuple[Any, float]:
        import pymc as pm

        coords = {"stratum": list(table.strata), "list": list(table.lists),
                  "cell": ["11", "10", "01"]}
        alphas = np.array([self.prior_a.alpha, self.prior_b.alpha])
        betas = np.array([self.prior_a.beta, self.prior_b.beta])
        with pm.Model(coords=coords) as model:
            p = pm.Beta("capture_prob", alpha=alphas, beta=betas, dims=("stratum", "list"))
            pa, pb = p[:, 0], p[:, 1]
            cell_p = pm.math.stack([pa * pb, pa * (1 - pb), (1 - pa) * pb], axis=1)
            # conditional on being observed: N is summed out exactly under p(N) ~ 1/N
            cond = cell_p / pm.math.sum(cell_p, axis=1, keepdims=True)
            pm.Multinomial("cells", n=cells.sum(axis=1), p=cond, observed=cells,
                           dims=("stratum", "cell"))
        return run_nuts(model, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                        nuts_sampler=nuts_sampler)

    def _package(self, table: CaptureTable, cells: np.ndarray, n_draws: np.ndarray,
                 unobs: np.ndarray, p_draws: np.ndarray, random_seed: int | None,
                 tree: Any, wall: float | None) -> Results:
        coords = {"stratum": list(table.strata), "list": list(table.lists)}
        dims = ["chain", "draw", "stratum"]
        posterior = {
            "N": posterior_array(n_draws, dims, coords),
            "N_unobserved": posterior_array(unobs, dims, coords),
        }
        if tree is None:
            posterior["capture_prob"] = posterior_array(p_draws, dims + ["list"], coords)
        obs = cells.sum(axis=1)
        pats, dense = table.dense()
        labels = [pattern_label(p) for p in pats]
        observed_data = {"count": xr.DataArray(
            dense, dims=["stratum", "pattern"],
            coords={"stratum": coords["stratum"], "pattern": labels})}
        constant = {
            "observed": xr.DataArray(obs, dims=["stratum"], coords={"stratum": coords["stratum"]}),
            "capture_matrix": xr.DataArray(pats, dims=["pattern", "list"],
                                           coords={"pattern": labels, "list": coords["list"]}),
        }
        classical = classical_estimates(table)
        extra: dict[str, Any] = {
            "lincoln_petersen": float(classical["lincoln_petersen"].iloc[-1]),
            "chapman": float(classical["chapman"].iloc[-1]),
            "classical_estimates": classical.reset_index().to_json(orient="records"),
        }
        if wall is not None:
            extra["wall_time"] = wall
        dt = build_datatree(
            posterior, model="TwoList", model_config=self.config(),
            priors=self.priors(table.lists), random_seed=random_seed,
            data_fingerprint=table.fingerprint(), data_source=table.source,
            sampler=self.sampler, observed=int(obs.sum()), observed_data=observed_data,
            constant_data=constant, base=tree, extra_attrs=extra,
        )
        return nuts_results(dt)
