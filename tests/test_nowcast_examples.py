"""Both nowcast example scripts run on shipped data with small settings (slow tier)."""

from __future__ import annotations

import warnings

import pytest

from casualty_models import ConvergenceWarning


@pytest.mark.slow
def test_nowcast_hus_example(tmp_path, capsys, load_example):
    ns = load_example("nowcast_hus.py")
    with warnings.catch_warnings():  # 2 x 200 draws: a smoke run; the example prints r-hat
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = ns["main"](["--draws", "200", "--tune", "200", "--chains", "2", "--out",
                          str(tmp_path)])
    score = out["score"]
    assert len(score) == 10 and score["covered"].sum() >= 9
    assert (tmp_path / "nowcast_hus.png").stat().st_size > 0
    text = capsys.readouterr().out
    assert "surveillance" in text and "mean CRPS" in text


@pytest.mark.slow
def test_russia_weekly_nowcast_example(tmp_path, capsys, load_example):
    ns = load_example("russia_weekly_nowcast.py")
    with warnings.catch_warnings():  # 2 x 150 draws: a smoke run; the example prints r-hat
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = ns["main"](["--draws", "150", "--tune", "200", "--chains", "2", "--out",
                          str(tmp_path)])
    tab = out["periods"]
    assert len(tab) == 88 and out["delay_median"][0] > 5  # milestones: long delays
    # the nowcast only adds deaths, most of them to the recent weeks
    assert (tab["eventual_median"] >= tab["reported"]).all()
    share = tab["reported"] / tab["eventual_median"]
    assert share.iloc[-8:].mean() < share.iloc[:60].mean()  # recent weeks least complete
    # true deaths: above the eventual count by about 1/0.55
    assert (tab["N_median"] > tab["eventual_median"]).all()
    assert (tmp_path / "russia_weekly_nowcast.png").stat().st_size > 0
    assert "delay" in capsys.readouterr().out
