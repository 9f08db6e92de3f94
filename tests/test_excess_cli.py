"""casualty-models excess / registry: JSON contract, tables, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from casualty_models.cli import main

CLI = [sys.executable, "-m", "casualty_models.cli"]


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_classic_json_contract(capsys):
    d = run_json(capsys, ["excess", "--dataset", "rosstat_deaths", "--method", "classic",
                          "--ages", "15-49", "--baseline", "2015", "2019", "--years", "2022",
                          "2023", "--json"])
    assert set(d["years"]) == {"2022", "2023"}
    b = d["years"]["2022"]["excess"]
    assert set(b) == {"estimate", "mean", "sd", "q025", "q975"}
    assert abs(b["estimate"] - 23_594) < 1 and round(b["sd"]) == 1_568
    assert abs(d["years"]["2023"]["excess"]["estimate"] - 40_542) < 1
    assert len(d["by_age"]) == 14 and d["by_age"][0]["age"] == "15-19"
    assert {"age", "year", "excess"} <= set(d["by_age"][0])
    assert d["total"]["excess"]["estimate"] == pytest.approx(
        b["estimate"] + d["years"]["2023"]["excess"]["estimate"])


def test_classic_table_variants_and_regions(capsys, tmp_path):
    assert main(["excess", "--dataset", "rosstat_deaths", "--trend", "log-ratio"]) == 0
    out = capsys.readouterr().out
    assert "2022" in out and "45-49" in out and "22,957" in out
    d = run_json(capsys, ["excess", "--dataset", "rosstat_deaths", "--by-region", "--json",
                          "--out", str(tmp_path)])
    assert len(d["by_region"]) == 85 and d["years"]["2022"]["excess"]["estimate"] is None
    assert "not estimable" in d["status"]
    for f in ("summary.json", "excess.csv", "by_region.csv", "by_region.png"):
        assert (tmp_path / f).stat().st_size > 0
    d2 = run_json(capsys, ["excess", "--dataset", "rosstat_deaths", "--region", "Москва",
                           "Санкт-Петербург", "--pooled", "--ages", "20-24", "25-29", "--json"])
    assert d2["config"]["pooled"] and d2["config"]["ages"] == ["20-24", "25-29"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["--region", "Атлантида"], "unknown region 'Атлантида'"),
     (["--ages", "15-47"], "does not match the table's age groups"),
     (["--baseline", "1980", "1984"], "baseline year 1980 is not in the table"),
     (["--baseline", "2019", "2019"], "one-year baseline window (2019) cannot fit"),
     (["--region", "Республика Крым", "--baseline", "2010", "2013"],
      "baseline year 2010 is missing for 'Республика Крым'")],
)
def test_bad_requests_exit_2_with_one_line(capsys, argv, match):
    assert main(["excess", "--dataset", "rosstat_deaths", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def deaths_file(tmp_path, value):
    rows = ["Region,Year,Age,Gender,Deaths"]
    for y in range(2015, 2024):
        for s in "mf":
            rows.append(f"X,{y},20-24 лет,{s},{value if (y, s) == (2015, 'm') else 10}")
    f = tmp_path / "d.csv"
    f.write_text("\n".join(rows) + "\n")
    return f


@pytest.mark.parametrize(("value", "match"), [("-4", "deaths = -4 for X, 2015"),
                                              ("3.5", "deaths = 3.5 for X, 2015")])
def test_bad_deaths_in_a_file(tmp_path, capsys, value, match):
    assert main(["excess", "--input", str(deaths_file(tmp_path, value)), "--ages",
                 "20-24"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run(CLI + ["excess", "--input", str(deaths_file(tmp_path, "-4")),
                                 "--ages", "20-24"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "deaths = -4" in proc.stderr
