"""Headline scores of a model on a labelled table (Test-Synth or Test-Real), as in the paper's Sect. 4.

Predicts every default target of the model from the observations only and scores them with
`scoring.headline_scores`, the scorer the training hook, the model card and the validation
report share; also fits and scores the post-hoc calibration of a model's errors
(`calibrate_model`). Not for the full validation report (see `ojala_core.validation`).
"""
from __future__ import annotations

import pandas as pd

from .calibration import Calibration, calibration_scores, fit_calibration
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
    (on Test-Synth) can be judged on Test-Real, which it never saw.
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
    calibration.save(model_dir)              # the same weights, scales and temperature, with what they achieve
    return {"sigma_scale": calibration.sigma_scale, "temperature": calibration.temperature, **scores}


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
