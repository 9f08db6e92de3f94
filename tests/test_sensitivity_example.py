"""The sensitivity example runs on shipped data with small settings, in this process."""

from __future__ import annotations


def test_sensitivity_example_quick(tmp_path, capsys, load_example):
    ns = load_example("sensitivity_grids.py")
    out = ns["main"](["--quick", "--workers", "1", "--out", str(tmp_path)])
    russia = out["russia"].dataset
    # lower assumed coverage, more deaths, whatever the pooling
    med = russia["median"].transpose("pooling", "coverage").values
    assert (med[:, 0] > med[:, 1]).all() and (med[:, 1] > med[:, 2]).all()
    # the BMA delta loop: delta = 1 favours the saturated model and N collapses
    delta = out["kosovo_delta"].to_frame().set_index("delta")["median"]
    assert delta[1.0] < 0.5 * delta[1 / 16]
    # the log-linear grid holds the 8 best models of all_models, best first
    inter = out["kosovo_interactions"].to_frame()
    assert len(inter) == 8 and inter["AIC"].iloc[0] == inter["AIC"].min()
    gaza = out["gaza"].dataset
    assert set(gaza.sizes) == {"interactions", "stratum"} and gaza.sizes["interactions"] == 4
    assert (tmp_path / "sensitivity_russia.png").exists()
    assert (tmp_path / "sensitivity_gaza.png").exists()
    assert "Gaza by governorate" in capsys.readouterr().out
