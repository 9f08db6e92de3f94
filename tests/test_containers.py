"""Validation at the boundary: every bad input gets a message naming the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from casualty_models import CaptureTable, ConfirmedCounts, DataValidationError
from casualty_models.datasets import list_datasets, load, load_capture_table


def records() -> pd.DataFrame:
    return pd.DataFrame({"A": [1, 1, 0, 1, 0], "B": [0, 1, 1, 1, 1], "s": list("xxyyy")})


def test_from_records_aggregates_patterns_by_stratum():
    t = CaptureTable.from_records(records(), lists=["A", "B"], stratum="s")
    assert t.strata == ("x", "y")
    assert t.pattern_labels == ["01", "10", "11"]
    np.testing.assert_array_equal(t.counts, [[0, 1, 1], [2, 0, 1]])
    np.testing.assert_array_equal(t.observed, [2, 3])
    np.testing.assert_array_equal(t.list_totals, [[2, 1], [1, 3]])


def test_three_constructors_agree():
    m = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    agg = CaptureTable.from_counts(pd.DataFrame({"A": [1, 0, 1], "B": [0, 1, 1],
                                                 "count": [400, 300, 100]}))
    rec = CaptureTable.from_records(pd.DataFrame({"A": [1] * 400 + [0] * 300 + [1] * 100,
                                                  "B": [0] * 400 + [1] * 300 + [1] * 100}),
                                    lists=["A", "B"])
    assert m.fingerprint() == agg.fingerprint() == rec.fingerprint()


def test_mapping_with_named_lists_and_bit_strings():
    t = CaptureTable.from_mapping({"hospital+survey": 5, ("hospital",): 7, "survey": 1},
                                  lists=["hospital", "survey"])
    assert t.pattern_labels == ["01", "10", "11"]
    np.testing.assert_array_equal(t.counts[0], [1, 7, 5])
    t2 = CaptureTable.from_mapping({"110": 3, "001": 2, "011": 1}, lists=["a", "b", "c"])
    assert t2.pattern_labels == ["001", "011", "110"]


def test_dense_fills_unobserved_patterns_with_zeros():
    t = CaptureTable.from_mapping({"A": 4, "AB": 1, "C": 2}, lists=["A", "B", "C"])
    pats, dense = t.dense()
    assert pats.shape == (7, 3)
    assert dense.sum() == 7 and dense.shape == (1, 7)
    assert dense[0, list(map(lambda p: "".join(map(str, p)), pats)).index("110")] == 1


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [3, -1]}), {}, r"negative value -1"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [3, 2.5]}), {}, r"non-integer value 2\.5"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [3, np.nan]}), {}, r"contains nan"),
        (pd.DataFrame({"A": [1, 0, 0], "B": [0, 1, 0], "count": [3, 2, 9]}), {},
         r"all-zero pattern '00'.*remove the all-zero row"),
        (pd.DataFrame({"A": [1, 1], "B": [0, 0], "count": [3, 2]}), {},
         r"duplicate capture pattern '10'"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [3, 2]}), {"lists": ["A", "X"]},
         r"unknown list column\(s\) \['X'\]"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 2], "count": [3, 2]}), {},
         r"list column 'B' has the value 2 at row 2: expected 0"),
        (pd.DataFrame({"A": [1, 1], "B": [0, 0], "C": [0, 1], "count": [3, 2]}), {},
         r"list\(s\) \['B'\] record nobody"),
        (pd.DataFrame({"A": [], "B": [], "count": []}), {}, r"empty \(0 rows\)"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "n": [3, 2]}), {},
         r"column 'count' is not in the capture table.*\['A', 'B', 'n'\]"),
        (pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [0, 0]}), {}, r"all capture counts are zero"),
    ],
)
def test_from_counts_rejects_bad_input(frame, kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        CaptureTable.from_counts(frame, **kwargs)


def test_from_records_rejects_bad_input():
    df = records()
    with pytest.raises(DataValidationError, match=r"2 record\(s\) are on no list"):
        CaptureTable.from_records(pd.concat([df, pd.DataFrame({"A": [0, 0], "B": [0, 0],
                                                               "s": ["x", "x"]})],
                                            ignore_index=True), lists=["A", "B"])
    with pytest.raises(DataValidationError, match=r"stratum column 'zz' is not in the data"):
        CaptureTable.from_records(df, lists=["A", "B"], stratum="zz")
    bad = df.assign(s=[None, "x", "y", "y", "y"])
    with pytest.raises(DataValidationError, match=r"stratum column 's' has 1 missing value"):
        CaptureTable.from_records(bad, lists=["A", "B"], stratum="s")
    with pytest.raises(DataValidationError, match=r"expected at least 2 lists"):
        CaptureTable.from_records(df, lists=["A"])
    with pytest.raises(DataValidationError, match=r"has the value 'yes'"):
        CaptureTable.from_records(df.assign(A=["yes", 1, 0, 1, 0]), lists=["A", "B"])
    with pytest.raises(DataValidationError, match=r"does not exist"):
        CaptureTable.from_csv("/nonexistent/file.csv")


def test_mapping_rejects_bad_input():
    with pytest.raises(DataValidationError, match=r"mapping is empty"):
        CaptureTable.from_mapping({})
    with pytest.raises(DataValidationError, match=r"unknown list\(s\) \['C'\]"):
        CaptureTable.from_mapping({"A": 1, "C": 2}, lists=["A", "B"])
    with pytest.raises(DataValidationError, match=r"non-integer value 1\.5 \(at AB\)"):
        CaptureTable.from_mapping({"A": 1, "AB": 1.5})


def test_confirmed_counts_validation():
    assert ConfirmedCounts(45287).total == 45287
    c = ConfirmedCounts({"a": 3, "b": 4})
    assert c.strata == ("a", "b") and c.counts.shape == (2, 1)
    with pytest.raises(DataValidationError, match=r"negative value -3"):
        ConfirmedCounts(-3)
    with pytest.raises(DataValidationError, match=r"non-integer value 2\.5"):
        ConfirmedCounts([1, 2.5])
    with pytest.raises(DataValidationError, match=r"contains nan"):
        ConfirmedCounts([1, float("nan")])
    with pytest.raises(DataValidationError, match=r"is a str: expected"):
        ConfirmedCounts("12")
    with pytest.raises(DataValidationError, match=r"all confirmed counts are zero"):
        ConfirmedCounts({"a": 0, "b": 0})
    with pytest.raises(DataValidationError, match=r"2 counts were given without stratum labels"):
        ConfirmedCounts([4, 5])
    with pytest.raises(DataValidationError, match=r"is empty"):
        ConfirmedCounts([])
    with pytest.raises(DataValidationError, match=r"found 5 of 3 checked"):
        ConfirmedCounts([10, 20], strata=("a", "b"), audit_found=[5, 1], audit_checked=[3, 4])


def test_confirmed_counts_from_frame_and_records():
    df = pd.DataFrame({"region": ["a", "b", "a", "b"], "month": ["1", "1", "2", "2"],
                       "n": [1, 2, 3, 4]})
    c = ConfirmedCounts.from_frame(df, count="n", stratum="region", period="month")
    np.testing.assert_array_equal(c.counts, [[1, 3], [2, 4]])
    with pytest.raises(DataValidationError, match=r"stratum 'a', period '1' appears more than once"):
        ConfirmedCounts.from_frame(pd.concat([df, df.iloc[:1]]), count="n", stratum="region",
                                   period="month")
    with pytest.raises(DataValidationError, match=r"combinations are missing"):
        ConfirmedCounts.from_frame(df.iloc[:3], count="n", stratum="region", period="month")
    recs = pd.DataFrame({"d": ["2023-01-05", "2023-03-01", "2023-03-02"], "s": ["x", "y", "x"]})
    c2 = ConfirmedCounts.from_records(recs, stratum="s", period="d", freq="M")
    assert c2.periods == ("2023-01-01", "2023-02-01", "2023-03-01")
    np.testing.assert_array_equal(c2.counts, [[1, 0, 1], [0, 0, 1]])
    with pytest.raises(DataValidationError, match=r"unreadable date at row 2"):
        ConfirmedCounts.from_records(recs.assign(d=["2023-01-01", "garbage", None]), period="d")


def test_shipped_datasets_load_with_expected_totals():
    assert set(list_datasets()["name"]) >= {
        "kosovo", "madigan_york", "spina_bifida", "spina_bifida_ethnicity", "gaza",
        "russia_named_list", "russia_milestones", "russia_weekly_snapshot",
        "russia_published_estimates", "hus_o104"}
    expected = {"kosovo": 4400, "madigan_york": 537, "spina_bifida": 626,
                "spina_bifida_ethnicity": 621, "gaza": 29271}
    for name, n in expected.items():
        t = load_capture_table(name)
        assert int(t.observed.sum()) == n, name
        assert load(name).attrs["citation"]
    t = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    assert t.strata == ("afro-american", "caucasian", "other")
    assert len(load("russia_named_list")) == 20253
    assert len(load("hus_o104")) == 630
    with pytest.raises(DataValidationError, match=r"unknown dataset 'nope'"):
        load("nope")
    with pytest.raises(DataValidationError, match=r"not a capture-recapture table"):
        load_capture_table("hus_o104")


def test_from_frame_is_the_one_reader(tmp_path):
    agg = pd.DataFrame({"A": [1, 0, 1, 1], "B": [0, 1, 1, 1], "s": ["x", "x", "x", "y"],
                        "count": [3, 2, 1, 4]})
    t = CaptureTable.from_frame(agg, stratum="s", source="survey 2024")
    assert t.strata == ("x", "y") and t.source == "survey 2024"
    assert t.lists == ("A", "B")  # every other column is a list
    # summed over a column that splits rows but is not wanted as strata
    summed = CaptureTable.from_frame(agg, sum_over="s")
    assert summed.strata == ("all",) and summed.pattern_labels == ["01", "10", "11"]
    np.testing.assert_array_equal(summed.counts, [[2, 3, 5]])
    # no count column: one row per person, lists required
    recs = records()
    assert CaptureTable.from_frame(recs, lists=["A", "B"]).observed.sum() == len(recs)
    with pytest.raises(DataValidationError, match=r"has no count column 'count'.*Fix: pass lists="):
        CaptureTable.from_frame(recs)
    f = tmp_path / "t.csv"
    agg.to_csv(f, index=False)
    assert CaptureTable.from_csv(f, stratum="s").source == f"file:{f}"
    # the shipped datasets go through the same reader and name their source
    assert load_capture_table("spina_bifida_ethnicity").source == "dataset:spina_bifida_ethnicity"


def test_messages_name_the_bad_value_and_count_rows_from_one():
    bad = pd.DataFrame({"A": [1, 0, 1], "B": [0, 1, 1], "count": ["100", "abc", "3"]})
    with pytest.raises(DataValidationError, match=r"contains 'abc' \(at row 2\)"):
        CaptureTable.from_counts(bad)
    neg = pd.DataFrame({"A": [1, 0], "B": [0, 1], "count": [-4, 2]})
    with pytest.raises(DataValidationError, match=r"negative value -4 \(at row 1\)"):
        CaptureTable.from_counts(neg)


def test_counts_are_bounded_to_int64():
    with pytest.raises(DataValidationError, match=r"of at most 9,223,372,036,854,775,807"):
        ConfirmedCounts(10**19)
    with pytest.raises(DataValidationError, match=r"values summing to 10,000,000,000,000,000,000"):
        ConfirmedCounts({"a": 5 * 10**18, "b": 5 * 10**18})
    with pytest.raises(DataValidationError, match=r"the value 1e\+19 \(at AB\)"):
        CaptureTable.from_mapping({"A": 1, "AB": 1e19})
    assert ConfirmedCounts(2**62).total == 2**62  # large but representable: kept exactly


def test_semicolon_separated_csv_gets_a_hint(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text("A;B;count\n1;0;3\n0;1;2\n1;1;1\n")
    with pytest.raises(DataValidationError, match=r"looks semicolon-separated.*sep=';'"):
        CaptureTable.from_csv(f)
