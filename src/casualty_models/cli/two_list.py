"""``casualty-models two-list``: Bayesian Lincoln-Petersen from two overlapping lists."""

from __future__ import annotations

import argparse

from ..errors import DataValidationError
from ._common import add_input_options, add_output_options, emit, has_table, read_capture_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``two-list`` subcommand."""
    p = sub.add_parser(
        "two-list",
        help="two overlapping lists -> posterior of total deaths (Lincoln-Petersen)",
        description="Posterior of N from two lists: people on both, on A only, on B only. "
        "Identifying assumption: the lists are independent and capture is homogeneous "
        "within each stratum.",
    )
    p.add_argument("--both", type=int, help="people on both lists")
    p.add_argument("--only-a", type=int, help="people on list A only")
    p.add_argument("--only-b", type=int, help="people on list B only")
    add_input_options(p, what="a two-list capture table (0/1 columns + count, or one row per "
                      "person)")
    p.add_argument("--lists", help="the two list columns, comma-separated")
    p.add_argument("--count-column", default="count")
    p.add_argument("--stratum-column", help="fit each stratum and add them up")
    p.add_argument("--sampler", choices=["grid", "nuts"], default="grid")
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit and print."""
    from ..containers import CaptureTable
    from ..models.two_list import TwoList, classical_estimates

    cells = (args.both, args.only_a, args.only_b)
    if not has_table(args):
        if any(c is None for c in cells):
            raise DataValidationError(
                "give --both, --only-a and --only-b (or --input FILE.csv / --dataset NAME). "
                "Example: casualty-models two-list --both 100 --only-a 400 --only-b 300"
            )
        table = CaptureTable.from_mapping({"AB": args.both, "A": args.only_a, "B": args.only_b},
                                          lists=["A", "B"])
    else:
        if any(c is not None for c in cells):
            raise DataValidationError("give cell counts or an input file, not both.")
        table = read_capture_table(args, "two-list", "kosovo")
    res = TwoList(sampler=args.sampler).fit(table, draws=args.draws, chains=args.chains,
                                            random_seed=args.seed)
    cl = classical_estimates(table).iloc[-1]
    lp = float(cl["lincoln_petersen"])
    extra = {"lincoln_petersen": lp if lp != float("inf") else None,
             "chapman": float(cl["chapman"]),
             "chapman_interval": [float(cl["chapman_q025"]), float(cl["chapman_q975"])]}
    return emit(res, args, extra=extra)
