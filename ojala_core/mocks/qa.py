"""QA plots of a mock build: narrow-band S/N vs iSDSS magnitude (mocks against real J-PAS, by class)
and the zero points of the real catalogue.

Not for the validation of the model (that is the report of the VAC stage).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..io.files import atomic_path
from ..vocabulary import DEFAULT_VOCABULARY as VOCAB
from ..zero_points import ZERO_POINTS_FILE, ZeroPoints, isdss_magnitude

__all__ = ["mocks_qa", "zero_points_qa", "QA_BANDS"]

# Narrow bands spanning the J-PAS range (nearest to these wavelengths [Å]).
QA_BANDS = tuple(VOCAB.nearest_narrow_band(w) for w in (3780.0, 5000.0, 6600.0, 9100.0))
_CLASSES = ("GALAXY", "QSO", "STAR")
_BINS = np.arange(15.0, 24.01, 0.25)


def _median_snr(frame, band):
    snr = (frame[band] / frame[f"{band}_ERR"]).to_numpy()
    mag = frame["MAG_i"].to_numpy()
    ok = np.isfinite(snr) & np.isfinite(mag)
    idx = np.digitize(mag[ok], _BINS)
    centres, medians = [], []
    for k in np.unique(idx):
        sel = idx == k
        if 0 < k < len(_BINS) and sel.sum() >= 5:
            centres.append(0.5 * (_BINS[k - 1] + _BINS[k]))
            medians.append(np.median(snr[ok][sel]))
    return np.array(centres), np.array(medians)


def mocks_qa(mock_dir, out=None, max_rows=200_000) -> Path:
    """Write ``qa_snr.png`` (or `out`): median NB S/N vs MAG_i per class, mocks vs real."""
    mock_dir = Path(mock_dir)
    columns = ["SPECTYPE", "MAG_i"] + [c for b in QA_BANDS for c in (b, f"{b}_ERR")]
    train = pd.read_parquet(mock_dir / "train.parquet", columns=columns)
    if len(train) > max_rows:
        train = train.sample(max_rows, random_state=0)
    real = pd.read_parquet(mock_dir / "test_real.parquet", columns=columns)
    unlabelled = pd.read_parquet(mock_dir / "jpas_unlabelled.parquet", columns=columns[1:])

    fig = Figure(figsize=(12, 3.2 * len(QA_BANDS)), layout="constrained")
    axes = fig.subplots(len(QA_BANDS), len(_CLASSES), sharex=True, sharey=True, squeeze=False)
    for row, band in enumerate(QA_BANDS):
        for col, cls in enumerate(_CLASSES):
            ax = axes[row, col]
            for frame, label, style in ((train[train["SPECTYPE"] == cls], "mocks (train)", "-"),
                                        (real[real["SPECTYPE"] == cls], "real (Test-Real)", "o"),
                                        (unlabelled, "real J-PAS-only (all classes)", ":")):
                x, y = _median_snr(frame, band)
                if len(x):
                    ax.plot(x, y, style, ms=3, label=f"{label}, n={len(frame)}")
            ax.axhline(5.0, color="k", lw=0.8)
            ax.set_yscale("log")
            ax.set_title(f"{cls}: {band} ({VOCAB[band].pivot_wavelength:.0f} Å)", fontsize=9)
            if row == len(QA_BANDS) - 1:
                ax.set_xlabel("MAG_i (iSDSS, AB)")
            if col == 0:
                ax.set_ylabel("median S/N of the NB flux")
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Narrow-band S/N vs iSDSS magnitude: mocks with borrowed errors against real J-PAS")
    path = Path(out) if out else mock_dir / "qa_snr.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path


def zero_points_qa(mock_dir, out=None) -> Path:
    """Write ``qa_zero_points.png`` (or `out`): the fitted offsets real − synthetic against wavelength."""
    mock_dir = Path(mock_dir)
    zp = ZeroPoints.load(mock_dir / ZERO_POINTS_FILE)
    bands = [b for b in VOCAB.narrow_bands if zp.n_stars.get(b, 0) > 0]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.subplots()
    if bands:
        wave = [VOCAB[b].pivot_wavelength for b in bands]
        ax.errorbar(wave, [zp.offsets[b] for b in bands], yerr=[zp.uncertainties[b] for b in bands],
                    fmt="o", ms=3, label=f"narrow band − iSDSS colour (up to {max(zp.n_stars.values())} stars)")
    i_mag = isdss_magnitude(VOCAB)
    if zp.n_stars.get(i_mag, 0):
        ax.axhline(zp.offsets[i_mag], color="C3", lw=1, label=f"{i_mag}: {zp.offsets[i_mag]:+.3f} mag")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("pivot wavelength [Å]")
    ax.set_ylabel("real − synthetic [mag]")
    ax.set_title(f"Zero points of the J-PAS catalogue against the synthetic photometry of matched "
                 f"{zp.mag_range[0]:g} ≤ MAG_i < {zp.mag_range[1]:g} stars", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(out) if out else mock_dir / "qa_zero_points.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path
