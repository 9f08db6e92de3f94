"""Log-linear multiple systems estimation on Gaza (3 lists) and Kosovo (4 lists).

How much does the estimated total depend on the assumed dependence between lists?

1. Gaza, unstratified: every hierarchical model (8 for 3 lists) with its N, AIC, BIC.
2. The range of N across the models within 2 (and 10) AIC/BIC points of the best.
3. Gaza by month of death: the all-two-way model in each month, N per month and total.
4. Kosovo: all 113 models, the BIC-best model with its profile interval, and a Bayesian
   fit of that model with posterior predictive checks.

Run:  python examples/gaza_kosovo_loglinear.py [--quick] [--draws 1000] [--out DIR]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casualty_models import CaptureTable
from casualty_models.datasets import load, load_capture_table
from casualty_models.errors import IdentifiabilityWarning, SparseDataWarning
from casualty_models.models.loglinear import (
    LogLinear,
    all_models,
    model_range,
    posterior_predictive_check,
)

GAZA_LISTS = ["hospital", "survey", "social_media"]
ALL_TWO_WAY = ["hospital:survey", "hospital:social_media", "survey:social_media"]


def gaza_by_month() -> CaptureTable:
    """Gaza records by year-month of death; the 142 records without a month are kept
    as their own stratum 'unknown' (never dropped silently)."""
    g = load("gaza")
    month = g["month_death"].astype("Int64").astype(str)
    ym = g["year_death"].astype(str) + "-" + month.str.zfill(2)
    g = g.assign(month=ym.where(g["month_death"].notna(), "unknown"))
    return CaptureTable.from_records(g, lists=GAZA_LISTS, stratum="month")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true",
                   help="small Bayesian run, no month-level Bayesian fit")
    p.add_argument("--out", type=Path, help="write figures and tables here")
    args = p.parse_args(argv)
    out: dict[str, Any] = {}
    pd.set_option("display.width", 130)

    # 1. Gaza: every model --------------------------------------------------------
    gaza = load_capture_table("gaza")
    models = all_models(gaza, criterion="AIC")
    cols = ["model", "N", "AIC", "BIC", "delta_AIC", "delta_BIC", "status"]
    print("Gaza, 29,271 records on 3 lists: every hierarchical log-linear model")
    print(models[cols].to_string(index=False, float_format="{:,.1f}".format))
    out["gaza_models"] = models

    # 2. ranges ------------------------------------------------------------------
    ranges = {}
    for crit in ("AIC", "BIC"):
        for within in (2.0, 10.0):
            r = model_range(models, criterion=crit, within=within)
            ranges[(crit, within)] = r
            print(f"  {crit} within {within:>4}: best {r['best']} N = {r['N_best']:,.0f}; "
                  f"range over {r['n_models']} model(s) {r['N_min']:,.0f} - {r['N_max']:,.0f}")
    out["gaza_ranges"] = ranges
    sat = LogLinear(ALL_TWO_WAY).fit_mle(gaza)
    print(f"  all two-way interactions: {sat.N_total:,.0f} "
          f"[{sat.N_total_low:,.0f}, {sat.N_total_high:,.0f}] (95% profile interval)")
    out["gaza_all_two_way"] = sat

    # 3. Gaza by month -------------------------------------------------------------
    months = gaza_by_month()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SparseDataWarning)
        warnings.simplefilter("always", IdentifiabilityWarning)
        by_month = LogLinear(ALL_TWO_WAY).fit_mle(months)
    print("\nGaza by month of death, all two-way interactions in each month:")
    print(by_month.summary()[["observed", "N", "q025", "q975", "status"]].to_string(
        float_format="{:,.0f}".format))
    for w in caught:
        print(f"  warning: {w.message}")
    out["gaza_by_month"] = by_month
    # The records without a month are all on social media only: nothing can be estimated
    # for them. Fit the nine months and add those records as observed (a lower bound).
    dated = [s for s in months.strata if s != "unknown"]
    nine = CaptureTable(months.lists, months.patterns,
                        months.counts[[months.strata.index(s) for s in dated]], tuple(dated))
    fit9 = LogLinear(ALL_TWO_WAY).fit_mle(nine)
    extra = int(months.counts[months.strata.index("unknown")].sum())
    print(f"  nine months: {fit9.N_total:,.0f} [{fit9.N_total_low:,.0f}, "
          f"{fit9.N_total_high:,.0f}], plus {extra} records with no month: "
          f"{fit9.N_total + extra:,.0f} (unstratified: {sat.N_total:,.0f})")
    out["gaza_nine_months"] = fit9
    if not args.quick:
        res = LogLinear(ALL_TWO_WAY, pooling="partial").fit(
            nine, draws=args.draws, chains=args.chains, random_seed=args.seed)
        print("  Bayesian, terms partially pooled across months:")
        print(res.summary().round(0).to_string())
        out["gaza_by_month_bayes"] = res

    # 4. Kosovo -------------------------------------------------------------------
    kosovo = load_capture_table("kosovo")
    k_models = all_models(kosovo, criterion="BIC")
    print("\nKosovo, 4,400 records on 4 lists: the 8 best of 113 models by BIC")
    print(k_models[cols].head(8).to_string(index=False, float_format="{:,.1f}".format))
    best = model_range(k_models, criterion="BIC", within=2.0)
    k_fit = LogLinear([x for x in k_models.iloc[0]["interactions"]]).fit_mle(kosovo)
    print(f"  BIC-best {best['best']}: N = {k_fit.N_total:,.1f} "
          f"[{k_fit.N_total_low:,.0f}, {k_fit.N_total_high:,.0f}]; models within 2 BIC "
          f"points: {best['N_min']:,.0f} - {best['N_max']:,.0f}")
    wide = model_range(k_models, criterion="BIC", within=10.0)
    print(f"  within 10 BIC points ({wide['n_models']} models): "
          f"{wide['N_min']:,.0f} - {wide['N_max']:,.0f}")
    out["kosovo_models"], out["kosovo_best"] = k_models, k_fit
    draws = min(args.draws, 300) if args.quick else args.draws
    bayes = LogLinear(list(k_models.iloc[0]["interactions"])).fit(
        kosovo, draws=draws, tune=draws if args.quick else 1000, chains=args.chains,
        random_seed=args.seed)
    s = bayes.summary().loc["N_total"]
    print(f"  Bayesian (interaction prior N(0, 1)): median {s['median']:,.0f} "
          f"[{s['q025']:,.0f}, {s['q975']:,.0f}], ESS {s['ess_bulk']:,.0f}")
    ppc = posterior_predictive_check(bayes)
    print("  posterior predictive p-values, lowest five:")
    print(ppc.nsmallest(5, "p_value")[["kind", "statistic", "observed", "median",
                                      "p_value"]].to_string(index=False))
    out["kosovo_bayes"], out["kosovo_ppc"] = bayes, ppc

    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import StrMethodFormatter

        args.out.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
        for ax, tab, title in ((axes[0], models, "Gaza"), (axes[1], k_models.head(15),
                                                             "Kosovo (15 best by BIC)")):
            ok = tab[tab["status"] == "ok"]
            y = np.arange(len(ok))[::-1]
            dots = ax.scatter(ok["N"], y, c=ok["delta_BIC"].clip(upper=30), cmap="viridis_r",
                              vmin=0, vmax=30)
            ax.set_yticks(y, ok["model"], fontsize=7)
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
            ax.set_xlabel("total deaths (maximum likelihood)")
            ax.set_title(title, fontsize=10)
        fig.suptitle("The total under each assumed dependence between the lists")
        fig.colorbar(dots, ax=axes, label="BIC above the best model (capped at 30)")
        fig.savefig(args.out / "loglinear_models.png", dpi=110)
        plt.close(fig)
        fig = by_month.plot()
        fig.savefig(args.out / "gaza_by_month.png", dpi=110)
        plt.close(fig)
        models.drop(columns="interactions").to_csv(args.out / "gaza_models.csv", index=False)
        k_models.drop(columns="interactions").to_csv(args.out / "kosovo_models.csv",
                                                     index=False)
        print(f"wrote {args.out}/loglinear_models.png, gaza_by_month.png, *_models.csv")
    return out


if __name__ == "__main__":
    main()
