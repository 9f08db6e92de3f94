"""Excess male mortality in Russia, 2022-2023, and the registry multiplier.

1. Kobak et al.'s (2025) published method on the shipped Rosstat table: men aged 15-49,
   male/female death ratio with a linear trend over 2015-2019; their totals before the
   HIV adjustment, 23,594 (2022) and 40,542 (2023), are reproduced to the death.
2. Their robustness variants (a 1-year level, a 10-year trend, a trend of log(r - 1)).
3. The excess by federal subject (classic method), as a bar chart.
4. Optionally (--bayes) the Bayesian model of the national table beside the classic one.
5. The registry multiplier with illustrative counts: war deaths = excess registry cases /
   share of the named list found in the registry.

Run:  python examples/excess_mortality.py --out results [--bayes]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from casualty_models.containers.deaths import ExcessCases, ListMatches  # noqa: E402
from casualty_models.datasets import load_death_table  # noqa: E402
from casualty_models.models.excess import classic_excess, plot_by_region  # noqa: E402
from casualty_models.models.registry import RegistryMultiplier, registry_summary  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bayes", action="store_true", help="also fit the Bayesian model")
    parser.add_argument("--draws", type=int, default=1000, help="Bayesian draws per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="results", help="folder for the chart")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    table = load_death_table()

    classic = classic_excess(table)
    rows = [{"method": "classic (Kobak et al.)", "year": y, "excess": e, "sd": s}
            for y, (e, s) in classic.by_year().items()]
    variants = {"1-year level (2019)": dict(baseline=(2019, 2019), trend="level"),
                "10-year trend": dict(baseline=(2010, 2019)),
                "trend of log(r - 1)": dict(trend="log-ratio")}
    for name, kw in variants.items():
        rows += [{"method": name, "year": y, "excess": e, "sd": s}
                 for y, (e, s) in classic_excess(table, **kw).by_year().items()]
    if args.bayes:
        from casualty_models.models.excess_bayes import ExcessBayes, excess_summary

        res = ExcessBayes().fit(table, draws=args.draws, chains=args.chains,
                                random_seed=args.seed)
        for y, b in excess_summary(res)["years"].items():
            rows.append({"method": "Bayesian (median)", "year": int(y),
                         "excess": b["excess"]["median"], "sd": b["excess"]["sd"]})
    national = pd.DataFrame(rows)
    print("Excess deaths of men aged 15-49, national row:")
    print(national.pivot(index="method", columns="year", values="excess").round(0))

    by_region = classic_excess(table, regions=table.subjects()).by_region()
    by_region = by_region.rename(columns={"excess": "estimate"})
    by_region["q025"] = by_region["estimate"] - 1.96 * by_region["sd"]
    by_region["q975"] = by_region["estimate"] + 1.96 * by_region["sd"]
    fig = plot_by_region(by_region, year=2023, top=25)
    fig.savefig(os.path.join(args.out, "excess_by_region.png"), dpi=110)
    plt.close(fig)
    n_na = int(by_region.query("year == 2023")["estimate"].isna().sum())
    print(f"\n{n_na} small subjects are not estimable by the classic method (no female "
          "deaths in some baseline year); the Bayesian model pools them.")

    # illustrative counts, not real registry data (the microdata are not public)
    cases = ExcessCases.from_frame(pd.DataFrame(
        {"age": ["18-34", "35-49"], "excess": [12_000.0, 9_000.0], "sd": [1_500.0, 1_200.0]}))
    matches = ListMatches(ages=("18-34", "35-49"), matched=np.array([300, 200]),
                          unmatched=np.array([200, 200]))
    reg = registry_summary(RegistryMultiplier().fit(cases, matches, random_seed=args.seed))
    registry = pd.DataFrame({a: {"q median": b["q"]["median"], "D median": b["D"]["median"]}
                             for a, b in reg["by_age"].items()}).T
    print("\nRegistry multiplier (illustrative counts):")
    print(registry.round(3))
    print(f"total war deaths: median {reg['D']['median']:,.0f}, 95% "
          f"[{reg['D']['q025']:,.0f}, {reg['D']['q975']:,.0f}]")
    return {"national": national, "by_region": by_region, "registry": registry}


if __name__ == "__main__":
    main()
