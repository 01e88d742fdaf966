"""Validation metrics against hand-computed values."""
import numpy as np
import pytest

from ojala_core.metrics import (
    balanced_confusion,
    bias,
    delta_z,
    outlier_fraction,
    purity_completeness_f1,
    regression_summary,
    sigma_nmad,
    sliding_bins,
    weighted_f1,
)


def test_delta_z_is_normalised_by_one_plus_z():
    assert np.allclose(delta_z([1.1, 0.0], [1.0, 0.0]), [0.05, 0.0])


def test_sigma_nmad_of_known_offsets():
    r = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    # median = 0, |r| = [2, 1, 0, 1, 2], median 1 -> 1.48
    assert sigma_nmad(r) == pytest.approx(1.48)
    assert sigma_nmad(r + 5) == pytest.approx(1.48)
    assert bias(r + 5) == pytest.approx(5.0)


def test_outlier_fraction_counts_beyond_0_15():
    assert outlier_fraction([0.0, 0.1, -0.2, 0.16, np.nan]) == pytest.approx(0.5)


def test_regression_summary_ignores_missing_and_reports_outliers_for_redshift():
    s = regression_summary([1.0, 2.0, np.nan], [1.0, 1.0, 1.0], redshift=True)
    assert s["n"] == 2 and s["outlier_fraction"] == pytest.approx(0.5)
    assert s["bias"] == pytest.approx(0.25)


def test_balanced_scores_of_a_hand_made_confusion():
    # true:  A A A A B B   predicted: A A A B B A
    true = np.array(["A", "A", "A", "A", "B", "B"])
    pred = np.array(["A", "A", "A", "B", "B", "A"])
    c = balanced_confusion(true, pred, ["A", "B"])
    assert np.allclose(c, [[0.75, 0.25], [0.5, 0.5]])
    s = purity_completeness_f1(true, pred, ["A", "B"])
    assert s["A"]["completeness"] == pytest.approx(0.75)
    assert s["A"]["purity"] == pytest.approx(0.75 / 1.25)
    assert s["B"]["purity"] == pytest.approx(0.5 / 0.75)
    f1a = 2 * 0.6 * 0.75 / 1.35
    f1b = 2 * (2 / 3) * 0.5 / (2 / 3 + 0.5)
    assert s["A"]["f1"] == pytest.approx(f1a)
    # inverse-frequency weights 1/4 and 1/2
    assert weighted_f1(true, pred, ["A", "B"]) == pytest.approx((f1a / 4 + f1b / 2) / (1 / 4 + 1 / 2))


def test_perfect_classification_scores_one():
    true = np.array(["GALAXY", "STAR", "QSO", "STAR"])
    assert weighted_f1(true, true, ["GALAXY", "STAR", "QSO"]) == pytest.approx(1.0)


def test_sliding_bins_skip_sparse_bins_and_overlap():
    mag = np.r_[np.full(150, 18.0), np.full(50, 20.0)]
    res = np.r_[np.zeros(150), np.ones(50)]
    bins = sliding_bins(mag, bias, res, start=17.7, stop=20.1, step=0.3, half_width=0.3, min_count=100)
    centres = [b[0] for b in bins]
    assert centres == [17.7, 18.0, 18.3]
    assert all(b[1] == 150 and b[2] == 0.0 for b in bins)
