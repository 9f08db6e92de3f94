from __future__ import annotations

import pytest
from scipy import stats

from casualty_models import BetaPrior, PriorError
from casualty_models.priors import prior_from_dict


@pytest.mark.parametrize(("lo", "hi", "mass"), [(0.45, 0.65, 0.9), (0.1, 0.3, 0.95),
                                                (0.8, 0.99, 0.5)])
def test_from_interval_hits_the_quantiles(lo, hi, mass):
    p = BetaPrior.from_interval(lo, hi, mass)
    q = stats.beta.ppf([(1 - mass) / 2, (1 + mass) / 2], p.alpha, p.beta)
    assert q == pytest.approx([lo, hi], abs=1e-7)
    assert "central" in p.source and str(p).startswith("Beta(")


@pytest.mark.parametrize(
    ("args", "match"),
    [((45, 65), r"low=45\.0 is impossible.*0\.45 0\.65 rather than 45 65"),
     ((0.65, 0.45), r"\[0\.65, 0\.45\] is empty or reversed"),
     ((0.5, 0.5), r"empty or reversed"),
     ((0.0, 0.5), r"low=0\.0 is impossible"),
     ((0.4, 0.6, 1.0), r"mass=1\.0 is impossible"),
     ((0.4, 0.6, 0.0), r"mass=0\.0 is impossible")],
)
def test_impossible_intervals_are_rejected(args, match):
    with pytest.raises(PriorError, match=match):
        BetaPrior.from_interval(*args)


def test_bad_beta_parameters_and_round_trip():
    with pytest.raises(PriorError, match=r"alpha=-1\.0 is not allowed"):
        BetaPrior(-1, 2)
    p = BetaPrior.from_interval(0.45, 0.65)
    assert prior_from_dict(p.to_dict()) == p
    with pytest.raises(PriorError, match=r"unknown prior distribution 'Cauchy'"):
        prior_from_dict({"distribution": "Cauchy"})
