"""How much does the total move when an assumption moves?  Sensitivity grids on shipped data.

1. Russian named list (20,253 names by unit type, 2023): the coverage interval the expert
   gives x how coverage errors pool across unit types (exact sampler).
2. Kosovo (4 lists): the hyper-Dirichlet prior count delta of model averaging, the
   interactions of log-linear models (every hierarchical model, maximum likelihood) and,
   unless --quick, the number of latent classes of LCMCR.
3. Gaza (3 lists, by governorate): log-linear interactions, per governorate.

Every grid runs on local worker processes (--workers, default one per core; 1 runs in this
process) and gives the same numbers whatever the number of workers: each run's seed comes
from the base seed and the run's settings.

Usage::

    python examples/sensitivity_grids.py [--quick] [--workers N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from casualty_models import (  # noqa: E402
    ConfirmedCounts,
    DecomposableBMA,
    LatentClass,
    LogLinear,
    UnderReporting,
    all_models,
    sensitivity,
)
from casualty_models.datasets import load, load_capture_table  # noqa: E402

COLS = ["median", "q025", "q975", "status"]


def show(frame: pd.DataFrame, cols: list[str]) -> str:
    """The table with the summary rounded to whole deaths, settings as they are."""
    f = frame[cols].copy()
    for c in ("median", "q025", "q975", "AIC"):
        if c in f:
            f[c] = f[c].round(0)
    return f.to_string(index=False)


def report_failures(res: Any) -> None:
    for row in res.failed.to_dict(orient="records"):
        settings = {k: row[k] for k in res.settings}
        print(f"   run {settings} failed: {row['message'].splitlines()[0]}")


def russia(executor: Any, draws: int) -> Any:
    df = load("russia_named_list")
    df["unitType"] = df["unitType"].fillna("unknown")  # kept as their own stratum
    counts = ConfirmedCounts.from_records(df, stratum="unitType")
    grid = {"coverage": [(0.35, 0.55), (0.45, 0.65), (0.55, 0.75)],
            "pooling": ["shared", "partial", "independent"]}
    return sensitivity(UnderReporting(coverage=(0.45, 0.65), pooling="partial"), counts, grid,
                       executor=executor, random_seed=1, fit_kwargs={"draws": draws})


def kosovo(executor: Any, draws: int, quick: bool) -> dict[str, Any]:
    table = load_capture_table("kosovo")
    out: dict[str, Any] = {}
    out["delta"] = sensitivity(DecomposableBMA(delta=1 / 16), table,
                               {"delta": [1 / 64, 1 / 16, 1 / 4, 1.0]}, executor=executor,
                               random_seed=1, fit_kwargs={"draws": draws})
    models = all_models(table, quiet=True)
    best = models[models["status"] == "ok"].head(8)
    out["models"] = list(best["model"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary models warn; their status is in the table
        out["interactions"] = sensitivity(
            LogLinear(), table, {"interactions": [list(m) for m in best["interactions"]]},
            method="fit_mle", executor=executor)
    if not quick:
        out["classes"] = sensitivity(
            LatentClass(parallel=False), table, {"classes": [2, 5, 10, 20]},
            executor=executor, random_seed=1,
            fit_kwargs={"draws": 1000, "chains": 2, "burn_in": 5000, "thin": 20})
    return out


def gaza(executor: Any) -> Any:
    table = load_capture_table("gaza", stratum="gov")
    grid = {"interactions": [[], ["hospital:survey"], ["hospital:social_media"],
                             ["survey:social_media"]],
            "stratum": list(table.strata)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sensitivity(LogLinear(), table, grid, method="fit_mle", executor=executor)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer draws, no latent classes")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default one per core; 1 = in this process)")
    p.add_argument("--out", default="results", help="folder for the plots")
    args = p.parse_args(argv)
    draws = 500 if args.quick else 4000
    os.makedirs(args.out, exist_ok=True)
    out: dict[str, Any] = {}
    pd.set_option("display.width", 140)

    print("1. Russian named list: coverage interval x pooling across unit types")
    out["russia"] = russia(args.workers, draws)
    f = out["russia"].to_frame()
    print(show(f, ["coverage", "pooling", *COLS]))
    fig = out["russia"].plot(title="Russian military deaths behind 20,253 names")
    fig.savefig(os.path.join(args.out, "sensitivity_russia.png"), dpi=110)
    plt.close(fig)

    print("\n2. Kosovo: the prior count delta of model averaging")
    out.update({f"kosovo_{k}": v for k, v in kosovo(args.workers, draws, args.quick).items()})
    print(show(out["kosovo_delta"].to_frame(), ["delta", *COLS]))
    print("   ...and the 8 best log-linear models (AIC), maximum likelihood")
    f = out["kosovo_interactions"].to_frame()
    f["model"] = out["kosovo_models"]  # maximal interactions, in grid order
    print(show(f, ["model", "median", "q025", "q975", "AIC", "status"]))
    if "kosovo_classes" in out:
        print("   ...and the number of latent classes (LCMCR)")
        print(show(out["kosovo_classes"].to_frame(), ["classes", *COLS]))

    print("\n3. Gaza by governorate: which interaction between the lists")
    out["gaza"] = gaza(args.workers)
    g = out["gaza"].dataset["median"].to_pandas()
    print(g.round(0).to_string())
    report_failures(out["gaza"])
    fig = out["gaza"].plot(title="Gaza: log-linear interactions x governorate (MLE)")
    fig.savefig(os.path.join(args.out, "sensitivity_gaza.png"), dpi=110)
    plt.close(fig)
    print(f"\nwrote {args.out}/sensitivity_russia.png, sensitivity_gaza.png")
    return out


if __name__ == "__main__":
    main()
