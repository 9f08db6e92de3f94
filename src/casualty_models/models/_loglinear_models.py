r"""Across log-linear models: all models, AIC, BIC, N and ranges.

Every hierarchical model for K <= 5 lists (a stepwise search beyond), with AIC,
BIC and N, and the range of N across the models within a chosen distance of the
best.

Every model is fitted by maximum likelihood with the batched Newton solver of
:mod:`._loglinear_fit`: all models with the same number of parameters are
solved together as one stack of small linear systems, so the 6,893
hierarchical models of five lists take a few seconds (Rcapture's
``closedpMS.t`` takes 20-26 s).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pandas as pd

from ..containers import CaptureTable
from ..errors import DataValidationError, IdentifiabilityWarning, warn
from ..validation import check_choice, check_number
from ._loglinear_fit import Term, batched_poisson_fit, design, enumerate_hierarchical
from ._loglinear_terms import generator_label, term_name

__all__ = ["all_models", "model_range"]

_CRITERIA = ("AIC", "BIC")


def _all_terms(k: int) -> list[Term]:
    return [t for r in range(1, k) for t in itertools.combinations(range(k), r)]


def _fit_models(table: CaptureTable, models: list[list[Term]],
                max_ratio: float) -> pd.DataFrame:
    """Fit each model in every stratum; sum criteria and N over strata.

    A model is a list of interaction terms; main effects are implied.
    """
    pats, y = table.dense()
    k = table.n_lists
    full = _all_terms(k)
    col = {t: i + 1 for i, t in enumerate(full)}
    F = design(pats, full)
    n = y.sum(axis=1).astype(float)
    margins = {t: y @ np.all(pats[:, list(t)] == 1, axis=1) for t in full}
    multi = pats.sum(axis=1) >= 2
    isolated = any(
        int(y[s_][(pats[:, j] == 1) & multi].sum()) == 0
        for s_ in range(y.shape[0]) for j in range(k))
    cols = [[0] + list(range(1, k + 1)) + [col[t] for t in m] for m in models]
    sizes = np.array([len(c) for c in cols])
    res = {key: np.zeros(len(models)) for key in ("ll", "N", "n0max")}
    conv = np.ones(len(models), dtype=bool)
    for p in np.unique(sizes):
        idx = np.flatnonzero(sizes == p)
        X = np.stack([F[:, cols[i]] for i in idx])
        for s in range(y.shape[0]):
            fit = batched_poisson_fit(X, y[s])
            n0 = np.exp(np.minimum(fit["beta"][:, 0], 700.0))
            res["ll"][idx] += fit["loglik"]
            res["N"][idx] += n[s] + n0
            res["n0max"][idx] = np.maximum(res["n0max"][idx], n0 / max(n[s], 1.0))
            conv[idx] &= fit["converged"]
    n_par = sizes * y.shape[0]
    zero = {t for t, v in margins.items() if np.any(v == 0)}
    status = []
    for i, m in enumerate(models):
        if not conv[i] or res["n0max"][i] > 1e3:
            status.append("unbounded")
        elif isolated or (zero and any(t in zero for t in m)) or any(
                (j,) in zero for j in range(k)):
            status.append("boundary")
        elif res["n0max"][i] > max_ratio:
            status.append("implausible")
        else:
            status.append("ok")
    ll = res["ll"]
    N = np.where(np.array(status) == "unbounded", np.inf, res["N"])
    df = pd.DataFrame({
        "model": [generator_label(m, table.lists) for m in models],
        "interactions": [tuple(term_name(t, table.lists) for t in m) for m in models],
        "n_params": n_par,
        "df": (2**k - 1) * y.shape[0] - n_par,
        "deviance": 0.0,
        "AIC": -2 * ll + 2 * n_par,
        "BIC": -2 * ll + sizes * np.log(np.maximum(n, 1.0)).sum(),
        "N": N,
        "status": status,
    })
    # deviance against the saturated Poisson model of the observed cells
    with np.errstate(divide="ignore", invalid="ignore"):
        from scipy.special import gammaln

        ll_sat = float(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y
                              - gammaln(y + 1.0)))
    df["deviance"] = 2 * (ll_sat - ll)
    return df


def _stepwise(table: CaptureTable, criterion: str, max_order: int,
              max_ratio: float) -> tuple[pd.DataFrame, int]:
    """Forward-backward search over hierarchical models from independence."""
    k = table.n_lists
    cand_terms = [t for r in range(2, min(max_order, k - 1) + 1)
                  for t in itertools.combinations(range(k), r)]
    seen: dict[tuple[Term, ...], pd.Series] = {}

    def key(m: list[Term]) -> tuple[Term, ...]:
        return tuple(sorted(m, key=lambda t: (len(t), t)))

    def evaluate(ms: list[list[Term]]) -> None:
        new = [m for m in ms if key(m) not in seen]
        if new:
            tab = _fit_models(table, new, max_ratio)
            for m, (_, row) in zip(new, tab.iterrows(), strict=True):
                seen[key(m)] = row

    current: list[Term] = []
    evaluate([current])
    steps = 0
    while True:
        steps += 1
        cur = set(current)
        moves = []
        for t in cand_terms:
            if t in cur:
                continue
            if len(t) == 2 or all(s in cur for s in itertools.combinations(t, len(t) - 1)):
                moves.append(current + [t])
        for t in current:
            if not any(set(t) < set(u) for u in current):
                moves.append([u for u in current if u != t])
        evaluate(moves)
        best = min(moves, key=lambda m: (seen[key(m)][criterion]
                                         if seen[key(m)]["status"] == "ok" else np.inf))
        if seen[key(best)][criterion] < seen[key(current)][criterion] - 1e-9 and \
                seen[key(best)]["status"] == "ok":
            current = best
        else:
            break
    tab = pd.DataFrame(list(seen.values())).reset_index(drop=True)
    return tab, steps


def all_models(
    table: CaptureTable,
    *,
    criterion: str = "AIC",
    search: str = "auto",
    max_order: int | None = None,
    max_ratio: float = 10.0,
    quiet: bool = False,
) -> pd.DataFrame:
    r"""Fit every hierarchical log-linear model (or search them) and tabulate.

    Parameters
    ----------
    table : CaptureTable
        With strata, each model is fitted in every stratum separately and the
        log-likelihoods, parameter counts and N are summed.
    criterion : {"AIC", "BIC"}, default "AIC"
        Sort order (and the target of the stepwise search).
    search : {"auto", "all", "stepwise"}, default "auto"
        ``"all"`` enumerates every hierarchical model without the K-way term
        (8, 113 and 6,893 models for 3, 4 and 5 lists); ``"stepwise"`` starts
        from independence and repeatedly takes the best single move (adding
        an interaction whose lower-order terms are present, or removing a
        maximal one) while the criterion improves, keeping every model it
        fitted; ``"auto"`` is ``"all"`` for K <= 5 and ``"stepwise"`` above.
    max_order : int, optional
        Highest interaction order in a stepwise search (default K - 1).
    max_ratio : float, default 10
        Models whose N exceeds ``max_ratio`` times the observed count are
        flagged ``"implausible"``.
    quiet : bool, default False
        Do not warn about boundary or unbounded models.

    Returns
    -------
    DataFrame
        Columns ``model`` (maximal interactions, Rcapture style), ``interactions``,
        ``n_params``, ``df``, ``deviance``, ``AIC``, ``BIC``, ``N``, ``status``,
        ``delta_AIC``, ``delta_BIC`` (against the best ``"ok"`` model), sorted by
        ``criterion``.  ``attrs`` holds ``search``, ``n_models`` and ``seconds``.

    Notes
    -----
    ``status`` is ``"ok"``, ``"boundary"`` (an interaction or list margin is
    empty, so a coefficient is minus infinity), ``"implausible"`` or
    ``"unbounded"`` (N is infinite; reported as ``inf``).  Rank and report only
    ``"ok"`` models; :func:`model_range` does so.
    """
    if not isinstance(table, CaptureTable):
        raise DataValidationError(
            f"all_models needs a CaptureTable, got {type(table).__name__}."
        )
    check_choice("criterion", criterion, _CRITERIA)
    check_choice("search", search, ("auto", "all", "stepwise"))
    k = table.n_lists
    if search == "auto":
        search = "all" if k <= 5 else "stepwise"
    if search == "all" and k > 5:
        raise DataValidationError(
            f"search='all' with {k} lists: the number of hierarchical models explodes beyond "
            "5 lists (over 7 million for 6). Fix: use search='stepwise'."
        )
    t0 = time.perf_counter()
    if search == "all":
        tab = _fit_models(table, enumerate_hierarchical(k), max_ratio)
        steps = 0
    else:
        tab, steps = _stepwise(table, criterion, max_order or k - 1, max_ratio)
    ok = tab["status"] == "ok"
    for c in _CRITERIA:
        best = tab.loc[ok, c].min() if ok.any() else np.nan
        tab[f"delta_{c}"] = tab[c] - best
    tab = tab.sort_values(criterion, kind="stable").reset_index(drop=True)
    tab.attrs.update({"search": search, "n_models": len(tab), "steps": steps,
                      "seconds": time.perf_counter() - t0, "criterion": criterion})
    n_bad = int((~ok).sum())
    if n_bad and not quiet:
        counts = tab["status"].value_counts().to_dict()
        warn(f"{n_bad} of {len(tab)} models are not usable ({counts}): empty margins or "
             "overlaps make their N infinite or a coefficient minus infinity. They are kept "
             "in the table with their status and left out of model_range().",
             IdentifiabilityWarning)
    return tab


def model_range(models: pd.DataFrame, *, criterion: str = "AIC",
                within: float = 2.0) -> dict[str, Any]:
    """Range of N across the usable models within ``within`` of the best.

    Parameters
    ----------
    models : DataFrame from :func:`all_models`
    criterion : {"AIC", "BIC"}
    within : float, default 2
        Models with ``criterion - best <= within`` count as plausible
        (a common rule of thumb; 4 to 7 for "considerably less support").

    Returns
    -------
    dict with ``best`` (label), ``best_interactions`` (its interactions, for
    :class:`LogLinear`), ``N_best``, ``N_min``, ``N_max``, ``n_models`` and
    ``models`` (labels of the plausible models).
    """
    check_choice("criterion", criterion, _CRITERIA)
    check_number("within", within, low=0.0)
    ok = models[models["status"] == "ok"]
    if ok.empty:
        raise DataValidationError(
            "no usable model (every model has an empty margin or an unbounded N): the "
            "table cannot support a log-linear estimate."
        )
    best = ok.iloc[int(np.argmin(ok[criterion].to_numpy()))]
    near = ok[ok[criterion] - best[criterion] <= within]
    return {"best": str(best["model"]), "best_interactions": list(best["interactions"]),
            "N_best": float(best["N"]),
            "N_min": float(near["N"].min()), "N_max": float(near["N"].max()),
            "n_models": len(near), "models": [str(x) for x in near["model"]]}
