"""Command line interface: ``casualty-models SUBCOMMAND ...``.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; heavy libraries (PyMC, ArviZ) are imported only
inside the subcommand's ``run`` so that ``--help`` answers instantly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from .._version import __version__

#: Modules of this package that register a subcommand, in the order shown by --help.
SUBCOMMAND_MODULES = ("underreport", "two_list", "mse", "nowcast", "excess", "fuse", "sensitivity",
                      "datasets")


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="casualty-models",
        description="Posterior distributions of total deaths from confirmed counts, "
        "overlapping lists and delayed reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    from ..errors import CasualtyModelsError
    from ._common import check_common_options

    parser = build_parser()
    args = parser.parse_args(argv)
    caught: list[warnings.WarningMessage] = []
    try:
        check_common_options(args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return int(args.func(args) or 0)
    except CasualtyModelsError as exc:
        print(f"casualty-models {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            FileExistsError) as exc:
        print(f"casualty-models {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    finally:
        print_warnings(caught)


def print_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    """Print one stderr line per distinct warning, with a count.

    Forty copies of a numpy warning become one line.  ConvergenceWarnings from fits are
    left out: every subcommand re-checks convergence with the reporting thresholds and
    prints that verdict itself.
    """
    from ..errors import ConvergenceWarning

    counts: dict[str, int] = {}
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            continue
        msg = f"{w.category.__name__}: {w.message}"
        counts[msg] = counts.get(msg, 0) + 1
    for msg, n in counts.items():
        print(f"warning: {msg}" + (f" (x{n})" if n > 1 else ""), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
