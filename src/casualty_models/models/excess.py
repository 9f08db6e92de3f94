r"""Excess male deaths over a demographic baseline: the published (classic) method.

Model (Kobak, Bessudnov, Ershov, Mikhailova and Raksha 2025, *Demography* 62(2):335-347)
----------------------------------------------------------------------------------------
For region :math:`g`, age group :math:`a` and year :math:`t`, with male and
female deaths :math:`M_{gat}` and :math:`F_{gat}`, take the ratio
:math:`r_{gat} = M_{gat} / F_{gat}` over the baseline years
:math:`t_1, \dots, t_n` and fit, by ordinary least squares,

.. math::

    r_{gat} = \beta_0 + \beta_1 t + \varepsilon_{gat},
    \qquad \varepsilon \overset{iid}{\sim} (0, \sigma^2)
    \quad (\texttt{trend="linear"}),

or a constant :math:`r = \beta_0 + \varepsilon` (``"level"``; with one year,
:math:`\hat r` is that year's ratio), or the linear trend of
:math:`\log(r - 1)` (``"log-ratio"``).  The expected male deaths in a target
year :math:`t_0` are :math:`\hat M_{gat_0} = \hat r_{gat_0} F_{gat_0}`, the
excess is :math:`E_{gat_0} = M_{gat_0} - \hat M_{gat_0}`, and its standard
deviation is the OLS prediction sd of a new observation times :math:`F`:

.. math::

    \mathrm{sd}(E_{gat_0}) = F_{gat_0}\, \hat\sigma
    \sqrt{1 + x_0^\top (X^\top X)^{-1} x_0},
    \qquad \hat\sigma^2 = \frac{\mathrm{RSS}}{n - p}.

For ``"log-ratio"`` the sd is carried by the delta method,
:math:`F e^{\hat z}\,\mathrm{sd}(\hat z_{\text{new}})` with
:math:`z = \log(r - 1)`.  Totals over age groups (and regions) add the
excesses and add the sds in quadrature, as the paper does (this treats the
age groups' prediction errors as independent).  The total over several
target years also adds in quadrature (the paper's 58,500 ± 2,500), which
ignores that both years share one fitted trend.

Identifying assumption
----------------------
Female mortality in the age group is unaffected by the war, and the male to
female ratio would have followed its pre-war trend (or level).  The female
deaths absorb shocks common to both sexes, such as COVID-19.  The excess is
every change in male-specific mortality, war deaths included, in calendar
years and only within the age band.

Reference
---------
On the shipped ``rosstat_deaths`` table, national row, ages 15-49, linear
trend over 2015-2019: 23,594 (sd 1,568) in 2022 and 40,542 (sd 1,738) in
2023, the paper's totals before its HIV adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..deaths import DeathTable
from ..errors import DataValidationError

__all__ = ["DEFAULT_AGES", "ClassicExcess", "classic_excess", "select_regions"]

Trend = Literal["linear", "level", "log-ratio"]
TRENDS = ("linear", "level", "log-ratio")
#: Kobak et al.'s age groups: men aged 15-49.
DEFAULT_AGES = ("15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49")


def check_window(
    table: DeathTable,
    baseline: tuple[int, int],
    years: Sequence[int],
    trend: str,
) -> tuple[list[int], list[int]]:
    """Validate the baseline window, target years and trend; return both year lists."""
    if trend not in TRENDS:
        raise DataValidationError(
            f"trend={trend!r} is unknown: expected one of {list(TRENDS)}.")
    try:
        b0, b1 = (int(v) for v in baseline)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"baseline={baseline!r} is not a window: expected (first, last) years such as "
            "(2015, 2019).") from None
    if b1 < b0:
        raise DataValidationError(
            f"baseline window ({b0}, {b1}) ends before it starts. Fix: give (first, last), "
            "e.g. (2015, 2019).")
    base = list(range(b0, b1 + 1))
    if trend != "level" and len(base) < 2:
        raise DataValidationError(
            f"a one-year baseline window ({b0}) cannot fit a {trend} trend: a line needs at "
            "least two years (three for its prediction sd). Fix: widen the window, e.g. "
            f"--baseline {b0 - 4} {b0}, or use trend 'level' (the {b0} ratio).")
    target = [int(y) for y in years]
    if not target:
        raise DataValidationError("years is empty: expected target years such as (2022, 2023).")
    overlap = sorted(set(target) & set(base))
    if overlap:
        raise DataValidationError(
            f"target year {overlap[0]} lies inside the baseline window ({b0}, {b1}): its excess "
            "would be measured against itself. Fix: choose target years after the window.")
    if len(set(target)) != len(target):
        raise DataValidationError(f"years {target} repeat a year. Fix: list each year once.")
    table.check_years([], base, "baseline")
    table.check_years([], target, "target")
    return base, target


def select_regions(
    table: DeathTable, regions: str | Sequence[str] | None, pooled: bool = False
) -> tuple[list[str], np.ndarray, list[str]]:
    """Resolve ``regions`` to labels and the (label, table-region) weight matrix.

    Returns ``(labels, weights, members)``: the output region labels, a
    ``(n_labels, n_table_regions)`` 0/1 matrix that sums the table's regions
    into each output region, and the table regions used.

    ``None`` means the national row if the table has one, else its only region,
    else the sum of its non-overlapping regions (:meth:`DeathTable.subjects`).
    """
    if regions is None:
        if table.national is not None:
            members = [table.national]
        elif len(table.regions) == 1:
            members = [table.regions[0]]
        else:
            members = list(table.subjects())
            pooled = True
    else:
        names = [regions] if isinstance(regions, str) else list(regions)
        if not names:
            raise DataValidationError("regions is empty: expected region labels or None.")
        members = [table.region_label(n) for n in names]
        if len(set(members)) != len(members):
            raise DataValidationError(f"regions {names} name a region twice. Fix: list each once.")
    idx = [table.regions.index(m) for m in members]
    if pooled and len(members) > 1:
        w = np.zeros((1, len(table.regions)))
        w[0, idx] = 1.0
        label = " + ".join(members) if len(members) <= 3 else f"{len(members)} regions"
        return [label], w, members
    w = np.zeros((len(members), len(table.regions)))
    w[np.arange(len(members)), idx] = 1.0
    return members, w, members


def _fit_predict(
    r: np.ndarray, t: np.ndarray, t0: np.ndarray, trend: str, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS fit of ``r[..., year]`` on ``t`` and prediction at ``t0``.

    ``w`` (0/1, broadcastable to ``r``) leaves years out of a fit (flagged
    region-years).  Returns the predicted value, its new-observation
    prediction sd (NaN when the residual variance has no degrees of freedom)
    and the residual sd.
    """
    w = np.ones_like(r) if w is None else np.broadcast_to(w, r.shape).astype(float)
    n = w.sum(axis=-1)
    tbar = (w * t).sum(axis=-1) / n
    rbar = (w * r).sum(axis=-1) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        if trend == "level":
            pred = np.repeat(rbar[..., None], t0.size, axis=-1)
            dof = n - 1
            resid = r - rbar[..., None]
            lev = 1.0 / n[..., None] + 0.0 * t0
        else:
            tc = t - tbar[..., None]
            sxx = (w * tc**2).sum(axis=-1)
            slope = (w * r * tc).sum(axis=-1) / sxx
            pred = rbar[..., None] + slope[..., None] * (t0 - tbar[..., None])
            dof = n - 2
            resid = r - rbar[..., None] - slope[..., None] * tc
            lev = 1.0 / n[..., None] + (t0 - tbar[..., None]) ** 2 / sxx[..., None]
        s2 = np.where(dof > 0, (w * resid**2).sum(axis=-1) / np.maximum(dof, 1), np.nan)
    s = np.sqrt(s2)
    sd = s[..., None] * np.sqrt(1.0 + lev)
    return pred, sd, s


@dataclass(frozen=True, eq=False)
class ClassicExcess:
    r"""Result of :func:`classic_excess`: excess deaths per region, age group and year.

    Arrays have dims ``(region, age, year)`` (target years only).

    Attributes
    ----------
    regions, ages, years : tuple
        Labels (``regions`` are the output regions; pooled sets have one label).
    male, female : float arrays
        Observed deaths in the target years.
    expected_ratio : float array
        Projected male/female ratio :math:`\hat r`.
    expected : float array
        Baseline male deaths :math:`\hat r F`.
    excess, sd : float arrays
        Excess :math:`M - \hat r F` and its prediction sd (NaN when not estimable).
    residual_sd : float array (region, age)
        :math:`\hat\sigma` of the baseline fit (ratio scale, or log(r-1) scale).
    status : str
        ``"ok"``, or why some sds (or estimates) are not estimable.
    config : dict
        ``ages``, ``baseline``, ``years``, ``trend``, ``regions``, ``pooled``,
        ``source``, ``data_fingerprint``.

    Examples
    --------
    >>> from casualty_models.datasets import load_death_table
    >>> res = classic_excess(load_death_table())
    >>> est, sd = res.total(2022)
    >>> round(est), round(sd)
    (23594, 1568)
    """

    regions: tuple[str, ...]
    ages: tuple[str, ...]
    years: tuple[int, ...]
    male: np.ndarray
    female: np.ndarray
    expected_ratio: np.ndarray
    expected: np.ndarray
    excess: np.ndarray
    sd: np.ndarray
    residual_sd: np.ndarray
    status: str = "ok"
    config: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------- totals
    def total(self, year: int | None = None, region: str | None = None) -> tuple[float, float]:
        """``(estimate, sd)`` of the excess summed over age groups (and regions).

        Parameters
        ----------
        year : int, optional
            A target year; by default the sum over all target years.
        region : str, optional
            One output region; by default the sum over all of them.

        The sd adds the cells' sds in quadrature (the paper's convention); it
        is NaN, never a made-up number, when any cell's sd is not estimable.
        """
        ex, sd = self.excess, self.sd
        if region is not None:
            if region not in self.regions:
                raise DataValidationError(
                    f"region {region!r} is not in this result: it has {list(self.regions)}.")
            i = self.regions.index(region)
            ex, sd = ex[i : i + 1], sd[i : i + 1]
        if year is not None:
            if int(year) not in self.years:
                raise DataValidationError(
                    f"year {year!r} is not a target year of this result: {list(self.years)}.")
            j = self.years.index(int(year))
            ex, sd = ex[..., j : j + 1], sd[..., j : j + 1]
        return float(ex.sum()), float(np.sqrt((sd**2).sum()))

    def by_year(self) -> dict[int, tuple[float, float]]:
        """``{year: (estimate, sd)}`` of the total over age groups and regions."""
        return {y: self.total(y) for y in self.years}

    def by_region(self) -> pd.DataFrame:
        """Excess and sd per region and year, summed over age groups."""
        rows = []
        for i, g in enumerate(self.regions):
            for j, y in enumerate(self.years):
                rows.append({"region": g, "year": y, "excess": float(self.excess[i, :, j].sum()),
                             "sd": float(np.sqrt((self.sd[i, :, j] ** 2).sum()))})
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """One row per (region, age, year): deaths, expected ratio, baseline, excess, sd."""
        R, A, Y = self.excess.shape
        g, a, y = (ix.ravel() for ix in np.meshgrid(np.arange(R), np.arange(A), np.arange(Y),
                                                    indexing="ij"))
        return pd.DataFrame({
            "region": np.asarray(self.regions, dtype=object)[g],
            "age": np.asarray(self.ages, dtype=object)[a],
            "year": np.asarray(self.years)[y],
            "male": self.male.ravel(),
            "female": self.female.ravel(),
            "expected_ratio": self.expected_ratio.ravel(),
            "expected": self.expected.ravel(),
            "excess": self.excess.ravel(),
            "sd": self.sd.ravel(),
        })

    def to_dataset(self) -> Any:
        """The arrays as an :class:`xarray.Dataset` with dims ``(region, age, year)``."""
        import xarray as xr

        dims = ("region", "age", "year")
        coords = {"region": list(self.regions), "age": list(self.ages),
                  "year": list(self.years)}
        ds = xr.Dataset({k: (dims, getattr(self, k)) for k in
                         ("male", "female", "expected_ratio", "expected", "excess", "sd")},
                        coords=coords)
        ds.attrs = {"model": "classic_excess", "status": self.status,
                    **{k: str(v) for k, v in self.config.items()}}
        return ds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the command line's ``--json`` contract).

        ``years`` maps each target year (as a string) to ``{"excess": {...}}``;
        ``by_age`` lists ``{"age", "year", "excess"}`` summed over regions;
        ``total`` sums all target years; each ``excess`` block holds
        ``estimate``, ``mean`` (the same), ``sd``, ``q025`` and ``q975``
        (estimate ± 1.96 sd, the normal approximation the paper uses).
        """

        def block(est: float, sd: float) -> dict[str, float]:
            return {"estimate": est, "mean": est, "sd": sd,
                    "q025": est - 1.959964 * sd, "q975": est + 1.959964 * sd}

        out: dict[str, Any] = {
            "model": "classic_excess",
            "method": "classic",
            "status": self.status,
            "config": self.config,
            "years": {str(y): {"excess": block(*self.total(y))} for y in self.years},
            "by_age": [],
            "total": {"excess": block(*self.total())},
        }
        for i, a in enumerate(self.ages):
            for j, y in enumerate(self.years):
                est = float(self.excess[:, i, j].sum())
                sd = float(np.sqrt((self.sd[:, i, j] ** 2).sum()))
                out["by_age"].append({"age": a, "year": y, "excess": block(est, sd)})
        if len(self.regions) > 1:
            out["by_region"] = {
                g: {str(y): {"excess": block(*self.total(y, g))} for y in self.years}
                for g in self.regions}
        return out


def classic_excess(
    table: DeathTable,
    *,
    ages: str | Sequence[str] = DEFAULT_AGES,
    baseline: tuple[int, int] = (2015, 2019),
    years: Sequence[int] = (2022, 2023),
    trend: Trend = "linear",
    regions: str | Sequence[str] | None = None,
    pooled: bool = False,
) -> ClassicExcess:
    r"""Excess male deaths by the male/female ratio method of Kobak et al. (2025).

    Parameters
    ----------
    table : DeathTable
        Deaths by region x year x age x sex (e.g. ``datasets.load_death_table()``).
    ages : str or sequence of str
        Age groups (``("15-19", ..., "45-49")``) or a span (``"15-49"``).
    baseline : (first, last)
        Baseline window, inclusive.  A one-year window needs ``trend="level"``.
    years : sequence of int
        Target years (after the window).
    trend : {"linear", "level", "log-ratio"}
        Baseline of the ratio: OLS line (the paper's main method), the window's
        mean level (the paper's 1-year variant uses ``baseline=(2019, 2019)``),
        or an OLS line of :math:`\log(r - 1)`.
    regions : str, sequence of str or None
        ``None``: the national row (or the table's only region).  One label or a
        list: each region fitted separately; totals sum them.
    pooled : bool
        With several ``regions``, add their deaths up first and fit the sum
        once (one output region) instead of fitting each.

    Returns
    -------
    ClassicExcess
        ``total(year)`` gives ``(estimate, sd)`` for the whole age band.

    Raises
    ------
    DataValidationError
        Unknown region or age group, baseline or target years missing from the
        table (for any region asked for), a one-year window with a trend, a
        or a target year inside the window.

    Notes
    -----
    A (region, age) cell with no female deaths in a baseline year (the ratio
    is undefined), or a ratio <= 1 under ``"log-ratio"``, is not estimable:
    its excess and sd are NaN, so are the totals that include it, and
    ``status`` names the cells.  Baseline years flagged in the table (age
    groups disagree with the total row) are left out of that region's fit and
    named in ``status``.
    """
    base, target = check_window(table, baseline, years, trend)
    age_labels = table.age_band(ages)
    labels, w, members = select_regions(table, regions, pooled)
    table.check_years(members, base, "baseline")
    table.check_years(members, target, "target")
    ri = [table.regions.index(m) for m in members]
    wm = w[:, ri]  # (label, member)
    yi = [table.years.index(y) for y in base + target]
    ai = [table.ages.index(a) for a in age_labels]
    d = table.deaths[np.ix_(ri, yi, ai, [0, 1])].astype(float)  # (member, year, age, sex)
    d = np.einsum("gm,myas->gays", wm, d)  # (label, age, year, sex)
    nb = len(base)
    # a flagged member year (age groups disagree with its total) leaves that year out
    flag = (wm @ table.flagged[np.ix_(ri, yi)].astype(float)) > 0  # (label, year)
    if flag[:, nb:].any():
        g, y = np.argwhere(flag[:, nb:])[0]
        raise DataValidationError(
            f"{labels[g]}, target year {target[y]}: its age groups disagree with its total "
            "row (see DeathTable.notes), so its excess cannot be measured. Fix: leave that "
            "region or year out.")
    use = (~flag[:, :nb]).astype(float)[:, None, :]  # (label, 1, baseline year)
    left_out = [f"{labels[g]} {base[y]}" for g, y in np.argwhere(flag[:, :nb])]
    M, F = d[..., 0], d[..., 1]
    Mb, Fb, Mt, Ft = M[..., :nb], F[..., :nb], M[..., nb:], F[..., nb:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(use > 0, Mb / Fb, 0.0)
    # a zero female count (ratio undefined) or, for log-ratio, r <= 1 makes that
    # (region, age) cell not estimable: NaN with a status, never a made-up number
    bad = ((Fb == 0) & (use > 0)).any(axis=-1)
    if trend == "log-ratio":
        bad |= ((r <= 1) & (use > 0)).any(axis=-1)
    r = np.where(bad[..., None], 2.0, r)
    t = np.asarray(base, float)
    t0 = np.asarray(target, float)
    status = "ok"
    if trend == "log-ratio":
        z, zsd, s = _fit_predict(np.log(np.where(use > 0, r - 1.0, 1.0)), t, t0, "linear", use)
        ratio = 1.0 + np.exp(z)
        sd = np.exp(z) * zsd * Ft
    else:
        ratio, rsd, s = _fit_predict(r, t, t0, trend, use)
        sd = rsd * Ft
    ratio = np.where(bad[..., None], np.nan, ratio)
    sd = np.where(bad[..., None], np.nan, sd)
    expected = ratio * Ft
    excess = Mt - expected
    if (np.isnan(sd) & ~bad[..., None]).any():
        status = (f"sd not estimable: a {len(base)}-year baseline leaves no residual degrees "
                  f"of freedom for a {trend} fit")
        if left_out:
            status += " (after leaving flagged years out)"
    if bad.any():
        cells = [f"{labels[g]} {age_labels[a]}" for g, a in np.argwhere(bad)]
        why = "no female deaths" + (" or a ratio <= 1" if trend == "log-ratio" else "")
        status = ("" if status == "ok" else status + "; ") + (
            f"not estimable ({why} in a baseline year; pool regions or use the Bayesian "
            f"model): {len(cells)} region x age cells, e.g. " + ", ".join(cells[:5]))
    if left_out:
        status = ("" if status == "ok" else status + "; ") + (
            "baseline years left out (age groups disagree with the total row): "
            + ", ".join(left_out))
    config = {"ages": list(age_labels), "baseline": [base[0], base[-1]], "years": target,
              "trend": trend, "regions": members, "pooled": bool(pooled and len(members) > 1),
              "source": table.source, "data_fingerprint": table.fingerprint()}
    return ClassicExcess(regions=tuple(labels), ages=tuple(age_labels), years=tuple(target),
                         male=Mt, female=Ft, expected_ratio=ratio, expected=expected,
                         excess=excess, sd=sd, residual_sd=s, status=status, config=config)
