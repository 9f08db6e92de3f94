"""Russian military deaths per week: confirmed, eventually confirmed, and in all.

The weekly chart of deaths confirmed by name (Mediazona, 17 Nov 2023; 88 weeks from
24 Feb 2022) falls off at its end because confirmations arrive weeks to months late.
The snapshot has no report dates, so nothing in it measures the delay: the nowcast rests
on a delay prior.  By default that prior is calibrated from the published milestones of
the whole list (how many names were known at earlier dates, against what the snapshot says
those dates' deaths eventually numbered): a discretised lognormal whose median delay lies
in the range the milestones allow.  --delay-median LO HI states a prior instead.  The
eventual confirmed count per week is then divided by an uncertain coverage (45-65%, the
expert range) to give the deaths per week.

Run:  python examples/russia_weekly_nowcast.py --out results
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from casualty_models import Nowcast, ReportingTriangle  # noqa: E402
from casualty_models.datasets import load  # noqa: E402
from casualty_models.models.nowcast_eval import (  # noqa: E402
    calibrate_delay_from_milestones,
    periods_table,
)
from casualty_models.nowcast_chart import fan_chart  # noqa: E402

AS_OF = "2023-11-17"
COVERAGE = (0.45, 0.65)
MAX_DELAY = 104  # weeks; no week of the snapshot is taken as complete
TOLERANCE = 0.02  # delays within this RMSE (log scale) of the best fit to the milestones


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain")
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay-median", type=float, nargs=2, metavar=("LO", "HI"),
                        help="state the median delay in weeks (central 90%%) instead of "
                        "calibrating it from the milestones")
    parser.add_argument("--delay-sigma", type=float, nargs=2, default=None,
                        metavar=("LO", "HI"), help="sdlog of the delay (central 90%%)")
    parser.add_argument("--out", default="results", help="folder for the chart")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    weekly = load("russia_weekly_snapshot")
    # the snapshot's last week starts 26 Oct; the analysis date is the chart's date
    tri = ReportingTriangle.from_snapshot(weekly, period_column="week_start",
                                          count_column="confirmed_deaths", as_of=AS_OF,
                                          max_delay=MAX_DELAY, source="russia_weekly_snapshot")
    print(tri)
    ms = load("russia_milestones")
    cal = calibrate_delay_from_milestones(
        pd.Series(weekly["confirmed_deaths"].to_numpy(), index=weekly["week_start"]), AS_OF,
        pd.Series(ms["names_confirmed"].to_numpy(), index=ms["date"]))
    print(f"\ncalibration: the chart is 1/{cal.attrs['scale']:.3f} of the list "
          f"({cal.attrs['list_at_as_of']:,.0f} names on {AS_OF}, interpolated); lognormal "
          "delays that best reproduce the list's totals at the earlier milestones:")
    print(cal.head(6).round(3).to_string(index=False))
    good = cal[cal["rmse_log"] <= cal["rmse_log"].min() + TOLERANCE]
    if args.delay_median:
        delay_median, source = tuple(args.delay_median), "stated"
    else:
        delay_median, source = (good["median"].min(), good["median"].max()), "milestones"
    delay_sigma = tuple(args.delay_sigma) if args.delay_sigma else (
        max(good["sdlog"].min(), 0.5), max(good["sdlog"].max(), 0.6))
    print(f"delay prior ({source}): median {delay_median[0]:.1f}-{delay_median[1]:.1f} weeks, "
          f"sdlog {delay_sigma[0]:.1f}-{delay_sigma[1]:.1f} (central 90%)")
    # The chart holds only names with a known date of death, 1/k of the list; the 45-65%
    # coverage is the list's, so the chart's coverage is 45-65% divided by k.
    share = 1.0 / cal.attrs["scale"]
    chart_coverage = (COVERAGE[0] * share, COVERAGE[1] * share)
    print(f"coverage of the chart: list coverage {COVERAGE[0]:.0%}-{COVERAGE[1]:.0%} x chart "
          f"share {share:.3f} = {chart_coverage[0]:.3f}-{chart_coverage[1]:.3f} (central 90%)")
    model = Nowcast(delay="lognormal", delay_median=delay_median, delay_sigma=delay_sigma,
                    delay_drift=0.0, coverage=chart_coverage)
    print("priors:")
    for k, v in model.priors(MAX_DELAY).items():
        print(f"  {k}: {v['text'] if isinstance(v, dict) else v}")
    res = model.fit(tri, draws=args.draws, tune=args.tune, chains=args.chains,
                    random_seed=args.seed)
    tab = periods_table(res)
    d = res.diagnostics() or {}
    print(f"diagnostics: r-hat {d.get('r_hat', np.nan):.3f}, bulk ESS "
          f"{d.get('ess_bulk', np.nan):.0f}, divergences {d.get('divergences')}")

    # totals ------------------------------------------------------------------------------
    post = res.posterior
    ev_tot = post["eventual"].sum(("stratum", "period")).values.ravel()
    n_tot = post["N"].sum(("stratum", "period")).values.ravel()
    confirmed = int(tri.reported.sum())
    q = [0.025, 0.5, 0.975]
    totals = pd.DataFrame({
        "confirmed by 17 Nov 2023": [confirmed] * 3,
        "eventually confirmed": np.quantile(ev_tot, q),
        "deaths (list coverage 45-65%)": np.quantile(n_tot, q),
    }, index=["q025", "median", "q975"]).T
    totals["fixed multiplier"] = [
        np.nan, np.nan,
        f"{confirmed / chart_coverage[1]:,.0f}-{confirmed / chart_coverage[0]:,.0f}"]
    print("\ntotals, 24 Feb 2022 - 1 Nov 2023 (weeks of death on the chart)")
    print(totals.to_string())
    est = load("russia_published_estimates")
    print("published probate-registry estimates (not used in the fit):")
    print(est[["reference_date", "estimate", "low", "high", "population"]].head(2)
          .to_string(index=False))

    print(f"\nthe nowcast adds {np.median(ev_tot) - confirmed:,.0f} names to these weeks "
          f"(95% {np.quantile(ev_tot, 0.025) - confirmed:,.0f}-"
          f"{np.quantile(ev_tot, 0.975) - confirmed:,.0f}); scaled to the whole list "
          f"(x{cal.attrs['scale']:.2f}) that is "
          f"{(np.median(ev_tot) - confirmed) * cal.attrs['scale']:,.0f} names; the list grew "
          "from 39,424 (15 Dec 2023) to 45,123 (23 Feb 2024), new deaths included.")

    # chart -------------------------------------------------------------------------------
    fig = fan_chart(res, unit="deaths", period_word="week",
                    title="Russian military deaths per week, as known on 17 Nov 2023")
    ax = fig.axes[0]
    # keep the scale readable: the last weeks' upper bounds may run off the chart (noted)
    top = 1.1 * max(float(tab["N_q975"].iloc[:-6].max()), float(tab["N_median"].max()))
    clipped = tab[tab["N_q975"] > top]
    if len(clipped):
        ax.set_ylim(0, top)
        ax.text(0.99, 0.02, "upper bounds of the last weeks run to "
                f"{clipped['N_q975'].max():,.0f}", transform=ax.transAxes, ha="right",
                fontsize=7, color="#8c1c1f")
    fig.savefig(os.path.join(args.out, "russia_weekly_nowcast.png"), dpi=120)
    plt.close(fig)
    share = tab["reported"] / tab["eventual_median"].clip(lower=1)
    incomplete = tab["period"][(share < 0.8).to_numpy()]
    return {"periods": tab, "totals": totals, "result": res, "calibration": cal,
            "delay_median": delay_median, "n_incomplete": int(len(incomplete))}


if __name__ == "__main__":
    main()
