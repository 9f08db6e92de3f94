"""Presentation of each ``mse --method``: fit the model, print or emit the result.

One small function per method, ``run_<method>(args, table) -> int``; the
models themselves know nothing of the command line.  PyMC and Numba are
imported only when the chosen method runs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import warn
from ._common import emit

if TYPE_CHECKING:
    from ..containers import CaptureTable


def _interactions(args: argparse.Namespace) -> list[str]:
    raw = getattr(args, "interactions", None)
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else []


def run_mle(args: argparse.Namespace, table: CaptureTable) -> int:
    """``mse --method mle``: one log-linear model; with ``--all-models`` every hierarchical one.

    With ``--all-models`` the headline (text and JSON ``N``) is the best usable
    model by ``--criterion`` (AIC by default) unless ``--interactions`` names
    one, and the range of N across the models within 2 points of the best is
    printed for AIC and BIC.
    """
    from ..models.loglinear import LogLinear, all_models, model_range

    chosen = _interactions(args)
    if not getattr(args, "all_models", False):
        return emit(LogLinear(interactions=chosen).fit_mle(table), args)
    crit = args.criterion
    tab = all_models(table, criterion=crit, quiet=True)
    ranges = {c: model_range(tab, criterion=c, within=2.0) for c in ("AIC", "BIC")}
    best = ranges[crit]
    res = LogLinear(interactions=chosen or best["best_interactions"]).fit_mle(table)
    extra: dict[str, Any] = {
        "criterion": crit,
        "best_model": best["best"],
        "headline": "--interactions" if chosen else f"best by {crit}",
        "models": [
            {"model": str(r["model"]), "terms": list(r["interactions"]),
             "AIC": float(r["AIC"]), "BIC": float(r["BIC"]), "N": float(r["N"]),
             "status": str(r["status"])}
            for r in tab.to_dict("records")
        ],
        "models_searched": tab.attrs.get("search", "all"),
    }
    for c, rng in ranges.items():
        extra[f"N_range_{c}_within_2"] = [rng["N_min"], rng["N_max"]]
        extra[f"best_{c}"] = rng["best"]
    if not getattr(args, "json", False):
        cols = ["model", "N", "AIC", "BIC", "delta_AIC", "delta_BIC", "status"]
        with pd.option_context("display.width", 160, "display.max_colwidth", 70):
            print(f"{len(tab)} models ({extra['models_searched']}), best 20 by {crit}:")
            print(tab[cols].head(20).to_string(index=False, float_format="{:,.1f}".format))
        for c, rng in ranges.items():
            print(f"within 2 {c} points of the best: {rng['n_models']} model(s), N from "
                  f"{rng['N_min']:,.1f} to {rng['N_max']:,.1f}")
        print(f"headline: the model given by --interactions, {res.extra['label']}; the best "
              f"by {crit} is {best['best']}" if chosen else
              f"headline: the best model by {crit}, {best['best']} (N below)")
    return emit(res, args, extra)


def run_loglinear(args: argparse.Namespace, table: CaptureTable) -> int:
    """``mse --method loglinear``: the Bayesian log-linear fit and its predictive checks."""
    from ..models.loglinear import LogLinear, posterior_predictive_check

    t0 = time.perf_counter()
    res = LogLinear(interactions=_interactions(args)).fit(
        table, draws=args.draws, chains=args.chains, random_seed=args.seed)
    extra: dict[str, Any] = {"model_label": res.tree.attrs.get("model_label", ""),
                             "elapsed_s": time.perf_counter() - t0}
    ppc = posterior_predictive_check(res)
    bad = ppc[ppc["p_value"] < 0.01]
    extra["ppc_failures"] = [f"{r.stratum}:{r.kind}:{r.statistic}" for r in bad.itertuples()]
    return emit(res, args, extra)


def _graph_row(r: Any) -> dict[str, Any]:
    return {"stratum": str(r["stratum"]), "graph": str(r["graph"]),
            "probability": float(r["probability"]), "N_median": int(r["N_median"]),
            "N_q025": int(r["N_q025"]), "N_q975": int(r["N_q975"])}


def run_bma(args: argparse.Namespace, table: CaptureTable) -> int:
    """``mse --method bma``: exact model averaging over decomposable graphs.

    One answer: the exact grid posterior (per stratum and, with strata, of the
    total) is both the printed summary and the JSON ``N``; the draws are kept
    in ``result.nc``.
    """
    from ..models._graphs import decomposable_graphs
    from ..models.bma import DecomposableBMA, grid_summary, model_table

    model = DecomposableBMA(delta=args.delta)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(table, draws=args.draws, chains=args.chains, random_seed=args.seed)
    for w in caught:  # shown on stderr as usual, and kept in the JSON
        warn(str(w.message), w.category)
    top = model_table(res, top=5)
    if "stratum" not in top.columns:
        top.insert(0, "stratum", res.strata[0])
    gs = grid_summary(res)
    total = gs.iloc[-1]  # the only stratum, or the 'total' row
    extra: dict[str, Any] = {
        "N": {k: float(total[k]) for k in ("mean", "median", "q025", "q05", "q95", "q975")},
        "N_unobserved": {k: float(total[k]) - res.observed
                         for k in ("mean", "median", "q025", "q05", "q95", "q975")},
        "N_status": str(total["status"]),
        "N_source": "exact grid posterior",
        "delta": model.delta_for(table.n_lists),
        "n_graphs": len(decomposable_graphs(table.n_lists)),
        "grid": {s: {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                 for s, r in gs.to_dict(orient="index").items()},
        "sparse_strata": [s for s in res.strata if bool(gs.loc[s, "sparse"])],
        "top_models": [_graph_row(r) for r in top.to_dict(orient="records")],
        "fit_warnings": [str(w.message) for w in caught],
    }
    if args.all_models:
        allm = model_table(res)
        if "stratum" not in allm.columns:
            allm.insert(0, "stratum", res.strata[0])
        extra["all_models"] = [_graph_row(r) for r in allm.to_dict(orient="records")]
    if not args.json:
        with pd.option_context("display.width", 140, "display.max_colwidth", 60):
            print(("all" if args.all_models else "most probable") + " decomposable models "
                  "(posterior probability; N median and 95% interval within each model):")
            shown = model_table(res) if args.all_models else top
            print(shown.to_string(index=False, float_format="{:.4f}".format))
    shown_cols = ["mean", "median", "q025", "q975", "n_max", "status", "sparse"]
    return emit(res, args, extra=extra, table=gs[shown_cols])


def run_latent_class(args: argparse.Namespace, table: CaptureTable) -> int:
    """``mse --method latent-class``: LCMCR's latent-class model by Gibbs sampling."""
    import numpy as np

    from ..models.latent_class import LatentClass

    model = LatentClass(classes=args.classes)
    res = model.fit(table, draws=args.draws, chains=args.chains, burn_in=args.burn_in,
                    thin=args.thin, random_seed=args.seed)
    n = res.posterior["N_total"].values
    extra: dict[str, Any] = {
        "classes": int(args.classes),
        "burn_in": int(res.attrs["burn_in"]),
        "thin": int(res.attrs["thin"]),
        "chain_medians_N": [float(v) for v in np.median(n, axis=1)],
    }
    return emit(res, args, extra=extra)
