"""Options and output shared by the subcommands.

Output contract: without ``--json`` a human-readable summary table; with
``--json`` exactly one JSON object on standard output (``Results.to_dict()``
plus any subcommand extras).  ``--out DIR`` also writes ``result.nc`` (the
full DataTree), ``summary.json``, ``summary.csv`` and ``posterior.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, DataValidationError
from ..validation import check_int, check_seed

if TYPE_CHECKING:  # results imports pandas/xarray: not at --help time
    from ..results import FitResult


def add_input_options(p: argparse.ArgumentParser, *, what: str = "a CSV file") -> None:
    """``--input FILE`` / ``--dataset NAME`` (mutually exclusive)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--input", metavar="FILE", help=f"read {what}")
    g.add_argument("--dataset", metavar="NAME",
                   help="use a shipped dataset instead of a file (see `casualty-models datasets`)")


def add_output_options(p: argparse.ArgumentParser, *, mcmc: bool = False) -> None:
    """``--seed``, ``--json``, ``--out`` and, for MCMC fits, ``--draws``/``--chains``."""
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1); recorded")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="DIR",
                   help="write result.nc, summary.json, summary.csv and posterior.png here")
    p.add_argument("--draws", type=int, default=2000 if mcmc else 4000,
                   help="posterior draws per chain")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")


def check_common_options(args: argparse.Namespace) -> None:
    """Check the shared options before any work: one-line errors, never tracebacks."""
    if getattr(args, "seed", None) is not None:
        check_seed(args.seed, "--seed")
    for name in ("draws", "chains"):
        if getattr(args, name, None) is not None:
            check_int(f"--{name}", getattr(args, name), low=1)
    out = getattr(args, "out", None)
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise ConfigurationError(
            f"--out {out!r} is an existing file: expected a directory (it receives result.nc, "
            "summary.json, summary.csv and posterior.png). Fix: pass a new or existing "
            "directory name."
        )


def _needs_data(command: str, example: str) -> DataValidationError:
    return DataValidationError(
        f"{command} needs data: pass --input FILE.csv or --dataset NAME "
        f"(e.g. --dataset {example})."
    )


def read_table(args: argparse.Namespace) -> Any:
    """The DataFrame named by ``--input`` or ``--dataset`` (None if neither)."""
    if getattr(args, "dataset", None):
        from ..datasets import load

        return load(args.dataset)
    if getattr(args, "input", None):
        from ..containers import read_csv_file

        return read_csv_file(args.input)
    return None


def require_table(args: argparse.Namespace, command: str, example: str) -> Any:
    """:func:`read_table` for commands that cannot run without a table."""
    df = read_table(args)
    if df is None:
        raise _needs_data(command, example)
    return df


def has_table(args: argparse.Namespace) -> bool:
    """Whether ``--input`` or ``--dataset`` was given."""
    return bool(getattr(args, "dataset", None) or getattr(args, "input", None))


def read_capture_table(args: argparse.Namespace, command: str, example: str) -> Any:
    """The validated CaptureTable named by the input, list, count and stratum options.

    One reader for every subcommand: :meth:`CaptureTable.from_frame` (through
    :func:`~casualty_models.datasets.load_capture_table` for a shipped dataset).
    """
    lists = [x.strip() for x in args.lists.split(",")] if getattr(args, "lists", None) else None
    if getattr(args, "dataset", None):
        from ..datasets import load_capture_table

        return load_capture_table(args.dataset, stratum=args.stratum_column, lists=lists)
    if not getattr(args, "input", None):
        raise _needs_data(command, example)
    from ..containers import CaptureTable

    return CaptureTable.from_frame(args.input, lists=lists, count=args.count_column,
                                   stratum=args.stratum_column)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def emit(result: FitResult, args: argparse.Namespace, extra: dict[str, Any] | None = None,
         *, published_range: tuple[float, float] | None = None,
         published_label: str = "published range", title: str | None = None,
         table: Any = None) -> int:
    """Print the result (table or JSON) and write files to ``--out``.

    ``extra`` adds (or replaces) fields of the JSON; ``table`` replaces the
    printed summary (and ``summary.csv``) when the subcommand has a better one
    (e.g. exact grid quantiles instead of quantiles of draws), so that the
    text and the JSON give one answer.  ``published_range``, ``published_label``
    and ``title`` go to the plot.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = result.check_convergence()
    payload = result.to_dict()
    if extra:
        payload.update(extra)
    payload["warnings"] = [str(w.message) for w in caught]
    payload = _clean(payload)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        result.save(os.path.join(args.out, "result.nc"))
        with open(os.path.join(args.out, "summary.json"), "w") as fh:
            json.dump(payload, fh, indent=2)
        summary = result.summary() if table is None else table
        summary.to_csv(os.path.join(args.out, "summary.csv"))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = result.plot(published_range=published_range, published_label=published_label,
                          title=title)
        fig.savefig(os.path.join(args.out, "posterior.png"), dpi=120)
        plt.close(fig)
    if args.json:
        json.dump(payload, sys.stdout)
        sys.stdout.write("\n")
    else:
        import pandas as pd

        with pd.option_context("display.width", 120, "display.max_columns", 20,
                               "display.float_format", "{:,.1f}".format):
            print(f"model: {payload['model']}  sampler: {payload['sampler']}  "
                  f"seed: {payload['seed']}  observed: {payload['observed']:,}")
            print(result.describe_priors())
            print(result.summary() if table is None else table)
        if extra:
            for k, v in extra.items():
                if isinstance(v, int | float | str):
                    print(f"{k}: {v}")
        for msg in payload["warnings"]:
            print(f"warning: {msg}", file=sys.stderr)
        if args.out:
            print(f"wrote {args.out}/result.nc, summary.json, summary.csv, posterior.png")
    del problems
    return 0
