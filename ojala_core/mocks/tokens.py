"""Label tokens of DESI targets: VAC values with 1σ errors (from IVAR), named by the vocabulary.

Missing stays NaN. Not for photometry (see `ojala_core.tokens`) nor for file reading.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..extinction import milky_way_transmission
from ..lines import lines_with_ew
from ..vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["label_tokens"]


def _from_ivar(value, ivar):
    value = np.asarray(value, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    ok = np.isfinite(value) & np.isfinite(ivar) & (ivar > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, value, np.nan), np.where(ok, 1.0 / np.sqrt(ivar), np.nan)


def _reddening(line, zcat) -> np.ndarray:
    """10^(-0.4 A) of the Milky Way at `line` observed at each target's Z (1 without an EBV column)."""
    if "EBV" not in zcat:
        return np.ones(len(zcat))
    return milky_way_transmission(line.wavelength * (1 + zcat["Z"].to_numpy(float)), zcat["EBV"].to_numpy(float))


def label_tokens(zcat: pd.DataFrame, vacs: dict, isdss_flambda_1e17, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
    """Label tokens with errors for DESI targets (rows of `zcat`).

    Parameters
    ----------
    zcat : DataFrame
        DESI redshift catalogue rows (TARGETID, Z, ZERR, ZWARN, SPECTYPE; EBV [mag] when present:
        the FastSpecFit continua are then reddened back with `ojala_core.extinction`).
    vacs : dict
        kind -> VAC DataFrame indexed by TARGETID, columns as `ojala_core.io.desi_vacs.read_vac`
        names them (missing kinds allowed).
    isdss_flambda_1e17 : ndarray
        Synthetic iSDSS f_λ of each target's spectrum [1e-17 erg s⁻¹ cm⁻² Å⁻¹]
        (normalises the FastSpecFit continua, which are fibre quantities too).
    """
    n = len(zcat)
    tid = zcat["TARGETID"].to_numpy()
    spectype = zcat["SPECTYPE"].to_numpy()
    good_z = zcat["ZWARN"].to_numpy() == 0
    out = {"SPECTYPE": np.where(good_z, spectype, None)}
    for token in vocabulary.redshifts:        # DESI's Z is the redshift token of the object's class
        sel = good_z & np.isin(spectype, vocabulary[token].applies_to)
        out[token] = np.where(sel, zcat["Z"].to_numpy(float), np.nan)
        out[f"{token}_ERR"] = np.where(sel, zcat["ZERR"].to_numpy(float), np.nan)

    def lookup(kind, column):
        if kind not in vacs:
            return np.full(n, np.nan)
        return vacs[kind][column].reindex(tid).to_numpy(float)

    galaxy = good_z & (spectype == "GALAXY")
    # `read_vac` names the CIGALE, MWS and BH-mass outputs after the tokens they fill (any layout).
    for token in ("LOGM", "LOGSFR"):
        out[token] = np.where(galaxy, lookup("cigale", token), np.nan)
        out[f"{token}_ERR"] = np.where(galaxy, lookup("cigale", f"{token}_ERR"), np.nan)
    # FastSpecFit columns are named by the line table's prefix: {LINE}_EW, {LINE}_CONT (+ _IVAR).
    for ln in lines_with_ew():
        value, err = _from_ivar(lookup("fastspec", f"{ln.name}_EW"), lookup("fastspec", f"{ln.name}_EW_IVAR"))
        out[ln.ew_token], out[f"{ln.ew_token}_ERR"] = np.where(galaxy, value, np.nan), np.where(galaxy, err, np.nan)
        if ln.owns_continuum:
            value, err = _from_ivar(lookup("fastspec", f"{ln.name}_CONT"), lookup("fastspec", f"{ln.name}_CONT_IVAR"))
            # FastSpecFit measures continua on the Milky-Way-dereddened spectrum; the iSDSS they are
            # divided by is the raw coadd's, so redden them back at the observed wavelength (EBV given).
            scale = np.where(isdss_flambda_1e17 > 0, isdss_flambda_1e17, np.nan) / _reddening(ln, zcat)
            out[ln.continuum_token] = np.where(galaxy & (value > 0), value / scale, np.nan)
            out[f"{ln.continuum_token}_ERR"] = np.where(galaxy & (value > 0), err / scale, np.nan)
    star = good_z & (spectype == "STAR")
    for token in vocabulary.targets_for("STAR"):     # MWS columns carry the token names
        out[token] = np.where(star, lookup("mws", token), np.nan)
        out[f"{token}_ERR"] = np.where(star, lookup("mws", f"{token}_ERR"), np.nan)
    qso = good_z & (spectype == "QSO")
    out["LOG_MBH"] = np.where(qso, lookup("bhmass", "LOGMBH"), np.nan)
    out["LOG_MBH_ERR"] = np.where(qso, lookup("bhmass", "LOGMBH_ERR"), np.nan)
    return out
