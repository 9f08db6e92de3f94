"""``casualty-models nowcast``: eventual counts of periods still being reported.

The line list (one row per death, with an event date and a report date) is
read and validated here into a
:class:`~casualty_models.containers.triangle.ReportingTriangle`; the model is
:class:`~casualty_models.models.nowcast.Nowcast`, imported only when run.
The JSON output adds a ``periods`` list (one entry per event period:
``period``, ``reported``, ``eventual`` and, with ``--coverage``, ``N``, each
with ``median``, ``q025``, ``q975``) to the usual fields.  The table shows the recent
periods (at least the last ``--max-delay`` + 1) in full; ``--out`` adds ``nowcast.png``,
a fan chart per period labelled with ``--unit``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._common import _clean, add_input_options, add_output_options, emit, require_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``nowcast`` subcommand."""
    p = sub.add_parser(
        "nowcast",
        help="nowcast the periods still being reported (reporting delay), optionally "
        "scaled to true deaths by a coverage prior",
        description="Estimate the eventual number of reported deaths per event period from a "
        "line list with event and report dates, correcting the fall-off of the recent "
        "periods; with --coverage LO HI, also the true deaths per period.",
    )
    add_input_options(p, what="a line list (CSV, one row per death)")
    p.add_argument("--event-date", required=True, metavar="COL",
                   help="column with the date of the event (death, hospitalisation)")
    p.add_argument("--report-date", required=True, metavar="COL",
                   help="column with the date the event was reported")
    p.add_argument("--now", required=True, metavar="DATE",
                   help="analysis date; reports after it are ignored")
    p.add_argument("--period", choices=("day", "week", "month"), default="day")
    p.add_argument("--max-delay", type=int, required=True, metavar="D",
                   help="largest reporting delay, in periods")
    p.add_argument("--start", metavar="DATE", help="start of the first period (default: the "
                   "period of the earliest event)")
    p.add_argument("--drop-long-delays", action="store_true",
                   help="drop records with a delay above --max-delay instead of failing")
    p.add_argument("--coverage", type=float, nargs=2, metavar=("LO", "HI"),
                   help="central 90%% interval of the fraction of deaths eventually reported")
    p.add_argument("--tune", type=int, default=1000, help="NUTS tuning steps (default 1000)")
    p.add_argument("--unit", metavar="WORD",
                   help="what the rows count, for the table and chart (default: "
                   "'hospitalisations' for hus_o104, else 'deaths')")
    p.add_argument("--nuts-sampler", choices=("nutpie", "pymc", "numpyro", "blackjax"),
                   help="NUTS implementation (default nutpie)")
    add_output_options(p, mcmc=True)
    p.set_defaults(func=run, draws=1000)


#: Units of the shipped line lists that are not deaths.
DATASET_UNITS = {"hus_o104": "hospitalisations"}


def run(args: argparse.Namespace) -> int:
    """Build the triangle and fit the nowcast."""
    from ..containers import ReportingTriangle

    df = require_table(args, "nowcast", "hus_o104")
    tri = ReportingTriangle.from_line_list(
        df, event_date=args.event_date, report_date=args.report_date, now=args.now,
        max_delay=args.max_delay, period=args.period, start=args.start,
        long_delays="drop" if args.drop_long_delays else "error",
        source=f"dataset:{args.dataset}" if args.dataset else f"file:{args.input}",
    )
    unit = args.unit or DATASET_UNITS.get(args.dataset or "", "deaths")
    return fit_and_report(args, tri, df, unit)


def fit_and_report(args: argparse.Namespace, triangle: Any, df: Any, unit: str) -> int:
    """Fit, print the per-period table (or JSON) and write the chart."""
    from ..models._base import sampling_options
    from ..models.nowcast import Nowcast
    from ..models.nowcast_eval import periods_json, periods_table

    model = Nowcast(coverage=tuple(args.coverage) if args.coverage else None)
    with sampling_options(progress=False if args.json else None):
        res = model.fit(triangle, draws=args.draws, chains=args.chains, tune=args.tune,
                        random_seed=args.seed, nuts_sampler=args.nuts_sampler)
    extra = {"periods": periods_json(res), "now": str(triangle.now.date()),
             "period": triangle.period, "max_delay": triangle.max_delay, "unit": unit}
    code = 0
    if args.json:
        code = emit(res, argparse.Namespace(**{**vars(args), "out": None}), extra=extra)
    else:  # the per-period table is the answer; the 5 x periods summary rows are in --out
        d = res.diagnostics() or {}
        print(f"model: Nowcast  sampler: NUTS ({res.tree.attrs.get('nuts_sampler')})  seed: "
              f"{args.seed}  reported by {triangle.now.date()}: {int(res.observed):,} {unit}")
        print(res.describe_priors())
        print(f"diagnostics: r-hat {d.get('r_hat', float('nan')):.3f} (parameters "
              f"{d.get('max_r_hat_parameters', float('nan')):.3f}), bulk ESS "
              f"{d.get('ess_bulk', float('nan')):.0f}, divergences {d.get('divergences')}, "
              f"{d.get('wall_time_s', float('nan')):.1f} s")
        problems = res.check_convergence(emit=False)
        if problems:
            print("warning: the fit may not have converged: " + "; ".join(problems)
                  + ". Run more --draws/--tune before reporting these numbers.", file=sys.stderr)
        print(recent_table(periods_table(res), triangle.max_delay, unit))
    if args.out:
        _write_outputs(res, args, triangle, df, unit, extra)
    return code


def recent_table(tab: Any, max_delay: int, unit: str) -> str:
    """The recent periods (every incomplete one, at least ``max_delay + 1``), in full."""
    n_show = max(max_delay + 1, int((~tab["complete"]).sum()))
    rows = tab.iloc[-n_show:]
    out = rows[["period", "reported"]].copy()
    out.columns = ["period", "reported so far"]

    def fmt(var: str) -> list[str]:
        return [f"{m:,.0f} [{lo:,.0f}, {hi:,.0f}]" for m, lo, hi in
                zip(rows[f"{var}_median"], rows[f"{var}_q025"], rows[f"{var}_q975"], strict=True)]

    out["eventual, median [95%]"] = fmt("eventual")
    if "N_median" in rows:
        out[f"true {unit}, median [95%]"] = fmt("N")
    out["final"] = ["yes" if c else "" for c in rows["complete"]]
    head = (f"{unit} per period, last {n_show} periods (earlier ones are complete or nearly; "
            "all in --json / --out)")
    return head + "\n" + out.to_string(index=False)


def _write_outputs(res: Any, args: argparse.Namespace, triangle: Any, df: Any, unit: str,
                   extra: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..nowcast_chart import fan_chart, final_counts

    os.makedirs(args.out, exist_ok=True)
    res.save(os.path.join(args.out, "result.nc"))
    from ..models.nowcast_eval import periods_table

    periods_table(res).to_csv(os.path.join(args.out, "periods.csv"), index=False)
    payload = {**res.to_dict(), **extra}
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(_clean(payload), fh, indent=2)
    final = final_counts(df[args.event_date], df[args.report_date], triangle.period_labels,
                         triangle.period, triangle.max_delay)
    fig = fan_chart(res, unit=unit, final=final if len(final) else None,
                    title=f"nowcast on {triangle.now.date()}")
    fig.savefig(os.path.join(args.out, "nowcast.png"), dpi=120)
    plt.close(fig)
    if not args.json:
        print(f"wrote {args.out}/result.nc, summary.json, periods.csv, nowcast.png")
