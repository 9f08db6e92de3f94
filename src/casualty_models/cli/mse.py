"""``casualty-models mse``: multiple systems estimation from a capture table.

The input is read and validated here into a
:class:`~casualty_models.containers.CaptureTable`; each ``--method`` is
presented by one function of :mod:`._mse_methods`, which imports its model
only when chosen.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import add_input_options, add_output_options, read_capture_table

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
                   help="also report every hierarchical (mle; the headline is then the best "
                   "model by --criterion) or decomposable (bma) model")
    p.add_argument("--criterion", choices=["AIC", "BIC"], default="AIC",
                   help="criterion that picks the headline model of --all-models (default AIC)")
    p.add_argument("--classes", type=int, default=10,
                   help="latent classes K* for latent-class (default 10)")
    p.add_argument("--burn-in", type=int, default=None,
                   help="burn-in iterations for latent-class")
    p.add_argument("--thin", type=int, default=None, help="thinning for latent-class")
    add_output_options(p, mcmc=True)
    p.set_defaults(func=run)


def load_table(args: argparse.Namespace) -> CaptureTable:
    """The validated CaptureTable named by ``--input``/``--dataset`` and options."""
    table: CaptureTable = read_capture_table(args, "mse", "kosovo")
    return table


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen method."""
    table = load_table(args)
    from . import _mse_methods

    return int(getattr(_mse_methods, METHODS[args.method])(args, table))
