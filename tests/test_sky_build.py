"""The synthetic sky's files: real DESI / J-PAS formats, manifest, resuming."""
import json

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from ojala_core.sky.build import SKY_FILES, build_sky, plan_shards
from ojala_core.sky.jpas_system import JPAS_BANDS
from ojala_core.sky.populations import PRESETS


def _table(sky, key):
    path, hdu, _ = SKY_FILES[key]
    return Table.read(sky / path, hdu=hdu)


def test_manifest_lists_every_file_with_its_true_row_count(tiny_sky):
    manifest = json.loads((tiny_sky / "manifest.json").read_text())
    assert manifest["preset"] == "tiny" and manifest["seed"] == 42 and manifest["version"]
    keys = {f["key"] for f in manifest["files"]}
    assert set(SKY_FILES) <= keys and "desi_coadd" in keys
    for entry in manifest["files"]:
        path = tiny_sky / entry["path"]
        if path.suffix == ".parquet":
            rows = len(pd.read_parquet(path))
        else:
            rows = len(Table.read(path, hdu=entry["hdu"]))
        assert rows == entry["rows"], entry["path"]


def test_desi_redshift_catalogue_has_the_zall_layout_with_repeated_targets(tiny_sky):
    z = _table(tiny_sky, "desi_zcatalog")
    for col in ["TARGETID", "TARGET_RA", "TARGET_DEC", "Z", "ZERR", "ZWARN", "SPECTYPE", "MORPHTYPE", "SURVEY",
                "PROGRAM", "ZCAT_PRIMARY", "ZCAT_NSPEC", "DELTACHI2", "COADD_FIBERSTATUS", "OBJTYPE", "EBV", "PHOTSYS",
                "FLUX_G", "FLUX_R", "FLUX_Z", "FLUX_W1", "FLUX_W2", "FLUX_IVAR_G", "FLUX_IVAR_W2"]:
        assert col in z.colnames, col
    assert set(np.char.decode(np.unique(z["SPECTYPE"]))) == {"GALAXY", "STAR", "QSO"}
    assert z["TARGETID"].dtype.kind == "i" and z["TARGETID"].dtype.itemsize == 8 and z["TARGETID"].min() > 2 ** 53
    primary = z[z["ZCAT_PRIMARY"]]
    again = z[~z["ZCAT_PRIMARY"]]
    assert len(np.unique(primary["TARGETID"])) == len(primary)            # one primary row per target
    assert 0.02 * len(primary) < len(again) < 0.1 * len(primary)          # some targets observed twice
    assert set(again["TARGETID"]) <= set(primary["TARGETID"])
    assert set(np.char.decode(np.unique(again["SURVEY"]))) == {"sv1", "sv3"}
    assert set(np.char.decode(np.unique(primary["SURVEY"]))) == {"main"}
    assert np.all(z["ZCAT_NSPEC"][np.isin(z["TARGETID"], again["TARGETID"])] == 2)


def test_vacs_have_the_dr1_layouts_and_read_as_one_primary_row_per_target(tiny_sky):
    from ojala_core.io.desi import read_redshift_catalogue
    from ojala_core.io.desi_vacs import read_vac

    zcat = read_redshift_catalogue(tiny_sky / SKY_FILES["desi_zcatalog"][0])
    targetids = set(zcat["TARGETID"])
    expected = {
        "desi_fastspec": ("fastspec", ["HALPHA_EW", "HALPHA_EW_IVAR", "HBETA_EW", "OIII_5007_EW", "NII_6584_EW",
                                       "HALPHA_CONT", "HBETA_CONT_IVAR", "HALPHA_FLUX"]),
        "desi_cigale": ("cigale", ["LOGM", "LOGM_ERR", "LOGSFR", "LOGSFR_ERR", "FLAG_MASSPDF", "FLAG_SFRPDF",
                                   "SURVEY", "PROGRAM"]),
        "desi_mws": ("mws", ["TEFF", "TEFF_ERR", "LOGG", "LOGG_ERR", "FEH", "FEH_ERR", "ALPHAFE", "ALPHAFE_ERR",
                             "SUCCESS", "RVS_WARN", "PRIMARY", "SURVEY", "PROGRAM"]),
        "desi_bhmass": ("bhmass", ["LOGMASS_DAS_VO09", "LOGMASS_DAS_VO09_ERR", "SURVEY", "PROGRAM"]),
    }
    for key, (kind, cols) in expected.items():
        t = _table(tiny_sky, key)
        assert set(cols) <= set(t.colnames), key
        assert len(np.unique(t["TARGETID"])) < len(t), key                 # second observations present
        counts = {}
        vac = read_vac(tiny_sky / SKY_FILES[key][0], kind, primary=zcat, counts=counts)
        assert vac["TARGETID"].is_unique and set(vac["TARGETID"]) <= targetids, key
        assert counts["not_primary"] == len(t) - len(vac), key
    meta = Table.read(tiny_sky / SKY_FILES["desi_fastspec"][0], hdu="METADATA")
    assert np.array_equal(meta["TARGETID"], _table(tiny_sky, "desi_fastspec")["TARGETID"])
    cigale = _table(tiny_sky, "desi_cigale")
    assert np.sum((cigale["LOGM"] == 0) & (cigale["LOGSFR"] == 0)) > 0      # failed fits, as CIGALE writes them
    sptab = Table.read(tiny_sky / SKY_FILES["desi_mws"][0], hdu="SPTAB")
    assert sptab["COVAR"].shape[1] == 25 and np.array_equal(sptab["TARGETID"], _table(tiny_sky, "desi_mws")["TARGETID"])


def test_second_observations_have_their_own_coadds_named_by_survey(tiny_sky):
    z = _table(tiny_sky, "desi_zcatalog")
    again = z[~z["ZCAT_PRIMARY"]]
    seen = []
    for path in sorted((tiny_sky / "desi" / "spectra").glob("coadd-sv*.fits")):
        with fits.open(path) as hdul:
            survey = hdul[0].header["SURVEY"]
            assert path.name.startswith(f"coadd-{survey}-{hdul[0].header['PROGRAM']}-")
            seen += list(hdul["FIBERMAP"].data["TARGETID"])
    assert sorted(seen) == sorted(again["TARGETID"])


def test_coadd_files_have_desi_cameras_and_units(tiny_sky):
    coadds = sorted((tiny_sky / "desi" / "spectra").glob("coadd-main-*.fits"))
    assert coadds
    with fits.open(coadds[0]) as hdul:
        n = len(hdul["FIBERMAP"].data)
        for cam in "BRZ":
            wave = hdul[f"{cam}_WAVELENGTH"].data
            assert hdul[f"{cam}_FLUX"].data.shape == (n, len(wave))
            assert hdul[f"{cam}_IVAR"].data.shape == (n, len(wave))
            assert "10**-17" in hdul[f"{cam}_FLUX"].header["BUNIT"]
        assert hdul["B_WAVELENGTH"].data[0] == 3600.0 and hdul["Z_WAVELENGTH"].data[-1] >= 9820.0
        assert np.all(hdul["R_IVAR"].data > 0)


def test_jpas_catalogue_has_the_archive_layout_with_its_filter_table(tiny_sky):
    from ojala_core.io.jpas_archive import MINIJPAS_FILTERS

    path, hdu, _ = SKY_FILES["jpas_catalogue"]
    with fits.open(tiny_sky / path) as hdul:
        columns = {c.name: c for c in hdul[hdu].columns}
        data = hdul[hdu].data
        filters = hdul["FILTER"].data
    k = len(MINIJPAS_FILTERS)
    for prefix in ("APER_COR_3_0", "AUTO"):
        assert columns[f"FLUX_{prefix}"].unit == "1e-19 erg/(s cm2 Angstrom)"
        assert data[f"FLUX_{prefix}"].shape[1] == k and data[f"FLUX_RELERR_{prefix}"].shape[1] == k
    for name in ("MAG_AUTO", "MAG_ERR_AUTO", "FLAGS", "MASK_FLAGS"):
        assert data[name].shape[1] == k, name
    for col in ("ALPHA_J2000", "DELTA_J2000", "MAG_G", "MAG_W2", "MORPHTYPE", "TILE_ID", "NUMBER"):
        assert col in columns
    assert [str(n) for n in filters["NAME"]] == list(MINIJPAS_FILTERS) and list(filters["FILTER_ID"]) == list(
        range(1, k + 1))
    # uJAVA (index 0) is not simulated: NaN, masked; J0378 (index 1) is measured.
    assert np.isnan(data["FLUX_APER_COR_3_0"][:, 0]).all() and (data["MASK_FLAGS"][:, 0] != 0).all()
    assert np.isfinite(data["FLUX_APER_COR_3_0"][:, 1]).mean() > 0.9
    # Deblended galaxies (SExtractor FLAGS = 2) are there and keep their photometry.
    deblended = data["FLAGS"][:, 1] == 2
    assert 0.05 < deblended.mean() < 0.3
    assert np.isfinite(data["FLUX_APER_COR_3_0"][deblended, 1]).mean() > 0.9


def test_jpas_objects_are_observed_in_50_to_54_narrow_bands(tiny_sky):
    from ojala_core.io.jpas import read_jpas_catalogue
    from ojala_core.io.jpas_archive import MINIJPAS_FILTERS
    from ojala_core.sky.jpas_products import MASK_NO_IMAGE

    j = _table(tiny_sky, "jpas_catalogue")
    narrow = [MINIJPAS_FILTERS.index(b) for b in JPAS_BANDS[:-1]]
    imaged = np.sum((np.asarray(j["MASK_FLAGS"])[:, narrow] & MASK_NO_IMAGE) == 0, axis=1)
    assert imaged.min() >= 50 and imaged.max() == 54 and (imaged < 54).any()
    assert np.array_equal(imaged, np.asarray(j["N_FILTERS_OBS"]))
    phot = read_jpas_catalogue(tiny_sky / SKY_FILES["jpas_catalogue"][0])        # filter table from the file
    observed = phot["N_NB_OBSERVED"].to_numpy()
    # Blue bands of faint red stars (r ≈ 23 M dwarfs) may hold no measurement; nearly everything else has ≥ 48.
    assert np.all(observed <= imaged) and np.percentile(observed, 2) >= 48


def test_there_are_labelled_cross_matched_and_unlabelled_jpas_objects(tiny_sky):
    counts = json.loads((tiny_sky / "manifest.json").read_text())["counts"]
    assert counts["desi_labelled"] == 1600
    assert counts["jpas_x_desi"] > 500 and counts["jpas_only"] > 300
    truth = pd.read_parquet(tiny_sky / "truth.parquet")
    faint_only = truth[truth.IN_JPAS & ~truth.IN_DESI]
    matched = truth[truth.IN_JPAS & truth.IN_DESI]
    # J-PAS-only objects are fainter than the DESI-labelled ones.
    assert faint_only["MAG_SYN_iSDSS"].median() > matched["MAG_SYN_iSDSS"].median()


def test_shards_cover_every_object_once():
    preset = PRESETS["default"]
    shards = plan_shards(preset)
    ids = np.concatenate([np.arange(s.first_id, s.first_id + s.size) for s in shards])
    assert len(ids) == sum(preset.counts.values()) == len(np.unique(ids))
    assert sum(preset.counts[p] for p in ("BGS", "LRG", "ELG", "QSO", "MWS")) >= 100_000


def test_rebuilding_resumes_without_redoing_finished_shards(tiny_sky, tmp_path):
    import shutil

    copy = tmp_path / "sky"
    shutil.copytree(tiny_sky, copy)
    shards = sorted((copy / "shards").glob("*.parquet"))
    before = {p.name: p.stat().st_mtime_ns for p in shards}
    victim = shards[3]
    original = pd.read_parquet(victim)
    victim.unlink()  # as if the job had been killed before this shard finished
    build_sky(copy, "tiny", 42, workers=1)
    after = {p.name: p.stat().st_mtime_ns for p in sorted((copy / "shards").glob("*.parquet"))}
    changed = [name for name in after if after[name] != before.get(name)]
    assert changed == [victim.name]
    pd.testing.assert_frame_equal(pd.read_parquet(victim), original)


def test_resuming_with_another_seed_is_refused(tiny_sky, tmp_path):
    import shutil

    copy = tmp_path / "sky"
    shutil.copytree(tiny_sky / "shards", copy / "shards")
    with pytest.raises(ValueError, match="seed=42"):
        build_sky(copy, "tiny", 7, workers=1)
