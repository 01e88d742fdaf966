"""Inverse-density object sampling with equal class mass (paper Appendix B).

Weights ∝ 1/(ρ(x) + ε) with ρ a Gaussian KDE evaluated on a grid (a smoothed histogram
of a ≤ 20,000-object subsample), in class-specific label spaces; each class gets total
probability 1/3. Not for the masking of tokens (see `masking`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

__all__ = ["object_weights", "density_weights"]

_GRID = 24          # cells per axis
_SUBSAMPLE = 20_000
_EPSILON = 0.05     # relative to the mean density: caps the weight of empty regions


def density_weights(features, rng, grid=_GRID, smoothing=1.0):
    """1/(ρ + ε) for points `features` (n, k), ρ a grid KDE normalised to mean 1 over the points."""
    x = np.asarray(features, dtype=float)
    n = len(x)
    if n == 0:
        return np.zeros(0)
    sample = x[rng.choice(n, min(n, _SUBSAMPLE), replace=False)]
    lo = np.nanpercentile(sample, 0.5, axis=0)
    hi = np.nanpercentile(sample, 99.5, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    edges = [np.linspace(a, b, grid + 1) for a, b in zip(lo, hi)]
    hist, _ = np.histogramdd(np.clip(sample, lo, hi), bins=edges)
    rho = gaussian_filter(hist, smoothing, mode="nearest")
    cell = tuple(np.clip(((np.clip(x[:, j], lo[j], hi[j]) - lo[j]) / (hi[j] - lo[j]) * grid).astype(int), 0, grid - 1)
                 for j in range(x.shape[1]))
    density = rho[cell]
    density = density / density.mean()
    return 1.0 / (density + _EPSILON)


def _log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(np.asarray(x, dtype=float) > 0, x, np.nan))


def object_weights(frame: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """Sampling weight of each training object (sums to 1, each class 1/3).

    Galaxies (z < 0.49): (log [OIII]/Hβ, log [NII]/Hα, log EW Hα) from EW ratios;
    0.49 ≤ z < 1.01: (log EW Hβ, log [OIII]/Hβ, log M); above: (log M, log SFR) — no [OII]
    token here; without labels: colours (g−r, r−z); times a flat-z weight. Stars:
    (Teff, log g, [Fe/H]). QSOs: flat in z. Objects without SPECTYPE (failed DESI redshifts)
    are not sampled.
    """
    rng = np.random.default_rng(seed)
    n = len(frame)
    weights = np.zeros(n)
    spectype = frame["SPECTYPE"].to_numpy()
    classes = [c for c in ("GALAXY", "STAR", "QSO") if (spectype == c).any()]
    for cls in classes:
        rows = np.flatnonzero(spectype == cls)
        sub = frame.iloc[rows]
        if cls == "STAR":
            w = _space_weights(sub[["TEFF", "LOGG", "FEH"]].to_numpy(float), rng)  # token-list: Appendix B space
        elif cls == "QSO":
            w = _flat_in(sub["Z_QSO"].to_numpy(float))
        else:
            w = _galaxy_weights(sub, rng)
        weights[rows] = w / w.sum() / len(classes)
    return weights / weights.sum()


def _space_weights(x, rng):
    ok = np.isfinite(x).all(axis=1)
    w = np.ones(len(x))
    if ok.sum() > 10:
        w[ok] = density_weights(x[ok], rng)
        w[~ok] = np.median(w[ok])
    return w


def _flat_in(z, bins=20):
    ok = np.isfinite(z)
    w = np.ones(len(z))
    if ok.sum() > 10:
        edges = np.linspace(z[ok].min(), z[ok].max() + 1e-9, bins + 1)
        counts, _ = np.histogram(z[ok], edges)
        w[ok] = 1.0 / counts[np.clip(np.digitize(z[ok], edges) - 1, 0, bins - 1)]
    return w


def _galaxy_weights(g, rng):
    z = g["Z_GAL"].to_numpy(float)
    log_m = g["LOGM"].to_numpy(float)
    ew_ha, ew_hb = g["HALPHA_6562_EW"].to_numpy(float), g["HBETA_4861_EW"].to_numpy(float)
    o3hb = _log(g["OIII_5007_EW"].to_numpy(float) / ew_hb)
    n2ha = _log(g["NII_6584_EW"].to_numpy(float) / ew_ha)
    colours = np.column_stack([g["MAG_G"] - g["MAG_R"], g["MAG_R"] - g["MAG_Z"]])
    spaces = [
        (z < 0.49, np.column_stack([o3hb, n2ha, _log(ew_ha)])),
        ((z >= 0.49) & (z < 1.01), np.column_stack([_log(ew_hb), o3hb, log_m])),
        (z >= 1.01, np.column_stack([log_m, g["LOGSFR"].to_numpy(float)])),
    ]
    w = np.full(len(g), np.nan)
    for sel, feats in spaces:
        ok = sel & np.isfinite(feats).all(axis=1)
        if ok.sum() > 10:
            w[ok] = density_weights(feats[ok], rng)
    rest = ~np.isfinite(w)
    ok = rest & np.isfinite(colours).all(axis=1)
    if ok.sum() > 10:
        w[ok] = density_weights(colours[ok], rng)
    w[~np.isfinite(w)] = np.nanmedian(w) if np.isfinite(w).any() else 1.0
    return w * _flat_in(z)
