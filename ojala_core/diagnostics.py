"""Emission-line diagnostic diagrams: BPT demarcation curves and WHAN cuts, and classifiers.

Pure functions of line ratios and EWs (arrays in, arrays out). Not for measuring the
lines themselves.
"""
from __future__ import annotations

import numpy as np

__all__ = ["BPT_CURVES", "WHAN_CUTS", "bpt_curve", "bpt_class", "whan_class", "whan_three_classes",
           "BPT_CLASSES", "WHAN_CLASSES"]


def _kewley01(x):
    # Kewley et al. (2001) maximum starburst line.
    return 0.61 / (x - 0.47) + 1.19


def _kauffmann03(x):
    # Kauffmann et al. (2003) empirical star-forming boundary.
    return 0.61 / (x - 0.05) + 1.30


def _stasinska06(x):
    # Stasińska et al. (2006) pure star-forming boundary.
    return (-30.787 + 1.1358 * x + 0.27297 * x ** 2) * np.tanh(5.7409 * x) - 31.093


# name -> (curve y(x), the x asymptote: points at x >= it are always above the curve)
BPT_CURVES = {
    "Ke01": (_kewley01, 0.47),
    "Ka03": (_kauffmann03, 0.05),
    "S06": (_stasinska06, None),
}

# Cid Fernandes et al. (2011): x = log([NII]/Hα), EW(Hα) in Å (emission positive).
WHAN_CUTS = {"ew_passive": 3.0, "x_sf": -0.40, "ew_strong_agn": 6.0}

BPT_CLASSES = ("SF", "AGN", "UNCLASSIFIED")
WHAN_CLASSES = ("PASSIVE", "SF", "SAGN", "WAGN", "UNCLASSIFIED")


def bpt_curve(name, x):
    """y = log([OIII]/Hβ) of a demarcation curve at x = log([NII]/Hα).

    Returns NaN beyond a hyperbola's asymptote, where the curve is not defined.
    """
    func, asymptote = BPT_CURVES[name]
    x = np.asarray(x, dtype=float)
    y = func(x)
    return np.where(x < asymptote, y, np.nan) if asymptote is not None else y


def bpt_class(log_nii_ha, log_oiii_hb, curve="Ke01"):
    """BPT class per object: 'SF' below `curve`, 'AGN' above; 'UNCLASSIFIED' if a ratio is NaN.

    Parameters
    ----------
    log_nii_ha, log_oiii_hb : array_like
        log10 line ratios [dex].
    curve : {'Ke01', 'Ka03', 'S06'}
    """
    func, asymptote = BPT_CURVES[curve]
    x = np.asarray(log_nii_ha, dtype=float)
    y = np.asarray(log_oiii_hb, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        above = y > func(x)
    if asymptote is not None:
        above |= x >= asymptote
    out = np.where(above, "AGN", "SF").astype(object)
    out[~(np.isfinite(x) & np.isfinite(y))] = "UNCLASSIFIED"
    return out.astype(str)


def whan_class(log_nii_ha, ew_halpha, passive=None):
    """WHAN class per object (Cid Fernandes et al. 2011).

    Parameters
    ----------
    log_nii_ha : array_like
        log10([NII]6584/Hα) [dex].
    ew_halpha : array_like
        Rest-frame EW(Hα) [Å], emission positive.
    passive : array_like of bool, optional
        Which objects are passive, decided by the caller (e.g. from the probability that
        EW(Hα) < 3 Å); default EW(Hα) < 3 Å. The other classes split the rest as below.

    Returns
    -------
    ndarray of str: 'PASSIVE' (EW < 3, retired/passive), 'SF' (x < -0.4, EW ≥ 3),
    'SAGN' (x ≥ -0.4, EW > 6), 'WAGN' (x ≥ -0.4, 3 ≤ EW ≤ 6, LINER/weak AGN),
    'UNCLASSIFIED' (missing values).
    """
    x = np.asarray(log_nii_ha, dtype=float)
    ew = np.asarray(ew_halpha, dtype=float)
    c = WHAN_CUTS
    out = np.full(np.broadcast(x, ew).shape, "UNCLASSIFIED", dtype=object)
    if passive is None:
        passive = ew < c["ew_passive"]
    passive = np.isfinite(ew) & np.asarray(passive, dtype=bool)
    ok = np.isfinite(x) & np.isfinite(ew) & ~passive
    out[passive] = "PASSIVE"
    out[ok & (x < c["x_sf"])] = "SF"
    out[ok & (x >= c["x_sf"]) & (ew > c["ew_strong_agn"])] = "SAGN"
    out[ok & (x >= c["x_sf"]) & (ew <= c["ew_strong_agn"])] = "WAGN"
    return out.astype(str)


def whan_three_classes(labels):
    """WHAN labels with strong and weak AGN merged: 'PASSIVE', 'SF', 'AGN' (or 'UNCLASSIFIED')."""
    labels = np.asarray(labels)
    return np.where(np.isin(labels, ["SAGN", "WAGN"]), "AGN", labels)
