"""Derived VAC columns from model predictions: line fluxes, decrement, L(Hα), SFR(Hα), BPT/WHAN classes.

Pure table-in, columns-out. Not for running the model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..derived import LINE_CONTINUUM, balmer_decrement, halpha_attenuation, halpha_luminosity, line_flux, sfr_halpha
from ..diagnostics import BPT_CURVES, bpt_class, whan_class

__all__ = ["derived_columns", "vac_units", "LINE_EW_TOKENS", "DERIVED_UNITS"]

LINE_EW_TOKENS = {"HALPHA": "HALPHA_6562_EW", "HBETA": "HBETA_4861_EW", "OIII_5007": "OIII_5007_EW",
                  "NII_6584": "NII_6584_EW"}

# Units of the derived and bookkeeping VAC columns (predicted tokens take the vocabulary's).
DERIVED_UNITS = {**{f"{line}_FLUX{s}": "erg s-1 cm-2" for line in LINE_EW_TOKENS for s in ("", "_ERR")},
                 "A_HALPHA": "mag", "A_HALPHA_ERR": "mag", "LOG_L_HALPHA": "dex(erg s-1)",
                 "LOG_L_HALPHA_ERR": "dex", "LOG_SFR_HALPHA": "dex(Msun yr-1)", "LOG_SFR_HALPHA_ERR": "dex",
                 "LOG_NII_HA": "dex", "LOG_OIII_HB": "dex", "MAG_i": "mag"}


def vac_units(columns) -> dict:
    """FITS/plot units of the VAC columns named in `columns` (those that have one)."""
    from ..vocabulary import DEFAULT_VOCABULARY

    units = {}
    for name in columns:
        token = name[:-4] if name.endswith("_ERR") else name
        if name in DERIVED_UNITS:
            units[name] = DERIVED_UNITS[name]
        elif token in DEFAULT_VOCABULARY and DEFAULT_VOCABULARY[token].unit:
            units[name] = DEFAULT_VOCABULARY[token].unit
    return units


def derived_columns(pred: pd.DataFrame, mag_i, mag_i_err) -> dict:
    """Derived quantities for galaxies (NaN elsewhere): ``{LINE}_FLUX`` and ``_ERR`` [erg s⁻¹ cm⁻²],
    ``BALMER_DECREMENT``, ``A_HALPHA`` [mag], ``LOG_L_HALPHA`` [dex erg s⁻¹], ``LOG_SFR_HALPHA``
    [dex Msun/yr, Salpeter], log line ratios, ``BPT_{Ke01,Ka03,S06}`` and ``WHAN_CLASS``."""
    galaxy = (pred["SPECTYPE"] == "GALAXY").to_numpy()
    z, z_err = pred["Z_GAL"].to_numpy(float), pred["Z_GAL_ERR"].to_numpy(float)
    out, flux = {}, {}
    for line, ew_token in LINE_EW_TOKENS.items():
        cont = LINE_CONTINUUM[line]
        f, e = line_flux(pred[ew_token], pred[f"{ew_token}_ERR"], pred[cont], pred[f"{cont}_ERR"],
                         z, z_err, mag_i, np.nan_to_num(mag_i_err))
        flux[line] = (np.where(galaxy, f, np.nan), np.where(galaxy, e, np.nan))
        out[f"{line}_FLUX"], out[f"{line}_FLUX_ERR"] = flux[line]
    decrement, decrement_err = balmer_decrement(*flux["HALPHA"], *flux["HBETA"])
    a_ha, a_ha_err = halpha_attenuation(decrement, decrement_err)
    lum, lum_err = halpha_luminosity(*flux["HALPHA"], z, np.nan_to_num(a_ha), np.nan_to_num(a_ha_err))
    sfr, sfr_err = sfr_halpha(lum, lum_err)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["BALMER_DECREMENT"], out["BALMER_DECREMENT_ERR"] = decrement, decrement_err
        out["A_HALPHA"], out["A_HALPHA_ERR"] = a_ha, a_ha_err
        out["LOG_L_HALPHA"] = np.where(lum > 0, np.log10(lum), np.nan)
        out["LOG_L_HALPHA_ERR"] = lum_err / (lum * np.log(10))
        out["LOG_SFR_HALPHA"] = np.where(sfr > 0, np.log10(sfr), np.nan)
        out["LOG_SFR_HALPHA_ERR"] = out["LOG_L_HALPHA_ERR"]
        x = np.log10(np.where(flux["HALPHA"][0] > 0, flux["NII_6584"][0] / flux["HALPHA"][0], np.nan))
        y = np.log10(np.where(flux["HBETA"][0] > 0, flux["OIII_5007"][0] / flux["HBETA"][0], np.nan))
    out["LOG_NII_HA"], out["LOG_OIII_HB"] = x, y
    for curve in BPT_CURVES:
        out[f"BPT_{curve}"] = np.where(galaxy, bpt_class(x, y, curve), "")
    out["WHAN_CLASS"] = np.where(galaxy, whan_class(x, pred["HALPHA_6562_EW"].to_numpy(float)), "")
    return out
