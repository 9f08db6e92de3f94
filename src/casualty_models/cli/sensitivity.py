"""``casualty-models sensitivity``: fit one model over a grid of settings.

The study is described by a TOML file::

    model = "bma"            # underreport, two-list, mle, loglinear, bma, latent-class, nowcast
    dataset = "kosovo"       # or input = "file.csv" (with lists, count_column,
                             # stratum_column as for `mse`)
    seed = 1                 # base seed (default 1)

    [options]                # fixed constructor options of the model
    min_observed = 20

    [fit]                    # fixed fit options
    draws = 1000

    [grid]                   # the settings to vary, each a list
    delta = [0.015625, 0.0625, 0.25, 1.0]

For ``underreport`` the data are ``confirmed = 45287`` or a dataset/input of
records (``stratum_column``, ``missing_stratum``, ``count_column``); for
``nowcast`` a line list with ``event_date``, ``report_date``, ``now``,
``max_delay`` (and ``period``, ``start``).  Runs go to local processes
(``--workers N``, default one per core; 1 runs them in this process) or to a
dask.distributed scheduler (``--scheduler tcp://host:8786``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

from ..errors import DataValidationError

#: model name in the TOML file -> (module under casualty_models.models, class, fit method, data)
MODELS = {
    "underreport": ("underreporting", "UnderReporting", "fit", "counts"),
    "two-list": ("two_list", "TwoList", "fit", "table"),
    "mle": ("loglinear", "LogLinear", "fit_mle", "table"),
    "loglinear": ("loglinear", "LogLinear", "fit", "table"),
    "bma": ("bma", "DecomposableBMA", "fit", "table"),
    "latent-class": ("latent_class", "LatentClass", "fit", "table"),
    "nowcast": ("nowcast", "Nowcast", "fit", "triangle"),
}
_KEYS = {"model", "dataset", "input", "seed", "options", "fit", "grid", "lists", "count_column",
         "stratum_column", "missing_stratum", "confirmed", "event_date", "report_date", "now",
         "max_delay", "period", "start"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` subcommand."""
    p = sub.add_parser(
        "sensitivity",
        help="fit one model over a grid of settings: how much the total moves when an "
        "assumption moves",
        description="Fit a model over the Cartesian product of the [grid] lists of a TOML "
        "file and report the median and 95% interval of the total for every run. Each run's "
        "seed derives from the base seed and its settings, so results do not depend on "
        "--workers or --scheduler.",
    )
    p.add_argument("--config", required=True, metavar="FILE.toml",
                   help="the study: model, data, [options], [fit] and [grid]")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: one per core; 1 = in this process)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask.distributed scheduler address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the scheduler (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="DIR",
                   help="write sensitivity.csv, sensitivity.nc and sensitivity.png here")
    p.set_defaults(func=run)


def read_config(path: str) -> dict[str, Any]:
    """The TOML study file, checked for unknown keys and a model name."""
    from ..containers._common import read_toml_file

    cfg = read_toml_file(path)
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise DataValidationError(
            f"unknown key(s) {unknown} in {path!r}: expected some of {sorted(_KEYS)}."
        )
    if cfg.get("model") not in MODELS:
        raise DataValidationError(
            f"model = {cfg.get('model')!r} in {path!r}: expected one of {sorted(MODELS)}."
        )
    for key in ("options", "fit", "grid"):
        if not isinstance(cfg.get(key, {}), dict):
            raise DataValidationError(f"{key} in {path!r} must be a table ([{key}]).")
    return cfg


def load_data(cfg: dict[str, Any], kind: str) -> Any:
    """The model's data named by the study file."""
    ns = argparse.Namespace(dataset=cfg.get("dataset"), input=cfg.get("input"),
                            lists=cfg.get("lists"), count_column=cfg.get("count_column", "count"),
                            stratum_column=cfg.get("stratum_column"))
    if isinstance(ns.lists, list):
        ns.lists = ",".join(map(str, ns.lists))
    if kind == "table":
        from .mse import load_table

        return load_table(ns)
    from ._common import read_table, require_table

    if kind == "counts":
        from ..containers import ConfirmedCounts

        if "confirmed" in cfg:
            return ConfirmedCounts(cfg["confirmed"])
        df = require_table(ns, "sensitivity", "russia_named_list")
        stratum = cfg.get("stratum_column")
        if stratum and "missing_stratum" in cfg and stratum in df.columns:
            df[stratum] = df[stratum].fillna(cfg["missing_stratum"])
        if "count_column" in cfg:
            return ConfirmedCounts.from_frame(df, count=cfg["count_column"], stratum=stratum)
        return ConfirmedCounts.from_records(df, stratum=stratum)
    from ..containers import ReportingTriangle

    df = read_table(ns)
    missing = [k for k in ("event_date", "report_date", "now", "max_delay") if k not in cfg]
    if df is None or missing:
        raise DataValidationError(
            f"model = 'nowcast' needs a line list (dataset or input) and {missing or 'its'} "
            "keys event_date, report_date, now, max_delay."
        )
    return ReportingTriangle.from_line_list(
        df, event_date=cfg["event_date"], report_date=cfg["report_date"], now=cfg["now"],
        max_delay=int(cfg["max_delay"]), period=cfg.get("period", "day"),
        start=cfg.get("start"), long_delays="drop",
        source=f"dataset:{ns.dataset}" if ns.dataset else f"file:{ns.input}")


def _options(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}


def run(args: argparse.Namespace) -> int:
    """Run the study and print the table (or JSON); write files to ``--out``."""
    import importlib

    from ..parallel import open_executor
    from ..sensitivity import sensitivity

    cfg = read_config(args.config)
    module, cls, method, kind = MODELS[cfg["model"]]
    model_cls = getattr(importlib.import_module(f"casualty_models.models.{module}"), cls)
    try:
        model = model_cls(**_options(cfg.get("options", {})))
    except TypeError as exc:
        raise DataValidationError(f"[options] of {cfg['model']}: {exc}.") from None
    data = load_data(cfg, kind)
    if args.workers is not None and args.workers < 1:
        raise DataValidationError(f"--workers {args.workers}: expected an integer >= 1.")
    handle = open_executor(args.scheduler, timeout=args.timeout) if args.scheduler else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = sensitivity(model, data, cfg.get("grid", {}),
                              executor=handle.executor if handle else args.workers,
                              random_seed=int(cfg.get("seed", 1)), method=method,
                              fit_kwargs=cfg.get("fit"))
    finally:
        if handle is not None:
            handle.close()
    payload = res.to_dict()
    payload["warnings"] = sorted({str(w.message) for w in caught})
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(args.out, exist_ok=True)
        res.to_frame().to_csv(os.path.join(args.out, "sensitivity.csv"), index=False)
        res.save(os.path.join(args.out, "sensitivity.nc"))
        fig = res.plot()
        fig.savefig(os.path.join(args.out, "sensitivity.png"), dpi=120)
        plt.close(fig)
    if args.json:
        json.dump(payload, sys.stdout, default=str)
        sys.stdout.write("\n")
        return 0
    import pandas as pd

    frame = res.to_frame()
    cols = res.settings + ["median", "q025", "q975", "status", "seed"]
    # settings keep their own precision (a delta of 1/64 must not print as 0.0); totals
    # get thousands separators
    shown = frame[cols].astype(object)
    for c in ("median", "q025", "q975"):
        shown[c] = [f"{v:,.1f}" if v == v else "nan" for v in frame[c]]
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(f"model: {payload['provenance']['model']}  runs: {len(res)}  failed: "
              f"{payload['n_failed']}  executor: {payload['provenance']['executor']}  "
              f"wall time: {res.wall_time:.1f} s")
        print(shown.to_string(index=False))
        sources = sorted(set(frame["summary_source"]) - {""})
        if sources:
            words = {"grid": "the exact grid posterior", "draws": "the posterior draws",
                     "mle": "maximum likelihood (profile interval)"}
            print("summaries from " + ", ".join(words.get(x, x) for x in sources))
    for row in res.failed.itertuples():
        print(f"run {dict((k, getattr(row, k)) for k in res.settings)} failed: {row.message}",
              file=sys.stderr)
    if args.out:
        print(f"wrote {args.out}/sensitivity.csv, sensitivity.nc, sensitivity.png")
    return 0
