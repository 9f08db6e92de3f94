"""ReportingTriangle: cells, masks and validation (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from casualty_models import DataValidationError, ReportingTriangle
from casualty_models.datasets import load

HUS = dict(event_date="hospitalisation_date", report_date="report_date")


def line_list(rows):
    return pd.DataFrame(rows, columns=["event", "report"])


def test_small_line_list_cells_and_mask():
    """Hand-counted: events on days 0, 0, 1, 2 reported with delays 0, 2, 1, 0; now = day 2."""
    df = line_list([("2020-01-01", "2020-01-01"), ("2020-01-01", "2020-01-03"),
                    ("2020-01-02", "2020-01-03"), ("2020-01-03", "2020-01-03"),
                    ("2020-01-02", "2020-01-05")])  # reported after now: excluded
    tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                           now="2020-01-03", max_delay=2)
    assert tri.n_periods == 3 and tri.n_excluded_after_now == 1
    c = tri.counts
    assert c[0, 0].tolist() == [1, 0, 1]
    assert c[0, 1].tolist() == [0, 1, None]  # masked, not zero
    assert c[0, 2].tolist() == [1, None, None]
    assert tri.reported[0].tolist() == [2, 1, 1]
    assert tri.complete.tolist() == [True, False, False]
    assert tri.observable.tolist() == [[True] * 3, [True, True, False], [True, False, False]]
    frame = tri.to_frame()
    assert frame.loc["2020-01-03", 1] is pd.NA and frame.loc["2020-01-03", 0] == 1
    inc = tri.increments()
    assert inc["count"].sum() == 4


def test_hus_triangle_matches_counts():
    """Reported by 2011-06-10 for 29 May - 7 Jun, counted directly from the line list."""
    df = load("hus_o104")
    tri = ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=15, **HUS)
    ev = pd.to_datetime(df.hospitalisation_date)
    rep = pd.to_datetime(df.report_date)
    known = df[rep <= "2011-06-10"].groupby("hospitalisation_date").size()
    labels = tri.period_labels
    for day in ("2011-05-29", "2011-06-01", "2011-06-07"):
        assert tri.reported[0, labels.index(day)] == known.get(day, 0)
    assert tri.reported.sum() == int((rep <= "2011-06-10").sum())
    assert tri.n_excluded_after_now == int((rep > "2011-06-10").sum())
    assert tri.start == ev.min()
    assert tri.counts.mask.sum() == sum(range(1, 16))  # the 15 x 16 lower-right triangle


def test_weekly_and_monthly_periods():
    df = line_list([("2020-01-06", "2020-01-20"), ("2020-01-08", "2020-01-09"),
                    ("2020-02-15", "2020-03-01")])
    wk = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                          now="2020-03-02", max_delay=3, period="week",
                                          long_delays="drop")
    assert wk.start == pd.Timestamp("2020-01-06")  # Monday
    assert wk.counts[0, 0].tolist() == [1, 0, 1, 0]
    mo = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                          now="2020-03-31", max_delay=1, period="month")
    assert mo.period_labels == ["2020-01-01", "2020-02-01", "2020-03-01"]
    assert mo.counts[0, 0].tolist() == [2, 0] and mo.counts[0, 1].tolist() == [0, 1]


def test_stratified_line_list():
    df = line_list([("2020-01-01", "2020-01-01"), ("2020-01-01", "2020-01-02")])
    df["region"] = ["b", "a"]
    tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                           now="2020-01-02", max_delay=1, stratum="region")
    assert tri.strata == ("a", "b")
    assert tri.counts[:, 0].tolist() == [[0, 1], [1, 0]]


def test_snapshots_give_range_increments():
    """Two weekly tables: cumulative counts 10 -> 15 for week 0, 3 for week 1 (one snapshot)."""
    snaps = {"2020-01-14": {"2020-01-01": 10, "2020-01-08": 3},
             "2020-01-21": {"2020-01-01": 15, "2020-01-08": 3, "2020-01-15": 1}}
    tri = ReportingTriangle.from_snapshots(snaps, max_delay=4, period="week")
    assert tri.kind == "snapshots" and tri.n_periods == 3
    assert tri.reported[0].tolist() == [15, 3, 1]
    inc = pd.DataFrame(tri.increments())
    assert inc[["period", "d_lo", "d_hi", "count"]].values.tolist() == [
        [0, 0, 1, 10], [0, 2, 2, 5], [1, 0, 0, 3], [1, 1, 1, 0], [2, 0, 0, 1]]
    assert tri.counts.mask[0, 0, 0]  # only a sum over delays 0-1 is known
    with pytest.raises(DataValidationError, match="2020-01-01 decreases at delay 3"):
        ReportingTriangle.from_snapshots(
            {"2020-01-14": {"2020-01-01": 10}, "2020-01-22": {"2020-01-01": 8}},
            max_delay=4, period="week")


def test_single_russian_snapshot():
    w = load("russia_weekly_snapshot")
    tri = ReportingTriangle.from_snapshot(w, period_column="week_start",
                                          count_column="confirmed_deaths",
                                          as_of="2023-11-17", max_delay=26)
    assert tri.reported.sum() == w.confirmed_deaths.sum()
    assert tri.period_labels[0] == "2022-02-24" and tri.n_periods == 88
    assert tri.last_known_delay[87] == 3  # week of 26 Oct 2023 seen 3 weeks later
    assert tri.complete[:60].all() and not tri.complete[-20:].any()


# ----------------------------------------------------------------- validation
def test_report_before_event():
    df = line_list([("2020-01-05", "2020-01-03"), ("2020-01-01", "2020-01-02")])
    with pytest.raises(DataValidationError, match=r"1 records are reported before their event"):
        ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                         now="2020-01-10", max_delay=5)


def test_missing_dates():
    df = line_list([("2020-01-01", None), ("2020-01-01", "2020-01-02")])
    with pytest.raises(DataValidationError, match=r"'report' has 1 missing or unreadable"):
        ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                         now="2020-01-10", max_delay=5)
    with pytest.raises(DataValidationError, match="column 'date' is not in the data"):
        ReportingTriangle.from_line_list(df, event_date="date", report_date="report",
                                         now="2020-01-10", max_delay=5)


def test_dates_outside_window():
    df = line_list([("2020-01-01", "2020-01-02"), ("2020-01-05", "2020-01-06")])
    with pytest.raises(DataValidationError, match=r"1 records have event before start"):
        ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                         now="2020-01-10", max_delay=5, start="2020-01-03")
    with pytest.raises(DataValidationError, match="every event is after now"):
        ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                         now="2019-12-01", max_delay=5)
    with pytest.raises(DataValidationError, match="do not start a week"):
        ReportingTriangle.from_snapshots({"2020-01-22": {"2020-01-01": 1, "2020-01-09": 2}},
                                         max_delay=2, period="week")


def test_max_delay_too_short_says_how_many_records_it_cuts():
    df = load("hus_o104")
    with pytest.raises(DataValidationError, match=r"max_delay=10 days cuts \d+ of 570 records "
                       r"\(their delays reach 15 days\)"):
        ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=10, **HUS)
    tri = ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=10,
                                           long_delays="drop", **HUS)
    assert tri.n_dropped_long > 0
    assert tri.reported.sum() + tri.n_dropped_long == 570
    with pytest.raises(DataValidationError, match="max_delay=-1 is not allowed"):
        ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=-1, **HUS)
    with pytest.raises(DataValidationError, match="period='year' is unknown"):
        ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=3,
                                         period="year", **HUS)  # type: ignore[arg-type]


def test_fingerprint_changes_with_now():
    df = load("hus_o104")
    a = ReportingTriangle.from_line_list(df, now="2011-06-10", max_delay=15, **HUS)
    b = ReportingTriangle.from_line_list(df, now="2011-06-11", max_delay=15, **HUS)
    assert a.fingerprint() != b.fingerprint()
    assert np.array_equal(a.cumulative[:, :, -1][:, :20], b.cumulative[:, :20, -1])
    assert "ReportingTriangle line-list" in repr(a)
