"""Headline scores of a model on a labelled table (Test-Synth or Test-Real), as in the paper's Sect. 4.

Predicts every label from the observations only, then scores classes (weighted F1),
redshifts (bias, σ_NMAD, η), log quantities and stellar parameters (bias, σ_NMAD).
Not for the full validation report (that is the VAC stage's).
"""
from __future__ import annotations

import pandas as pd

from .metrics import regression_summary, weighted_f1
from .model.inference import DEFAULT_TARGETS, predict
from .model.pretrained import Ojala
from .validation.scoring import log_ew_scores

__all__ = ["evaluate_table", "PAPER_VALUES"]

# DESIGN §11, Test-Real at i < 21 (bias, σ_NMAD) unless stated.
PAPER_VALUES = {
    "weighted_f1": 0.9, "Z_GAL": {"sigma_nmad": 0.01, "outlier_fraction": 0.05},
    "LOGM": {"bias": 0.013, "sigma_nmad": 0.11}, "LOGSFR_SF_err<0.5": {"sigma_nmad": 0.22},
    "HALPHA_6562_EW": {"bias": 0.035, "sigma_nmad": 0.160}, "HBETA_4861_EW": {"bias": 0.031, "sigma_nmad": 0.192},
    "NII_6584_EW": {"bias": 0.042, "sigma_nmad": 0.186}, "OIII_5007_EW": {"bias": 0.021, "sigma_nmad": 0.291},
}
_EW = ("HALPHA_6562_EW", "HBETA_4861_EW", "OIII_5007_EW", "NII_6584_EW")


def evaluate_table(model: Ojala, frame: pd.DataFrame, mag_limit: float = 21.0) -> dict:
    """Scores of `model` on the objects of `frame` brighter than `mag_limit` in MAG_i."""
    sel = frame[frame["MAG_i"] < mag_limit].reset_index(drop=True)
    pred, _ = predict(model, sel, targets=DEFAULT_TARGETS, batch_size=512)
    out = {"n_objects": len(sel), "mag_limit": mag_limit}
    cats = list(model.vocabulary["SPECTYPE"].categories)
    has = sel["SPECTYPE"].isin(cats) & pred["SPECTYPE"].notna()
    out["weighted_f1"] = weighted_f1(sel.loc[has, "SPECTYPE"].to_numpy(), pred.loc[has, "SPECTYPE"].to_numpy(), cats)
    gal = (sel["SPECTYPE"] == "GALAXY").to_numpy()
    out["Z_GAL"] = regression_summary(pred["Z_GAL"][gal], sel["Z_GAL"][gal], redshift=True)
    qso = ((sel["SPECTYPE"] == "QSO") & (sel["Z_QSO"] > 1.5)).to_numpy()
    out["Z_QSO_z>1.5"] = regression_summary(pred["Z_QSO"][qso], sel["Z_QSO"][qso], redshift=True)
    for name in ("LOGM", "LOGSFR"):
        out[name] = regression_summary(pred[name][gal], sel[name][gal])
    star = (sel["SPECTYPE"] == "STAR").to_numpy()
    for name in ("TEFF", "LOGG", "FEH"):
        out[name] = regression_summary(pred[name][star], sel[name][star])
    for name in _EW:
        # Objects with a true EW > 0 are all scored: a prediction ≤ 0.01 Å counts as 0.01 Å
        # (a failure), so dropping them cannot flatter the scores.
        out[name] = log_ew_scores(pred[name].to_numpy(float), sel[name].to_numpy(float), gal)
        out[name]["units"] = "dex (log10 EW, true EW > 0)"
    # The paper's SFR figure: star-forming galaxies (true EW(Hα) > 3 Å) with predicted error < 0.5 dex.
    sf = gal & (sel["HALPHA_6562_EW"] > 3).to_numpy() & (pred["LOGSFR_ERR"] < 0.5).to_numpy()
    out["LOGSFR_SF_err<0.5"] = regression_summary(pred["LOGSFR"][sf], sel["LOGSFR"][sf])
    return out
