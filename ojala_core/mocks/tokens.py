"""Token columns from photometry and DESI labels, named by the vocabulary.

Narrow bands become f_ν ratios to iSDSS, Legacy fluxes become AB magnitudes, VAC values
become labels with 1σ errors (from IVAR). Missing stays NaN. Not for file reading.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..photometry import ab_from_nanomaggies
from ..vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["narrow_band_tokens", "legacy_magnitude_tokens", "label_tokens", "catalogue_tokens", "EW_LABELS",
           "CONT_LABELS"]

# FastSpecFit prefix -> EW token (vocabulary names)
EW_LABELS = {"HALPHA": "HALPHA_6562_EW", "HBETA": "HBETA_4861_EW", "OIII_5007": "OIII_5007_EW",
             "NII_6584": "NII_6584_EW"}
CONT_LABELS = {"HALPHA": "HALPHA_CONT", "HBETA": "HBETA_CONT"}
_LEGACY = {"G": "MAG_G", "R": "MAG_R", "Z": "MAG_Z", "W1": "MAG_W1", "W2": "MAG_W2"}


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


def catalogue_tokens(jpas: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> pd.DataFrame:
    """Token table of J-PAS catalogue rows as read by `ojala_core.io.jpas` (ids, position, photometry)."""
    nb = vocabulary.narrow_bands
    out = {"JPAS_ID": jpas["JPAS_ID"].to_numpy(), "RA": jpas["RA"].to_numpy(), "DEC": jpas["DEC"].to_numpy()}
    out.update(narrow_band_tokens(jpas[[f"FNU_{b}" for b in nb]].to_numpy(),
                                  jpas[[f"FNU_{b}_ERR" for b in nb]].to_numpy(), jpas["FNU_iSDSS"].to_numpy(), vocabulary))
    out["MAG_i"], out["MAG_i_ERR"] = jpas["MAG_i"].to_numpy(), jpas["MAG_i_ERR"].to_numpy()
    for token in _LEGACY.values():
        for col in (token, f"{token}_ERR"):
            out[col] = jpas[col].to_numpy() if col in jpas else np.full(len(jpas), np.nan)
    out["MORPHTYPE"] = jpas["MORPHTYPE"].to_numpy() if "MORPHTYPE" in jpas else np.full(len(jpas), None)
    return pd.DataFrame(out)


def legacy_magnitude_tokens(frame: pd.DataFrame):
    """MAG_G…MAG_W2 (and _ERR) from DESI/Legacy FLUX_* [nanomaggies] and FLUX_IVAR_*."""
    out = {}
    for band, token in _LEGACY.items():
        if f"FLUX_{band}" not in frame:
            out[token] = out[f"{token}_ERR"] = np.full(len(frame), np.nan)
            continue
        flux = frame[f"FLUX_{band}"].to_numpy(float)
        ivar = frame.get(f"FLUX_IVAR_{band}", pd.Series(np.nan, index=frame.index)).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = 1.0857 / (flux * np.sqrt(ivar))
        mag = ab_from_nanomaggies(flux)
        ok = np.isfinite(mag) & np.isfinite(err) & (ivar > 0)
        out[token] = np.where(ok, mag, np.nan)
        out[f"{token}_ERR"] = np.where(ok, err, np.nan)
    return out


def _from_ivar(value, ivar):
    value = np.asarray(value, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    ok = np.isfinite(value) & np.isfinite(ivar) & (ivar > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, value, np.nan), np.where(ok, 1.0 / np.sqrt(ivar), np.nan)


def label_tokens(zcat: pd.DataFrame, vacs: dict, isdss_flambda_1e17):
    """Label tokens with errors for DESI targets (rows of `zcat`).

    Parameters
    ----------
    zcat : DataFrame
        DESI redshift catalogue rows (TARGETID, Z, ZERR, ZWARN, SPECTYPE).
    vacs : dict
        kind -> VAC DataFrame indexed by TARGETID (missing kinds allowed).
    isdss_flambda_1e17 : ndarray
        Synthetic iSDSS f_λ of each target's spectrum [1e-17 erg s⁻¹ cm⁻² Å⁻¹]
        (normalises the FastSpecFit continua, which are fibre quantities too).
    """
    n = len(zcat)
    tid = zcat["TARGETID"].to_numpy()
    spectype = zcat["SPECTYPE"].to_numpy()
    good_z = zcat["ZWARN"].to_numpy() == 0
    out = {"SPECTYPE": np.where(good_z, spectype, None)}
    for token, cls in (("Z_GAL", "GALAXY"), ("Z_QSO", "QSO")):
        sel = good_z & (spectype == cls)
        out[token] = np.where(sel, zcat["Z"].to_numpy(float), np.nan)
        out[f"{token}_ERR"] = np.where(sel, zcat["ZERR"].to_numpy(float), np.nan)

    def lookup(kind, column):
        if kind not in vacs:
            return np.full(n, np.nan)
        return vacs[kind][column].reindex(tid).to_numpy(float)

    galaxy = good_z & (spectype == "GALAXY")
    for token, col in (("LOGM", "MASS_CG"), ("LOGSFR", "SFR_CG")):
        out[token] = np.where(galaxy, lookup("cigale", col), np.nan)
        out[f"{token}_ERR"] = np.where(galaxy, lookup("cigale", col.replace("_CG", "_ERR_CG")), np.nan)
    for line, token in EW_LABELS.items():
        value, err = _from_ivar(lookup("fastspec", f"{line}_EW"), lookup("fastspec", f"{line}_EW_IVAR"))
        out[token], out[f"{token}_ERR"] = np.where(galaxy, value, np.nan), np.where(galaxy, err, np.nan)
    for line, token in CONT_LABELS.items():
        value, err = _from_ivar(lookup("fastspec", f"{line}_CONT"), lookup("fastspec", f"{line}_CONT_IVAR"))
        scale = np.where(isdss_flambda_1e17 > 0, isdss_flambda_1e17, np.nan)
        out[token] = np.where(galaxy & (value > 0), value / scale, np.nan)
        out[f"{token}_ERR"] = np.where(galaxy & (value > 0), err / scale, np.nan)
    star = good_z & (spectype == "STAR")
    for token in ("TEFF", "LOGG", "FEH", "ALPHAFE"):
        out[token] = np.where(star, lookup("mws", token), np.nan)
        out[f"{token}_ERR"] = np.where(star, lookup("mws", f"{token}_ERR"), np.nan)
    qso = good_z & (spectype == "QSO")
    out["LOG_MBH"] = np.where(qso, lookup("bhmass", "LOGMBH_MGII"), np.nan)
    out["LOG_MBH_ERR"] = np.where(qso, lookup("bhmass", "LOGMBH_MGII_ERR"), np.nan)
    return out
