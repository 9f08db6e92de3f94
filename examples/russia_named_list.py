"""Russian military deaths confirmed by name: from "names / 0.65 to names / 0.45" to a posterior.

1. One count and one expert range: 45,287 names (BBC News Russian / Mediazona) and an
   expert's belief that the list covers 45-65% of the deaths. The fixed-multiplier
   convention reports 45,287/0.65 to 45,287/0.45 as if the coverage were certain; the
   posterior says how likely each total is.
2. The anonymised 2023 list (20,253 names, Bessudnov 2023), stratified by unit type: how
   the uncertainty of the total depends on whether coverage errors are shared across
   strata (one coverage for all), independent, or partially pooled.
3. Every published milestone of the list, with the probate-registry estimates beside it.

Run:  python examples/russia_named_list.py --out results
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from casualty_models import ConfirmedCounts, UnderReporting  # noqa: E402
from casualty_models.datasets import load  # noqa: E402
from casualty_models.results import plot_posteriors  # noqa: E402

NAMES_2024 = 45_287
COVERAGE = (0.45, 0.65)


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5000, help="draws per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="results", help="folder for the plots")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    fit_kw = {"draws": args.draws, "chains": args.chains, "random_seed": args.seed}

    # 1. one count, one coverage interval -------------------------------------------------
    model = UnderReporting(coverage=COVERAGE, mass=0.9)
    res = model.fit(NAMES_2024, **fit_kw)
    fixed = (NAMES_2024 / COVERAGE[1], NAMES_2024 / COVERAGE[0])
    print("1. 45,287 names, coverage 45-65% (central 90% of the prior)")
    print(f"   coverage prior: {model.coverage_prior}")
    print(f"   fixed multiplier: {fixed[0]:,.0f} to {fixed[1]:,.0f} (as if certain)")
    s = res.summary()
    print(s[["median", "mean", "q025", "q05", "q95", "q975"]].round(0).to_string())
    fig = res.plot(published_range=fixed, published_label="fixed multiplier (names / 0.65 to / 0.45)",
                   title="Russian military deaths behind 45,287 names")
    fig.savefig(os.path.join(args.out, "russia_posterior.png"), dpi=120)
    plt.close(fig)

    # 2. the anonymised 2023 list by unit type ---------------------------------------------
    df = load("russia_named_list")
    n_missing = int(df["unitType"].isna().sum())
    df["unitType"] = df["unitType"].fillna("unknown")  # explicit: kept as their own stratum
    counts = ConfirmedCounts.from_records(df, stratum="unitType")
    print(f"\n2. anonymised list to Apr 2023: {counts.total:,} names in {len(counts.strata)} "
          f"unit types ({n_missing:,} without a unit type kept as 'unknown')")
    rows = []
    fits = {}
    for pooling in ("shared", "partial", "independent"):
        r = UnderReporting(coverage=COVERAGE, pooling=pooling).fit(counts, **fit_kw)
        fits[f"{pooling} coverage"] = r
        t = r.summary(["N_total"]).iloc[0]
        rows.append({"pooling": pooling, "median": t["median"], "q025": t["q025"],
                     "q975": t["q975"], "width_95": t["q975"] - t["q025"]})
    strata_table = pd.DataFrame(rows).set_index("pooling")
    print(strata_table.round(0).to_string())
    w = strata_table["width_95"]
    print(f"   shared: one coverage error for every unit type, so the errors add up "
          f"(95% width {w['shared']:,.0f});\n"
          f"   independent: errors average out and the total looks {w['shared'] / w['independent']:.1f}"
          " times more certain than\n   the expert's single range justifies;\n"
          "   partial: a shared part plus unit-type deviations, each unit type keeping the\n"
          f"   expert's 45-65%: width {w['partial']:,.0f}.")
    fig = plot_posteriors(fits, observed=counts.total,
                          title="Deaths to 11 Apr 2023: does the coverage error repeat "
                                "across unit types?")
    fig.savefig(os.path.join(args.out, "russia_strata.png"), dpi=120)
    plt.close(fig)

    # 3. every milestone of the list --------------------------------------------------------
    ms = load("russia_milestones")
    rows = []
    for _, m in ms.iterrows():
        r = model.fit(int(m["names_confirmed"]), **fit_kw).summary(["N_total"]).iloc[0]
        rows.append({"date": m["date"], "names": m["names_confirmed"], "median": r["median"],
                     "q05": r["q05"], "q95": r["q95"]})
    milestones = pd.DataFrame(rows).set_index("date")
    print("\n3. milestones (posterior median and 90% interval)")
    print(milestones.round(0).to_string())
    est = load("russia_published_estimates")
    probate = est[est["method"].str.startswith("probate")]
    print("\n   probate-registry estimates for comparison:")
    print(probate[["reference_date", "estimate", "low", "high"]].to_string(index=False))
    print(f"\nplots written to {args.out}/russia_posterior.png and {args.out}/russia_strata.png")
    return {"single": s, "strata": strata_table, "milestones": milestones}


if __name__ == "__main__":
    main()
