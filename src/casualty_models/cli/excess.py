"""``casualty-models excess`` and ``casualty-models registry``.

``excess``: excess male deaths over a demographic baseline from deaths by
region x year x age x sex (``--dataset rosstat_deaths`` or ``--input FILE``),
by the published ratio method (``--method classic``) or the Bayesian model
(``--method bayes``).

``registry``: the registry multiplier, war deaths = excess registry cases / q,
from the user's registry counts (or excess cases with their sd) and the named
list's matches by age (CSV files).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import DataValidationError
from ._common import add_input_options, require_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``excess`` and ``registry`` subcommands."""
    p = sub.add_parser(
        "excess",
        help="excess male deaths over the pre-war male/female ratio (Rosstat or own data)",
        description="Excess male deaths in the target years: observed male deaths minus the "
        "male/female death ratio projected from the baseline years times female deaths. "
        "Identifying assumption: female mortality is unaffected by the war and the ratio "
        "would have followed its pre-war trend.",
    )
    add_input_options(p, what="deaths by region, year, age group and sex (columns Region, "
                      "Year, Age, Gender, Deaths)")
    p.add_argument("--method", choices=["classic", "bayes"], default="classic",
                   help="classic: Kobak et al.'s OLS ratio method; bayes: the Bayesian model")
    p.add_argument("--ages", nargs="+", default=["15-49"],
                   help="an age span (15-49) or age groups (15-19 20-24 ...); default 15-49")
    p.add_argument("--baseline", nargs=2, type=int, metavar=("FIRST", "LAST"),
                   default=[2015, 2019], help="baseline window (default 2015 2019)")
    p.add_argument("--years", nargs="+", type=int, default=[2022, 2023],
                   help="target years (default 2022 2023)")
    p.add_argument("--trend", choices=["linear", "level", "log-ratio"], default="linear",
                   help="classic baseline: linear trend of the ratio, its level, or a linear "
                   "trend of log(ratio - 1) (default linear; bayes: log-linear trend only)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--region", nargs="+", metavar="NAME",
                   help="region(s) to fit (default: the national row)")
    g.add_argument("--by-region", action="store_true",
                   help="every non-overlapping region (Rosstat: the 85 federal subjects)")
    p.add_argument("--pooled", action="store_true",
                   help="with several --region: add their deaths up and fit the sum once")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1); recorded")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="DIR", help="write summary.json, excess.csv (and "
                   "result.nc, by_region.png) here")
    p.add_argument("--draws", type=int, default=1000, help="bayes: draws per chain")
    p.add_argument("--chains", type=int, default=4, help="bayes: chains (default 4)")
    p.add_argument("--tune", type=int, default=1000, help="bayes: tuning steps per chain")
    p.set_defaults(func=run)

    r = sub.add_parser(
        "registry",
        help="registry multiplier: war deaths = excess registry cases / share of the named "
        "list found in the registry",
        description="War deaths D = X + NegBin(X, q) per age group: X excess registry cases "
        "(from male/female registry counts by year and age, or given with their sd), q the "
        "share of the named list's deaths found in the registry (Beta posterior from matches "
        "and non-matches). Identifying assumption: being on the named list is independent of "
        "having a registry case, given age.",
    )
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--registry", metavar="FILE",
                     help="registry cases: CSV with columns year, age, sex (m/f), cases")
    src.add_argument("--excess", metavar="FILE",
                     help="excess registry cases: CSV with columns age, excess, sd (and "
                     "optionally year)")
    r.add_argument("--matches", metavar="FILE", required=True,
                   help="named list vs registry: CSV with columns age, matched, unmatched")
    r.add_argument("--baseline", nargs=2, type=int, metavar=("FIRST", "LAST"),
                   help="with --registry: baseline window (default: all years before the "
                   "first target year)")
    r.add_argument("--years", nargs="+", type=int, help="with --registry: target years "
                   "(default: the last year)")
    r.add_argument("--seed", type=int, default=1, help="random seed (default 1); recorded")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--out", metavar="DIR", help="write result.nc and summary.json here")
    r.add_argument("--draws", type=int, default=1000, help="draws per chain")
    r.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    r.add_argument("--tune", type=int, default=1000, help="NUTS tuning steps (--registry)")
    r.set_defaults(func=run_registry)


def _death_table(args: argparse.Namespace) -> Any:
    from ..containers.deaths import DeathTable
    from ..datasets import load_death_table

    if args.dataset:
        return load_death_table(args.dataset)
    df = require_table(args, "excess", "rosstat_deaths")
    return DeathTable.from_frame(df, source=os.path.basename(args.input))


def _ages(args: argparse.Namespace) -> Any:
    # one value is a span ("15-49", or one group); several are age groups
    return args.ages[0] if len(args.ages) == 1 else args.ages


def run(args: argparse.Namespace) -> int:
    """Fit and print."""
    table = _death_table(args)
    if args.pooled and not (args.region and len(args.region) > 1):
        raise DataValidationError("--pooled needs several --region names.")
    regions = table.subjects() if args.by_region else args.region
    kwargs = {"ages": _ages(args), "baseline": tuple(args.baseline), "years": args.years,
              "regions": regions, "pooled": args.pooled}
    if args.method == "classic":
        from ..models.excess import classic_excess

        res = classic_excess(table, trend=args.trend, **kwargs)
        payload = res.to_dict()
        result = None
    else:
        if args.trend != "linear":
            raise DataValidationError(
                f"--trend {args.trend} is a classic-method variant: the Bayesian model has a "
                "linear trend of the log ratio. Fix: drop --trend or use --method classic.")
        from ..models.excess_bayes import ExcessBayes, excess_summary

        result = ExcessBayes().fit(table, draws=args.draws, chains=args.chains, tune=args.tune,
                                   random_seed=args.seed, **kwargs)
        payload = {"model": "ExcessBayes", **excess_summary(result),
                   "diagnostics": result.diagnostics(), "priors": result.priors,
                   "seed": args.seed, "config": {k: (list(v) if isinstance(v, tuple) else v)
                                                 for k, v in kwargs.items()}}
        payload["warnings"] = result.check_convergence(emit=False)
    payload["dataset"] = table.source
    payload["notes"] = list(table.notes)
    return _emit(payload, args, result)


def _fmt(b: dict[str, float]) -> str:
    est = b.get("estimate", b.get("median"))
    return (f"{est:>10,.0f} {b['sd']:>8,.0f}   [{b['q025']:>9,.0f}, {b['q975']:>9,.0f}]"
            if est == est else f"{'not estimable':>20}")


def _emit(payload: dict[str, Any], args: argparse.Namespace, result: Any) -> int:
    from ._common import _clean

    payload = _clean(payload)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, ensure_ascii=False)
        _write_tables(payload, args.out)
        if result is not None:
            result.save(os.path.join(args.out, "result.nc"))
    if args.json:
        json.dump(payload, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    est = "estimate" if payload.get("method") == "classic" else "median"
    print(f"excess male deaths, method {payload.get('method')}, {payload.get('dataset')}")
    if payload.get("status", "ok") != "ok":
        print(f"status: {payload['status']}")
    print(f"{'year':<8}{est:>10} {'sd':>8}   {'95% interval':>21}")
    for y, b in payload["years"].items():
        print(f"{y:<8}{_fmt(b['excess'])}")
    print(f"{'total':<8}{_fmt(payload['total']['excess'])}")
    print(f"\n{'age':<8}{'year':<6}{est:>10} {'sd':>8}   {'95% interval':>21}")
    for row in payload["by_age"]:
        print(f"{row['age']:<8}{row['year']:<6}{_fmt(row['excess'])}")
    if "by_region" in payload:
        print(f"\n{'region':<32}" + "".join(f"{y:>12}" for y in payload["years"]))
        for g, by in payload["by_region"].items():
            cells = [by[y]["excess"].get("estimate", by[y]["excess"].get("median"))
                     for y in payload["years"]]
            print(f"{g:<32}" + "".join(f"{c:>12,.0f}" if c is not None else f"{'n/a':>12}"
                                       for c in cells))
    for w in payload.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    if args.out:
        print(f"wrote {args.out}/summary.json, excess.csv")
    return 0


def _write_tables(payload: dict[str, Any], out: str) -> None:
    import pandas as pd

    rows = [{"age": r["age"], "year": r["year"], **r["excess"]} for r in payload["by_age"]]
    pd.DataFrame(rows).to_csv(os.path.join(out, "excess.csv"), index=False)
    if "by_region" in payload:
        rrows = [{"region": g, "year": y, **by[y]["excess"]}
                 for g, by in payload["by_region"].items() for y in by]
        frame = pd.DataFrame(rrows)
        frame.to_csv(os.path.join(out, "by_region.csv"), index=False)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..models.excess import plot_by_region

        fig = plot_by_region(frame)
        fig.savefig(os.path.join(out, "by_region.png"), dpi=110)
        plt.close(fig)


def run_registry(args: argparse.Namespace) -> int:
    """Registry multiplier from the user's CSV files."""
    from ..models.registry import (
        RegistryMultiplier,
        read_excess_cases,
        read_list_matches,
        read_registry_counts,
    )

    matches = read_list_matches(args.matches)
    model = RegistryMultiplier()
    if args.registry:
        counts = read_registry_counts(args.registry)
        res = model.fit(counts, matches, baseline=tuple(args.baseline) if args.baseline
                        else None, years=args.years, draws=args.draws, chains=args.chains,
                        tune=args.tune, random_seed=args.seed)
    else:
        if args.baseline or args.years:
            raise DataValidationError(
                "--baseline/--years apply to --registry counts, not to --excess (which is "
                "already an excess). Fix: drop them.")
        res = model.fit(read_excess_cases(args.excess), matches, draws=args.draws,
                        chains=args.chains, random_seed=args.seed)
    from ..models.registry import registry_summary

    payload = _clean_registry(registry_summary(res))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        res.save(os.path.join(args.out, "result.nc"))
        with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
    if args.json:
        json.dump(payload, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print("registry multiplier: war deaths D = excess registry cases / q")
    print(f"{'age':<10}{'excess':>10}{'q':>8}{'D median':>12}   {'95% interval':>21}")
    for a, b in payload["by_age"].items():
        print(f"{a:<10}{b['excess']['median']:>10,.0f}{b['q']['median']:>8.3f}"
              f"{b['D']['median']:>12,.0f}   [{b['D']['q025']:>9,.0f}, {b['D']['q975']:>9,.0f}]")
    t = payload["D"]
    print(f"{'total':<10}{'':>18}{t['median']:>12,.0f}   [{t['q025']:>9,.0f}, "
          f"{t['q975']:>9,.0f}]")
    for w in payload.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _clean_registry(payload: dict[str, Any]) -> dict[str, Any]:
    from ._common import _clean

    return dict(_clean(payload))
