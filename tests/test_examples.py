"""Every example script runs on shipped data with small settings."""

from __future__ import annotations

import pytest


def test_russia_named_list_example(tmp_path, capsys, load_example):
    ns = load_example("russia_named_list.py")
    out = ns["main"](["--draws", "400", "--chains", "2", "--out", str(tmp_path)])
    single = out["single"].loc["N_total"]
    assert single["q05"] == pytest.approx(69_672, rel=0.03)
    strata = out["strata"]
    assert strata.loc["shared", "width_95"] > strata.loc["independent", "width_95"]
    assert len(out["milestones"]) == 15
    assert (tmp_path / "russia_posterior.png").exists()
    assert (tmp_path / "russia_strata.png").exists()
    assert "fixed multiplier" in capsys.readouterr().out


def test_excess_mortality_example(tmp_path, capsys, load_example):
    ns = load_example("excess_mortality.py")
    out = ns["main"](["--out", str(tmp_path)])
    nat = out["national"].set_index(["method", "year"])["excess"]
    assert abs(nat[("classic (Kobak et al.)", 2022)] - 23_594) < 1
    assert abs(nat[("classic (Kobak et al.)", 2023)] - 40_542) < 1
    assert len(out["national"]) == 8
    assert (tmp_path / "excess_by_region.png").stat().st_size > 0
    assert out["registry"].loc["18-34", "q median"] == pytest.approx(0.6, abs=0.03)
    assert "not estimable" in capsys.readouterr().out
