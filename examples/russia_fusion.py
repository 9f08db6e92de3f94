"""Russian military deaths: one weekly series behind the named list, its chart and Rosstat.

Fuses the shipped sources as known on 17 Nov 2023: the named list's weekly chart by date of
death (right-truncated, only names with a known date), the list's running totals up to
that day, and the excess deaths of men aged 15-49 in 2022 and 2023 (Kobak et al.'s method
on Rosstat's table).  The list's coverage is learned, not assumed.  The probate-registry
estimates (Meduza/Mediazona) and the list's later totals are *not* fitted: they are the
check.

Run:  python examples/russia_fusion.py --out results
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from casualty_models.models.fusion import Fusion, fusion_summary, leave_one_out  # noqa: E402
from casualty_models.models.fusion_data import russia_sources  # noqa: E402
from casualty_models.models.fusion_plot import plot_fusion  # noqa: E402

AT = ("2023-05-27", "2023-12-31")  # the dates of the two probate estimates


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain")
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="results", help="folder for the chart")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    src = russia_sources(as_of="2023-11-17")
    print(src)
    for row in src.describe():
        print(f"  {row['source']:<11} {row['what']}")
    res = Fusion().fit(src, draws=args.draws, tune=args.tune, chains=args.chains,
                       random_seed=args.seed, at=AT, report_by="2023-12-15",
                       leave_one_out=True)
    s = fusion_summary(res)
    d = res.diagnostics() or {}
    print(f"\nNUTS: r-hat {d.get('r_hat', np.nan):.3f}, bulk ESS {d.get('ess_bulk', 0):.0f}, "
          f"divergences {d.get('divergences')}, {d.get('wall_time_s', np.nan):.1f} s")

    def fmt(x: dict) -> str:
        return f"{x['median']:>9,.0f} [{x['q025']:,.0f}, {x['q975']:,.0f}]"

    c = s["coverage"]
    print(f"\nnamed list's eventual coverage, learned: {c['median']:.2f} "
          f"[{c['q025']:.2f}, {c['q975']:.2f}]  (newsroom judgement 0.45-0.65)")
    print("deaths per calendar year (median [95%]):")
    for y, v in s["years"].items():
        print(f"  {y}: {fmt(v)}")

    # the check: probate-registry estimates, never fitted
    post = res.posterior
    share = post["age_share"].sel(band="15-49").values.ravel()  # ages of the named: >= 18
    cum = {a: post["cumulative"].sel(date=a).values.ravel() for a in AT}
    under50 = cum[AT[0]] * share
    q = [0.5, 0.025, 0.975]
    table = pd.DataFrame({
        "fused": [np.quantile(under50, q), np.quantile(cum[AT[1]], q)],
        "probate": ["47,000 [40,000, 55,000]", "75,000"],
    }, index=["men under 50 to 2023-05-27", "all to 2023-12-31"])
    table["fused"] = [f"{m:,.0f} [{lo:,.0f}, {hi:,.0f}]" for m, lo, hi in table["fused"]]
    print("\nagainst the probate-registry estimates (not fitted):")
    print(table.to_string())
    print("\nthe list's later totals (not fitted) against the model's prediction:")
    for date, v in s.get("list_total", {}).items():
        if pd.Timestamp(date) > src.as_of:
            print(f"  {date}: predicted {fmt(v)}; published 39,424" if date == "2023-12-15"
                  else f"  {date}: predicted {fmt(v)}")
    print("\nleave one source out:")
    loo = leave_one_out(res)
    print(loo.round(2).to_string())

    fig = plot_fusion(res)
    path = os.path.join(args.out, "russia_fusion.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nwrote {path}")
    return {"result": res, "summary": s, "probate": table, "leave_one_out": loo}


if __name__ == "__main__":
    main()
