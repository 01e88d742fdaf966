"""DESI DR1 files as downloaded: one row per target from the primary (SURVEY, PROGRAM), gates counted.

The files in tests/data/desi_dr1/ are written by tests/data/make_desi_dr1_files.py from the
published data models (its docstring lists the cases); each case ends in the right numbers or
one clear refusal.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from ojala_core.cli import build_parser
from ojala_core.io.desi import (
    CoaddIndex,
    Footprint,
    RedshiftCuts,
    expand_paths,
    iter_coadd_files,
    primary_coadd_rows,
    read_redshift_catalogue,
)
from ojala_core.io.desi_vacs import read_vac
from ojala_core.io.tables import InputError
from ojala_core.mocks.build import MockInputs, build_mocks
from ojala_core.mocks.tokens import label_tokens

_spec = importlib.util.spec_from_file_location("make_desi_dr1_files",
                                               Path(__file__).parent / "data" / "make_desi_dr1_files.py")
_generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_generator)
IDS, OUT = _generator.IDS, _generator.OUT
ZALL = OUT / "zall-pix-iron-small.fits"
FIELD = Footprint.around([150.0, 150.2], [2.0, 2.2], 1.0)


@pytest.fixture(scope="module")
def zcat():
    return read_redshift_catalogue(ZALL, footprint=FIELD)


def _row(frame, name):
    rows = frame[frame["TARGETID"] == IDS[name]]
    assert len(rows) <= 1
    return rows.iloc[0] if len(rows) else None


def test_the_redshift_catalogue_keeps_each_targets_primary_row_with_its_survey_and_program(zcat):
    assert zcat["TARGETID"].is_unique
    g1 = _row(zcat, "G1")
    assert (g1["SURVEY"], g1["PROGRAM"], g1["Z"]) == ("main", "dark", pytest.approx(0.1000))
    assert (_row(zcat, "Q1")["SURVEY"], _row(zcat, "S1")["SURVEY"]) == ("main", "main")


def test_the_redshift_catalogue_is_cut_to_the_footprint_the_same_in_any_chunking():
    counts = {}
    whole = read_redshift_catalogue(ZALL, footprint=FIELD, counts=counts)
    chunked = read_redshift_catalogue(ZALL, footprint=FIELD, chunk_rows=3)
    assert _row(whole, "FAR1") is None
    assert counts == {"rows_read": 14, "outside_footprint": 1, "not_zcat_primary": 3}
    pd.testing.assert_frame_equal(whole, chunked)


def test_a_field_across_ra_zero_is_one_small_box():
    box = Footprint.around([359.9, 0.1], [0.0, 0.1], 1.0)
    assert box.contains([0.0, 359.95], [0.05, 0.05]).all()
    assert not box.contains([180.0], [0.05]).any()


def test_good_redshift_cuts_remove_the_labels_of_the_targets_they_fail(zcat):
    counts = {}
    cut = read_redshift_catalogue(ZALL, footprint=FIELD, counts=counts,
                                  cuts=RedshiftCuts(min_deltachi2=25, fiberstatus_zero=True, objtype_tgt=True))
    failed = set(cut.loc[cut["ZWARN"] != 0, "TARGETID"])
    assert failed == {IDS["G4"], IDS["SKY1"]}
    assert (counts["cut_DELTACHI2"], counts["cut_COADD_FIBERSTATUS"], counts["cut_OBJTYPE"]) == (1, 1, 0)


def test_a_good_z_cut_on_a_column_the_file_lacks_is_refused(tmp_path):
    with fits.open(ZALL) as hdul:
        table = hdul["ZCATALOG"]
        cols = fits.ColDefs([c for c in table.columns if c.name != "DELTACHI2"])
        path = tmp_path / "zall-no-deltachi2.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="ZCATALOG")]).writeto(path)
    with pytest.raises(InputError, match=r"zall-no-deltachi2.fits: missing column 'DELTACHI2'"):
        read_redshift_catalogue(path, cuts=RedshiftCuts(min_deltachi2=25))


def test_a_target_in_two_coadds_is_read_from_its_primary_one(zcat):
    files = [OUT / "coadd-main-bright-10000.fits", OUT / "coadd-main-dark-10000.fits"]
    for order in (files, files[::-1]):
        _, flux, _ = CoaddIndex(order, primary=zcat).spectrum(IDS["G1"])
        assert np.allclose(flux, 2.0)          # the main/dark file, primary in the zall catalogue
    blocks = {b.survey_program: b for b in iter_coadd_files(files)}
    rows = pd.Series(np.arange(len(zcat)), index=zcat["TARGETID"])
    keep = {sp: primary_coadd_rows(b, zcat, rows.reindex(b.targetid).to_numpy()).tolist() for sp, b in blocks.items()}
    assert keep == {("main", "dark"): [True], ("main", "bright"): [False]}


def test_cigale_dr1_takes_the_primary_row_and_gates_failed_fits_and_bad_pdfs(zcat):
    counts = {}
    cg = read_vac(OUT / "IronPhysProp-small.fits", "cigale", primary=zcat, counts=counts)
    g1, g2, g3 = (_row(cg, n) for n in ("G1", "G2", "G3"))
    assert (g1["LOGM"], g1["LOGM_ERR"], g1["LOGSFR"]) == (10.5, 0.1, 0.5)
    assert np.isnan([g2["LOGM"], g2["LOGSFR"], g2["LOGM_ERR"]]).all()        # LOGM = LOGSFR = 0: failed fit
    assert np.isnan(g3["LOGM"]) and g3["LOGSFR"] == 1.0                       # FLAG_MASSPDF 0.1 outside (0.2, 5)
    assert counts["layout"] == "IronPhysProp (DR1)"
    assert (counts["not_primary"], counts["failed_fit"], counts["bad_FLAG_MASSPDF"], counts["bad_FLAG_SFRPDF"]) == \
        (1, 1, 1, 0)


def _edited(src, dst, edit):
    """A copy of the FITS file `src` at `dst` with `edit(table_hdus_by_name)` applied."""
    with fits.open(src) as hdul:
        hdus = [h.copy() for h in hdul]
    edit({h.name: h for h in hdus})
    fits.HDUList(hdus).writeto(dst)
    return dst


def test_cigale_masses_declared_in_solar_masses_become_log10_with_their_errors(zcat, tmp_path):
    def linear(h):
        data, cols = h["DATA"].data, h["DATA"].columns
        ok = data["LOGM"] > 0
        data["LOGM_ERR"] = np.where(ok, data["LOGM_ERR"] * np.log(10) * 10.0 ** data["LOGM"], 0.0)
        data["LOGM"] = np.where(ok, 10.0 ** data["LOGM"], 0.0)
        cols["LOGM"].unit, cols["LOGM_ERR"].unit = "solMass", "solMass"

    path = _edited(OUT / "IronPhysProp-small.fits", tmp_path / "IronPhysProp-linear.fits", linear)
    g1 = _row(read_vac(path, "cigale", primary=zcat), "G1")
    assert (g1["LOGM"], g1["LOGM_ERR"]) == pytest.approx((10.5, 0.1))


def test_cigale_masses_in_solar_masses_without_a_unit_are_refused_naming_the_column(zcat, tmp_path):
    def linear(h):
        data = h["DATA"].data
        data["LOGM"] = np.where(data["LOGM"] > 0, 10.0 ** data["LOGM"], 0.0)

    path = _edited(OUT / "IronPhysProp-small.fits", tmp_path / "IronPhysProp-linear.fits", linear)
    with pytest.raises(InputError, match=r"IronPhysProp-linear.fits: column 'LOGM': median .* is not a plausible "
                                         r"LOGM in log10 solMass .* values in M☉ rather than log10"):
        read_vac(path, "cigale", primary=zcat)


def test_zcat_fluxes_declared_in_microjansky_are_read_as_nanomaggies(tmp_path):
    def microjansky(h):
        cols = h["ZCATALOG"].columns
        h["ZCATALOG"].data["FLUX_G"] *= 3.631              # 1 nanomaggy = 3.631 µJy
        h["ZCATALOG"].data["FLUX_IVAR_G"] /= 3.631 ** 2
        cols["FLUX_G"].unit, cols["FLUX_IVAR_G"].unit = "uJy", "uJy-2"

    path = _edited(ZALL, tmp_path / "zall-ujy.fits", microjansky)
    frame = read_redshift_catalogue(path, footprint=FIELD)
    # 1e-4: the AB zero point 48.60 is 3630.8 Jy, not 3631
    assert frame["FLUX_G"].to_numpy() == pytest.approx(10.0, rel=1e-4)
    assert frame["FLUX_IVAR_G"].to_numpy() == pytest.approx(25.0, rel=2e-4)


def test_a_single_implausible_label_becomes_missing_and_is_counted(zcat, tmp_path):
    def hot(h):
        h["RVTAB"].data["TEFF"][1] = 250_000.0            # S1's primary row: no star is this hot

    counts = {}
    mws = read_vac(_edited(OUT / "mwsall-pix-iron-small.fits", tmp_path / "mws-hot.fits", hot), "mws",
                   primary=zcat, counts=counts)
    s1 = _row(mws, "S1")
    assert np.isnan([s1["TEFF"], s1["TEFF_ERR"]]).all() and s1["LOGG"] == 4.4
    assert counts["out_of_range"] == 1


def test_mws_rvtab_takes_the_primary_row_and_gates_success_and_rvs_warn(zcat):
    counts = {}
    mws = read_vac(OUT / "mwsall-pix-iron-small.fits", "mws", primary=zcat, counts=counts)
    s1, s2, s3, s4 = (_row(mws, n) for n in ("S1", "S2", "S3", "S4"))
    assert (s1["TEFF"], s1["TEFF_ERR"], s1["FEH"]) == (5800.0, 50.0, -0.2)
    assert np.isnan([s2["TEFF"], s2["LOGG_ERR"], s3["FEH"]]).all()
    assert s4["TEFF"] == 6000.0
    assert (counts["not_primary"], counts["success_false"], counts["rvs_warn"]) == (1, 1, 1)


def test_mws_ferre_values_take_their_errors_from_the_covar_diagonal_matched_to_rvtab(zcat):
    counts = {}
    mws = read_vac(OUT / "mwsall-pix-iron-small.fits", "mws", primary=zcat, counts=counts, mws_pipeline="ferre")
    s1, s4 = _row(mws, "S1"), _row(mws, "S4")
    assert (s1["TEFF"], s1["LOGG"], s1["FEH"], s1["ALPHAFE"]) == (5750.0, 4.3, -0.25, 0.06)   # main/bright row
    assert (s1["TEFF_ERR"], s1["LOGG_ERR"], s1["FEH_ERR"], s1["ALPHAFE_ERR"]) == pytest.approx((40, 0.08, 0.04, 0.03))
    assert np.isnan([s4["TEFF"], s4["TEFF_ERR"]]).all() and s4["LOGG"] == 4.2       # TEFF -9999: a sentinel
    assert (counts["not_primary"], counts["sentinel_values"]) == (1, 1)


def test_mws_without_a_redshift_catalogue_uses_its_primary_column():
    mws = read_vac(OUT / "mwsall-pix-iron-small.fits", "mws")
    assert mws["TARGETID"].is_unique and _row(mws, "S1")["TEFF"] == 5800.0


def test_mg_ii_masses_are_vo09_by_default_and_the_estimator_is_an_option(zcat):
    path = OUT / "bhmass-small.fits"
    q1 = _row(read_vac(path, "bhmass", primary=zcat), "Q1")
    assert (q1["LOGMBH"], q1["LOGMBH_ERR"]) == (8.5, 0.3)
    assert _row(read_vac(path, "bhmass", primary=zcat, bh_estimator="DAS_S11"), "Q1")["LOGMBH"] == 8.7
    with pytest.raises(InputError, match=r"bhmass-small.fits: HDU BHMASS: missing columns 'LOGMASS_DAS_X'"):
        read_vac(path, "bhmass", bh_estimator="DAS_X")


def test_fastspecfit_healpix_files_by_glob_keep_only_the_primary_rows(zcat):
    counts = {}
    fsf = read_vac(str(OUT / "fastspec-iron-main-*-nside1-hp*.fits"), "fastspec", primary=zcat, counts=counts)
    assert fsf["TARGETID"].tolist() == [IDS["G1"], IDS["G2"]]
    assert fsf["HALPHA_EW"].tolist() == [50.0, 5.0]                           # G1 from main/dark, not 10 Å
    assert (counts["rows_read"], counts["not_primary"]) == (4, 2)              # G1 and G3 from main/bright


def test_fastspecfit_continua_are_reddened_back_with_the_catalogues_ebv(zcat):
    fsf = read_vac(str(OUT / "fastspec-iron-main-*-nside1-hp*.fits"), "fastspec", primary=zcat).set_index("TARGETID")
    g1 = zcat[zcat["TARGETID"] == IDS["G1"]].reset_index(drop=True)       # Z = 0.1, EBV = 0.02
    # Hand value: F99 (R_V 3.1) A/A_V = 0.655 at 6562.8 Å × 1.1, so A = 0.655 × 3.1 × 0.02 = 0.0406 mag.
    reddened = label_tokens(g1, {"fastspec": fsf}, np.array([1.0]))["HALPHA_CONT"][0]
    assert reddened == pytest.approx(2.0 * 10 ** (-0.4 * 0.0406), rel=1e-3)
    assert label_tokens(g1.drop(columns="EBV"), {"fastspec": fsf}, np.array([1.0]))["HALPHA_CONT"][0] == 2.0


def test_a_vac_of_no_known_layout_names_the_file_and_what_is_missing(tmp_path):
    path = tmp_path / "cigale-other.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="TARGETID", format="K", array=[1]), fits.Column(name="MSTAR", format="D", array=[10.])],
        name="DATA")]).writeto(path)
    with pytest.raises(InputError, match=r"cigale-other.fits: HDU DATA: missing columns 'LOGM', 'LOGM_ERR'.*"
                                         r"known: IronPhysProp \(DR1\)"):
        read_vac(path, "cigale")


def test_every_desi_option_of_ojala_mocks_takes_several_files_or_a_glob():
    args = build_parser().parse_args(["mocks", "--out", "x", "--desi-zcat", "a.fits", "b.fits",
                                      "--desi-fastspec", "f1.fits", "f2.fits", "--desi-cigale", "c.fits",
                                      "--desi-mws", "m.fits", "--desi-bhmass", "q.fits"])
    assert args.desi_zcat == ["a.fits", "b.fits"] and args.desi_fastspec == ["f1.fits", "f2.fits"]
    assert expand_paths(str(OUT / "coadd-main-*-10000.fits")) == [str(OUT / "coadd-main-bright-10000.fits"),
                                                                   str(OUT / "coadd-main-dark-10000.fits")]
    with pytest.raises(InputError, match="no file matches"):
        expand_paths(str(OUT / "nothing-*.fits"))


def test_a_second_coadd_of_the_same_targets_adds_no_duplicated_targetid(tiny_sky, tmp_path):
    """The issue-13 bug: one extra (non-primary) coadd file gave duplicated TARGETIDs in train and the tests."""
    inputs = MockInputs.from_sky(tiny_sky)
    source = next(p for p in sorted(inputs.desi_spectra) if "-bright-" in p)
    extra = tmp_path / source.split("/")[-1].replace("-bright-", "-dark-")
    with fits.open(source) as hdul:             # the same targets, observed again in main/dark
        hdul[0].header["PROGRAM"] = "dark"
        hdul.writeto(extra)
    inputs.desi_spectra = [*inputs.desi_spectra, str(extra)]
    manifest = build_mocks(inputs, tmp_path / "mocks", seed=1)
    for split in ("train", "test_synth", "test_real"):
        ids = pd.read_parquet(tmp_path / "mocks" / f"{split}.parquet", columns=["TARGETID"])["TARGETID"]
        assert ids.is_unique, f"{split}: {ids.duplicated().sum()} duplicated TARGETIDs"
    second = [p for p in inputs.desi_spectra if "/coadd-sv" in p]     # the sky's own second observations
    assert second
    rows = {p: len(fits.getdata(p, "FIBERMAP")) for p in [*second, str(extra)]}
    assert manifest["dropped_spectra"]["not_primary_coadd"] == sum(rows.values())
