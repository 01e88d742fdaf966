"""Zero points: fitted on matched stars, applied to catalogue tokens, carried by the VAC, checked by the report."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ojala_core.io.jpas import read_jpas_catalogue
from ojala_core.io.tables import InputError
from ojala_core.tokens import catalogue_tokens
from ojala_core.vac.produce import produce_vac
from ojala_core.vac.store import VacStore
from ojala_core.validation.report import build_report
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints

MODEL = Path(__file__).resolve().parent.parent / "models" / "ojala-small"
BANDS = V.narrow_bands


def _pair(offsets, galaxy_offset=0.3, n_star=300, n_galaxy=300, faint_offset=-0.4, noise=0.01, seed=0):
    """Row-aligned synthetic and 'real' token tables: bright stars carry `offsets` [mag]; galaxies add
    `galaxy_offset` (an aperture term) and stars fainter than the calibration range `faint_offset`."""
    rng = np.random.default_rng(seed)
    n = n_star + n_galaxy
    synth = pd.DataFrame({b: rng.uniform(0.3, 1.5, n) for b in BANDS})
    for b in BANDS:
        synth[f"{b}_ERR"] = 0.02 * synth[b]
    synth["MAG_i"] = rng.uniform(14.5, 20.0, n)
    synth["SPECTYPE"] = ["STAR"] * n_star + ["GALAXY"] * n_galaxy
    synth["TARGETID"] = np.arange(n)
    real = synth.copy()
    faint = synth["MAG_i"].to_numpy() + offsets["MAG_i"] >= 18.5
    extra = np.where(synth["SPECTYPE"] == "GALAXY", galaxy_offset, np.where(faint, faint_offset, 0.0))
    for b in BANDS:
        real[b] = synth[b] * 10 ** (-0.4 * (offsets[b] + extra)) * (1 + noise * rng.standard_normal(n))
        real[f"{b}_ERR"] = synth[f"{b}_ERR"] * 10 ** (-0.4 * offsets[b])
    real["MAG_i"] = synth["MAG_i"] + offsets["MAG_i"] + noise * rng.standard_normal(n)
    return real, synth


def _offsets(seed=1):
    rng = np.random.default_rng(seed)
    return {**{b: float(rng.normal(0, 0.05)) for b in BANDS}, "MAG_i": 0.06}


def test_fitted_zero_points_recover_known_offsets_from_the_bright_stars_only():
    offsets = _offsets()
    real, synth = _pair(offsets)
    zp = ZeroPoints.fit(real, synth)
    # Galaxies (0.3 mag aperture term) and faint stars (-0.4 mag) would pull a fit over all objects off.
    error = np.array([zp.offsets[t] - offsets[t] for t in offsets])
    assert np.abs(error).max() < 0.004
    bright_stars = int(((synth["SPECTYPE"] == "STAR") & (real["MAG_i"] < 18.5)).sum())
    assert set(zp.n_stars.values()) == {bright_stars}
    # The quoted 1σ is the median's: 1.2533 × 1.4826 × MAD / √n of 1 % noise per star ≈ 0.011 / √n mag.
    assert 0.5 < np.median([zp.uncertainties[b] for b in BANDS]) / (0.0109 / np.sqrt(bright_stars)) < 2


def test_applying_zero_points_puts_real_tokens_on_the_synthetic_system():
    offsets = _offsets()
    real, synth = _pair(offsets, noise=0.0)
    real.loc[0, "J0378"] = np.nan
    before = real.copy()
    zp = ZeroPoints(offsets, {t: 0.001 for t in offsets}, {t: 100 for t in offsets})
    calibrated = zp.apply(real)
    assert list(calibrated.columns) == list(real.columns)
    stars = (synth["SPECTYPE"] == "STAR").to_numpy() & (synth["MAG_i"].to_numpy() < 18.4)
    for b in ("J0400", "J0660", "J0910"):
        np.testing.assert_allclose(calibrated.loc[stars, b], synth.loc[stars, b], rtol=1e-9)
        np.testing.assert_allclose(calibrated[f"{b}_ERR"], synth[f"{b}_ERR"], rtol=1e-9)
    np.testing.assert_allclose(calibrated["MAG_i"], synth["MAG_i"], atol=1e-9)
    assert np.isnan(calibrated.loc[0, "J0378"])                     # missing stays missing
    pd.testing.assert_frame_equal(real, before)                       # the input is not changed


def test_a_band_with_too_few_stars_keeps_its_photometry_and_says_so(caplog):
    offsets = _offsets()
    real, synth = _pair(offsets)
    real.loc[real.index[:290], "J0500"] = np.nan                      # 10 stars left in that band
    zp = ZeroPoints.fit(real, synth)
    assert zp.n_stars["J0500"] == 0 and zp.offsets["J0500"] == 0.0 and zp.uncertainties["J0500"] is None
    assert "J0500" in caplog.text
    assert zp.n_stars["J0510"] > 100
    with pytest.raises(ValueError, match="same objects"):
        ZeroPoints.fit(real.iloc[::-1], synth)


def test_a_zero_point_file_round_trips_and_a_bad_one_is_refused_naming_what_is_wrong(tmp_path):
    offsets = _offsets()
    zp = ZeroPoints.fit(*_pair(offsets))
    zp.save(tmp_path / ZERO_POINTS_FILE)
    assert ZeroPoints.load(tmp_path / ZERO_POINTS_FILE) == zp
    bad = zp.to_dict()
    bad["offsets"] = {**bad["offsets"], "J0665": 0.01}
    (tmp_path / "unknown.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="unknown.json.*J0665"):
        ZeroPoints.load(tmp_path / "unknown.json")
    bad["offsets"] = {**zp.offsets, "J0660": 3.0}
    (tmp_path / "huge.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="huge.json.*J0660"):
        ZeroPoints.load(tmp_path / "huge.json")
    bad["offsets"] = dict(zp.offsets)
    bad["n_stars"] = {k: v for k, v in zp.n_stars.items() if k != "J0660"}
    (tmp_path / "short.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="short.json.*same tokens"):
        ZeroPoints.load(tmp_path / "short.json")
    with pytest.raises(InputError, match="no such zero-point file"):
        ZeroPoints.load(tmp_path / "absent.json")


def test_the_vac_records_its_zero_points_and_the_explorer_rebuilds_calibrated_tokens(tiny_vac, tiny_mocks, tiny_sky):
    zp = ZeroPoints.load(tiny_mocks[0] / ZERO_POINTS_FILE)
    assert all(abs(zp.offsets[t]) > 0.01 for t in ("J0378", "J0660", "MAG_i"))   # so that applying them shows
    store = VacStore(tiny_vac)
    assert store.manifest["zero_points"]["offsets"] == zp.offsets
    rows = np.arange(0, len(store), max(len(store) // 40, 1))
    tokens = store.tokens(rows)
    phot = read_jpas_catalogue(tiny_sky / "jpas" / "jpas-catalogue.fits")
    raw = catalogue_tokens(phot).assign(FNU_iSDSS=phot["FNU_iSDSS"].to_numpy())
    raw = raw.set_index(raw["JPAS_ID"].astype(str)).loc[tokens["JPAS_ID"]]
    for band in ("J0378", "J0660"):
        ratio = tokens[band].to_numpy() / raw[band].to_numpy()
        np.testing.assert_allclose(ratio[np.isfinite(ratio)], 10 ** (0.4 * zp.offsets[band]), rtol=1e-5)
    np.testing.assert_allclose(tokens["MAG_i"], raw["MAG_i"] - zp.offsets["MAG_i"], atol=1e-5)
    # The explorer's flux scale moves with MAG_i, so the plotted fluxes are all on the synthetic system.
    np.testing.assert_allclose(tokens["FNU_iSDSS"], raw["FNU_iSDSS"] * 10 ** (0.4 * zp.offsets["MAG_i"]), rtol=1e-6)
    # What the model saw: the VAC's own MAG_i column is the calibrated token.
    frame = store.frame.set_index(store.frame["JPAS_ID"].astype(str)).loc[tokens["JPAS_ID"]]
    np.testing.assert_allclose(frame["MAG_i"], raw["MAG_i"] - zp.offsets["MAG_i"], atol=1e-4)


def test_a_vac_is_not_resumed_with_other_zero_points(tiny_vac, tiny_sky):
    before = sorted(p.name for p in (tiny_vac / "catalogue").iterdir())
    with pytest.raises(InputError, match="other options \\(zero_points\\)"):
        produce_vac(MODEL, tiny_sky / "jpas" / "jpas-catalogue.fits", tiny_vac, chunk_rows=500)
    assert sorted(p.name for p in (tiny_vac / "catalogue").iterdir()) == before


def test_the_report_refuses_a_vac_whose_photometry_is_not_on_the_mocks_system(tiny_mocks, tmp_path):
    vac = tmp_path / "vac"
    vac.mkdir()
    (vac / "manifest.json").write_text(json.dumps({"model": str(MODEL), "zero_points": None}))
    with pytest.raises(InputError, match="made without zero points.*--zero-points"):
        build_report(vac, tiny_mocks[0], tmp_path / "report", model_dir=MODEL)
    assert not (tmp_path / "report").exists()
