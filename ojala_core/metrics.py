"""Validation metrics of the paper (DESIGN §11): photo-z and regression scores, balanced classification scores.

Pure functions on arrays. Not for plotting or for choosing which objects to score.
"""
from __future__ import annotations

import numpy as np

__all__ = ["delta_z", "bias", "sigma_nmad", "outlier_fraction", "regression_summary",
           "balanced_confusion", "purity_completeness_f1", "weighted_f1", "sliding_bins",
           "OUTLIER_THRESHOLD"]

OUTLIER_THRESHOLD = 0.15  # |Δz| above which a photo-z is an outlier


def delta_z(z_phot, z_spec):
    """Δz = (z_phot − z_spec) / (1 + z_spec)."""
    z_spec = np.asarray(z_spec, dtype=float)
    return (np.asarray(z_phot, dtype=float) - z_spec) / (1.0 + z_spec)


def _finite(x):
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def bias(residual):
    """Median residual (NaN-ignoring)."""
    r = _finite(residual)
    return float(np.median(r)) if r.size else np.nan


def sigma_nmad(residual):
    """Normalised median absolute deviation: 1.48 median|r − median r|."""
    r = _finite(residual)
    return float(1.48 * np.median(np.abs(r - np.median(r)))) if r.size else np.nan


def outlier_fraction(residual, threshold=OUTLIER_THRESHOLD):
    """Fraction of |r| > threshold (η for photo-z with the default 0.15)."""
    r = _finite(residual)
    return float(np.mean(np.abs(r) > threshold)) if r.size else np.nan


def regression_summary(predicted, true, redshift=False):
    """bias, σ_NMAD, outlier fraction (redshift only) and n of predicted − true.

    Residuals are (1+z)-normalised for redshift, plain (dex, K …) otherwise.
    """
    pred = np.asarray(predicted, dtype=float)
    true = np.asarray(true, dtype=float)
    residual = delta_z(pred, true) if redshift else pred - true
    out = {"bias": bias(residual), "sigma_nmad": sigma_nmad(residual), "n": int(np.isfinite(residual).sum())}
    if redshift:
        out["outlier_fraction"] = outlier_fraction(residual)
    return out


def balanced_confusion(true, predicted, classes):
    """Row-normalised confusion matrix C̃_ij = C_ij / Σ_j C_ij (rows: true class)."""
    true = np.asarray(true)
    predicted = np.asarray(predicted)
    counts = np.array([[np.sum((true == a) & (predicted == b)) for b in classes] for a in classes], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / counts.sum(axis=1, keepdims=True)


def purity_completeness_f1(true, predicted, classes):
    """Balanced purity, completeness and F1 per class (DESIGN §11).

    completeness_i = C̃_ii; purity_i = C̃_ii / Σ_k C̃_ki; F1 their harmonic mean.
    Returns a dict class -> {'purity', 'completeness', 'f1', 'n'}.
    """
    c = balanced_confusion(true, predicted, classes)
    out = {}
    for i, cls in enumerate(classes):
        completeness = c[i, i]
        column = np.nansum(c[:, i])
        purity = c[i, i] / column if column > 0 else np.nan
        f1 = 2 * purity * completeness / (purity + completeness) if purity + completeness > 0 else 0.0
        out[cls] = {"purity": float(purity), "completeness": float(completeness), "f1": float(f1),
                    "n": int(np.sum(np.asarray(true) == cls))}
    return out


def weighted_f1(true, predicted, classes):
    """Global F1 weighted by inverse class frequency (a rare class weighs more per object)."""
    scores = purity_completeness_f1(true, predicted, classes)
    present = [c for c in classes if scores[c]["n"] > 0]
    weights = np.array([1.0 / scores[c]["n"] for c in present])
    f1 = np.array([scores[c]["f1"] for c in present])
    return float(np.sum(weights * f1) / np.sum(weights)) if present else np.nan


def sliding_bins(magnitude, metric, *args, start=None, stop=None, step=0.3, half_width=0.3, min_count=100):
    """A metric in sliding magnitude bins (centres every `step`, ± `half_width`).

    Parameters
    ----------
    magnitude : array_like
        e.g. iSDSS magnitudes [AB].
    metric : callable
        Called as ``metric(*(a[in_bin] for a in args))`` and returning a float or dict.
    min_count : int
        Bins with fewer objects are skipped (the paper uses 100 per class).

    Returns
    -------
    list of (centre, n, value)
    """
    mag = np.asarray(magnitude, dtype=float)
    ok = np.isfinite(mag)
    start = np.floor(np.min(mag[ok]) / step) * step if start is None else start
    stop = np.max(mag[ok]) if stop is None else stop
    out = []
    for centre in np.arange(start, stop + 1e-9, step):
        sel = ok & (np.abs(mag - centre) <= half_width + 1e-9)
        if sel.sum() >= min_count:
            out.append((round(float(centre), 4), int(sel.sum()), metric(*(np.asarray(a)[sel] for a in args))))
    return out
