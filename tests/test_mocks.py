"""The mock builder: synthetic photometry, cross-match, splits, realistic errors, real-data shapes."""
import json

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from scipy.stats import ks_2samp

from ojala_core.filters import load_filter
from ojala_core.io.jpas import flat_catalogue, read_jpas_catalogue
from ojala_core.io.tables import InputError
from ojala_core.mocks.build import MockInputs, build_mocks
from ojala_core.mocks.crossmatch import crossmatch
from ojala_core.mocks.errors import RealErrorModel
from ojala_core.mocks.synthetic import SYNTHETIC_BANDS, CoaddPhotometry
from ojala_core.photometry import C_ANGSTROM_PER_S, fnu_from_ab
from ojala_core.sky.build import SKY_FILES
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints


@pytest.fixture(scope="module")
def mocks(tiny_mocks):
    return tiny_mocks


def _cameras(flambda_of_wave, dlam=0.8):
    cams = {}
    for cam, lo, hi in (("B", 3600.0, 5930.0), ("R", 5660.0, 7720.0), ("Z", 7520.0, 9824.0)):
        wave = np.arange(lo, hi + 0.1, dlam)
        flux = flambda_of_wave(wave)[None, :] / 1e-17
        cams[cam] = (wave, flux.astype(np.float32), np.ones_like(flux, dtype=np.float32))
    return cams


def test_flat_fnu_spectrum_gives_its_fnu_in_every_band():
    fnu = fnu_from_ab(18.0)
    result, err = CoaddPhotometry().fnu(_cameras(lambda w: fnu * C_ANGSTROM_PER_S / w ** 2))
    assert np.allclose(result[0], fnu, rtol=2e-3)
    assert np.all(err[0] > 0)


def test_an_emission_line_adds_its_flux_through_the_filter_transmission():
    line_flux, centre = 3e-15, 6600.0  # erg/s/cm², inside J0660
    base = 1e-17

    def spectrum(w):
        sigma = 2.0
        return base + line_flux * np.exp(-0.5 * ((w - centre) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)

    result, _ = CoaddPhotometry().fnu(_cameras(spectrum, dlam=0.4))
    continuum, _ = CoaddPhotometry().fnu(_cameras(lambda w: base + 0 * w, dlam=0.4))
    f = load_filter("J0660")
    # Hand computation: Δf_ν = F T(λ0) λ0 / ∫ T c/λ dλ.
    t0 = np.interp(centre, f.wavelength, f.response)
    expected = line_flux * t0 * centre / np.trapezoid(f.response * C_ANGSTROM_PER_S / f.wavelength, f.wavelength)
    j = SYNTHETIC_BANDS.index("J0660")
    assert np.isclose(result[0, j] - continuum[0, j], expected, rtol=0.01)


def test_crossmatch_finds_planted_pairs_and_rejects_near_misses():
    rng = np.random.default_rng(0)
    ra_d = rng.uniform(150, 151, 200)
    dec_d = rng.uniform(1, 2, 200)
    arcsec = 1 / 3600
    ra_j = np.r_[ra_d[:50] + 0.3 * arcsec, ra_d[50:80] + 1.6 * arcsec, ra_d[0] + 0.6 * arcsec]
    dec_j = np.r_[dec_d[:50], dec_d[50:80], dec_d[0]]
    j, d, sep = crossmatch(ra_j, dec_j, ra_d, dec_d, radius_arcsec=1.0)
    assert sorted(j.tolist()) == list(range(50))         # planted pairs, near misses rejected
    assert np.array_equal(d, np.arange(50))               # each to its own DESI target
    assert np.all(sep < 0.35)                             # the 0.6" rival of target 0 lost to the 0.3" one
    j2, _, _ = crossmatch(ra_j, dec_j, ra_d, dec_d, radius_arcsec=2.0)
    assert len(j2) == 80


def _global_match(ra_j, dec_j, ra_d, dec_d, radius_arcsec):
    """The one-to-one match done at once on the whole catalogues (the definition the partitioned one must meet)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    idx, sep, _ = SkyCoord(ra_j * u.deg, dec_j * u.deg).match_to_catalog_sky(SkyCoord(ra_d * u.deg, dec_d * u.deg))
    sep = sep.to_value(u.arcsec)
    close = np.flatnonzero(sep <= radius_arcsec)
    order = close[np.lexsort((close, sep[close]))]
    _, first = np.unique(idx[order], return_index=True)
    kept = np.sort(order[first])
    return kept, idx[kept], sep[kept]


def test_crossmatch_by_healpix_pixel_equals_the_whole_catalogue_match_across_pixel_edges(tmp_path):
    from astropy_healpix import HEALPix

    from ojala_core.mocks.crossmatch import NSIDE, crossmatch

    rng = np.random.default_rng(1)
    # DESI targets around pixel corners (where four pixels meet), at the north pole and at RA 0/360.
    corners = HEALPix(NSIDE, order="nested").boundaries_lonlat(np.arange(0, 12 * NSIDE**2, 997), step=1)
    centres = np.c_[np.concatenate([corners[0].deg.ravel(), [0.0, 359.9999, 45.0]]),
                    np.concatenate([corners[1].deg.ravel(), [89.9999, 0.0, 0.0]])]
    pick = rng.integers(0, len(centres), 6000)
    arcsec = 1 / 3600
    ra_d = (centres[pick, 0] + rng.normal(0, 3 * arcsec, len(pick))) % 360
    dec_d = np.clip(centres[pick, 1] + rng.normal(0, 3 * arcsec, len(pick)), -90, 90)
    near = rng.integers(0, len(pick), 5000)                        # J-PAS objects 0–1.5" from a target
    step = rng.uniform(0, 1.5 * arcsec, len(near))
    angle = rng.uniform(0, 2 * np.pi, len(near))
    dec_j = np.clip(dec_d[near] + step * np.sin(angle), -90, 90)
    ra_j = (ra_d[near] + step * np.cos(angle) / np.cos(np.radians(dec_j)).clip(1e-3)) % 360
    ra_j, dec_j = np.r_[ra_j, np.nan], np.r_[dec_j, 10.0]           # a row without a position matches nothing
    expected = _global_match(ra_j[:-1], dec_j[:-1], ra_d, dec_d, 1.0)
    got = crossmatch(ra_j, dec_j, ra_d, dec_d, 1.0, chunk_rows=700, workdir=tmp_path)
    assert len(expected[0]) > 1000
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)
    assert not list(tmp_path.iterdir())                            # the per-pixel files are gone
    dasked = crossmatch(ra_j, dec_j, ra_d, dec_d, 1.0, chunk_rows=2000, scheduler="local")
    for e, g in zip(expected, dasked):
        np.testing.assert_array_equal(e, g)


def test_splits_have_the_right_domains_and_no_cross_matched_object_is_trained_on(mocks):
    out, manifest = mocks
    frames = {s: pd.read_parquet(out / f"{s}.parquet") for s in ("train", "test_synth", "test_real", "jpas_unlabelled")}
    for split, frame in frames.items():
        assert set(frame["SPLIT"]) == {split}
    assert set(frames["train"]["DOMAIN"]) == {"synthetic"} and set(frames["test_real"]["DOMAIN"]) == {"real"}
    assert not set(frames["train"]["TARGETID"]) & set(frames["test_synth"]["TARGETID"])
    assert list(frames["test_synth"]["TARGETID"]) == list(frames["test_real"]["TARGETID"])
    # No training object lies where a Test-Real object does.
    j, _, _ = crossmatch(frames["test_real"]["RA"], frames["test_real"]["DEC"],
                         frames["train"]["RA"], frames["train"]["DEC"], 1.0)
    assert len(j) == 0
    rows = {f["split"]: f["rows"] for f in manifest["files"]}
    assert rows == {s: len(f) for s, f in frames.items()}
    for frame in frames.values():
        observed = frame[[f"{b}_ERR" for b in V.narrow_bands]].notna().sum(axis=1)
        assert observed.min() >= 50


def test_mock_tables_hold_token_columns_with_errors_and_labels(mocks):
    out, _ = mocks
    train = pd.read_parquet(out / "train.parquet")
    for name in V.narrow_bands + ["MAG_i", "MAG_G", "MAG_W2", "Z_GAL", "LOGM", "HALPHA_6562_EW", "TEFF"]:
        assert name in train and f"{name}_ERR" in train
    assert {"MORPHTYPE", "SPECTYPE", "TARGETID", "JPAS_ID", "RA", "DEC"} <= set(train.columns)
    galaxies = train[train["SPECTYPE"] == "GALAXY"]
    assert galaxies["Z_GAL"].notna().mean() > 0.95 and galaxies["TEFF"].isna().all()
    # Missing is missing: no zeros or sentinels standing in for absent values.
    assert not (train[V.narrow_bands] == 0).any().any()
    assert not (train[["MAG_i", "MAG_G", "MAG_R"]] > 40).any().any()


def test_zero_points_fitted_on_the_matched_stars_recover_the_designed_offsets_and_calibrate_test_real(mocks, tiny_sky):
    out, manifest = mocks
    zero_points = ZeroPoints.load(out / ZERO_POINTS_FILE)
    system = json.loads((tiny_sky / "jpas" / "real-system.json").read_text())
    bands = system["bands"]
    piv = np.array([load_filter(b).pivot_wavelength for b in bands])
    offsets = np.array(system["zero_point_offsets"]) + system["tilt_mag_per_1000A"] * (piv - 6500) / 1000
    designed = {b: offsets[bands.index(b)] - offsets[bands.index("iSDSS")] for b in V.narrow_bands}
    fitted = [b for b in V.narrow_bands if zero_points.n_stars[b] > 0]
    assert len(fitted) >= 50
    # The as-built filter shifts (σ 4 Å) add a colour term the offsets do not model: a few 0.01 mag.
    misfit = np.array([zero_points.offsets[b] - designed[b] for b in fitted])
    assert np.sqrt(np.mean(misfit ** 2)) < 0.02 < np.sqrt(np.mean([designed[b] ** 2 for b in fitted]))
    # Test-Real is written on the synthetic system: its stars' colours now follow Test-Synth.
    synth = pd.read_parquet(out / "test_synth.parquet")
    real = pd.read_parquet(out / "test_real.parquet")
    stars = (synth["SPECTYPE"] == "STAR").to_numpy() & (real["MAG_i"] < 18.5).to_numpy()
    for band in ("J0378", "J0660", "J0900"):
        diff = -2.5 * np.log10(real.loc[stars, band] / synth.loc[stars, band])
        assert abs(np.nanmedian(diff)) < 0.01 < abs(designed[band])
    assert manifest["zero_points"]["applied_to"] == ["test_real", "jpas_unlabelled"]
    assert manifest["zero_points"]["offsets"] == zero_points.offsets      # what Test-Real was written with


def _error_model(real):
    nb = V.narrow_bands
    wave = np.array([V[b].pivot_wavelength for b in nb])
    return RealErrorModel(real[nb].to_numpy(), real[[f"{b}_ERR" for b in nb]].to_numpy(),
                          real["MAG_i"].to_numpy(), real["MAG_i_ERR"].to_numpy(), wave)


@pytest.mark.xfail(strict=True, reason="finding of 2026-12-03: on the sky with its galaxy families the borrowed "
                   "errors are too small (tiny i 19-19.5: median 0.020 vs 0.025 real, KS p 8e-5; default mocks "
                   "i 21-21.5: 0.097 vs 0.106); the error model matches shape and magnitude but not size")
def test_mock_errors_match_the_real_catalogue_within_magnitude_bins_and_random_ones_do_not(mocks):
    out, _ = mocks
    # Errors depend on more than magnitude (extended galaxies have larger ratio errors), so
    # the mocks are compared with real photometry of the same DESI-selected population.
    real = pd.read_parquet(out / "test_real.parquet")
    everything = pd.concat([real, pd.read_parquet(out / "jpas_unlabelled.parquet")])
    train = pd.read_parquet(out / "train.parquet")
    band = "J0660"

    def worst_p(mock_err, mock_mag):
        ps = []
        for lo in np.arange(17.0, 22.0, 0.5):
            a = mock_err[(mock_mag >= lo) & (mock_mag < lo + 0.5)]
            b = real.loc[(real["MAG_i"] >= lo) & (real["MAG_i"] < lo + 0.5), f"{band}_ERR"].dropna()
            a = a[np.isfinite(a)]
            if len(a) >= 30 and len(b) >= 30:
                ps.append(ks_2samp(np.log10(a), np.log10(b)).pvalue)
        assert len(ps) >= 4
        return min(ps)

    assert worst_p(train[f"{band}_ERR"].to_numpy(), train["MAG_i"].to_numpy()) > 1e-3
    # Control: the same search, but each mock at a random magnitude of the catalogue.
    model = _error_model(everything)
    rng = np.random.default_rng(0)
    nb = V.narrow_bands
    shuffled_mag = rng.permutation(everything["MAG_i"].dropna().to_numpy())[: len(train)]
    _, err, _, _ = model.perturb(rng, train[nb].to_numpy(), shuffled_mag)
    assert worst_p(err[:, nb.index(band)], train["MAG_i"].to_numpy()[: len(err)]) < 1e-4


def test_rebuilding_resumes_from_parts(tiny_sky, mocks, tmp_path):
    import shutil

    out, _ = mocks
    copy = tmp_path / "m"
    shutil.copytree(out, copy)
    parts = sorted((copy / "parts").glob("*.parquet"))
    before = {p.name: p.stat().st_mtime_ns for p in parts}
    parts[2].unlink()
    build_mocks(MockInputs.from_sky(tiny_sky), copy, seed=1)
    after = {p.name: p.stat().st_mtime_ns for p in sorted((copy / "parts").glob("*.parquet"))}
    assert [n for n in after if after[n] != before[n]] == [parts[2].name]
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "train.parquet"), pd.read_parquet(out / "train.parquet"))


# Real-data shapes -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jpas_frame(tiny_sky):
    """The sky's archive-layout catalogue in the flat layout (one column per band)."""
    return flat_catalogue(tiny_sky / SKY_FILES["jpas_catalogue"][0])


def test_a_csv_catalogue_without_units_reads_like_the_fits_one(tiny_sky, jpas_frame, tmp_path):
    csv = tmp_path / "jpas.csv"
    jpas_frame.to_csv(csv, index=False)
    from_csv = read_jpas_catalogue(csv)
    from_fits = read_jpas_catalogue(tiny_sky / "jpas" / "jpas-catalogue.fits")
    assert np.allclose(from_csv["FNU_J0660"], from_fits["FNU_J0660"], rtol=1e-5, equal_nan=True)


def test_auto_prefix_and_ab_magnitude_columns_work_without_code_changes(tiny_sky, jpas_frame, tmp_path):
    mags = {c: jpas_frame[c] for c in ("TILE_ID", "NUMBER", "ALPHA_J2000", "DELTA_J2000", "MAG_AUTO_iSDSS")}
    for band in V.narrow_bands + ["iSDSS"]:
        mags[f"FLAGS_{band}"] = jpas_frame[f"FLAGS_{band}"]
        mags[f"MASK_FLAGS_{band}"] = jpas_frame[f"MASK_FLAGS_{band}"]
        f = jpas_frame[f"AUTO_{band}"].to_numpy() * load_filter(band).pivot_wavelength ** 2 / C_ANGSTROM_PER_S
        e = jpas_frame[f"AUTO_{band}_ERR"].to_numpy() * load_filter(band).pivot_wavelength ** 2 / C_ANGSTROM_PER_S
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(f > 0, -2.5 * np.log10(f) - 48.6, 99.0)
            me = np.where(f > 0, 1.0857 * e / f, 99.0)
        mags[f"AUTO_{band}"], mags[f"AUTO_{band}_ERR"] = m, me
    path = tmp_path / "jpas_mag.csv"
    pd.DataFrame(mags).to_csv(path, index=False)
    from_mags = read_jpas_catalogue(path, prefix="AUTO")
    from_flux = read_jpas_catalogue(tiny_sky / "jpas" / "jpas-catalogue.fits", prefix="AUTO")
    assert np.allclose(from_mags["FNU_J0500"], from_flux["FNU_J0500"], rtol=1e-4, equal_nan=True)
    assert from_mags["FNU_J0500"].isna().sum() == from_flux["FNU_J0500"].isna().sum()


def test_missing_or_misspelt_column_gives_one_error_naming_it(jpas_frame, tmp_path):
    path = tmp_path / "bad.csv"
    jpas_frame.rename(columns={"APER_COR_3_0_J0660": "APER_COR_3_0_J066"}).to_csv(path, index=False)
    message = r"bad.csv: missing column 'APER_COR_3_0_J0660' \(did you mean 'APER_COR_3_0_J066'"
    with pytest.raises(InputError, match=message):
        read_jpas_catalogue(path)


def test_ambiguous_units_are_refused(jpas_frame, tmp_path):
    path = tmp_path / "odd.csv"
    frame = jpas_frame.copy()
    frame["APER_COR_3_0_J0400"] = np.linspace(0.5, 3.0, len(frame))  # neither f_lambda nor AB magnitudes
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="APER_COR_3_0_J0400.*cannot tell"):
        read_jpas_catalogue(path)


def test_duplicate_jpas_ids_are_reported_with_their_rows(jpas_frame, tmp_path):
    path = tmp_path / "dup.csv"
    frame = jpas_frame.copy()
    frame.loc[5, ["TILE_ID", "NUMBER"]] = frame.loc[2, ["TILE_ID", "NUMBER"]].to_numpy()
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"duplicate object ids .* \(rows \[2, 5\]\)"):
        read_jpas_catalogue(path)


def test_a_vac_missing_a_desi_column_is_named(tiny_sky, tmp_path):
    fsf = Table.read(tiny_sky / SKY_FILES["desi_fastspec"][0], hdu="FASTSPEC")
    fsf.remove_column("HALPHA_EW_IVAR")
    path = tmp_path / "fastspec.fits"
    fsf.write(path)
    inputs = MockInputs.from_sky(tiny_sky)
    inputs.desi_fastspec = str(path)
    with pytest.raises(InputError, match="missing column 'HALPHA_EW_IVAR'"):
        build_mocks(inputs, tmp_path / "m")
