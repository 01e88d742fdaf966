"""BPT and WHAN classification against hand-computed points."""
import numpy as np

from ojala_core.diagnostics import bpt_class, bpt_curve, whan_class


def test_kewley_curve_at_zero_is_hand_computed():
    assert np.isclose(bpt_curve("Ke01", 0.0), 0.61 / (0.0 - 0.47) + 1.19)
    assert np.isclose(bpt_curve("Ka03", -0.5), 0.61 / (-0.55) + 1.30)
    assert np.isnan(bpt_curve("Ke01", 0.6))


def test_bpt_classes_of_textbook_points():
    x = np.array([-0.7, 0.0, 0.1, 0.6, np.nan])
    y = np.array([-0.3, 0.8, 0.1, -1.0, 0.0])
    assert list(bpt_class(x, y)) == ["SF", "AGN", "AGN", "AGN", "UNCLASSIFIED"]


def test_kauffmann_is_stricter_than_kewley_for_composites():
    # A composite: above Ka03 but below Ke01.
    x, y = -0.2, 0.0
    assert bpt_class([x], [y], "Ka03")[0] == "AGN"
    assert bpt_class([x], [y], "Ke01")[0] == "SF"


def test_whan_classes_follow_cid_fernandes_cuts():
    x = np.array([-0.6, -0.2, -0.2, -0.2, 0.0, np.nan])
    ew = np.array([20.0, 20.0, 4.0, 1.0, 6.0, 10.0])
    assert list(whan_class(x, ew)) == ["SF", "SAGN", "WAGN", "PASSIVE", "WAGN", "UNCLASSIFIED"]
