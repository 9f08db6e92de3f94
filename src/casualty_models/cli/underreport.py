"""``casualty-models underreport``: total deaths from confirmed counts and a coverage prior."""

from __future__ import annotations

import argparse

from ..errors import DataValidationError
from ._common import add_input_options, add_output_options, emit, read_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``underreport`` subcommand."""
    p = sub.add_parser(
        "underreport",
        help="confirmed counts + an uncertain coverage -> posterior of total deaths",
        description="Posterior of total deaths N from deaths confirmed by name and a prior "
        "on the list's coverage, given as an interval and the probability it holds. "
        "Identifying assumption: the coverage prior is right (the data cannot check it).",
    )
    p.add_argument("--confirmed", type=int, metavar="C", help="a single confirmed count")
    add_input_options(p, what="confirmed counts (one row per stratum, or one row per death)")
    p.add_argument("--count-column", metavar="C",
                   help="column with counts (omit to count rows: one row per death)")
    p.add_argument("--stratum-column", metavar="S", help="column defining strata")
    p.add_argument("--missing-stratum", metavar="LABEL",
                   help="label for rows with no stratum value (default: such rows are an error)")
    p.add_argument("--coverage", type=float, nargs=2, metavar=("LO", "HI"), default=(0.45, 0.65),
                   help="coverage interval (default 0.45 0.65)")
    p.add_argument("--mass", type=float, default=0.9,
                   help="probability that coverage lies in the interval (default 0.9)")
    p.add_argument("--pooling", choices=["partial", "shared", "independent"], default="partial",
                   help="how coverage varies across strata (default partial)")
    p.add_argument("--sampler", choices=["auto", "exact", "nuts"], default="auto")
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit and print."""
    from ..containers import ConfirmedCounts
    from ..models.underreporting import UnderReporting

    df = read_table(args)
    if (df is None) == (args.confirmed is None):
        raise DataValidationError(
            "give either --confirmed C or --input FILE.csv/--dataset NAME (not both, not "
            "neither). Example: casualty-models underreport --confirmed 45287 --coverage 0.45 0.65"
        )
    if df is not None and args.missing_stratum and args.stratum_column in df.columns:
        df[args.stratum_column] = df[args.stratum_column].fillna(args.missing_stratum)
    if df is None:
        counts = ConfirmedCounts(args.confirmed)
    elif args.count_column:
        counts = ConfirmedCounts.from_frame(df, count=args.count_column, stratum=args.stratum_column)
    else:
        counts = ConfirmedCounts.from_records(df, stratum=args.stratum_column)
    model = UnderReporting(coverage=tuple(args.coverage), mass=args.mass, pooling=args.pooling,
                           sampler=args.sampler)
    res = model.fit(counts, draws=args.draws, chains=args.chains, random_seed=args.seed)
    lo, hi = counts.total / args.coverage[1], counts.total / args.coverage[0]
    extra = {"fixed_multiplier_range": [lo, hi]}
    # the user published nothing: the band is the naive range confirmed / coverage limits
    label = f"fixed-multiplier range C/{args.coverage[1]:g}-C/{args.coverage[0]:g}"
    return emit(res, args, extra=extra, published_range=(lo, hi), published_label=label,
                title=f"Total deaths behind {counts.total:,} confirmed, coverage "
                      f"{args.coverage[0]:.0%}-{args.coverage[1]:.0%}")
