"""``casualty-models nowcast``: eventual counts of periods still being reported.

The line list (one row per death, with an event date and a report date) is
read and validated here into a
:class:`~casualty_models.triangle.ReportingTriangle`; the model is
:class:`~casualty_models.models.nowcast.Nowcast`, imported only when run.
The JSON output adds a ``periods`` list (one entry per event period:
``period``, ``reported``, ``eventual`` and, with ``--coverage``, ``N``, each
with ``median``, ``q025``, ``q975``) to the usual fields.
"""

from __future__ import annotations

import argparse

from ._common import add_input_options, add_output_options, require_table


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
    add_output_options(p, mcmc=True)
    p.set_defaults(func=run, draws=1000)


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
    from ..models.nowcast import run_cli

    return run_cli(args, tri)
