"""Same seed, same draws: whatever the PyTensor compile cache and the thread layout.

Under-reporting, the nowcast and the log-linear model (each over its Numba kernel, cached
in NUMBA_CACHE_DIR) are fitted in every process.

Each fit runs in its own process with its own, fresh PyTensor compile directory, so one
compiles from scratch while the other ... also does, but in a different directory and
process (hash seeds differ too); a third run re-uses the first directory (warm cache).
The draws must be bit-identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SNIPPET = r"""
import json, sys
import warnings
import casualty_models as cm
import casualty_models.datasets
warnings.simplefilter("ignore")
cores = int(sys.argv[1])
counts = cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"),
                            audit_found=[180, 0, 40], audit_checked=[200, 0, 60])
from casualty_models.models import _base
with _base.sampling_options(progress=False, cores=cores):
    res = cm.UnderReporting(pooling="partial").fit(counts, draws=200, tune=200, chains=2,
                                                   random_seed=11)
    # the nowcast samples a hand-written Numba kernel (cached on disk: NUMBA_CACHE_DIR)
    tri = cm.ReportingTriangle.from_line_list(
        cm.datasets.load("hus_o104"), event_date="hospitalisation_date",
        report_date="report_date", now="2011-06-10", max_delay=15)
    now = cm.Nowcast().fit(tri, draws=200, tune=200, chains=2, random_seed=5)
    ll = cm.LogLinear(["hospital:survey"]).fit(
        casualty_models.datasets.load_capture_table("gaza"), draws=200, tune=200, chains=2,
        random_seed=3)
post = res.posterior
print(json.dumps({"coverage": post["coverage"].values.ravel().tolist(),
                  "N": post["N"].values.ravel().tolist(),
                  "nowcast": now.posterior["eventual"].values.ravel().tolist(),
                  "nowcast_pmf": now.posterior["delay_pmf"].values.ravel().tolist(),
                  "loglinear": ll.posterior["beta"].values.ravel().tolist(),
                  "nuts_sampler": [res.tree.attrs["nuts_sampler"]]}))
"""


def _run(compiledir: str, cores: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}",
               NUMBA_CACHE_DIR=f"{compiledir}/numba_kernels")
    env.pop("PYTHONHASHSEED", None)
    out = subprocess.run([sys.executable, "-c", SNIPPET, str(cores)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_same_seed_same_draws_across_compile_caches_and_threads(tmp_path):
    a = _run(str(tmp_path / "cache_a"), cores=2)  # cold cache, two threads
    b = _run(str(tmp_path / "cache_b"), cores=1)  # another cold cache, one thread
    c = _run(str(tmp_path / "cache_a"), cores=2)  # warm cache
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    assert a["nuts_sampler"] == ["nutpie"]
    assert len(set(a["coverage"])) > 100  # real draws, not a constant
    assert len(set(a["loglinear"])) > 100
