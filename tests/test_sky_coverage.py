"""The tiny sky covers what a J-PAS × DESI field holds (issue 14): faint labelled stars, late M
dwarfs to hot stars and white dwarfs, low-z galaxies, low-z QSOs, compact galaxies Legacy calls
PSF, QSOs it calls extended, and J-PAS rows without a Legacy MORPHTYPE.

Read from the files as written (truth table, FITS catalogue), not through the project's readers.
"""
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits


@pytest.fixture(scope="module")
def truth(tiny_sky):
    return pd.read_parquet(tiny_sky / "truth.parquet")


def test_labelled_and_jpas_only_stars_reach_i_22(truth):
    stars = truth[truth["SPECTYPE"] == "STAR"]
    labelled = stars[stars["POPULATION"].isin(["MWS", "FAINT_STAR"])]
    assert labelled["MAG_SYN_iSDSS"].max() > 22.0 and labelled["MAG_SYN_iSDSS"].min() < 16.0
    assert (labelled["MAG_SYN_iSDSS"] > 21.0).sum() >= 30            # Test-Real (i < 21 cut aside) sees them
    assert stars.loc[stars["POPULATION"] == "JPAS_STAR", "MAG_SYN_iSDSS"].max() > 22.0


def test_stars_span_late_m_dwarfs_to_hot_stars_and_white_dwarfs(truth):
    stars = truth[truth["SPECTYPE"] == "STAR"]
    assert stars["TEFF"].min() < 3000.0 and (stars["TEFF"] < 3000.0).sum() >= 5
    assert stars["TEFF"].max() > 30000.0 and (stars["TEFF"] > 20000.0).sum() >= 3
    white_dwarfs = stars[stars["STELLAR_STAGE"] == "white_dwarf"]
    assert len(white_dwarfs) >= 5 and (white_dwarfs["LOGG"] >= 7.0).all() and white_dwarfs["FEH"].isna().all()
    giants = stars[stars["STELLAR_STAGE"] == "giant_branch"]
    assert len(giants) >= 30 and giants["LOGG"].min() < 1.5


def test_galaxies_start_at_low_redshift(truth):
    galaxies = truth[truth["SPECTYPE"] == "GALAXY"]
    assert (galaxies["Z"] < 0.1).mean() > 0.03 and galaxies["Z"].min() < 0.05
    bgs = galaxies[galaxies["POPULATION"] == "BGS"]
    assert 0.15 < bgs["Z"].median() < 0.25


def test_qsos_below_z_1_and_the_ones_legacy_sees_extended(truth):
    qsos = truth[truth["SPECTYPE"] == "QSO"]
    assert (qsos["Z"] < 1.0).sum() >= 20 and (qsos["Z"] < 0.5).sum() >= 3
    extended = (qsos["MORPHTYPE"] != "PSF") & (qsos["MAG_SYN_DECam_r"] < 22.0)   # fainter: fitting noise
    assert extended.sum() >= 2 and qsos.loc[extended, "Z"].max() < 1.0      # their hosts make them so
    assert extended.sum() < 0.5 * (qsos["Z"] < 1.0).sum()                   # a minority of the low-z ones


def test_compact_galaxies_are_psf_and_some_faint_point_sources_are_not(truth):
    galaxies = truth[truth["SPECTYPE"] == "GALAXY"]
    assert (galaxies["MORPHTYPE"] == "PSF").sum() >= 10
    stars = truth[truth["SPECTYPE"] == "STAR"]
    rex = stars["MORPHTYPE"] == "REX"
    assert rex.sum() >= 3 and stars.loc[rex, "MAG_SYN_DECam_r"].min() > 22.0


def test_some_jpas_rows_have_no_legacy_morphtype(tiny_sky):
    with fits.open(tiny_sky / "jpas" / "jpas-catalogue.fits") as hdul:
        table = hdul["JPAS"].data
        morphtype = np.char.strip(np.asarray(table["MORPHTYPE"]).astype(str))
        mag_r = np.asarray(table["MAG_R"], float)
    missing = morphtype == ""
    assert 0.02 < missing.mean() < 0.10
    assert np.all(mag_r[missing] == 99.0)                      # no counterpart: no Legacy photometry either
