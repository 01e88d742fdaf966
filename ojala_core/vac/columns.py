"""Derived VAC columns from model predictions: line fluxes, decrement, L(Hα), SFR(Hα), BPT/WHAN classes.

Pure table-in, columns-out. Not for running the model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..calibration import probability_below
from ..derived import balmer_decrement, halpha_attenuation, halpha_luminosity, line_flux, sfr_halpha
from ..diagnostics import BPT_CURVES, WHAN_CUTS, bpt_class, whan_class
from ..lines import EMISSION_LINES, MEASURED_LINES, lines_with_ew
from ..vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["derived_columns", "vac_units", "DERIVED_UNITS", "passive_threshold_of"]

# Units of the derived and bookkeeping VAC columns (predicted tokens take the vocabulary's).
DERIVED_UNITS = {**{f"{line}_FLUX{s}": "erg s-1 cm-2" for line in MEASURED_LINES for s in ("", "_ERR")},
                 "A_HALPHA": "mag", "A_HALPHA_ERR": "mag", "LOG_L_HALPHA": "dex(erg s-1)",
                 "LOG_L_HALPHA_ERR": "dex", "LOG_SFR_HALPHA": "dex(Msun yr-1)", "LOG_SFR_HALPHA_ERR": "dex",
                 "LOG_NII_HA": "dex", "LOG_OIII_HB": "dex", "MAG_i": "mag"}


def vac_units(columns, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """FITS/plot units of the VAC columns named in `columns` (those that have one)."""
    units = {}
    for name in columns:
        token = name[:-4] if name.endswith("_ERR") else name
        if name in DERIVED_UNITS:
            units[name] = DERIVED_UNITS[name]
        elif token in vocabulary and vocabulary[token].unit:
            units[name] = vocabulary[token].unit
    return units


def passive_threshold_of(model) -> float | None:
    """The decision threshold on ``P_WHAN_PASSIVE`` fitted with `model`'s calibration, or None."""
    calibration = getattr(model, "calibration", None)
    return calibration.thresholds.get("WHAN_PASSIVE") if calibration is not None else None


def derived_columns(pred: pd.DataFrame, mag_i, mag_i_err, passive_threshold: float | None = None,
                    vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """Derived quantities for galaxies (NaN elsewhere): ``{LINE}_FLUX`` and ``_ERR`` [erg s⁻¹ cm⁻²],
    ``BALMER_DECREMENT``, ``A_HALPHA`` [mag], ``LOG_L_HALPHA`` [dex erg s⁻¹], ``LOG_SFR_HALPHA``
    [dex Msun/yr, Salpeter], log line ratios, ``BPT_{Ke01,Ka03,S06}``, ``P_WHAN_PASSIVE`` (the
    probability that EW(Hα) < 3 Å under the predictive Gaussian) and ``WHAN_CLASS``.

    WHAN_CLASS is passive where EW(Hα) < 3 Å, or, given `passive_threshold` (a model's calibration,
    fitted on Test-Synth: `passive_threshold_of`), where ``P_WHAN_PASSIVE`` ≥ it.
    """
    n = len(pred)

    def column(name):       # a target the model lacks gives NaN derived columns, not a KeyError
        return pred[name].to_numpy(float) if name in pred else np.full(n, np.nan)

    galaxy = (pred["SPECTYPE"] == "GALAXY").to_numpy()
    z, z_err = column("Z_GAL"), column("Z_GAL_ERR")
    out, flux = {}, {}
    for ln in lines_with_ew():
        ew, cont = ln.ew_token, ln.continuum_token
        f, e = line_flux(column(ew), column(f"{ew}_ERR"), column(cont), column(f"{cont}_ERR"),
                         z, z_err, mag_i, np.nan_to_num(mag_i_err))
        flux[ln.name] = (np.where(galaxy, f, np.nan), np.where(galaxy, e, np.nan))
        out[f"{ln.name}_FLUX"], out[f"{ln.name}_FLUX_ERR"] = flux[ln.name]
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
    ew_name = EMISSION_LINES["HALPHA"].ew_token
    ew = column(ew_name)
    p_passive = (probability_below(vocabulary[ew_name], ew, column(f"{ew_name}_ERR"), WHAN_CUTS["ew_passive"])
                 if ew_name in vocabulary else np.full(n, np.nan))   # a vocabulary without the Hα EW: no probability
    out["P_WHAN_PASSIVE"] = np.where(galaxy, p_passive, np.nan)
    passive = None if passive_threshold is None else p_passive >= passive_threshold
    out["WHAN_CLASS"] = np.where(galaxy, whan_class(x, ew, passive), "")
    return out
