"""Derived quantities of the VAC (DESIGN §9): line fluxes, Balmer decrement, dust-corrected L(Hα), SFR(Hα).

Pure functions of predicted EWs, continua, redshift and iSDSS magnitude, with first-order
error propagation (independent errors). Not for the predictions themselves.
"""
from __future__ import annotations

import numpy as np

from .constants import CASE_B_BALMER_DECREMENT, COSMOLOGY, MPC_CM
from .filters import load_filter
from .lines import EMISSION_LINES
from .photometry import C_ANGSTROM_PER_S, fnu_from_ab

__all__ = ["line_flux", "balmer_decrement", "halpha_attenuation", "halpha_luminosity", "sfr_halpha",
           "KENNICUTT98_SFR_PER_LHA"]

# Kennicutt (1998): SFR [Msun/yr] = 7.9e-42 L(Hα) [erg/s], Salpeter (1955) IMF 0.1–100 Msun.
# Multiply by 0.63 for a Chabrier (2003) IMF (Madau & Dickinson 2014).
KENNICUTT98_SFR_PER_LHA = 7.9e-42

_LN10 = np.log(10.0)


def _rel(value, error):
    value = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.asarray(error, dtype=float) / value)


def line_flux(ew, ew_err, cont, cont_err, z, z_err, mag_i, mag_i_err):
    """Total line flux F = CONT × EW × (1+z) × f_λ(iSDSS) [erg s⁻¹ cm⁻²] and its 1σ error.

    Parameters
    ----------
    ew, ew_err : rest-frame EW and error [Å]
    cont, cont_err : continuum at the observed line / f_λ(iSDSS) (dimensionless)
    z, z_err : redshift
    mag_i, mag_i_err : total iSDSS AB magnitude and error
    """
    f_lambda_i = fnu_from_ab(mag_i) * C_ANGSTROM_PER_S / load_filter("iSDSS").pivot_wavelength ** 2
    flux = np.asarray(cont) * np.asarray(ew) * (1.0 + np.asarray(z)) * f_lambda_i
    rel = np.sqrt(_rel(cont, cont_err) ** 2 + _rel(ew, ew_err) ** 2 + _rel(1.0 + np.asarray(z), z_err) ** 2
                  + (0.4 * _LN10 * np.asarray(mag_i_err, dtype=float)) ** 2)
    return flux, np.abs(flux) * rel


def balmer_decrement(f_ha, f_ha_err, f_hb, f_hb_err):
    """Hα/Hβ flux ratio and its error (NaN unless both fluxes are positive)."""
    f_ha, f_hb = np.asarray(f_ha, dtype=float), np.asarray(f_hb, dtype=float)
    ok = (f_ha > 0) & (f_hb > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, f_ha / f_hb, np.nan)
    return ratio, ratio * np.sqrt(_rel(f_ha, f_ha_err) ** 2 + _rel(f_hb, f_hb_err) ** 2)


def halpha_attenuation(decrement, decrement_err):
    """A(Hα) [mag] from the Balmer decrement, Case B 2.86 and the Calzetti (2000) curve.

    E(B−V) = 2.5 / (k(Hβ) − k(Hα)) log10(BD / 2.86); A(Hα) = k(Hα) E(B−V), floored at 0
    (decrements below Case B are noise, not negative dust).
    """
    k_ha, k_hb = EMISSION_LINES["HALPHA"].calzetti_k, EMISSION_LINES["HBETA"].calzetti_k
    factor = 2.5 * k_ha / (k_hb - k_ha)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = factor * np.log10(np.asarray(decrement, dtype=float) / CASE_B_BALMER_DECREMENT)
        err = factor * np.abs(np.asarray(decrement_err, dtype=float) / (np.asarray(decrement) * _LN10))
    return np.where(np.isfinite(a), np.maximum(a, 0.0), np.nan), err


def halpha_luminosity(f_ha, f_ha_err, z, a_ha=0.0, a_ha_err=0.0):
    """Dust-corrected L(Hα) = 4π d_L² F(Hα) 10^(0.4 A(Hα)) [erg s⁻¹] (flat ΛCDM, H0 = 70, Ωm = 0.3)."""
    z = np.asarray(z, dtype=float)
    d_l = COSMOLOGY.luminosity_distance(np.clip(z, 1e-6, None)).value * MPC_CM
    lum = 4.0 * np.pi * d_l ** 2 * np.asarray(f_ha, dtype=float) * 10 ** (0.4 * np.asarray(a_ha, dtype=float))
    rel = np.sqrt(_rel(f_ha, f_ha_err) ** 2 + (0.4 * _LN10 * np.asarray(a_ha_err, dtype=float)) ** 2)
    return lum, np.abs(lum) * rel


def sfr_halpha(l_ha, l_ha_err):
    """SFR(Hα) [Msun/yr] = 7.9e-42 L(Hα) (Kennicutt 1998, Salpeter IMF) and its error."""
    return KENNICUTT98_SFR_PER_LHA * np.asarray(l_ha, dtype=float), KENNICUTT98_SFR_PER_LHA * np.asarray(l_ha_err)
