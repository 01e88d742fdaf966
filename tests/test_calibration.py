"""Calibration of errors and probabilities: coverage, PIT, ECE, fitted σ scales and temperatures."""
import math

import numpy as np
import pandas as pd
import pytest

from ojala_core.calibration import (
    ONE_SIGMA,
    TWO_SIGMA,
    Calibration,
    calibration_scores,
    coverage,
    fit_calibration,
    fit_probability_threshold,
    fit_sigma_scale,
    fit_temperature,
    probability_below,
    reliability,
    standardised_residuals,
    tempered,
)
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V


def test_coverage_of_a_known_gaussian_is_68_and_95_percent_with_a_flat_pit():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.01, 0.2, 50_000)
    pred = rng.uniform(0.1, 1.0, 50_000)
    true = pred + sigma * rng.standard_normal(50_000)
    c = coverage(standardised_residuals(V["Z_GAL"], true, pred, sigma))
    assert c["within_1sigma"] == pytest.approx(ONE_SIGMA, abs=0.01)
    assert c["within_2sigma"] == pytest.approx(TWO_SIGMA, abs=0.005)
    assert np.allclose(c["pit_histogram"], 1.0, atol=0.05)
    too_small = coverage(standardised_residuals(V["Z_GAL"], true, pred, sigma / 2))
    assert too_small["within_1sigma"] == pytest.approx(0.383, abs=0.01)             # erf(0.5/√2)
    assert too_small["pit_histogram"][0] > 2 and too_small["pit_histogram"][5] < 1  # U-shaped PIT


def test_label_errors_add_in_quadrature():
    rng = np.random.default_rng(1)
    n = 40_000
    model_sigma, label_sigma = np.full(n, 0.3), np.full(n, 0.4)
    pred = np.zeros(n)
    true = pred + 0.5 * rng.standard_normal(n)                 # total 0.5 = hypot(0.3, 0.4)
    r = standardised_residuals(V["LOGM"], true, pred, model_sigma, label_sigma)
    assert coverage(r)["within_1sigma"] == pytest.approx(ONE_SIGMA, abs=0.01)
    # the scale that restores coverage acts on the model's σ only: 0.3·s ⊕ 0.4 = 0.6 → s = √0.2/0.3
    true_wide = pred + 0.6 * rng.standard_normal(n)
    s = fit_sigma_scale(true_wide - pred, model_sigma, label_sigma)
    assert s == pytest.approx(np.sqrt(0.6**2 - 0.4**2) / 0.3, rel=0.03)


def test_asinh_ew_residuals_are_taken_in_asinh_space():
    token = V[V.line_ew_tokens["HALPHA"]]
    rng = np.random.default_rng(2)
    from ojala_core.vocabulary import EW_SCALE_ANGSTROM, TRANSFORMS
    forward, inverse = TRANSFORMS[token.transform]
    y_pred = rng.uniform(0.5, 4.0, 30_000)
    sigma_y = np.full(30_000, 0.2)
    y_true = y_pred + sigma_y * rng.standard_normal(30_000)
    pred, true = inverse(y_pred), inverse(y_true)
    sigma_phys = sigma_y * EW_SCALE_ANGSTROM * np.cosh(y_pred)   # as the tokenizer reports it
    c = coverage(standardised_residuals(token, true, pred, sigma_phys))
    assert c["within_1sigma"] == pytest.approx(ONE_SIGMA, abs=0.01)
    assert np.allclose(forward(pred), y_pred)


def test_fitted_scale_undoes_a_known_misestimate():
    rng = np.random.default_rng(3)
    sigma = rng.uniform(0.05, 0.1, 20_000)
    residual = 2.5 * sigma * rng.standard_normal(20_000)
    assert fit_sigma_scale(residual, sigma) == pytest.approx(2.5, rel=0.03)
    assert fit_sigma_scale(residual[:5], sigma[:5]) == 1.0                 # too few objects: left alone


def test_ece_of_calibrated_and_overconfident_probabilities():
    rng = np.random.default_rng(4)
    n = 30_000
    p_top = rng.uniform(0.4, 1.0, n)
    p = np.stack([p_top, 1 - p_top], axis=1)
    right = rng.uniform(size=n) < p_top                       # the top class is right with probability p_top
    truth = np.where(right, 0, 1)
    good = reliability(p, truth)
    assert good["ece"] < 0.015 and sum(b["n"] for b in good["bins"]) == n
    sharp = tempered(p, 0.3)                                   # overconfident: same ranking, larger P
    assert (sharp.argmax(1) == p.argmax(1)).all()
    assert reliability(sharp, truth)["ece"] > 0.1
    assert fit_temperature(sharp, truth) == pytest.approx(1 / 0.3, rel=0.1)   # tempering undone
    assert reliability(p, np.full(n, -1))["n"] == 0


def test_probability_below_a_limit_of_known_gaussians():
    # Z_GAL: no transform; P(z < mean) = 1/2, P(z < mean + σ) = Φ(1), P(z < mean − 2σ) = Φ(−2).
    p = probability_below(V["Z_GAL"], np.array([0.5, 0.5, 0.5, np.nan]), np.array([0.1, 0.1, 0.1, 0.1]),
                          np.array([0.5, 0.6, 0.3, 0.5]))
    assert np.allclose(p[:3], [0.5, 0.5 + ONE_SIGMA / 2, 0.5 - TWO_SIGMA / 2]) and np.isnan(p[3])
    # An EW is Gaussian in asinh space: predicted 3 Å gives 1/2 below 3 Å whatever σ; 10 Å ± a narrow
    # σ gives almost nothing below 3 Å; the same wide gives some.
    token = V[V.line_ew_tokens["HALPHA"]]
    from ojala_core.vocabulary import EW_SCALE_ANGSTROM
    ew, sigma_asinh = np.array([3.0, 10.0, 10.0]), np.array([0.4, 0.1, 1.0])
    sigma = sigma_asinh * EW_SCALE_ANGSTROM * np.cosh(np.arcsinh(ew / EW_SCALE_ANGSTROM))   # as predict reports it
    p = probability_below(token, ew, sigma, 3.0)
    assert p[0] == pytest.approx(0.5) and p[1] < 1e-6
    expected = 0.5 * (1 + math.erf((np.arcsinh(3.0) - np.arcsinh(10.0)) / 1.0 / np.sqrt(2)))
    assert p[2] == pytest.approx(expected, rel=1e-6)


def test_fitted_probability_threshold_finds_the_gap_between_two_classes():
    rng = np.random.default_rng(6)
    # Class P has probabilities in [0.2, 0.9], class N in [0, 0.15]: any threshold in (0.15, 0.2]
    # separates them; 0.5 misses most of P.
    p = np.concatenate([rng.uniform(0.2, 0.9, 300), rng.uniform(0.0, 0.15, 1000)])
    true = np.array(["P"] * 300 + ["N"] * 1000)
    fit = fit_probability_threshold(p, true, lambda chosen: np.where(chosen, "P", "N"))
    assert 0.15 < fit["threshold"] <= 0.2 and fit["mean_f1"] == 1.0
    assert fit["mean_f1_at_half"] < 0.85
    assert fit_probability_threshold(p[:5], true[:5], lambda c: np.where(c, "P", "N"))["threshold"] == 0.5


def test_calibration_round_trip_through_a_model_folder(tmp_path):
    rng = np.random.default_rng(5)
    n = 4000
    table = pd.DataFrame({"SPECTYPE": rng.choice(["GALAXY", "STAR"], n), "Z_GAL": rng.uniform(0.1, 0.8, n)})
    pred = pd.DataFrame({"Z_GAL": table["Z_GAL"] + 0.03 * rng.standard_normal(n), "Z_GAL_ERR": np.full(n, 0.01)})
    cal = fit_calibration(table, pred, V, {"fitted_on": "test"})
    assert cal.sigma_scale["Z_GAL"] == pytest.approx(3.0, rel=0.1)           # fitted on galaxies only
    cal.thresholds["WHAN_PASSIVE"] = 0.2
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    cal.save(tmp_path)
    again = Calibration.load(tmp_path)
    assert again.sigma_scale == cal.sigma_scale and again.about["fitted_on"] == "test"
    assert again.thresholds == {"WHAN_PASSIVE": 0.2} and "thresholds" not in again.about
    scored = pred.assign(Z_GAL_ERR=pred["Z_GAL_ERR"] * again.sigma_scale["Z_GAL"])
    scores = calibration_scores(table, scored, V, again)["regression"]["Z_GAL"]
    assert scores["within_1sigma"] == pytest.approx(ONE_SIGMA, abs=0.03)
    assert scores["raw"]["within_1sigma"] < 0.35
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert Calibration.load(tmp_path) is None                                 # fitted to other weights
    (tmp_path / "calibration.json").write_text('{"sigma_scale": {"Z_GAL": -1}, "temperature": {}}')
    with pytest.raises(ValueError, match="calibration.json.*Z_GAL"):
        Calibration.load(tmp_path)
    (tmp_path / "calibration.json").write_text('{"sigma_scale": {}, "temperature": {}, '
                                               '"thresholds": {"WHAN_PASSIVE": 1.5}}')
    with pytest.raises(ValueError, match="calibration.json.*WHAN_PASSIVE.*probability"):
        Calibration.load(tmp_path)


def test_ojala_calibrate_fits_on_test_synth_and_predict_and_the_vac_apply_it(tiny_mocks, tiny_sky, tmp_path):
    import json

    from ojala_core.cli import main
    from ojala_core.model.config import MODEL_PRESETS
    from ojala_core.model.inference import predict
    from ojala_core.model.pretrained import Ojala
    from ojala_core.model.tokenizer import Normalisation
    from ojala_core.train.run import read_split
    from ojala_core.vac.produce import produce_vac

    mocks = tiny_mocks[0]
    path = tmp_path / "model"
    Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(read_split(mocks, "train"), V)).save_pretrained(path)
    assert main(["calibrate", "--model", str(path), "--mocks", str(mocks)]) == 0
    record = json.loads((path / "calibration.json").read_text())
    assert record["fitted_on"] == "test_synth" and "Z_GAL" in record["sigma_scale"]
    assert 0 < record["thresholds"]["WHAN_PASSIVE"] < 1 and record["whan_passive_fit"]["galaxies"] > 0
    model = Ojala.from_pretrained(path)
    synth = read_split(mocks, "test_synth")
    synth = synth[synth["MAG_i"] < 21].reset_index(drop=True)
    raw, _ = predict(model, synth, targets=["Z_GAL", "LOGM"], calibrated=False, embeddings=False)
    cal, _ = predict(model, synth, targets=["Z_GAL", "LOGM"], embeddings=False)
    for name in ("Z_GAL", "LOGM"):
        assert np.allclose(cal[f"{name}_ERR"] / raw[f"{name}_ERR"], record["sigma_scale"][name], rtol=1e-5)
    scores = calibration_scores(synth, cal, V, model.calibration)["regression"]["Z_GAL"]
    assert scores["within_1sigma"] == pytest.approx(ONE_SIGMA, abs=0.05)     # the sample it was fitted on
    manifest = produce_vac(path, tiny_sky / "jpas" / "jpas-catalogue.fits", tmp_path / "vac", chunk_rows=2000)
    assert manifest["calibration"]["sigma_scale"] == record["sigma_scale"]
    assert manifest["calibration"]["thresholds"] == record["thresholds"]
    # The VAC's WHAN passive class is its P_WHAN_PASSIVE above the fitted threshold (an untrained model
    # may call few objects galaxies; the rule itself is tested in test_diagnostics).
    vac = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "vac" / "catalogue").glob("*.parquet"))])
    galaxies = vac[(vac["CLASS"] == "GALAXY") & vac["P_WHAN_PASSIVE"].notna()]
    passive = galaxies["P_WHAN_PASSIVE"] >= record["thresholds"]["WHAN_PASSIVE"]
    assert ((galaxies["WHAN_CLASS"] == "PASSIVE") == passive).all()
