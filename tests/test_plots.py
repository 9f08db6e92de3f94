"""Plots fit to publish: readable intervals, thousands separators, units, no internal names."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from casualty_models import ConfirmedCounts, UnderReporting  # noqa: E402
from casualty_models.results import plot_posteriors  # noqa: E402


def _texts(fig) -> list[str]:
    ax = fig.axes[0]
    out = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    out += [t.get_text() for leg in [*fig.legends, ax.get_legend()] if leg for t in leg.get_texts()]
    return out


def _no_overlap(a, b) -> bool:
    return a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0


@pytest.fixture(scope="module")
def single():
    return UnderReporting(coverage=(0.45, 0.65)).fit(45287, draws=2000, chains=2, random_seed=1)


def test_posterior_plot_is_readable(single):
    fixed = (45287 / 0.65, 45287 / 0.45)
    fig = single.plot(published_range=fixed, published_label="fixed-multiplier range")
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = _texts(fig)
    # words, not internal names; the caller's label; the unit on the count axis
    assert not any("N_total" in t or "_" in t for t in texts), texts
    assert ax.get_xlabel().startswith("total deaths")
    assert any(t.startswith("fixed-multiplier range: 69,672 to 100,638") for t in texts), texts
    # thousands separators on the count axis; no density ticks
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all("," in t for t in ticks), ticks
    assert list(ax.get_yticks()) == []
    # one histogram in two opaque colours (inside/outside the 95% interval): no translucent
    # bands overlapping into a third colour; the fixed range is a line (a bracket)
    colours = {to_hex(p.get_facecolor()) for p in ax.patches}
    assert len(colours) == 2 and all(p.get_alpha() in (None, 1.0) for p in ax.patches)
    assert "fixed-multiplier range" in " ".join(ln.get_label() for ln in ax.get_lines())
    # the legend sits outside the data
    assert fig.legends and _no_overlap(fig.legends[0].get_window_extent(),
                                       ax.get_window_extent())
    plt.close(fig)


def test_plot_into_a_given_axes_and_by_stratum():
    res = UnderReporting(pooling="shared").fit({"north": 1200, "south": 800}, draws=500,
                                               chains=2, random_seed=2)
    fig, ax = plt.subplots()
    res.plot("N", stratum="north", ax=ax, unit="people")
    fig.canvas.draw()
    assert ax.get_xlabel().startswith("people (stratum north)")
    assert any(t.get_text() == "observed 1,200" for t in ax.get_legend().get_texts())
    assert _no_overlap(ax.get_legend().get_window_extent(), ax.get_window_extent())
    plt.close(fig)


def test_several_posteriors_on_one_axis():
    counts = ConfirmedCounts({f"r{i}": 900 + 100 * i for i in range(5)})
    fits = {p: UnderReporting(pooling=p).fit(counts, draws=1000, chains=2, random_seed=3)
            for p in ("shared", "independent")}
    fig = plot_posteriors(fits, observed=counts.total)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert list(ax.get_yticks()) == []
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all("," in t for t in ticks), ticks
    texts = _texts(fig)
    assert any(t.startswith("shared: median ") for t in texts)
    assert not any("N_total" in t for t in texts)
    assert _no_overlap(fig.legends[0].get_window_extent(), ax.get_window_extent())
    plt.close(fig)


def test_loglinear_mle_plot():
    from casualty_models import LogLinear
    from casualty_models.datasets import load_capture_table

    fit = LogLinear(["EXH:ABA:OSCE", "EXH:HRW", "OSCE:HRW"]).fit_mle(load_capture_table("kosovo"))
    fig = fit.plot(published_range=(9_000, 12_000), published_label="another estimate")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "total deaths"
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert all("," in t for t in ticks if len(t.replace(",", "")) > 3), ticks
    assert any("," in t for t in ticks), ticks
    assert not ax.patches  # the range is a bracket (a line), not a shaded band
    assert any(t.get_text() == "another estimate: 9,000 to 12,000" for t in fig.legends[0].get_texts())
    assert _no_overlap(fig.legends[0].get_window_extent(), ax.get_window_extent())
    plt.close(fig)


def test_loglinear_mle_plot_never_draws_a_missing_number():
    """A stratum with nobody on two lists has no estimate (NaN, interval [observed, inf]),
    nor then has the total: the plot says 'not estimable' for both, and draws no number."""
    import warnings

    import pandas as pd

    from casualty_models import CaptureTable, LogLinear

    df = pd.DataFrame({"A": [1, 0, 1, 1], "B": [0, 1, 1, 0], "count": [400, 300, 100, 5],
                       "region": ["a", "a", "a", "b"]})
    table = CaptureTable.from_counts(df, lists=["A", "B"], stratum="region")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = LogLinear([]).fit_mle(table)
    assert fit.status[1] == "not estimable"
    fig = fit.plot()
    ax = fig.axes[0]
    texts = [t.get_text().strip() for t in ax.texts]
    assert texts.count("not estimable") == 2  # stratum b and the total
    dots = ax.containers[0].lines[0].get_xydata()  # the error bars' estimates
    assert len(dots) == 1 and dots[0][0] == pytest.approx(fit.N[0])  # stratum a only
    plt.close(fig)


def test_unbounded_total_is_drawn_as_unbounded():
    """A grid that leaves a third of Kosovo's posterior beyond it: the plot's interval says
    'unbounded' and the axis label gives the mass beyond, never a truncated finite end."""
    import warnings

    from casualty_models import DecomposableBMA
    from casualty_models.datasets import load_capture_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = DecomposableBMA(n_max=9000).fit(load_capture_table("kosovo"), draws=400,
                                               random_seed=1)
    fig = res.plot()
    texts = _texts(fig)
    assert any(t.startswith("95% interval: ") and t.endswith(" to unbounded") for t in texts)
    assert "of the posterior lies beyond the grid (the total is unbounded)" in \
        fig.axes[0].get_xlabel()
    plt.close(fig)
