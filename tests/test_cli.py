"""The command line: JSON contract, files written, one-line errors, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from casualty_models.cli import main

CLI = [sys.executable, "-m", "casualty_models.cli"]


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_underreport_json_contract(capsys, tmp_path):
    d = run_json(capsys, ["underreport", "--confirmed", "45287", "--coverage", "0.45", "0.65",
                          "--seed", "1", "--json", "--out", str(tmp_path)])
    assert d["model"] == "UnderReporting" and d["observed"] == 45287 and d["seed"] == 1
    for block in ("N", "N_unobserved"):
        assert set(d[block]) >= {"mean", "median", "q025", "q05", "q95", "q975"}
    assert d["diagnostics"] is None  # exact sampler
    assert d["N"]["q05"] == pytest.approx(69_672, rel=0.01)
    assert d["fixed_multiplier_range"] == pytest.approx([69_672.3, 100_637.8], abs=0.1)
    for f in ("result.nc", "summary.json", "summary.csv", "posterior.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_underreport_strata_from_file(capsys, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("region,n\nnorth,120\nsouth,80\n")
    d = run_json(capsys, ["underreport", "--input", str(f), "--count-column", "n",
                          "--stratum-column", "region", "--draws", "200", "--json"])
    assert set(d["strata"]) == {"north", "south"}
    assert d["strata"]["north"]["observed"] == 120
    d2 = run_json(capsys, ["underreport", "--dataset", "russia_named_list", "--stratum-column",
                           "unitType", "--missing-stratum", "unknown", "--draws", "100",
                           "--json"])
    assert d2["observed"] == 20253 and "unknown" in d2["strata"]


def test_two_list_json_contract(capsys):
    d = run_json(capsys, ["two-list", "--both", "100", "--only-a", "400", "--only-b", "300",
                          "--json"])
    assert d["model"] == "TwoList" and d["observed"] == 800
    assert d["N"]["mean"] == pytest.approx(1995.0, rel=0.01)
    assert d["lincoln_petersen"] == 2000.0
    assert d["chapman"] == pytest.approx(1988.1, abs=0.05)


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["underreport", "--confirmed", "-5"], "negative value -5"),
     (["underreport", "--confirmed", "100", "--coverage", "45", "65"], "rather than 45 65"),
     (["underreport"], "give either --confirmed"),
     (["underreport", "--input", "/no/such.csv"], "does not exist"),
     (["two-list", "--both", "10"], "give --both, --only-a and --only-b"),
     (["mse", "--dataset", "nope"], "unknown dataset 'nope'"),
     (["underreport", "--confirmed", "100", "--seed", "-1"], "--seed=-1 is not allowed"),
     (["mse", "--dataset", "kosovo", "--draws", "0"], "--draws=0 is not allowed")],
)
def test_bad_input_is_one_line_without_traceback(argv, match):
    proc = subprocess.run(CLI + argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert match in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_does_not_import_pymc():
    """--help must answer fast: the CLI may not import PyMC, PyTensor or ArviZ."""
    code = ("import sys; from casualty_models.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('pymc', 'pytensor', 'arviz_base', 'arviz_stats', "
            "'pandas', 'xarray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    proc = subprocess.run(CLI + ["--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "underreport" in proc.stdout


def test_datasets_listing(capsys):
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"kosovo", "gaza", "hus_o104", "russia_named_list"} <= names
    assert all(os.path.exists(r["file"]) and r["citation"] for r in rows)


def test_out_onto_an_existing_file_is_one_line(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    proc = subprocess.run(CLI + ["underreport", "--confirmed", "100", "--out", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "is an existing file: expected a directory" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert target.read_text() == "keep me"  # nothing overwritten


def test_semicolon_csv_on_the_command_line_is_one_line_with_a_hint(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text("A;B;count\n1;0;3\n0;1;2\n1;1;1\n")
    proc = subprocess.run(CLI + ["mse", "--input", str(f)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "semicolon-separated" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_mse_all_models_headlines_the_best_model_by_the_stated_criterion(capsys):
    d = run_json(capsys, ["mse", "--dataset", "kosovo", "--method", "mle", "--all-models",
                          "--json"])
    usable = [m for m in d["models"] if m["status"] == "ok"]
    best = min(usable, key=lambda m: m["AIC"])  # the criterion, applied to the table itself
    assert d["criterion"] == "AIC" and d["best_model"] == best["model"]
    assert d["N"]["estimate"] == pytest.approx(best["N"], rel=1e-9)
    assert d["N"]["estimate"] != pytest.approx(7394.6, abs=1)  # not the independence model
    near = [m["N"] for m in usable if m["AIC"] - best["AIC"] <= 2]
    assert d["N_range_AIC_within_2"] == pytest.approx([min(near), max(near)])
    assert main(["mse", "--dataset", "kosovo", "--method", "mle", "--all-models",
                 "--criterion", "BIC"]) == 0
    text = capsys.readouterr().out
    assert "within 2 AIC points of the best" in text and "within 2 BIC points" in text
    assert "headline: the best model by BIC" in text


def test_mse_bma_gives_one_answer(capsys):
    d = run_json(capsys, ["mse", "--dataset", "kosovo", "--method", "bma", "--draws", "300",
                          "--json"])
    grid = d["grid"]["all"]
    for k in ("median", "q025", "q975"):
        assert d["N"][k] == grid[k]  # the JSON headline is the exact grid, not the draws
    assert main(["mse", "--dataset", "kosovo", "--method", "bma", "--draws", "300"]) == 0
    text = capsys.readouterr().out
    assert "N_total" not in text and "exact grid posterior of N [" not in text
    assert text.count(f"{grid['median']:,.1f}") == 1  # printed once


def test_underreport_plot_labels_say_what_the_band_is(capsys, tmp_path, monkeypatch):
    from casualty_models.results import Results

    figs = []
    plot = Results.plot

    def spy(self, *args, **kwargs):
        figs.append(plot(self, *args, **kwargs))
        return figs[-1]

    monkeypatch.setattr(Results, "plot", spy)
    assert main(["underreport", "--confirmed", "45287", "--coverage", "0.45", "0.65",
                 "--draws", "200", "--out", str(tmp_path)]) == 0
    ax = figs[0].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("fixed-multiplier range C/0.65-C/0.45") for t in legend)
    assert not any("published" in t for t in legend)
    assert "N_total" not in ax.get_title() and "45,287 confirmed" in ax.get_title()
