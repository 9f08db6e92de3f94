"""``casualty-models nowcast``: JSON contract with a periods list, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from casualty_models.cli import main


@pytest.fixture
def line_list_csv(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for t in range(12):
        for _ in range(rng.poisson(15)):
            day = pd.Timestamp("2020-03-01") + pd.Timedelta(days=t)
            rows.append((day.date(), (day + pd.Timedelta(days=int(rng.integers(0, 4)))).date()))
    f = tmp_path / "deaths.csv"
    pd.DataFrame(rows, columns=["died", "reported"]).to_csv(f, index=False)
    return f


def test_nowcast_json_periods(capsys, tmp_path, line_list_csv):
    argv = ["nowcast", "--input", str(line_list_csv), "--event-date", "died", "--report-date",
            "reported", "--now", "2020-03-12", "--period", "day", "--max-delay", "3",
            "--coverage", "0.45", "0.65", "--seed", "4", "--draws", "100", "--tune", "100",
            "--chains", "2", "--json", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "Nowcast" and d["seed"] == 4
    assert d["diagnostics"]["divergences"] >= 0
    periods = d["periods"]
    assert [p["period"] for p in periods] == [str(x.date()) for x in
                                              pd.date_range("2020-03-01", "2020-03-12")]
    df = pd.read_csv(line_list_csv)
    known = int((pd.to_datetime(df["reported"]) <= "2020-03-12").sum())  # by the analysis date
    assert sum(p["reported"] for p in periods) == d["observed"] == known
    for p in periods:
        for var in ("eventual", "N"):
            assert set(p[var]) == {"median", "q025", "q975"}
            assert p[var]["q025"] <= p[var]["median"] <= p[var]["q975"]
        assert p["eventual"]["q025"] >= p["reported"]
        assert p["N"]["median"] >= p["eventual"]["median"]
    assert periods[0]["complete"] and not periods[-1]["complete"]
    assert (tmp_path / "out" / "result.nc").exists()
    assert (tmp_path / "out" / "nowcast.png").stat().st_size > 10_000
    assert d["unit"] == "deaths"


def test_nowcast_table_shows_recent_periods_in_full(capsys, tmp_path, line_list_csv):
    """The text output lists every one of the last max-delay + 1 periods (no pandas '...'),
    with reported, eventual and true-count columns; warnings are one line each."""
    argv = ["nowcast", "--input", str(line_list_csv), "--event-date", "died", "--report-date",
            "reported", "--now", "2020-03-12", "--max-delay", "3", "--coverage", "0.45",
            "0.65", "--unit", "burials", "--seed", "4", "--draws", "100", "--tune", "100",
            "--chains", "2"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    table = out[out.index("burials per period"):]
    for day in pd.date_range("2020-03-09", "2020-03-12"):
        assert str(day.date()) in table
    assert "..." not in table
    assert "reported so far" in table and "true burials" in table and "eventual" in table
    lines = [x for x in err.splitlines() if x.startswith("warning:")]
    assert len(lines) == len(set(lines))


@pytest.mark.parametrize(
    ("extra", "match"),
    [(["--max-delay", "1"], "max_delay=1 days cuts"),
     (["--max-delay", "3", "--event-date", "nope"], "column 'nope' is not in the data")],
)
def test_nowcast_errors_are_one_line(capsys, line_list_csv, extra, match):
    argv = ["nowcast", "--input", str(line_list_csv), "--event-date", "died",
            "--report-date", "reported", "--now", "2020-03-12", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_nowcast_needs_data(capsys):
    assert main(["nowcast", "--event-date", "a", "--report-date", "b", "--now", "2020-01-01",
                 "--max-delay", "3"]) == 2
    assert "nowcast needs data" in capsys.readouterr().err
