"""The nowcast backtest: per-date seeds, and the same scores serially and on a process pool."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from casualty_models import DataValidationError, Nowcast
from casualty_models.models.nowcast_eval import backtest
from casualty_models.parallel import local_executor, run_seed
from casualty_models.simulate import simulate_line_list

NOWS = ["2020-01-20", "2020-01-24"]
# the default NUTS (nutpie over the nowcast's Numba kernel): the same draws in any process
QUICK = dict(event_date="event", report_date="report", max_delay=3, window=12, lags=(1, 3),
             draws=60, tune=60, chains=1, fit_kwargs={"progress": False})


@pytest.fixture(scope="module")
def line_list():
    """24 days, about 8 reports a day, delays of 0-3 days."""
    pmf = np.tile([0.4, 0.3, 0.2, 0.1], (24, 1))
    df, _, _ = simulate_line_list(np.random.default_rng(1), np.full(24, 8.0), pmf)
    return df


def test_backtest_on_a_pool_equals_the_serial_backtest(line_list):
    """Each analysis date's seed is run_seed(base, {"now": date}): the scores are identical
    on 2 local processes (each builds its own model) and one after another here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # token runs: their convergence is not the point
        serial = backtest(line_list, nows=NOWS, random_seed=4, **QUICK)
        with local_executor(2) as pool:
            pooled = backtest(line_list, nows=NOWS, random_seed=4, executor=pool, **QUICK)
    cols = ["now", "period", "truth", "median", "q025", "q975", "crps", "reported", "seed"]
    pd.testing.assert_frame_equal(serial[cols], pooled[cols])
    assert serial["now"].tolist() == [n for n in NOWS for _ in range(3)]
    assert serial.groupby("now")["seed"].first().to_dict() == {
        n: run_seed(4, {"now": n}) for n in NOWS}


def test_backtest_refuses_repeated_dates(line_list):
    with pytest.raises(DataValidationError, match="an analysis date repeats"):
        backtest(line_list, nows=["2020-01-20", "2020-01-20"], model=Nowcast(), **QUICK)


@pytest.mark.parametrize("executor", [None, "serial"])
def test_a_failed_analysis_date_is_named(line_list, executor):
    """A date with no events in its window cannot be nowcast: one error naming the date."""
    with pytest.raises(DataValidationError, match="now '2019-06-01'"):
        backtest(line_list, nows=["2019-06-01"], executor=executor, **QUICK)
