"""Many fits on real engines: a dask.distributed LocalCluster (2 worker processes) and a
local process pool give the same results as a serial run; a killed worker's runs are
retried, or reported with their settings while the other runs are kept."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest

from casualty_models import CaptureTable, TwoList
from casualty_models.parallel import coverage_study, local_executor
from casualty_models.sensitivity import sensitivity

pytestmark = pytest.mark.slow

VALUES = ["median", "mean", "sd", "q025", "q05", "q95", "q975", "seed", "status"]


def _wait_for(paths, timeout):
    t0 = time.monotonic()
    while not all(os.path.exists(p) for p in paths) and time.monotonic() - t0 < timeout:
        time.sleep(0.05)


@dataclass(frozen=True)
class Crashy:
    """A two-list fit whose worker process dies when asked to (to test lost workers).

    Every run that finishes writes ``<folder>/done<tag>``; a run that kills its worker
    first waits until the ordinary runs (tags 0-2) are done, so that only the runs meant
    to die are on a dying worker, whatever the machine's load.  The run that always dies
    also waits (up to 10 s) for the run that dies once to finish its second attempt.
    """

    tag: int = 0
    mode: str = "ok"  # "ok", "die-once" (dies on its first attempt), "die" (every time)
    folder: str = ""

    def config(self) -> dict:
        return {"tag": self.tag, "mode": self.mode}

    def fit(self, table, *, random_seed=None):
        f = self.folder
        if self.mode != "ok":
            _wait_for([os.path.join(f, f"done{i}") for i in range(3)], 60)
        if self.mode == "die-once" and not os.path.exists(os.path.join(f, "died")):
            open(os.path.join(f, "died"), "w").close()
            os._exit(1)
        if self.mode == "die":
            _wait_for([os.path.join(f, "done3")], 10)
            os._exit(1)
        res = TwoList().fit(table, draws=200, chains=1, random_seed=random_seed)
        open(os.path.join(f, f"done{self.tag}"), "w").close()
        return res


def simulate_two_lists(rng):
    """N = 500 people, lists independent with capture probabilities 0.3 and 0.4."""
    n = 500
    a, b = rng.random(n) < 0.3, rng.random(n) < 0.4
    table = CaptureTable.from_mapping({"AB": int((a & b).sum()), "A": int((a & ~b).sum()),
                                       "B": int((~a & b).sum())})
    return table, n


@pytest.fixture(scope="module")
def cluster():
    import cloudpickle
    import distributed

    # the workers cannot import this test module: send its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as lc, \
                distributed.Client(lc) as client:
            yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def pool():
    with local_executor(2) as ex:
        yield ex


def _grid(executor):
    """9 exact under-reporting fits (coverage x pooling) of the Russian list by unit type."""
    from casualty_models import ConfirmedCounts, UnderReporting
    from casualty_models.datasets import load

    df = load("russia_named_list")
    df["unitType"] = df["unitType"].fillna("unknown")
    counts = ConfirmedCounts.from_records(df, stratum="unitType")
    grid = {"coverage": [(0.35, 0.55), (0.45, 0.65), (0.55, 0.75)],
            "pooling": ["shared", "partial", "independent"]}
    return sensitivity(UnderReporting(), counts, grid, executor=executor, random_seed=11,
                       fit_kwargs={"draws": 500, "chains": 2})


def test_same_grid_same_results_on_dask_processes_and_serially(cluster, pool):
    serial = _grid("serial")
    on_dask = _grid(cluster.get_executor())
    on_pool = _grid(pool)
    assert (serial.dataset["status"] == "ok").all()
    for other in (on_dask, on_pool):
        for v in VALUES:
            assert (serial.dataset[v] == other.dataset[v]).all(), v
    # the work really was spread over two worker processes each time
    for other in (on_dask, on_pool):
        assert len(set(other.dataset["worker"].values.ravel())) == 2
    assert on_dask.dataset.attrs["executor"] == "ClientExecutor"


TABLE = {"A": 400, "B": 300, "AB": 100}


@pytest.mark.timeout(300)  # a worker that never comes back must fail the test, not hang CI
@pytest.mark.parametrize("engine", ["dask", "pool"])
def test_killed_workers_runs_are_retried_or_reported_and_others_kept(cluster, engine,
                                                                      tmp_path):
    """Run 3 kills its worker once (retried: ok), run 4 every time (reported as lost)."""
    folder = str(tmp_path)
    runs = [{"tag": i, "mode": "ok", "folder": folder} for i in range(3)]
    runs += [{"tag": 3, "mode": "die-once", "folder": folder},
             {"tag": 4, "mode": "die", "folder": folder}]
    # dask resubmits a dead worker's tasks itself (allowed-failures = 1 here), then the
    # library once more; the pool the library owns is replaced and the lost runs
    # resubmitted once
    ex = cluster.get_executor() if engine == "dask" else 2
    res = sensitivity(Crashy(), CaptureTable.from_mapping(TABLE), runs, executor=ex,
                      retries=1)
    frame = res.to_frame()
    assert (tmp_path / "died").exists()  # the worker did die once
    assert list(frame["status"]) == ["ok", "ok", "ok", "ok", "lost"], frame[
        ["tag", "status", "message"]]
    lost = res.failed.iloc[0]
    assert lost["mode"] == "die" and lost["tag"] == 4
    assert "lost after 2 attempt(s)" in lost["message"]
    assert ("KilledWorker" if engine == "dask" else "BrokenProcessPool") in lost["message"]
    # the retried run equals what it would have been without the crash
    ref = TwoList().fit(CaptureTable.from_mapping(TABLE), draws=200, chains=1,
                        random_seed=int(frame["seed"].iloc[3]))
    assert frame["median"].iloc[3] == float(np.median(ref.draws()))


def test_coverage_study_on_a_process_pool(pool):
    """200 simulated populations with independent lists (the two-list model's assumption
    holds): the 95% interval covers N = 500 at the nominal rate, and the study is the same
    run serially.  Declared false-failure rate: +-4 binomial sd (p < 1e-4)."""
    study = coverage_study(TwoList(), simulate_two_lists, 200, executor=pool, random_seed=4,
                           fit_kwargs={"draws": 1000, "chains": 1})
    assert (study["status"] == "ok").all()
    sd = np.sqrt(0.95 * 0.05 / 200)
    assert abs(study.attrs["coverage"] - 0.95) < 4 * sd, study.attrs["coverage"]
    lo, hi = study.attrs["coverage_interval"]
    assert lo < study.attrs["coverage"] < hi
    serial = coverage_study(TwoList(), simulate_two_lists, 10, executor="serial",
                            random_seed=4, fit_kwargs={"draws": 1000, "chains": 1})
    assert serial[["truth", "median", "q975", "seed"]].equals(
        study[["truth", "median", "q975", "seed"]].iloc[:10])


def test_bma_strata_on_dask_equal_the_serial_fit(cluster):
    import warnings

    from casualty_models import DecomposableBMA
    from casualty_models.datasets import load_capture_table

    sb = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sparse stratum warns, in both fits
        ref = DecomposableBMA().fit(sb, draws=300, random_seed=2)
        res = DecomposableBMA().fit(sb, draws=300, random_seed=2,
                                    executor=cluster.get_executor())
    assert res.tree["constant_data"].to_dataset().equals(
        ref.tree["constant_data"].to_dataset())
    assert (res.posterior["N"] == ref.posterior["N"]).all()


def test_warnings_travel_back_from_dask_workers(cluster):
    """Every run's warnings come back with it, also when one worker runs several runs
    that warn at the same line (the default filter would show only the first)."""
    from casualty_models import ConfirmedCounts, UnderReporting

    res = sensitivity(UnderReporting(), ConfirmedCounts({"a": 100, "b": 0}),
                      {"mass": [0.7, 0.8, 0.9, 0.95]}, executor=cluster.get_executor(),
                      fit_kwargs={"draws": 100, "chains": 1})
    frame = res.to_frame()
    assert (frame["status"] == "ok").all()
    assert frame["warnings"].str.contains("have no confirmed deaths").all(), frame["warnings"]


def test_latent_class_strata_on_dask_equal_the_serial_fit(cluster):
    """Each stratum's seed derives from the base seed and its label, so the strata give
    bit-identical draws on the dask workers and one after another here."""
    import warnings

    from casualty_models import LatentClass
    from casualty_models.datasets import load_capture_table

    sb = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    model = LatentClass(classes=3, parallel=False)
    quick = dict(draws=40, thin=2, burn_in=100, chains=2, random_seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains warn in both fits alike
        ref = model.fit(sb, **quick, progress=False)
        res = model.fit(sb, **quick, executor=cluster.get_executor())
    for v in ("N", "alpha", "prob_missed", "class_sizes", "occupied_classes"):
        assert (res.posterior[v] == ref.posterior[v]).all(), v
    assert res.tree.attrs["stratum_seeds"] == ref.tree.attrs["stratum_seeds"]
