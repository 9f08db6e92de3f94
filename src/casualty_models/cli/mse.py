"""``casualty-models mse``: multiple systems estimation from a capture table.

The input is read and validated here into a
:class:`~casualty_models.containers.CaptureTable`; each ``--method`` is
presented by one function of :mod:`._mse_methods`, which imports its model
only when chosen.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import DataValidationError
from ._common import add_input_options, add_output_options, require_table

if TYPE_CHECKING:
    from ..containers import CaptureTable

#: --method -> presentation function in :mod:`._mse_methods`
METHODS = {
    "mle": "run_mle",
    "loglinear": "run_loglinear",
    "bma": "run_bma",
    "latent-class": "run_latent_class",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``mse`` subcommand."""
    p = sub.add_parser(
        "mse",
        help="multiple systems estimation from K overlapping lists",
        description="Estimate the deaths no list recorded from a capture-pattern table: "
        "record-level 0/1 list columns, or 0/1 columns plus a count column.",
    )
    add_input_options(p, what="a capture table (CSV)")
    p.add_argument("--lists", help="comma-separated list columns (default: all 0/1 columns "
                   "except the count and stratum columns; required for record-level files)")
    p.add_argument("--count-column", default="count",
                   help="count column of an aggregated table (default 'count'); if absent "
                   "the file is read as one row per person")
    p.add_argument("--stratum-column", help="fit each stratum separately and add them up")
    p.add_argument("--method", choices=sorted(METHODS), default="mle")
    p.add_argument("--interactions", help="log-linear interactions, e.g. A:B,B:C "
                   "(mle, loglinear)")
    p.add_argument("--delta", type=float,
                   help="hyper-Dirichlet cell parameter for bma (default 2^-K)")
    p.add_argument("--all-models", action="store_true",
                   help="also report every hierarchical (mle) or decomposable (bma) model")
    p.add_argument("--classes", type=int, default=10,
                   help="latent classes K* for latent-class (default 10)")
    p.add_argument("--burn-in", type=int, default=None,
                   help="burn-in iterations for latent-class")
    p.add_argument("--thin", type=int, default=None, help="thinning for latent-class")
    add_output_options(p, mcmc=True)
    p.set_defaults(func=run)


def load_table(args: argparse.Namespace) -> CaptureTable:
    """The validated CaptureTable named by ``--input``/``--dataset`` and options."""
    from ..containers import CaptureTable
    from ..datasets import DATASETS

    df = require_table(args, "mse", "kosovo")
    lists = [x.strip() for x in args.lists.split(",")] if args.lists else None
    if lists is None and args.dataset and DATASETS[args.dataset].lists:
        lists = list(DATASETS[args.dataset].lists)
    stratum = args.stratum_column
    if args.count_column in df.columns:
        if stratum is None and args.dataset and DATASETS[args.dataset].stratum and \
                DATASETS[args.dataset].kind == "capture-counts":
            table = CaptureTable.from_counts(df, lists=lists, count=args.count_column,
                                             stratum=DATASETS[args.dataset].stratum).collapse()
        else:
            table = CaptureTable.from_counts(df, lists=lists, count=args.count_column,
                                             stratum=stratum)
    else:
        if lists is None:
            raise DataValidationError(
                f"the input has no count column {args.count_column!r}, so it is read as one "
                "row per person; pass --lists A,B,C to say which 0/1 columns are lists."
            )
        table = CaptureTable.from_records(df, lists=lists, stratum=stratum)
    object.__setattr__(table, "source", f"dataset:{args.dataset}" if args.dataset
                       else f"file:{args.input}")
    return table


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen method."""
    table = load_table(args)
    from . import _mse_methods

    return int(getattr(_mse_methods, METHODS[args.method])(args, table))
