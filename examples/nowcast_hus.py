"""Nowcasting the 2011 HUS O104 outbreak: our nowcast beside the R package surveillance.

1. At the analysis date 2011-06-10 (maximum delay 15 days), nowcast the eventual number
   of hospitalisations for 29 May - 7 June and score it against what was eventually
   reported, next to surveillance's bayes.trunc (Hoehle & an der Heiden 2014).
2. Optionally (--backtest N), score N analysis dates across the outbreak.
3. Draw the fan chart: reported so far, nowcast median with 50%/95% bands, final counts.

Run:  python examples/nowcast_hus.py --out results
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
from casualty_models.models.nowcast_eval import backtest, periods_table, score_nowcast  # noqa: E402
from casualty_models.nowcast_chart import fan_chart, final_counts  # noqa: E402

NOW = "2011-06-10"
MAX_DELAY = 15
DAYS = [str(d.date()) for d in pd.date_range("2011-05-29", "2011-06-07")]
#: surveillance::nowcast(method = "bayes.trunc", now = 2011-06-10, D = 15): posterior medians
SURVEILLANCE_MEDIAN = [21, 29, 21, 22, 10, 20, 9, 12, 24, 14]
EVENTUAL = [19, 26, 17, 16, 6, 11, 4, 6, 9, 4]


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain")
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backtest", type=int, default=0,
                        help="number of analysis dates to score across the outbreak (0: none)")
    parser.add_argument("--out", default="results", help="folder for the chart")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    df = load("hus_o104")

    # 1. one analysis date, side by side with surveillance ---------------------------------
    tri = ReportingTriangle.from_line_list(
        df, event_date="hospitalisation_date", report_date="report_date", now=NOW,
        max_delay=MAX_DELAY)
    print(tri)
    res = Nowcast().fit(tri, draws=args.draws, tune=args.tune, chains=args.chains,
                        random_seed=args.seed)
    score = score_nowcast(res, dict(zip(DAYS, EVENTUAL, strict=True)))
    score["surveillance_median"] = SURVEILLANCE_MEDIAN
    score["surveillance_abs_error"] = np.abs(np.array(SURVEILLANCE_MEDIAN) - EVENTUAL)
    print("\n1. nowcast at 2011-06-10 (max delay 15 days) against the eventual counts")
    print(score[["truth", "median", "q025", "q975", "covered", "crps",
                 "surveillance_median"]].to_string())
    side = pd.DataFrame({
        "casualty_models": [int(score["covered"].sum()), score["width"].mean(),
                            score["abs_error"].mean(), score["crps"].mean(),
                            score["log_score"].mean()],
        "surveillance bayes.trunc": [10, np.nan, score["surveillance_abs_error"].mean(),
                                     np.nan, np.nan],
    }, index=["eventual counts covered (of 10)", "mean 95% width", "mean |median - truth|",
              "mean CRPS", "mean log score"])
    print(side.round(2).to_string())
    print("(surveillance's widest interval is [4, 39]; its full intervals and draws are not "
          "shipped, so only its medians can be scored)")
    d = res.diagnostics() or {}
    print(f"diagnostics: r-hat {d.get('r_hat', np.nan):.3f}, bulk ESS "
          f"{d.get('ess_bulk', np.nan):.0f}, divergences {d.get('divergences')}, "
          f"wall time {d.get('wall_time_s', np.nan):.1f} s")

    # 2. several analysis dates ------------------------------------------------------------
    out: dict[str, pd.DataFrame] = {"score": score, "side_by_side": side}
    if args.backtest:
        nows = pd.date_range("2011-05-28", "2011-06-24", periods=args.backtest)
        bt = backtest(df, event_date="hospitalisation_date", report_date="report_date",
                      nows=nows, max_delay=MAX_DELAY, window=35, draws=args.draws,
                      tune=args.tune, chains=args.chains, random_seed=args.seed)
        per_now = bt.groupby("now")[["covered", "width", "abs_error", "crps"]].mean()
        print("\n2. scores by analysis date (periods 3-12 days before it)")
        print(per_now.round(2).to_string())
        print(f"overall: coverage {bt['covered'].mean():.2f}, mean width "
              f"{bt['width'].mean():.1f}, mean CRPS {bt['crps'].mean():.2f}")
        out["backtest"] = bt

    # 3. chart -----------------------------------------------------------------------------
    tab = periods_table(res)
    final = final_counts(df["hospitalisation_date"], df["report_date"], tab["period"].tolist(),
                         "day", MAX_DELAY)
    fig = fan_chart(res, unit="hospitalisations", final=final,
                    title="HUS O104, 2011: nowcast on 10 June")
    fig.savefig(os.path.join(args.out, "nowcast_hus.png"), dpi=120)
    plt.close(fig)
    out["periods"] = tab
    return out


if __name__ == "__main__":
    main()
