"""Are the model's errors and probabilities right? Coverage, PIT and ECE, and a post-hoc calibration.

A regression prediction is a Gaussian (mean, σ) in the token's transformed space (asinh for
EWs); its standardised residual r = (truth − mean)/σ_total, with σ_total² = σ² + σ_label²,
is N(0, 1) when σ is right: 68.3 % of |r| < 1, 95.4 % < 2, PIT = Φ(r) uniform. Class
probabilities are right when, among objects given P(top class) ≈ c, a fraction c is that
class (expected calibration error, ECE). `fit_calibration` fits one σ scale per target and one
softmax temperature on a labelled table (Test-Synth: never the Test-Real it is judged on);
the result lives in ``MODEL/calibration.json`` and `predict` applies it. The same file holds
decision thresholds on probabilities that the calibrated Gaussians give (`probability_below`,
`fit_probability_threshold`: the WHAN passive class). Not for scoring accuracy (see `scoring`).
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

from .io.files import weights_digest, write_json
from .vocabulary import EW_SCALE_ANGSTROM, REGRESSION, TRANSFORMS, Vocabulary

__all__ = ["standardised_residuals", "coverage", "fit_sigma_scale", "reliability", "fit_temperature", "tempered",
           "calibration_scores", "fit_calibration", "Calibration", "ONE_SIGMA", "TWO_SIGMA",
           "PIT_BINS", "probability_below", "fit_probability_threshold", "THRESHOLD_GRID"]

log = logging.getLogger(__name__)

ONE_SIGMA = float(math.erf(1 / math.sqrt(2)))       # 0.6827: a Gaussian's mass within ±1σ
TWO_SIGMA = float(math.erf(2 / math.sqrt(2)))       # 0.9545
PIT_BINS = 10
ECE_BINS = 10
MIN_OBJECTS = 20                                    # fewer labelled objects: no coverage, no fit
CALIBRATION_FILE = "calibration.json"
THRESHOLD_GRID = np.round(np.arange(0.02, 0.981, 0.01), 2)   # candidate decision thresholds on a probability


def _transformed(token, value):
    forward, _ = TRANSFORMS[token.transform]
    return forward(np.asarray(value, dtype=float))


def _transformed_sigma(token, pred, sigma):
    """σ in the transformed space from the physical σ `predict` reports (its first-order map undone)."""
    sigma = np.asarray(sigma, dtype=float)
    if token.transform == "asinh_ew":
        return sigma / (EW_SCALE_ANGSTROM * np.cosh(_transformed(token, pred)))
    return sigma


def standardised_residuals(token, true, pred, sigma, label_sigma=None) -> np.ndarray:
    """(truth − prediction)/σ_total in the token's transformed space; NaN where anything is missing.

    Parameters
    ----------
    token : vocabulary Token (its transform; asinh EWs are compared in asinh space)
    true, pred, sigma : arrays in physical units (σ as `predict`'s ``NAME_ERR``)
    label_sigma : the truth's own 1σ (``NAME_ERR`` of the label), optional
    """
    pred = np.asarray(pred, dtype=float)
    s = _transformed_sigma(token, pred, sigma)
    if label_sigma is not None:
        label = np.nan_to_num(standardised_label(token, true, label_sigma), nan=0.0)
        s = np.hypot(s, np.clip(label, 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (_transformed(token, true) - _transformed(token, pred)) / s
    return np.where(np.isfinite(r) & (s > 0), r, np.nan)


def probability_below(token, pred, sigma, limit) -> np.ndarray:
    """P(value < `limit`) under the predictive Gaussian (mean `pred`, 1σ `sigma` as `predict` reports
    them, physical units) in the token's transformed space; NaN where the prediction is missing."""
    pred = np.asarray(pred, dtype=float)
    s = _transformed_sigma(token, pred, sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (_transformed(token, limit) - _transformed(token, pred)) / s
    return np.where(np.isfinite(z) & (s > 0), ndtr(z), np.nan)


def fit_probability_threshold(probability, true_labels, labels_for, grid=THRESHOLD_GRID) -> dict:
    """The threshold p* on `probability` whose decisions score best: the mean F1 over the classes of
    `true_labels` of the labels ``labels_for(probability >= p*)``, ties to the threshold nearest 0.5.

    Returns ``{"threshold", "mean_f1", "mean_f1_at_half"}`` (the score at p* and at 0.5); with fewer
    than `MIN_OBJECTS` labelled objects the threshold is 0.5.
    """
    probability, true_labels = np.asarray(probability, dtype=float), np.asarray(true_labels)
    classes = sorted(set(true_labels.tolist()))

    def mean_f1(threshold):
        predicted = np.asarray(labels_for(np.nan_to_num(probability, nan=-1.0) >= threshold))
        scores = []
        for c in classes:
            tp = np.sum((predicted == c) & (true_labels == c))
            denominator = np.sum(predicted == c) + np.sum(true_labels == c)
            scores.append(2 * tp / denominator if denominator else 0.0)
        return float(np.mean(scores))

    if len(true_labels) < MIN_OBJECTS:
        return {"threshold": 0.5, "mean_f1": None, "mean_f1_at_half": None}
    scores = np.array([mean_f1(t) for t in grid])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    threshold = float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])
    return {"threshold": threshold, "mean_f1": round(float(scores.max()), 4),
            "mean_f1_at_half": round(mean_f1(0.5), 4)}


def coverage(r) -> dict:
    """Fractions of |r| < 1 and < 2 and the PIT histogram (density per bin, 1 for a uniform PIT)."""
    r = np.asarray(r, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < MIN_OBJECTS:
        return {"n": int(len(r)), "within_1sigma": None, "within_2sigma": None, "pit_histogram": None}
    counts, _ = np.histogram(ndtr(r), bins=PIT_BINS, range=(0.0, 1.0))
    return {"n": int(len(r)), "within_1sigma": float(np.mean(np.abs(r) < 1)),
            "within_2sigma": float(np.mean(np.abs(r) < 2)),
            "pit_histogram": (counts * PIT_BINS / len(r)).round(4).tolist()}


def fit_sigma_scale(residual, sigma, label_sigma=None, target=ONE_SIGMA) -> float:
    """Factor s for σ (labels' σ unchanged) that puts a fraction `target` of objects within ±1 σ_total.

    All arrays in the same (transformed) space; bisection in log s over [1e-3, 1e3].
    """
    residual, sigma = np.abs(np.asarray(residual, dtype=float)), np.asarray(sigma, dtype=float)
    label = np.zeros_like(sigma) if label_sigma is None else np.nan_to_num(np.asarray(label_sigma, dtype=float))
    ok = np.isfinite(residual) & np.isfinite(sigma) & (sigma > 0)
    residual, sigma, label = residual[ok], sigma[ok], label[ok]
    if len(residual) < MIN_OBJECTS:
        return 1.0

    def covered(log_s):
        return np.mean(residual < np.hypot(np.exp(log_s) * sigma, label))

    lo, hi = math.log(1e-3), math.log(1e3)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if covered(mid) < target else (lo, mid)
    return float(math.exp(0.5 * (lo + hi)))


def reliability(p, true_index, bins=ECE_BINS) -> dict:
    """Expected calibration error of the top class and the reliability diagram's bins.

    p : (n, k) class probabilities; true_index : (n,) index of the true class (−1: unknown, skipped).
    """
    p, true_index = np.asarray(p, dtype=float), np.asarray(true_index)
    ok = np.isfinite(p).all(axis=1) & (true_index >= 0)
    p, true_index = p[ok], true_index[ok]
    if len(p) == 0:
        return {"n": 0, "ece": None, "bins": []}
    confidence, right = p.max(axis=1), p.argmax(axis=1) == true_index
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
            ece += inside.mean() * abs(acc - conf)
            rows.append({"confidence": round(conf, 4), "accuracy": round(acc, 4), "n": int(inside.sum())})
    return {"n": int(len(p)), "ece": float(ece), "bins": rows}


def tempered(p, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same ranking, sharper (T < 1) or softer (T > 1)."""
    logits = np.log(np.clip(np.asarray(p, dtype=float), 1e-12, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(p, true_index) -> float:
    """T minimising the negative log-likelihood of the true classes (golden section on log T in [0.05, 20])."""
    p, true_index = np.asarray(p, dtype=float), np.asarray(true_index)
    ok = np.isfinite(p).all(axis=1) & (true_index >= 0)
    p, true_index = p[ok], true_index[ok]
    if len(p) < MIN_OBJECTS:
        return 1.0

    def nll(log_t):
        q = tempered(p, math.exp(log_t))
        return -np.mean(np.log(np.clip(q[np.arange(len(q)), true_index], 1e-12, None)))

    lo, hi, g = math.log(0.05), math.log(20.0), (math.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        lo, hi = (lo, b) if nll(a) < nll(b) else (a, hi)
    return float(math.exp(0.5 * (lo + hi)))


def _regression_rows(table, vocabulary: Vocabulary, pred):
    """(token, rows of its class) for each regression target `pred` answers with an error."""
    spectype = table["SPECTYPE"].to_numpy() if "SPECTYPE" in table else np.full(len(table), None)
    for name in vocabulary.targets:
        token = vocabulary[name]
        if token.kind != REGRESSION or name not in table or f"{name}_ERR" not in pred:
            continue
        rows = np.isin(spectype, token.applies_to) if token.applies_to else np.ones(len(table), dtype=bool)
        yield token, rows


def _class_inputs(table, pred, vocabulary: Vocabulary, name="SPECTYPE"):
    categories = list(vocabulary[name].categories)
    columns = [f"P_{name}_{c}" for c in categories]
    if name not in table or not all(c in pred for c in columns):
        return None, None
    truth = table[name].to_numpy()
    index = np.array([categories.index(t) if t in categories else -1 for t in truth])
    return pred[columns].to_numpy(float), index


def _residuals(table, pred, token, rows):
    true = pd.to_numeric(table[token.name], errors="coerce").to_numpy(float)[rows]
    label = table[f"{token.name}_ERR"].to_numpy(float)[rows] if f"{token.name}_ERR" in table else None
    return standardised_residuals(token, true, pred[token.name].to_numpy(float)[rows],
                                  pred[f"{token.name}_ERR"].to_numpy(float)[rows], label)


def calibration_scores(table: pd.DataFrame, pred: pd.DataFrame, vocabulary: Vocabulary,
                       calibration: "Calibration | None" = None) -> dict:
    """Coverage and PIT of every regression target with an error, and the SPECTYPE reliability.

    Objects are those of each target's classes (true SPECTYPE) with a label; the caller applies
    any magnitude cut. Given the `calibration` that `pred` went through, the same numbers
    before it (``raw``) are added.
    """
    out = {"regression": {}, "classification": {}}
    for token, rows in _regression_rows(table, vocabulary, pred):
        r = _residuals(table, pred, token, rows)
        entry = coverage(r)
        scale = calibration.sigma_scale.get(token.name, 1.0) if calibration else 1.0
        if scale != 1.0:
            raw = pred.copy()
            raw[f"{token.name}_ERR"] = raw[f"{token.name}_ERR"] / scale
            entry["raw"] = coverage(_residuals(table, raw, token, rows))
            entry["sigma_scale"] = scale
        out["regression"][token.name] = entry
    p, index = _class_inputs(table, pred, vocabulary)
    if p is not None:
        entry = reliability(p, index)
        temperature = calibration.temperature.get("SPECTYPE", 1.0) if calibration else 1.0
        if temperature != 1.0:
            entry["raw"] = reliability(tempered(p, 1.0 / temperature), index)
            entry["temperature"] = temperature
        out["classification"]["SPECTYPE"] = entry
    return out


class Calibration:
    """σ scale per regression target, softmax temperature per class token and decision thresholds
    (name -> probability, e.g. ``WHAN_PASSIVE``), for one set of weights."""

    def __init__(self, sigma_scale: dict | None = None, temperature: dict | None = None, about: dict | None = None,
                 thresholds: dict | None = None):
        self.sigma_scale = dict(sigma_scale or {})
        self.temperature = dict(temperature or {})
        self.thresholds = dict(thresholds or {})
        self.about = dict(about or {})

    def save(self, model_dir):
        write_json(Path(model_dir) / CALIBRATION_FILE,
                   {**self.about, "weights_sha256": weights_digest(model_dir), "sigma_scale": self.sigma_scale,
                    "temperature": self.temperature, "thresholds": self.thresholds})

    @classmethod
    def load(cls, model_dir) -> "Calibration | None":
        """``MODEL/calibration.json`` when present and fitted to these weights, else None (with a warning)."""
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            scales = {str(k): float(v) for k, v in record["sigma_scale"].items()}
            temps = {str(k): float(v) for k, v in record["temperature"].items()}
            thresholds = {str(k): float(v) for k, v in record.get("thresholds", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not a calibration file ({exc}) — remake it with 'ojala calibrate'") from None
        bad = [k for k, v in {**scales, **temps}.items() if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"{path}: scale or temperature of {bad} is not a positive number")
        bad = [k for k, v in thresholds.items() if not 0 < v < 1]
        if bad:
            raise ValueError(f"{path}: threshold of {bad} is not a probability between 0 and 1")
        if record.get("weights_sha256") != weights_digest(model_dir):
            log.warning("%s was fitted to other weights: ignored (remake it with 'ojala calibrate')", path)
            return None
        return cls(scales, temps, {k: v for k, v in record.items() if k not in ("sigma_scale", "temperature",
                                                                               "thresholds")}, thresholds)


def fit_calibration(table: pd.DataFrame, pred: pd.DataFrame, vocabulary: Vocabulary, about: dict) -> Calibration:
    """σ scales and the SPECTYPE temperature fitted on labelled `table` and uncalibrated predictions `pred`."""
    scales = {}
    for token, rows in _regression_rows(table, vocabulary, pred):
        true = pd.to_numeric(table[token.name], errors="coerce").to_numpy(float)[rows]
        mean = pred[token.name].to_numpy(float)[rows]
        residual = _transformed(token, true) - _transformed(token, mean)
        sigma = _transformed_sigma(token, mean, pred[f"{token.name}_ERR"].to_numpy(float)[rows])
        label = None
        if f"{token.name}_ERR" in table:
            label = standardised_label(token, true, table[f"{token.name}_ERR"].to_numpy(float)[rows])
        if np.isfinite(residual).sum() >= MIN_OBJECTS:
            scales[token.name] = round(fit_sigma_scale(residual, sigma, label), 4)
    temperature = {}
    p, index = _class_inputs(table, pred, vocabulary)
    if p is not None:
        temperature["SPECTYPE"] = round(fit_temperature(p, index), 4)
    return Calibration(scales, temperature, about)


def standardised_label(token, true, label_sigma):
    """A label's 1σ in the token's transformed space."""
    label = np.asarray(label_sigma, dtype=float)
    if token.transform == "asinh_ew":
        return label / (EW_SCALE_ANGSTROM * np.cosh(_transformed(token, true)))
    return label

