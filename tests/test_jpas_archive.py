"""J-PAS catalogues as downloaded: archive arrays, filter tables, units, errors, flags (issue 13).

The files in tests/data are written by tests/data/make_jpas_archive_files.py from the published
data models; their sources are noise-free, so the expectations are the true numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from ojala_core.filters import jpas_narrow_band_names
from ojala_core.io.jpas import read_jpas_catalogue
from ojala_core.io.jpas_archive import MINIJPAS_FILTERS, filter_table
from ojala_core.io.tables import InputError
from ojala_core.photometry import ab_magnitude

DATA = Path(__file__).resolve().parent / "data"
ARCHIVE = DATA / "minijpas_archive.fits"
TRUE_MAG = [20.8, 19.0, 18.0, 21.5, 22.0, 20.0, 22.5, 19.5]


@pytest.fixture(scope="module")
def archive():
    return read_jpas_catalogue(ARCHIVE, filters="minijpas")


def _snr(phot, band, row=0):
    return phot[f"FNU_{band}"].iloc[row] / phot[f"FNU_{band}_ERR"].iloc[row]


def _ratio(phot, band, row):
    return phot[f"FNU_{band}"].iloc[row] / phot["FNU_iSDSS"].iloc[row]


# Archive layout ---------------------------------------------------------------------------------

def test_the_minijpas_filter_table_starts_with_ujava_and_ends_with_the_broad_bands():
    table = filter_table("minijpas")
    assert len(table) == 60 and table[0] == "uJAVA" and table[1] == "J0378" and table[54] == "J0910"
    assert table[55:] == ("J1007", "uJPAS", "gSDSS", "rSDSS", "iSDSS")
    assert list(table[1:55]) == jpas_narrow_band_names()


def test_array_columns_without_a_named_filter_table_are_refused():
    with pytest.raises(InputError, match=r"minijpas_archive.fits: column 'FLUX_APER_COR_3_0' holds one value per "
                                         r"filter; name the filter table \(--jpas-filters"):
        read_jpas_catalogue(ARCHIVE)


def test_bands_come_from_the_filter_table_not_from_their_position(archive):
    # row 1: J0378 one magnitude brighter, uJAVA (index 0) half a magnitude fainter
    assert _ratio(archive, "J0378", 1) == pytest.approx(10 ** 0.4, rel=1e-5)
    assert _ratio(archive, "J0390", 1) == pytest.approx(1.0, rel=1e-5)
    assert _ratio(archive, "J0910", 1) == pytest.approx(1.0, rel=1e-5)


def test_the_1e19_scale_and_relative_errors_give_the_true_magnitude_and_snr(archive):
    assert archive["MAG_i"].to_numpy() == pytest.approx(TRUE_MAG, abs=1e-3)       # MAG_AUTO[iSDSS]
    assert ab_magnitude(archive["FNU_iSDSS"].to_numpy()) == pytest.approx(TRUE_MAG, abs=1e-3)
    for band in ("J0378", "J0660", "J0910", "iSDSS"):
        assert _snr(archive, band) == pytest.approx(9.0, rel=1e-4)               # not 1358


def test_a_flat_fnu_source_has_every_ratio_one(archive):
    ratios = [_ratio(archive, b, 0) for b in jpas_narrow_band_names()]
    assert np.allclose(ratios, 1.0, rtol=1e-5)


def test_deblended_objects_keep_every_band(archive):
    assert archive["N_NB_OBSERVED"].iloc[3] == 54                                 # FLAGS = 2 everywhere
    assert np.isfinite(archive.iloc[3][[f"FNU_{b}" for b in jpas_narrow_band_names()]].astype(float)).all()


def test_saturated_and_masked_bands_are_missing_and_nothing_else(archive):
    assert np.isnan(archive["FNU_J0660"].iloc[4]) and np.isnan(archive["FNU_J0660_ERR"].iloc[4])   # FLAGS = 4
    assert archive["N_NB_OBSERVED"].iloc[4] == 53                                 # FLAGS = 1 elsewhere: kept
    assert np.isnan(archive["FNU_J0500"].iloc[5]) and np.isnan(archive["FNU_J0500_ERR"].iloc[5])   # MASK_FLAGS
    assert archive["N_NB_OBSERVED"].iloc[5] == 53


def test_a_negative_flux_is_a_missing_value_in_an_observed_band(archive):
    assert np.isnan(archive["FNU_J0400"].iloc[6]) and archive["FNU_J0400_ERR"].iloc[6] > 0
    assert archive["N_NB_OBSERVED"].iloc[6] == 54


def test_the_flags_threshold_is_an_option():
    strict = read_jpas_catalogue(ARCHIVE, filters="minijpas", flags_threshold=1)
    assert strict["N_NB_OBSERVED"].iloc[3] == 0 and strict["N_NB_OBSERVED"].iloc[4] == 0
    assert strict["N_NB_OBSERVED"].iloc[0] == 54


def test_legacy_type_is_read_as_morphtype(archive):
    assert archive["MORPHTYPE"].tolist() == ["PSF", "REX", "EXP", "DEV", "SER", "PSF", "REX", "EXP"]


def test_a_tap_export_with_qualified_lower_case_names_and_array_cells_reads_like_the_fits(archive):
    tap = read_jpas_catalogue(DATA / "minijpas_tap_export.csv", filters="jnep")
    assert tap["JPAS_ID"].tolist() == archive["JPAS_ID"].tolist()[:6]
    for col in ("FNU_J0378", "FNU_J0378_ERR", "FNU_J0660", "FNU_iSDSS", "MAG_i"):
        assert np.allclose(tap[col], archive[col].iloc[:6], rtol=1e-5, equal_nan=True), col
    assert tap["N_NB_OBSERVED"].tolist() == archive["N_NB_OBSERVED"].tolist()[:6]      # [a,b,…] FLAGS cells
    assert tap["MORPHTYPE"].tolist() == archive["MORPHTYPE"].tolist()[:6]              # ls_dr9.tractor.type


def test_a_filter_table_file_reads_like_the_built_in_table(archive):
    from_file = read_jpas_catalogue(ARCHIVE, filters=DATA / "minijpas_filters.txt")
    pd.testing.assert_frame_equal(from_file, archive)


def test_a_filter_hdu_in_the_file_is_its_filter_table(tmp_path):
    """The archive's Filter table (FILTER_ID from 1, NAME) appended as an HDU, rows shuffled: read by FILTER_ID."""
    from astropy.io import fits

    order = np.random.default_rng(0).permutation(len(MINIJPAS_FILTERS))
    with fits.open(ARCHIVE) as hdul:
        hdus = [h.copy() for h in hdul]
    for name, ids in (("with-filters", order + 1), ("bad-filters", np.where(order == 0, 99, order + 1))):
        table = fits.BinTableHDU.from_columns([fits.Column("FILTER_ID", "J", array=ids),
                                               fits.Column("NAME", "6A", array=np.array(MINIJPAS_FILTERS)[order])],
                                              name="FILTER")
        fits.HDUList([*hdus, table]).writeto(tmp_path / f"{name}.fits")
    pd.testing.assert_frame_equal(read_jpas_catalogue(tmp_path / "with-filters.fits"),
                                  read_jpas_catalogue(ARCHIVE, filters="minijpas"))
    with pytest.raises(InputError, match=r"bad-filters.fits: HDU FILTER: FILTER_ID must run 1…60"):
        read_jpas_catalogue(tmp_path / "bad-filters.fits")


def test_a_filter_table_with_an_unknown_name_or_the_wrong_length_is_refused(tmp_path):
    bad = tmp_path / "filters.txt"
    bad.write_text("\n".join(["uJAVA", "J0377", *MINIJPAS_FILTERS[2:]]))
    with pytest.raises(InputError, match=r"filters.txt: unknown filter 'J0377' at index 1"):
        read_jpas_catalogue(ARCHIVE, filters=bad)
    with pytest.raises(InputError, match=r"'FLUX_APER_COR_3_0': 60 values per row, but the filter table has 59"):
        read_jpas_catalogue(ARCHIVE, filters=list(MINIJPAS_FILTERS[1:]))


def test_an_array_cell_of_the_wrong_length_names_its_row(tmp_path):
    lines = (DATA / "minijpas_tap_export.csv").read_text().splitlines()
    lines[4] = lines[4].replace('"', '"1.5 ', 1)            # data row 2: one value too many in the first array
    path = tmp_path / "tap.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"tap.csv: column 'minijpas.magabdualobj.flux_aper_cor_3_0', row 2: "
                                         r"61 values"):
        read_jpas_catalogue(path, filters="minijpas")


def test_a_truncated_archive_file_is_one_clear_error(tmp_path):
    path = tmp_path / "cut.fits"
    path.write_bytes(ARCHIVE.read_bytes()[:9000])
    with pytest.raises(InputError, match="cut.fits"):
        read_jpas_catalogue(path, filters="minijpas")


# Flat layout: units, errors, magnitudes ------------------------------------------------------------

def test_a_declared_1e19_unit_keeps_its_scale():
    phot = read_jpas_catalogue(DATA / "flat_declared_scale.fits")
    assert phot["MAG_i"].to_numpy() == pytest.approx(TRUE_MAG[:6], abs=1e-3)      # not -26.8
    assert _snr(phot, "J0660") == pytest.approx(9.0, rel=1e-6)


def test_a_declared_unit_that_does_not_fit_the_values_is_refused(tmp_path):
    table = Table.read(DATA / "flat_declared_scale.fits")
    for name in table.colnames:
        if name.startswith("APER_COR_3_0_"):
            table[name].unit = "erg/(s cm2 Angstrom)"          # the values are in 1e-19 of it
    path = tmp_path / "no_scale.fits"
    table.write(path)
    with pytest.raises(InputError, match=r"no_scale.fits: column 'APER_COR_3_0_J0378': read as unit '.*' the "
                                         r"fluxes have a median AB magnitude of -27.1; that is not the unit"):
        read_jpas_catalogue(path)


def test_relative_errors_in_relerr_columns_become_absolute():
    phot = read_jpas_catalogue(DATA / "flat_relerr.csv")
    assert [_snr(phot, "J0660", r) for r in range(1)] == pytest.approx([9.0], rel=1e-5)
    assert phot["MAG_i"].to_numpy() == pytest.approx(TRUE_MAG[:6], abs=1e-3)


def test_relative_errors_in_err_columns_are_refused_naming_the_column():
    with pytest.raises(InputError, match=r"flat_relerr_as_err.fits: column 'APER_COR_3_0_J0378_ERR': the errors "
                                         r"fall as the flux rises .* look like relative errors"):
        read_jpas_catalogue(DATA / "flat_relerr_as_err.fits")


def test_an_absurd_snr_is_refused_naming_the_column(tmp_path):
    frame = pd.read_csv(DATA / "flat_relerr.csv")
    frame = frame.rename(columns={c: c.replace("_RELERR", "_ERR") for c in frame.columns})
    for name in [c for c in frame.columns if c.endswith("_ERR")]:
        frame[name] = frame[name.replace("_ERR", "")] * 1e-6
    path = tmp_path / "tiny_errors.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"tiny_errors.csv: column 'APER_COR_3_0_J0378_ERR': the median S/N of "
                                         r"'APER_COR_3_0_J0378' would be 1e\+06"):
        read_jpas_catalogue(path)


def test_unitless_fnu_columns_are_read_as_fnu():
    phot = read_jpas_catalogue(DATA / "flat_fnu_unitless.csv")
    assert _ratio(phot, "J0378", 0) == pytest.approx(1.0, rel=1e-5)              # not 0.246
    assert phot["MAG_i"].iloc[0] == pytest.approx(20.8, abs=1e-3)


def test_unitless_values_that_fit_flambda_and_fnu_alike_are_refused_naming_the_column():
    with pytest.raises(InputError, match=r"flat_ambiguous_unitless.csv: column 'APER_COR_3_0_J0378': cannot tell "
                                         r".*f_lambda in 1e-19 erg/\(s cm2 Angstrom\).*f_nu in nanomaggies"):
        read_jpas_catalogue(DATA / "flat_ambiguous_unitless.csv")


def test_flat_flags_keep_deblended_objects_and_mask_flags_drop_the_band():
    phot = read_jpas_catalogue(DATA / "flat_flags.csv")
    assert phot["N_NB_OBSERVED"].tolist() == [54, 54, 54, 54, 53, 53]
    assert np.isnan(phot["FNU_J0660"].iloc[4]) and np.isnan(phot["FNU_J0500"].iloc[5])
    assert phot["MORPHTYPE"].tolist() == ["PSF", "REX", "EXP", "DEV", "SER", "PSF"]   # lower-case Legacy 'type'


def test_a_nanomaggy_column_named_mag_g_is_refused():
    with pytest.raises(InputError, match=r"flat_nanomaggy_mag_g.csv: column 'MAG_G': .* outside the AB magnitude "
                                         r"range .*row 2 = 63.1"):
        read_jpas_catalogue(DATA / "flat_nanomaggy_mag_g.csv")


def test_a_magnitude_column_declaring_a_flux_unit_is_refused(tmp_path):
    table = Table.read(DATA / "flat_declared_scale.fits")
    table["MAG_G"] = np.array(TRUE_MAG[:6]) - 0.3
    path = tmp_path / "mag_g_unit.fits"
    table.write(path)
    with fits.open(path, mode="update") as hdul:
        hdul[1].header[f"TUNIT{hdul[1].columns.names.index('MAG_G') + 1}"] = "nanomaggy"
    with pytest.raises(InputError, match=r"mag_g_unit.fits: column 'MAG_G': declared unit 'nanomaggy' is not an AB"):
        read_jpas_catalogue(path)


def test_magnitudes_far_from_mag_i_are_refused(tmp_path):
    frame = pd.read_csv(DATA / "flat_relerr.csv")
    frame["MAG_R"] = np.array(TRUE_MAG[:6]) - 7.0               # in range, but not these objects' AB magnitudes
    path = tmp_path / "offset.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"offset.csv: column 'MAG_R': median difference from MAG_i is -7.00 mag"):
        read_jpas_catalogue(path)
    frame["MAG_R"] = np.array(TRUE_MAG[:6]) + 0.2
    frame["MAG_AUTO_iSDSS"] = np.array(TRUE_MAG[:6]) + 6.0
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"column 'MAG_AUTO_iSDSS': median difference from the magnitude of "
                                         r"'APER_COR_3_0_iSDSS' is \+6.00"):
        read_jpas_catalogue(path)


def test_a_parquet_export_with_list_columns_reads_like_the_fits(archive, tmp_path):
    table = Table.read(ARCHIVE)
    frame = pd.DataFrame({c: list(np.asarray(table[c], dtype=float)) if table[c].ndim > 1
                          else np.asarray(table[c]).astype(table[c].dtype.newbyteorder("="))
                          for c in table.colnames})
    frame["TYPE"] = frame["TYPE"].astype(str)
    path = tmp_path / "minijpas.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(read_jpas_catalogue(path, filters="minijpas"), archive, check_dtype=False)
