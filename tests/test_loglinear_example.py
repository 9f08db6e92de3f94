"""The log-linear example runs on shipped data with small settings."""

from __future__ import annotations

import pytest


def test_gaza_kosovo_loglinear_example(tmp_path, capsys, load_example):
    ns = load_example("gaza_kosovo_loglinear.py")
    out = ns["main"](["--quick", "--draws", "150", "--chains", "2", "--out", str(tmp_path)])
    models = out["gaza_models"]
    assert len(models) == 8
    assert models.set_index("model").loc["[independence]", "N"] == pytest.approx(66_750,
                                                                                 rel=0.005)
    assert out["gaza_all_two_way"].N_total == pytest.approx(64_696, rel=0.005)
    by_month = out["gaza_by_month"]
    assert "unknown" in by_month.strata  # reported as not estimable, not dropped
    assert by_month.status[by_month.strata.index("unknown")] == "not estimable"
    assert out["kosovo_best"].N_total == pytest.approx(10_356.5, abs=0.5)
    assert out["kosovo_models"].iloc[0]["model"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"
    assert len(out["kosovo_ppc"]) == 25
    for f in ("loglinear_models.png", "gaza_by_month.png", "gaza_models.csv"):
        assert (tmp_path / f).stat().st_size > 0
    text = capsys.readouterr().out
    assert "range over" in text and "not estimable" in text
