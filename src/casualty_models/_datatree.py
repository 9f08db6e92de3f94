"""Assembling a result DataTree that follows the contract (see :mod:`casualty_models.results`).

Models call :func:`build_datatree` with their posterior draws, data and
provenance; :func:`posterior_array` names the dims of an array of draws.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import xarray as xr

from ._version import __version__

__all__ = ["build_datatree", "posterior_array"]


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    return x


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pymc", "pytensor", "arviz-base", "arviz-stats", "numpy", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - optional packages
            continue
    return json.dumps(out)


def build_datatree(
    posterior: Mapping[str, xr.DataArray],
    *,
    model: str,
    model_config: Mapping[str, Any],
    priors: Mapping[str, Any],
    random_seed: int | None,
    data_fingerprint: str,
    data_source: str,
    sampler: str,
    observed: int,
    observed_data: Mapping[str, xr.DataArray] | None = None,
    constant_data: Mapping[str, xr.DataArray] | None = None,
    sample_stats: xr.Dataset | None = None,
    base: xr.DataTree | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Assemble a result DataTree following the contract.

    Parameters
    ----------
    posterior : mapping of name to DataArray
        Posterior variables with dims ``(chain, draw, ...)``; ``N`` and
        ``N_unobserved`` must be present and have a ``stratum`` dim.  Their
        totals over strata are added here.
    observed : int
        Total number of deaths observed (recorded as attr ``observed``).
    base : DataTree, optional
        A tree from ``pm.sample`` whose groups are kept (its posterior is
        extended with ``posterior``).
    """
    for name in ("N", "N_unobserved"):
        if name not in posterior:
            raise ValueError(f"internal: posterior lacks {name!r}")
        if "stratum" not in posterior[name].dims:
            raise ValueError(f"internal: {name} lacks the stratum dim")
    post_vars = dict(posterior)
    post_vars["N_total"] = post_vars["N"].sum("stratum")
    post_vars["N_unobserved_total"] = post_vars["N_unobserved"].sum("stratum")
    for name in ("N", "N_unobserved", "N_total", "N_unobserved_total"):
        post_vars[name] = post_vars[name].astype(np.int64)

    groups: dict[str, xr.Dataset] = {}
    if base is not None:
        for path, node in base.subtree_with_keys:
            if path and node.has_data:
                groups[path] = node.to_dataset(inherit=False)
    post = groups.get("posterior", xr.Dataset())
    post = post.assign(post_vars)
    groups["posterior"] = post
    if observed_data:
        groups["observed_data"] = groups.get("observed_data", xr.Dataset()).assign(observed_data)
    if constant_data:
        groups["constant_data"] = groups.get("constant_data", xr.Dataset()).assign(constant_data)
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    groups.setdefault("sample_stats", xr.Dataset())

    attrs = {
        "model": model,
        "model_config": json.dumps(_jsonable(model_config), sort_keys=True),
        "priors": json.dumps(_jsonable(priors), sort_keys=True),
        "random_seed": "None" if random_seed is None else int(random_seed),
        "data_fingerprint": data_fingerprint,
        "data_source": data_source,
        "sampler": sampler,
        "observed": int(observed),
        "casualty_models_version": __version__,
        "library_versions": _library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if extra_attrs:
        attrs.update({k: (json.dumps(_jsonable(v)) if isinstance(v, dict | list) else v)
                      for k, v in extra_attrs.items()})
    tree = xr.DataTree.from_dict({f"/{k}": v for k, v in groups.items()})
    tree.attrs = attrs
    return tree


def posterior_array(
    values: np.ndarray, dims: Sequence[str], coords: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Wrap an array of draws with shape (chain, draw, ...) as a named DataArray."""
    values = np.asarray(values)
    if len(dims) != values.ndim:
        raise ValueError(f"internal: {values.shape} vs dims {dims}")
    coords = dict(coords or {})
    c = {d: coords[d] for d in dims if d in coords}
    c.setdefault("chain", np.arange(values.shape[0]))
    c.setdefault("draw", np.arange(values.shape[1]))
    return xr.DataArray(values, dims=tuple(dims), coords=c, name=name)
