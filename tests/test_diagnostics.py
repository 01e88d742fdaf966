"""BPT and WHAN classification against hand-computed points."""
import numpy as np

from ojala_core.diagnostics import bpt_class, bpt_curve, whan_class, whan_three_classes


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
    # A caller's passive decision replaces EW < 3 Å (passive needs no [NII]/Hα); the rest split as before.
    passive = np.array([False, False, True, False, False, True])
    assert list(whan_class(x, ew, passive)) == ["SF", "SAGN", "PASSIVE", "WAGN", "WAGN", "PASSIVE"]
    assert whan_class([-0.6], [np.nan], [True])[0] == "UNCLASSIFIED"          # no EW: never passive
    assert list(whan_three_classes(whan_class(x, ew))) == ["SF", "AGN", "AGN", "PASSIVE", "AGN", "UNCLASSIFIED"]


def test_the_passive_threshold_decides_whan_passive_from_the_predictive_probability():
    import pandas as pd

    from ojala_core.vac.columns import derived_columns
    from ojala_core.vocabulary import EW_SCALE_ANGSTROM

    # Three galaxies with EW(Hα) 4 Å (σ wide, σ narrow) and 1 Å, and a star; [NII]/Hα = 0.5 (x = −0.3).
    ew = np.array([4.0, 4.0, 1.0, 4.0])
    sigma_asinh = np.array([1.0, 0.05, 0.05, 1.0])
    pred = pd.DataFrame({"SPECTYPE": ["GALAXY", "GALAXY", "GALAXY", "STAR"], "Z_GAL": 0.1, "Z_GAL_ERR": 0.01,
                         "HALPHA_6562_EW": ew, "HALPHA_6562_EW_ERR": sigma_asinh * EW_SCALE_ANGSTROM * np.cosh(
                             np.arcsinh(ew / EW_SCALE_ANGSTROM)),
                         "NII_6584_EW": ew / 2, "NII_6584_EW_ERR": 0.1, "HALPHA_CONT": 1.0, "HALPHA_CONT_ERR": 0.01})
    mag_i = np.full(4, 19.0)
    by_ew = derived_columns(pred, mag_i, np.zeros(4))
    p = by_ew["P_WHAN_PASSIVE"]
    assert 0.2 < p[0] < 0.45 and p[1] < 1e-6 and p[2] > 1 - 1e-6 and np.isnan(p[3])
    assert list(by_ew["WHAN_CLASS"]) == ["WAGN", "WAGN", "PASSIVE", ""]
    decided = derived_columns(pred, mag_i, np.zeros(4), passive_threshold=0.2)
    assert list(decided["WHAN_CLASS"]) == ["PASSIVE", "WAGN", "PASSIVE", ""]
