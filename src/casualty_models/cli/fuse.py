"""``casualty-models fuse``: one latent death series behind several sources.

``--dataset russia`` fuses the shipped Russian sources (the named list's weekly chart of
17 Nov 2023, its milestones up to ``--as-of``, Rosstat's excess male deaths 15-49 in 2022
and 2023); ``--config FILE.toml`` fuses a user's own
(:func:`~casualty_models.models.fusion_data.sources_from_config`).  The JSON output adds
``years``, ``cumulative`` (the ``--at`` dates), ``coverage``, ``reported_by`` (names of
each year's deaths on the list by ``--report-by``), ``list_total``, ``sources`` and
``leave_one_out`` to the usual fields.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._common import add_output_options


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fuse`` subcommand."""
    p = sub.add_parser(
        "fuse",
        help="fuse a named list, its chart and excess-mortality totals into one death "
        "series; learn the list's coverage",
        description="One latent series of deaths per week behind several sources: the "
        "named list by date of death (right-truncated, thinned by an unknown coverage), "
        "its running totals, and measured totals (excess mortality). Prints deaths per "
        "year, cumulative deaths, the list's coverage and a leave-one-source-out table.",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dataset", metavar="NAME", help="shipped bundle of sources: russia")
    g.add_argument("--config", metavar="FILE", help="your own sources (TOML)")
    p.add_argument("--as-of", metavar="DATE", help="analysis date (russia: default 2023-11-17)")
    p.add_argument("--report-by", metavar="DATE",
                   help="date for reported_by: names of each year's deaths on the list then")
    p.add_argument("--at", metavar="DATE", nargs="+", default=[],
                   help="dates for cumulative deaths")
    p.add_argument("--drop-source", metavar="NAME", action="append", default=[],
                   help="leave a source out (chart, milestones, excess, ...); repeatable")
    p.add_argument("--excess", choices=("kobak", "hiv-adjusted", "none"), default="kobak",
                   help="russia: excess totals (default kobak: classic_excess on Rosstat)")
    p.add_argument("--with-probate", action="store_true",
                   help="russia: also fit the probate-registry estimates (off: kept as a check)")
    p.add_argument("--no-leave-one-out", action="store_true",
                   help="skip the leave-one-source-out refits")
    p.add_argument("--tune", type=int, default=1000, help="NUTS tuning steps (default 1000)")
    add_output_options(p, mcmc=True)
    p.set_defaults(func=run, draws=1000)


def _sources(args: argparse.Namespace) -> Any:
    import pandas as pd

    from ..errors import DataValidationError
    from ..models.fusion_data import FusionSources, russia_sources, sources_from_config

    for name in ("as_of", "report_by"):
        v = getattr(args, name)
        if v is not None:
            try:
                pd.Timestamp(v)
            except (ValueError, TypeError):
                raise DataValidationError(
                    f"--{name.replace('_', '-')} {v!r} is not a date: expected YYYY-MM-DD."
                ) from None
    if args.config:
        src = sources_from_config(args.config, as_of=args.as_of)
    elif args.dataset == "russia":
        names = ["chart", "milestones"] + (["excess"] if args.excess != "none" else []) + (
            ["probate"] if args.with_probate else [])
        for n in args.drop_source:  # before the bundle computes its excess totals
            if n not in names:
                raise DataValidationError(
                    f"unknown source {n!r}: the sources are {names}. Fix: drop one of those."
                )
        src = russia_sources(as_of=args.as_of or "2023-11-17", excess=args.excess,
                             probate=args.with_probate,
                             end=max(args.at) if args.at else None)
    elif args.dataset:
        raise DataValidationError(
            f"unknown fusion dataset {args.dataset!r}: the shipped bundle is 'russia'. "
            "Fix: --dataset russia, or --config FILE.toml for your own sources."
        )
    else:
        raise DataValidationError(
            "fuse needs sources: pass --dataset russia or --config FILE.toml."
        )
    assert isinstance(src, FusionSources)
    return src.drop(*args.drop_source) if args.drop_source else src


def run(args: argparse.Namespace) -> int:
    """Build the sources, fit, print."""
    src = _sources(args)
    from ..models.fusion import Fusion, fusion_summary
    from ._common import emit

    res = Fusion().fit(src, draws=args.draws, chains=args.chains, tune=args.tune,
                       random_seed=args.seed, at=args.at, report_by=args.report_by,
                       leave_one_out=not args.no_leave_one_out)
    extra = fusion_summary(res)
    code = emit(res, args, extra=extra)
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..models.fusion_plot import plot_fusion

        fig = plot_fusion(res)
        fig.savefig(os.path.join(args.out, "fusion.png"), dpi=120)
        plt.close(fig)
    if not args.json:
        _print_tables(extra)
    return code


def _print_tables(s: dict) -> None:
    def fmt(d: dict) -> str:
        return f"{d['median']:>10,.0f}  [{d['q025']:,.0f}, {d['q975']:,.0f}]"

    out = sys.stdout
    out.write("\ndeaths per year (median [95%]):\n")
    for y, d in s["years"].items():
        out.write(f"  {y}: {fmt(d)}\n")
    for date, d in s["cumulative"].items():
        out.write(f"  cumulative to {date}: {fmt(d)}\n")
    c = s["coverage"]
    lo, hi = s["coverage_judgement"]
    out.write(f"list coverage (learned): {c['median']:.2f} [{c['q025']:.2f}, {c['q975']:.2f}]"
              f"  (newsroom judgement {lo:.0%}-{hi:.0%})\n")
    for y, d in s["reported_by"].items():
        out.write(f"  names of {y}'s deaths on the list by {s['report_by']}: {fmt(d)}\n")
    if "leave_one_out" in s:
        out.write("leave one source out (median, shift against all sources):\n")
        for dropped, qs in s["leave_one_out"].items():
            cells = ", ".join(f"{q} {v['median']:,.2f} ({v['shift']:+,.2f})" if q == "coverage"
                              else f"{q} {v['median']:,.0f} ({v['shift']:+,.0f})"
                              for q, v in qs.items())
            out.write(f"  without {dropped}: {cells}\n" if dropped != "none"
                      else f"  all sources: {cells}\n")
