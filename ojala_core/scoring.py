"""The one scorer: scores of one predictor on one labelled sample, as in the paper's Sect. 4.

Takes the truth and a prediction table in the form of `model.inference.predict` and returns
plain dicts of metrics from `ojala_core.metrics`: `headline_scores` (the rows of `ojala
evaluate`, the training hook and the model card) and `score_sample` (every section of the
validation report, with sliding bins in i magnitude or redshift). The same objects are scored
for every predictor: selections come from the truth and, where the paper cuts on OJALA's own
uncertainty, from OJALA. Not for running models or drawing figures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .diagnostics import BPT_CURVES, WHAN_CUTS, whan_class, whan_three_classes
from .lines import EMISSION_LINES
from .metrics import purity_completeness_f1, regression_summary, sliding_bins, weighted_f1
from .vocabulary import CLASS, DEFAULT_VOCABULARY, REGRESSION, Vocabulary

__all__ = ["Selection", "score_sample", "headline_scores", "star_forming_subset", "classification_scores",
           "redshift_scores", "log_ew_scores", "bpt_scores", "whan_scores", "WHAN_NII_CUTS", "EW_FLOOR_ANGSTROM",
           "Z_BINS", "SF_EW_HALPHA_MIN", "SF_SIGMA_LOGSFR_MAX", "HEADLINE_Z_MIN", "headline_token"]

_HALPHA_EW = EMISSION_LINES["HALPHA"].ew_token
# The paper's SFR subset (Fig. 9): star-forming galaxies, true EW(Hα) > 3 Å, with OJALA's
# predicted σ(log SFR) < 0.5 dex.
SF_EW_HALPHA_MIN = 3.0
SF_SIGMA_LOGSFR_MAX = 0.5
# Headline photo-z of QSOs is scored at z > 1.5 (the paper quotes high-z QSOs).
HEADLINE_Z_MIN = {"Z_QSO": 1.5}
_Z_CUT = "_z>"          # a headline key with a redshift cut: 'Z_QSO_z>1.5'


def headline_token(key: str) -> str:
    """The token a headline score key belongs to ('Z_QSO_z>1.5' -> 'Z_QSO'; 'weighted_f1' unchanged)."""
    return key.split(_Z_CUT)[0]
# A predicted EW ≤ this [Å] is scored as this value (a failure), so that dropping it cannot flatter the scores.
EW_FLOOR_ANGSTROM = 0.01
# The WHAN [NII]/Hα cut of Cid Fernandes et al. (2011) (S06-equivalent) and the paper's Ka03- and
# Ke01-equivalent cuts, as log10([NII]/Hα).
WHAN_NII_CUTS = {"S06": WHAN_CUTS["x_sf"], "Ka03": float(np.log10(0.48)), "Ke01": float(np.log10(0.79))}
# Sliding redshift bins (step = half-width) for Fig. 4.
Z_BINS = {"galaxy": 0.1, "qso": 0.25}


@dataclass
class Selection:
    """Who is scored in a sample: true classes, the magnitude cut, the paper's SFR subset.

    Attributes are boolean arrays over the sample's rows.
    """

    mag: np.ndarray
    bright: np.ndarray
    galaxy: np.ndarray
    qso: np.ndarray
    star: np.ndarray
    star_forming: np.ndarray  # `star_forming_subset` at i < limit (paper Fig. 9)

    @classmethod
    def build(cls, table: pd.DataFrame, ojala: pd.DataFrame, mag_limit: float) -> "Selection":
        mag = table["MAG_i"].to_numpy(float)
        spectype = table["SPECTYPE"].to_numpy()
        sf = star_forming_subset(table, ojala)
        return cls(mag, mag < mag_limit, spectype == "GALAXY", spectype == "QSO", spectype == "STAR",
                   sf & (mag < mag_limit))


def star_forming_subset(table: pd.DataFrame, ojala: pd.DataFrame) -> np.ndarray:
    """The paper's SFR sample: true galaxies with true EW(Hα) > 3 Å and OJALA's σ(log SFR) < 0.5 dex."""
    return ((table["SPECTYPE"].to_numpy() == "GALAXY") & (table[_HALPHA_EW].to_numpy(float) > SF_EW_HALPHA_MIN)
            & (ojala["LOGSFR_ERR"].to_numpy(float) < SF_SIGMA_LOGSFR_MAX))


def _binned(x, key, metric, *arrays, **options) -> list[dict]:
    """`metrics.sliding_bins` as records ({key: centre, 'n': n, **metric}); none when x has no finite value."""
    x = np.asarray(x, dtype=float)
    if not np.isfinite(x).any():
        return []
    return [{key: centre, "n": n, **value} for centre, n, value in sliding_bins(x, metric, *arrays, **options)]


def _class_scores(true, predicted, labels, reported, min_count=1) -> dict:
    """Balanced purity/completeness/F1 of the `reported` classes; NaN for a class with < `min_count` members."""
    scores = purity_completeness_f1(true, predicted, labels)
    out = {}
    for c in reported:
        s = scores[c]
        out[c] = s if s["n"] >= max(min_count, 1) else {**s, "purity": np.nan, "completeness": np.nan, "f1": np.nan}
    return out


def classification_scores(true, predicted, classes, mag, bright, min_count) -> dict:
    """Weighted F1 and per-class purity/completeness/F1 at i < limit; the same vs i.

    In a magnitude bin, a class's scores are NaN unless it has ≥ `min_count` members there
    (the paper's rule); the bin's weighted F1 needs ≥ `min_count` objects in all.
    """
    true, predicted = np.asarray(true, dtype=object), np.asarray(predicted, dtype=object)
    known = np.isin(true, classes)
    labels = list(classes) + ["NONE"]  # an unpredicted object counts against completeness
    predicted = np.where(pd.isna(predicted), "NONE", predicted)
    sel = known & bright
    per_class = _class_scores(true[sel], predicted[sel], labels, classes)

    def in_bin(t, p):
        scores = _class_scores(t, p, labels, classes, min_count)
        return {"weighted_f1": weighted_f1(t, p, labels),
                **{f"{c}_{m}": scores[c][m] for c in classes for m in ("purity", "completeness", "f1")}}

    return {"weighted_f1": weighted_f1(true[sel], predicted[sel], labels), "n": int(sel.sum()),
            "classes": per_class,
            "vs_mag": _binned(mag[known], "mag", in_bin, true[known], predicted[known], min_count=min_count)}


def redshift_scores(z_pred, z_true, mag, sel, bright, min_count, z_step) -> dict:
    """Photo-z bias, σ_NMAD, η at i < limit; the same vs i (all magnitudes) and vs z (i < limit)."""
    z_pred, z_true = np.asarray(z_pred, dtype=float), np.asarray(z_true, dtype=float)
    ok = sel & np.isfinite(z_true)
    out = regression_summary(z_pred[ok & bright], z_true[ok & bright], redshift=True)

    def summary(p, t):
        return regression_summary(p, t, redshift=True)

    out["vs_mag"] = _binned(mag[ok], "mag", summary, z_pred[ok], z_true[ok], min_count=min_count)
    zb = ok & bright
    out["vs_z"] = _binned(z_true[zb], "z", summary, z_pred[zb], z_true[zb], step=z_step, half_width=z_step, start=0.0,
                          min_count=min_count)
    return out


def log_ew_scores(ew_pred, ew_true, sel) -> dict:
    """Scores in log10 EW [dex] of objects with a true EW > 0; predictions ≤ the floor count as the floor."""
    ew_pred, ew_true = np.asarray(ew_pred, dtype=float), np.asarray(ew_true, dtype=float)
    ok = sel & (ew_true > 0) & np.isfinite(ew_pred)
    out = regression_summary(np.log10(np.clip(ew_pred[ok], EW_FLOOR_ANGSTROM, None)), np.log10(ew_true[ok]))
    out["n_predicted_nonpositive"] = int((ew_pred[ok] <= 0).sum())
    return out


def _classes(labels) -> np.ndarray:
    labels = np.asarray(labels, dtype=object)
    return np.where(pd.isna(labels) | (labels == ""), "UNCLASSIFIED", labels)


def bpt_scores(truth: pd.DataFrame, pred: pd.DataFrame, sel) -> dict:
    """Per BPT curve, purity/completeness/F1 of SF and AGN (true class from the DESI line ratios)."""
    ok = sel & np.isfinite(truth["LOG_NII_HA"].to_numpy(float)) & np.isfinite(truth["LOG_OIII_HB"].to_numpy(float))
    out = {}
    for curve in BPT_CURVES:
        true, p = _classes(truth[f"BPT_{curve}"])[ok], _classes(pred[f"BPT_{curve}"])[ok]
        classes = ("SF", "AGN")
        out[curve] = {"n": int(ok.sum()), "classes": _class_scores(true, p, [*classes, "UNCLASSIFIED"], classes)}
    return out


def _passive(frame) -> np.ndarray:
    # The passive decision a table made (its WHAN_CLASS: a model's may come from P_WHAN_PASSIVE), else EW(Hα) < 3 Å.
    ew = frame[_HALPHA_EW].to_numpy(float)
    by_ew = ew < WHAN_CUTS["ew_passive"]
    if "WHAN_CLASS" not in frame:
        return by_ew
    cls = frame["WHAN_CLASS"].fillna("").astype(str).to_numpy()
    return np.where(cls != "", cls == "PASSIVE", by_ew)


def _whan_3class(frame, cut):
    # The WHAN classifier has the S06-equivalent x cut; shifting x moves it to `cut`.
    x = frame["LOG_NII_HA"].to_numpy(float) - cut + WHAN_CUTS["x_sf"]
    return whan_three_classes(whan_class(x, frame[_HALPHA_EW], _passive(frame)))


def whan_scores(truth: pd.DataFrame, pred: pd.DataFrame, sel) -> dict:
    """Per [NII]/Hα cut, purity/completeness/F1 of WHAN PASSIVE / SF / AGN (strong + weak AGN together)."""
    out = {}
    for name, cut in WHAN_NII_CUTS.items():
        true, p = _whan_3class(truth, cut), _whan_3class(pred, cut)
        ok = sel & (true != "UNCLASSIFIED")
        classes = ("PASSIVE", "SF", "AGN")
        out[name] = {"n": int(ok.sum()), "log_nii_ha_cut": cut,
                     "classes": _class_scores(true[ok], p[ok], [*classes, "UNCLASSIFIED"], classes)}
    return out


def _plain(pred, true, sel) -> dict:
    return regression_summary(np.asarray(pred, dtype=float)[sel], np.asarray(true, dtype=float)[sel])


def score_sample(table: pd.DataFrame, truth: pd.DataFrame, pred: pd.DataFrame, sel: Selection,
                 classes, min_count: int, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """Every section of the report for one predictor on one sample (columns it lacks are skipped)."""
    bright, gal = sel.bright, sel.galaxy
    out = {"classification": {"full": classification_scores(table["SPECTYPE"], pred["SPECTYPE"], classes, sel.mag,
                                                            bright, min_count)}}
    out["photoz"] = {kind: redshift_scores(pred[col], truth[col], sel.mag, mask, bright, min_count, Z_BINS[kind])
                     for kind, col, mask in (("galaxy", "Z_GAL", gal), ("qso", "Z_QSO", sel.qso))}
    out["stars"] = {t: _plain(pred[t], truth[t], sel.star & bright) for t in vocabulary.targets_for("STAR")}
    out["lines"] = {t: log_ew_scores(pred[t], truth[t], gal & bright) for t in vocabulary.line_ew_tokens.values()}
    for ratio in ("LOG_NII_HA", "LOG_OIII_HB"):
        out["lines"][ratio] = _plain(pred[ratio], truth[ratio], gal & bright)
    if "BPT_Ke01" in pred:
        out["bpt"] = bpt_scores(truth, pred, gal & bright)
        out["whan"] = whan_scores(truth, pred, gal & bright)
        strong = gal & bright & (truth[_HALPHA_EW].to_numpy(float) > 10)
        out["halpha_luminosity"] = {"all": _plain(pred["LOG_L_HALPHA"], truth["LOG_L_HALPHA"], gal & bright),
                                    "ew_gt_10": _plain(pred["LOG_L_HALPHA"], truth["LOG_L_HALPHA"], strong)}
    out["mass_sfr"] = {"LOGM": _plain(pred["LOGM"], truth["LOGM"], gal & bright),
                       "LOGSFR": _plain(pred["LOGSFR"], truth["LOGSFR"], gal & bright),
                       "LOGSFR_SF": _plain(pred["LOGSFR"], truth["LOGSFR"], sel.star_forming)}
    if "LOG_MBH" in pred and "LOG_MBH" in table:
        out["bh_mass"] = {"LOG_MBH": _plain(pred["LOG_MBH"], table["LOG_MBH"], sel.qso)}
    return out



def headline_scores(table: pd.DataFrame, pred: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """The headline scores of `pred` on the labelled rows of `table` (the caller applies any magnitude cut).

    One entry per default target of `vocabulary`: ``weighted_f1`` for SPECTYPE; redshifts as
    Δz/(1+z) on their class (QSOs above `HEADLINE_Z_MIN`, key ``Z_QSO_z>1.5``); EWs in log10
    EW [dex] (`log_ew_scores`); other labels as plain residuals on the classes they apply to;
    and ``LOGSFR_SF_err<0.5`` on `star_forming_subset`. Targets missing from `pred` are skipped.
    """
    out = {"n_objects": len(table)}
    spectype = table["SPECTYPE"].to_numpy() if "SPECTYPE" in table else np.full(len(table), None)
    everyone = np.ones(len(table), dtype=bool)
    for name in vocabulary.targets:
        token = vocabulary[name]
        if name not in pred or name not in table:
            continue
        if token.kind == CLASS:
            key = "weighted_f1" if name == "SPECTYPE" else f"{name}_weighted_f1"
            out[key] = classification_scores(table[name], pred[name], token.categories, everyone, everyone,
                                              1)["weighted_f1"]
            continue
        if token.kind != REGRESSION:
            continue
        sel = np.isin(spectype, token.applies_to) if token.applies_to else everyone.copy()
        true = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
        if token.is_redshift:
            z_min = HEADLINE_Z_MIN.get(name)
            key = name if z_min is None else f"{name}{_Z_CUT}{z_min:g}"
            if z_min is not None:
                sel &= true > z_min
            out[key] = regression_summary(pred[name].to_numpy(float)[sel], true[sel], redshift=True)
        elif token.line and token.transform == "asinh_ew":
            out[name] = {**log_ew_scores(pred[name].to_numpy(float), true, sel),
                         "units": "dex (log10 EW, true EW > 0)"}
        else:
            out[name] = _plain(pred[name], true, sel)
    if "LOGSFR_ERR" in pred and "LOGSFR" in table and _HALPHA_EW in table:
        sf = star_forming_subset(table, pred)
        out["LOGSFR_SF_err<0.5"] = _plain(pred["LOGSFR"], table["LOGSFR"], sf)
    return out
