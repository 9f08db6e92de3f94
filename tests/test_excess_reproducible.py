"""Same seed, same excess draws: across fresh processes, Numba caches and thread layouts.

The Bayesian excess samples a hand-written Numba log density (``_excess_kernel``)
whose machine code is cached on disk.  Each fit here runs in its own process:
the first with an empty Numba cache directory (everything compiled), the second
re-using it (machine code loaded), the third in another empty directory with one
thread instead of two.  The draws (parameters and integer excess) must be
bit-identical.
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
from casualty_models.datasets import load_death_table
from casualty_models.models import _base
from casualty_models.models.excess_bayes import ExcessBayes
with _base.sampling_options(progress=False, cores=int(sys.argv[1])):
    res = ExcessBayes().fit(load_death_table(), regions=["Москва", "Чукотский АО"],
                            draws=100, tune=150, chains=2, random_seed=5)
post = res.posterior
print(json.dumps({"level": post["level"].values.ravel().tolist(),
                  "z_region_age": post["z_region_age"].values.ravel().tolist(),
                  "excess": post["excess"].values.ravel().tolist(),
                  "log_density": [res.tree["sample_stats"].attrs.get("log_density", "")]}))
"""


def _run(cache: str, cores: int) -> dict[str, list]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    env.pop("PYTHONHASHSEED", None)
    out = subprocess.run([sys.executable, "-c", SNIPPET, str(cores)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_same_seed_same_excess_draws_in_fresh_processes(tmp_path):
    a = _run(str(tmp_path / "numba_a"), cores=2)  # cold Numba cache
    b = _run(str(tmp_path / "numba_a"), cores=2)  # warm cache, another process
    c = _run(str(tmp_path / "numba_c"), cores=1)  # another cold cache, one thread
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    assert a["log_density"] == ["numba kernel"]
    assert len(set(a["level"])) > 100 and len(set(a["excess"])) > 100  # real draws
