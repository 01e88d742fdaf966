"""Token columns from photometry tables: the one table -> token conversion of mocks, VAC and explorer.

Narrow bands become f_ν ratios to iSDSS, Legacy fluxes become AB magnitudes; names come from
the vocabulary and missing stays NaN. Not for reading files (see `ojala_core.io`) nor for
DESI labels (see `ojala_core.mocks.tokens`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .photometry import MAG_PER_LN_FLUX, ab_from_nanomaggies
from .vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["narrow_band_tokens", "catalogue_tokens", "legacy_magnitude_tokens"]


def narrow_band_tokens(fnu, fnu_err, fnu_isdss, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
    """NB tokens: f_ν(band) / f_ν(iSDSS) and its error (shape only).

    Parameters
    ----------
    fnu, fnu_err : ndarray (n, 54)
        Narrow-band f_ν and 1σ errors, vocabulary order [erg s⁻¹ cm⁻² Hz⁻¹].
    fnu_isdss : ndarray (n,)
        iSDSS f_ν of the same photometry (NaN or ≤ 0: all NB tokens missing).
    """
    names = vocabulary.narrow_bands
    scale = np.where(np.asarray(fnu_isdss) > 0, fnu_isdss, np.nan)[:, None]
    ratio = fnu / scale
    err = fnu_err / scale
    out = {}
    for j, name in enumerate(names):
        out[name] = ratio[:, j]
        out[f"{name}_ERR"] = err[:, j]
    return out


def catalogue_tokens(jpas: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                     zero_points=None) -> pd.DataFrame:
    """Token table of J-PAS catalogue rows as read by `ojala_core.io.jpas` (ids, position, photometry),
    put on the synthetic system by `zero_points` (`ojala_core.zero_points.ZeroPoints`) when given."""
    nb = vocabulary.narrow_bands
    out = {"JPAS_ID": jpas["JPAS_ID"].to_numpy(), "RA": jpas["RA"].to_numpy(), "DEC": jpas["DEC"].to_numpy()}
    fnu, fnu_err = jpas[[f"FNU_{b}" for b in nb]].to_numpy(), jpas[[f"FNU_{b}_ERR" for b in nb]].to_numpy()
    out.update(narrow_band_tokens(fnu, fnu_err, jpas["FNU_iSDSS"].to_numpy(), vocabulary))
    out["MAG_i"], out["MAG_i_ERR"] = jpas["MAG_i"].to_numpy(), jpas["MAG_i_ERR"].to_numpy()
    for token in vocabulary.legacy_magnitudes.values():
        for col in (token, f"{token}_ERR"):
            out[col] = jpas[col].to_numpy() if col in jpas else np.full(len(jpas), np.nan)
    out["MORPHTYPE"] = jpas["MORPHTYPE"].to_numpy() if "MORPHTYPE" in jpas else np.full(len(jpas), None)
    frame = pd.DataFrame(out)
    return frame if zero_points is None else zero_points.apply(frame, vocabulary)


def legacy_magnitude_tokens(frame: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
    """MAG_G…MAG_W2 (and _ERR) from DESI/Legacy FLUX_* [nanomaggies] and FLUX_IVAR_*."""
    out = {}
    for band, token in vocabulary.legacy_magnitudes.items():
        if f"FLUX_{band}" not in frame:
            out[token] = out[f"{token}_ERR"] = np.full(len(frame), np.nan)
            continue
        flux = frame[f"FLUX_{band}"].to_numpy(float)
        ivar = frame.get(f"FLUX_IVAR_{band}", pd.Series(np.nan, index=frame.index)).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = MAG_PER_LN_FLUX / (flux * np.sqrt(ivar))
        mag = ab_from_nanomaggies(flux)
        ok = np.isfinite(mag) & np.isfinite(err) & (ivar > 0)
        out[token] = np.where(ok, mag, np.nan)
        out[f"{token}_ERR"] = np.where(ok, err, np.nan)
    return out
