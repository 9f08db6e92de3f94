"""``casualty-models datasets``: list the shipped datasets and their citations."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` subcommand."""
    p = sub.add_parser("datasets", help="list the shipped datasets",
                       description="List the datasets shipped with casualty_models.")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--citations", action="store_true", help="also print citations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the registry (no pandas/PyMC import needed)."""
    from ..datasets import DATASETS, dataset_path

    if args.json:
        print(json.dumps([{"name": d.name, "kind": d.kind, "file": str(dataset_path(d.name)),
                           "description": d.description, "citation": d.citation,
                           "lists": list(d.lists), "stratum": d.stratum}
                          for d in DATASETS.values()]))
        return 0
    width = max(len(n) for n in DATASETS)
    for d in DATASETS.values():
        print(f"{d.name:<{width}}  {d.kind:<17}  {d.description}")
        if args.citations:
            print(f"{'':<{width}}  {'':<17}  cite: {d.citation}")
    return 0
