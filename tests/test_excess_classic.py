"""Classic excess (Kobak et al. 2025): the published totals and a reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from casualty_models.datasets import load_death_table
from casualty_models.errors import DataValidationError
from casualty_models.models.excess import DEFAULT_AGES, classic_excess


@pytest.fixture(scope="module")
def rosstat():
    return load_death_table()


def reference(table, region, ages, base, years, trend):
    """Per-cell OLS with an explicit design matrix and np.linalg (not the vectorised code)."""
    g = table.regions.index(region)
    out = {}
    for y0 in years:
        est, var = 0.0, 0.0
        for a in ages:
            ai = table.ages.index(a)
            ys = [y for y in range(base[0], base[1] + 1)
                  if not table.flagged[g, table.years.index(y)]]
            yi = [table.years.index(y) for y in ys]
            m, f = table.deaths[g, yi, ai, 0], table.deaths[g, yi, ai, 1]
            r = m / f
            if trend == "log-ratio":
                r = np.log(r - 1)
            X = (np.ones((len(ys), 1)) if trend == "level"
                 else np.column_stack([np.ones(len(ys)), np.asarray(ys, float)]))
            beta, *_ = np.linalg.lstsq(X, r, rcond=None)
            resid = r - X @ beta
            s2 = resid @ resid / (len(ys) - X.shape[1])
            x0 = np.ones(1) if trend == "level" else np.array([1.0, y0])
            pred = x0 @ beta
            se = np.sqrt(s2 * (1 + x0 @ np.linalg.inv(X.T @ X) @ x0))
            j = table.years.index(y0)
            F, M = table.deaths[g, j, ai, 1], table.deaths[g, j, ai, 0]
            if trend == "log-ratio":
                est += M - (1 + np.exp(pred)) * F
                var += (np.exp(pred) * se * F) ** 2
            else:
                est += M - pred * F
                var += (se * F) ** 2
        out[y0] = (est, np.sqrt(var))
    return out


def test_kobak_totals_reproduced_to_the_death(rosstat):
    """Kobak et al. (2025), men 15-49, no HIV adjustment: 23,594 (1,568) and 40,542 (1,738)."""
    res = classic_excess(rosstat)
    assert res.ages == DEFAULT_AGES and res.status == "ok"
    (e22, s22), (e23, s23) = res.total(2022), res.total(2023)
    assert abs(e22 - 23_594) < 1 and abs(e23 - 40_542) < 1
    assert round(s22) == 1_568 and round(s23) == 1_738
    assert res.by_year() == {2022: res.total(2022), 2023: res.total(2023)}
    est, sd = res.total()
    assert est == pytest.approx(e22 + e23) and sd == pytest.approx(np.hypot(s22, s23))
    d = res.to_dict()
    assert d["years"]["2022"]["excess"]["estimate"] == pytest.approx(e22)
    assert {b["age"] for b in d["by_age"]} == set(DEFAULT_AGES) and len(d["by_age"]) == 14
    assert sum(b["excess"]["estimate"] for b in d["by_age"] if b["year"] == 2023) == (
        pytest.approx(e23))


@pytest.mark.parametrize(
    ("region", "ages", "base", "trend"),
    [("Российская Федерация", DEFAULT_AGES, (2010, 2019), "linear"),  # 10-year trend
     ("Российская Федерация", DEFAULT_AGES, (2015, 2019), "log-ratio"),
     ("Российская Федерация", DEFAULT_AGES, (2015, 2019), "level"),
     ("Москва", ("20-24", "25-29"), (2012, 2019), "linear"),
     ("Красноярский край", DEFAULT_AGES, (2015, 2019), "linear"),  # 2016 flagged: left out
     ("Республика Крым", ("30-34", "35-39", "40-44"), (2014, 2019), "log-ratio")],
)
def test_variants_match_reference(rosstat, region, ages, base, trend):
    res = classic_excess(rosstat, ages=ages, baseline=base, years=(2021, 2022, 2023),
                         trend=trend, regions=region)
    ref = reference(rosstat, region, ages, base, (2021, 2022, 2023), trend)
    for y, (est, sd) in ref.items():
        got = res.total(y)
        assert got[0] == pytest.approx(est, rel=1e-9, abs=1e-6)
        assert got[1] == pytest.approx(sd, rel=1e-9)
    if region == "Красноярский край":
        assert "Красноярский край 2016" in res.status


def test_one_year_level_and_age_span(rosstat):
    res = classic_excess(rosstat, baseline=(2019, 2019), trend="level", ages="15-49")
    nat = rosstat.regions.index("Российская Федерация")
    j19, j22 = rosstat.years.index(2019), rosstat.years.index(2022)
    ai = [rosstat.ages.index(a) for a in DEFAULT_AGES]
    d19, d22 = rosstat.deaths[nat, j19, ai], rosstat.deaths[nat, j22, ai]
    expect = (d22[:, 0] - d19[:, 0] / d19[:, 1] * d22[:, 1]).sum()
    est, sd = res.total(2022)
    assert est == pytest.approx(expect) and np.isnan(sd)  # no residual df: sd not estimable
    assert "sd not estimable" in res.status


def test_regions_separate_pooled_and_all_subjects(rosstat):
    pair = ["Москва", "Санкт-Петербург"]
    sep = classic_excess(rosstat, regions=pair)
    one = [classic_excess(rosstat, regions=r).total(2023) for r in pair]
    assert sep.total(2023)[0] == pytest.approx(one[0][0] + one[1][0])
    assert sep.total(2023)[1] == pytest.approx(np.hypot(one[0][1], one[1][1]))
    pooled = classic_excess(rosstat, regions=pair, pooled=True)
    assert pooled.regions == ("Москва + Санкт-Петербург",)
    assert pooled.total(2023)[0] != pytest.approx(sep.total(2023)[0], rel=1e-3)
    allr = classic_excess(rosstat, regions=rosstat.subjects())
    assert len(allr.regions) == 85
    # small regions with no female deaths in a baseline year: NaN with a status, not a number
    assert np.isnan(allr.total(2022)[0]) and "not estimable" in allr.status
    assert "Ненецкий АО 15-19" in allr.status
    ok = [g for g in allr.regions if np.isfinite(allr.total(2022, g)[0])]
    assert 70 <= len(ok) < 85


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"baseline": (2019, 2019)}, "one-year baseline window .2019. cannot fit a linear trend"),
     ({"baseline": (2019, 2019), "trend": "log-ratio"}, "one-year baseline"),
     ({"baseline": (1980, 1989)}, "baseline year 1980 is not in the table"),
     ({"years": (2024,)}, "target year 2024 is not in the table"),
     ({"regions": "Республика Крым", "baseline": (2010, 2019)},
      "baseline year 2010 is missing for 'Республика Крым'"),
     ({"regions": "Атлантида"}, "unknown region 'Атлантида'"),
     ({"ages": "15-47"}, "does not match the table's age groups"),
     ({"ages": ("15-19", "90-94")}, "unknown age group '90-94'"),
     ({"trend": "cubic"}, "trend='cubic' is unknown"),
     ({"years": (2018,)}, "target year 2018 lies inside the baseline window"),
     ({"regions": "Красноярский край", "years": (2016,), "baseline": (2010, 2014)},
      "its age groups disagree with its total")],
)
def test_bad_requests_raise(rosstat, kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        classic_excess(rosstat, **kwargs)
