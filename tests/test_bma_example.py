"""The model-averaging example runs on shipped data with small settings."""

from __future__ import annotations


def test_bma_example_quick(tmp_path, capsys, load_example):
    ns = load_example("bma_model_averaging.py")
    out = ns["main"](["--quick", "--draws", "200", "--out", str(tmp_path)])
    ref = out["references"]
    assert (abs(ref["median"] - ref["dga_median"]) <= 1).all()
    assert (abs(ref["q975"] - ref["dga_q975"]) <= 1).all()
    assert out["kosovo_models"].iloc[0]["graph"] == "[EXH,ABA,OSCE][EXH,OSCE,HRW]"
    # a larger prior count per cell favours the saturated model: the estimate collapses
    sens = out["delta_sensitivity"]
    assert sens.loc[1.0, "median"] < sens.loc[1 / 16, "median"]
    assert out["strata"].loc["other", "sparse"]
    assert any("SparseDataWarning" in m for m in out["strata_warnings"])
    assert out["gaza_models"].iloc[0]["graph"] == "[hospital,survey,social_media]"
    assert any("saturated model" in m for m in out["gaza_warnings"])
    assert (tmp_path / "bma_kosovo.png").exists()
    assert "Reproducing dga" in capsys.readouterr().out
