"""Physical sanity of the tiny synthetic sky (the acceptance checks of the sky issue)."""
import json

import numpy as np
import pandas as pd
import pytest

from ojala_core.diagnostics import bpt_curve
from ojala_core.filters import load_filter
from ojala_core.photometry import ab_magnitude
from ojala_core.sky.build import SKY_FILES
from ojala_core.sky.jpas_system import JPAS_BANDS

C = 2.99792458e18


@pytest.fixture(scope="module")
def truth(tiny_sky):
    return pd.read_parquet(tiny_sky / "truth.parquet")


@pytest.fixture(scope="module")
def jpas(tiny_sky):
    from ojala_core.io.jpas import flat_catalogue

    return flat_catalogue(tiny_sky / SKY_FILES["jpas_catalogue"][0])


def _above_ke01(g):
    x, y = g["LOG_NII_HA"].to_numpy(), g["LOG_OIII_HB"].to_numpy()
    return (x >= 0.47) | (y > np.nan_to_num(bpt_curve("Ke01", x), nan=-np.inf))


def test_star_forming_galaxies_lie_below_kewley_and_agn_above(truth):
    gal = truth[(truth.SPECTYPE == "GALAXY") & np.isfinite(truth.LOG_NII_HA) & np.isfinite(truth.LOG_OIII_HB)]
    pure_sf = gal[(gal.AGN_HA_FRACTION == 0) & (gal.HALPHA_6562_EW > 3)]
    agn_dominated = gal[(gal.AGN_HA_FRACTION > 0.7) & gal.AGN_TYPE.isin(["SEYFERT", "LINER"])]
    assert len(pure_sf) > 300 and len(agn_dominated) > 20
    assert _above_ke01(pure_sf).mean() < 0.02
    assert _above_ke01(agn_dominated).mean() > 0.9


def test_halpha_ew_spans_passive_to_starburst(truth):
    ew = truth.loc[truth.SPECTYPE == "GALAXY", "HALPHA_6562_EW"]
    assert (ew < 3).sum() > 50
    assert (ew > 100).sum() > 50


def test_whan_regions_are_all_populated(truth):
    counts = truth.loc[truth.SPECTYPE == "GALAXY", "WHAN_CLASS"].value_counts()
    for cls in ("PASSIVE", "SF", "SAGN", "WAGN"):
        assert counts.get(cls, 0) >= 20, cls


def test_jpas_narrow_band_5sigma_depth_is_22_to_22_7(jpas):
    depths = []
    for band in JPAS_BANDS[:-1]:
        flux = jpas[f"APER_COR_3_0_{band}"].to_numpy()
        err = jpas[f"APER_COR_3_0_{band}_ERR"].to_numpy()
        faint = np.isfinite(flux) & (flux / err < 10)
        pivot = load_filter(band).pivot_wavelength
        depths.append(np.median(ab_magnitude(5 * err[faint] * pivot ** 2 / C)))
    assert 22.0 <= np.median(depths) <= 22.7
    assert depths[1] > depths[-1]  # blue narrow bands are deeper than the red ones


def test_qso_redshifts_reach_3_5(truth):
    z = truth.loc[(truth.SPECTYPE == "QSO") & truth.IN_DESI, "Z"]
    assert z.max() >= 3.5 and z.min() < 0.6


def test_stellar_teff_spans_late_m_dwarfs_to_hot_stars(truth):
    teff = truth.loc[truth.SPECTYPE == "STAR", "TEFF"]
    assert teff.min() >= 2800 and teff.max() <= 40000
    assert teff.min() < 3000 and teff.max() > 20000


def test_real_minus_synthetic_photometry_is_the_designed_calibration_offset(tiny_sky, truth, jpas):
    system = json.loads((tiny_sky / "jpas" / "real-system.json").read_text())
    pivots = np.array([load_filter(b).pivot_wavelength for b in JPAS_BANDS])
    designed = np.asarray(system["zero_point_offsets"]) + system["tilt_mag_per_1000A"] * (pivots - 6500) / 1000
    # Point sources (stars, QSOs) have no aperture effects: the difference is calibration only.
    merged = jpas.merge(truth[truth.SPECTYPE != "GALAXY"], left_on="NUMBER", right_on="JPAS_NUMBER")
    measured = []
    for band, pivot in zip(JPAS_BANDS, pivots):
        flux = merged[f"APER_COR_3_0_{band}"].to_numpy()
        good = flux / merged[f"APER_COR_3_0_{band}_ERR"].to_numpy() > 20
        real = ab_magnitude(flux[good] * pivot ** 2 / C)
        measured.append(np.median(real - merged.loc[good, f"MAG_SYN_{band}"].to_numpy()))
    measured = np.array(measured)
    assert np.all(np.abs(measured - designed) < 0.03)
    assert 0.01 < np.std(measured) and np.max(np.abs(measured)) < 0.15
