"""DeathTable: the Rosstat table's traps and one clear error per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from casualty_models.datasets import load_death_table
from casualty_models.deaths import DeathTable, parse_age_band
from casualty_models.errors import DataValidationError


@pytest.fixture(scope="module")
def rosstat():
    return load_death_table()


def small_frame(changes=None) -> pd.DataFrame:
    rows = []
    for region in ("A", "B"):
        for year in (2018, 2019, 2020):
            for sex in ("m", "f"):
                ages = {"15-19 лет": 10, "20-24 лет": 20, "25-29 лет": 30}
                for age, d in ages.items():
                    rows.append((region, year, age, sex, d + year - 2018))
                rows.append((region, year, "Неизвестно", sex, 1))
                rows.append((region, year, "Всего", sex, sum(ages.values()) + 3 * (year - 2018)
                             + 1))
    df = pd.DataFrame(rows, columns=["Region", "Year", "Age", "Gender", "Deaths"])
    df = df.astype({"Year": object, "Deaths": object})
    for (i, col), v in (changes or {}).items():
        df.loc[i, col] = v
    return df


def test_rosstat_labels_and_traps(rosstat):
    t = rosstat
    assert len(t.regions) == 88 and t.years == tuple(range(1990, 2024))
    assert t.ages[0] == "0-4" and t.ages[-1] == "85+" and len(t.ages) == 18
    assert "15-17" not in t.ages and set(t.subgroups) == {"15-17"}
    # the nested 15-17 group exists only in 2023 and lies inside 15-19
    sub = t.subgroups["15-17"]
    have = np.flatnonzero((sub >= 0).any(axis=(0, 2)))
    assert [t.years[i] for i in have] == [2023]
    nat = t.regions.index("Российская Федерация")
    y = t.years.index(2023)
    assert sub[nat, y, 0] == 1259 and t.deaths[nat, y, t.ages.index("15-19"), 0] == 2931
    assert t.national == "Российская Федерация"
    assert "Ямало-Ненецкий АО" in t.regions  # the file's Latin H is read as Cyrillic
    assert any("Latin letters" in n for n in t.notes)
    assert len(t.subjects()) == 85
    assert t.region_label("ямало-hенецкий ао") == "Ямало-Ненецкий АО"


def test_subjects_add_up_to_the_national_row(rosstat):
    """2004-2023 (all 85 subjects present): exact, except the flagged Krasnoyarsk 2016."""
    t = rosstat
    subj = [t.regions.index(r) for r in t.subjects()]
    nat = t.regions.index(t.national)
    y0 = t.years.index(2004)
    diff = t.deaths[subj, y0:].sum(axis=0) - t.deaths[nat, y0:]
    bad_years = sorted({t.years[y0 + i] for i in np.flatnonzero(np.abs(diff).sum(axis=(1, 2)))})
    assert bad_years == [2016]
    flagged = [(t.regions[r], t.years[y]) for r, y in np.argwhere(t.flagged)]
    assert sorted(flagged) == [("Архангельская область", 2016), ("Красноярский край", 2016)]
    # the shortfall is Krasnoyarsk's: its totals minus its age groups (both sexes)
    assert diff[t.years.index(2016) - y0].sum() == -((19151 - 1048) + (16694 - 918))


def test_small_table_reads():
    t = DeathTable.from_frame(small_frame())
    assert t.regions == ("A", "B") and t.ages == ("15-19", "20-24", "25-29")
    assert t.deaths.shape == (2, 3, 3, 2) and t.deaths[0, 2, 1, 0] == 22
    assert t.unknown_age[0, 0, 0] == 1 and t.known.all() and not t.flagged.any()
    assert t.age_band("15-29") == t.ages and t.age_band(["20-24 лет"]) == ("20-24",)
    assert len(t.fingerprint()) == 64


@pytest.mark.parametrize(
    ("changes", "match"),
    [({(0, "Deaths"): -3}, "deaths = -3 for A, 2018, age 15-19 лет"),
     ({(0, "Deaths"): 2.5}, "deaths = 2.5 .* expected a non-negative integer"),
     ({(0, "Deaths"): np.nan}, "expected a non-negative integer"),
     ({(0, "Age"): "teenagers"}, "unknown age label 'teenagers'"),
     ({(0, "Gender"): "x"}, "unknown sex 'x'"),
     ({(1, "Age"): "15-19 лет"}, "appears more than once"),
     ({(0, "Year"): "20x8"}, "is not a calendar year"),
     ({(4, "Deaths"): 999}, "total row says 999 deaths but the age groups")],
)
def test_bad_tables_raise_one_clear_error(changes, match):
    with pytest.raises(DataValidationError, match=match):
        DeathTable.from_frame(small_frame(changes))


def test_missing_band_and_missing_column():
    df = small_frame().drop(index=2)
    with pytest.raises(DataValidationError, match="no deaths for age 25-29, sex m"):
        DeathTable.from_frame(df)
    with pytest.raises(DataValidationError, match=r"lacks column\(s\) \['Deaths'\]"):
        DeathTable.from_frame(small_frame().drop(columns="Deaths"))
    with pytest.raises(DataValidationError, match="neither follow on nor nest"):
        DeathTable.from_frame(small_frame({(0, "Age"): "16-21"}).query("Age != '15-19 лет'"))


def test_flagged_totals_and_missing_years():
    t = DeathTable.from_frame(small_frame({(4, "Deaths"): 999}), totals="flag")
    assert t.flagged[0, 0] and t.flagged.sum() == 1
    assert any("total row says 999" in n for n in t.notes)
    df = small_frame()
    t2 = DeathTable.from_frame(df[~((df.Region == "B") & (df.Year == 2018))])
    assert not t2.known[1, 0] and t2.known[0].all()
    with pytest.raises(DataValidationError, match="baseline year 2018 is missing for 'B'"):
        t2.check_years(["B"], [2018, 2019], "baseline")
    with pytest.raises(DataValidationError, match="unknown region 'C'"):
        t2.region_label("C")
    with pytest.raises(DataValidationError, match="does not match the table's age groups"):
        t2.age_band("15-22")


def test_parse_age_band():
    assert parse_age_band("85 и более") == (85, None)
    assert parse_age_band("85+") == (85, None)
    assert parse_age_band(" 0-4 лет") == (0, 4)
    assert parse_age_band("Неизвестно") == "unknown"
