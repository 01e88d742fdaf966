"""Headline scores of a model on a labelled table (Test-Synth or Test-Real), as in the paper's Sect. 4.

Predicts every default target of the model from the observations only and scores them with
`scoring.headline_scores`, the scorer the training hook, the model card and the validation
report share; also fits and scores the post-hoc calibration of a model's errors
(`calibrate_model`, with the WHAN passive decision threshold). Not for the full validation report
(see `ojala_core.validation`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .calibration import Calibration, calibration_scores, fit_calibration, fit_probability_threshold
from .diagnostics import whan_class, whan_three_classes
from .lines import EMISSION_LINES
from .model.inference import predict
from .model.pretrained import Ojala
from .scoring import headline_scores

__all__ = ["evaluate_table", "calibrate_model"]


def evaluate_table(model: Ojala, frame: pd.DataFrame, mag_limit: float = 21.0) -> dict:
    """Scores of `model` on the objects of `frame` brighter than `mag_limit` in MAG_i."""
    sel = frame[frame["MAG_i"] < mag_limit].reset_index(drop=True)
    pred, _ = predict(model, sel, targets=model.vocabulary.targets, batch_size=512, embeddings=False)
    return {**headline_scores(sel, pred, model.vocabulary), "mag_limit": mag_limit}


def calibrate_model(model_dir, mocks_dir, mag_limit: float = 21.0, sample: str = "test_synth") -> dict:
    """Fit ``MODEL/calibration.json`` on the mocks' `sample` (i < `mag_limit`) and score it.

    Returns the coverage on every labelled sample before and after, so that the fit
    (on Test-Synth) can be judged on Test-Real, which it never saw, and the WHAN passive
    threshold (`fit_whan_passive`, fitted on the calibrated predictions of `sample`).
    """
    from .train.run import read_split

    model = Ojala.from_pretrained(model_dir)
    tables = {}
    for split in ("test_synth", "test_real"):
        frame = read_split(mocks_dir, split)
        tables[split] = frame[frame["MAG_i"] < mag_limit].reset_index(drop=True)
    preds = {split: predict(model, t, targets=model.vocabulary.targets, batch_size=512, embeddings=False,
                            calibrated=False)[0] for split, t in tables.items()}
    about = {"fitted_on": sample, "mocks": str(mocks_dir), "mag_limit": mag_limit, "objects": len(tables[sample]),
             "command": f"ojala calibrate --model {model_dir} --mocks {mocks_dir} --mag-limit {mag_limit:g}"}
    calibration = fit_calibration(tables[sample], preds[sample], model.vocabulary, about)
    calibration.save(model_dir)
    model.calibration = Calibration.load(model_dir)
    after = {split: predict(model, t, targets=model.vocabulary.targets, batch_size=512, embeddings=False)[0]
             for split, t in tables.items()}
    scores = {split: calibration_scores(tables[split], after[split], model.vocabulary, model.calibration)
              for split in tables}
    calibration.about["coverage"] = {split: _coverage_summary(s) for split, s in scores.items()}
    whan = fit_whan_passive(tables[sample], after[sample], model.vocabulary)
    calibration.thresholds["WHAN_PASSIVE"] = whan["threshold"]
    calibration.about["whan_passive_fit"] = whan
    calibration.save(model_dir)              # the same weights, scales and temperature, with what they achieve
    return {"sigma_scale": calibration.sigma_scale, "temperature": calibration.temperature,
            "thresholds": calibration.thresholds, "whan_passive_fit": whan, **scores}


def fit_whan_passive(table: pd.DataFrame, pred: pd.DataFrame, vocabulary) -> dict:
    """The threshold on P(EW(Hα) < 3 Å) above which a galaxy is WHAN-passive, chosen on labelled
    `table` (Test-Synth) to maximise the mean F1 of the passive, star-forming and AGN classes.

    Why: for a galaxy whose EW(Hα) is a few Å the predictive Gaussian is wide (σ ≈ 0.5 in
    asinh EW) and its mean is drawn towards the star-forming majority, so "predicted EW < 3 Å"
    finds few passive galaxies; a threshold below 0.5 trades some purity for completeness.
    `pred`: calibrated predictions of every default target for `table`'s rows.
    """
    from .validation.predictions import truth_predictions, with_derived

    truth = truth_predictions(table, vocabulary)
    derived = with_derived(pred, table)
    true = whan_three_classes(truth["WHAN_CLASS"].to_numpy())
    ok = (table["SPECTYPE"].to_numpy() == "GALAXY") & np.isin(true, ["PASSIVE", "SF", "AGN"])
    x = derived["LOG_NII_HA"].to_numpy(float)[ok]
    ew = derived[EMISSION_LINES["HALPHA"].ew_token].to_numpy(float)[ok]

    def labels_for(passive):
        return whan_three_classes(whan_class(x, ew, passive))

    fit = fit_probability_threshold(derived["P_WHAN_PASSIVE"].to_numpy(float)[ok], true[ok], labels_for)
    return {**fit, "galaxies": int(ok.sum())}


def _coverage_summary(scores: dict) -> dict:
    """±1σ/±2σ coverage per target and the SPECTYPE ECE, before (raw) and after the calibration."""
    out = {}
    for name, e in scores["regression"].items():
        raw = e.get("raw", e)
        out[name] = {"n": e["n"], "raw_1sigma": raw["within_1sigma"], "raw_2sigma": raw["within_2sigma"],
                     "within_1sigma": e["within_1sigma"], "within_2sigma": e["within_2sigma"]}
    for name, e in scores["classification"].items():
        out[name] = {"n": e["n"], "raw_ece": e.get("raw", e)["ece"], "ece": e["ece"]}
    return out
