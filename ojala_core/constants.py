"""Physical constants, emission lines and the cosmology used across OJALA.

One place for numbers with references. Not for token definitions (see `vocabulary`).
"""
from __future__ import annotations

from astropy.cosmology import FlatLambdaCDM

__all__ = ["COSMOLOGY", "EMISSION_LINES", "SOLAR_LUMINOSITY_ERG_S", "MPC_CM", "CALZETTI_K",
           "CALZETTI_RV", "CASE_B_BALMER_DECREMENT", "AGN_BALMER_DECREMENT"]

# DESIGN §9: luminosity distances from flat ΛCDM with H0 = 70 km/s/Mpc, Ωm = 0.3.
COSMOLOGY = FlatLambdaCDM(H0=70.0, Om0=0.3)

SOLAR_LUMINOSITY_ERG_S = 3.826e33
MPC_CM = 3.0857e24

# Rest-frame (air) wavelengths [Å] of the lines OJALA measures, and the bagpipes
# (Cloudy) line names that hold their fluxes. FastSpecFit column prefix in the key.
EMISSION_LINES = {
    "HALPHA": {"wavelength": 6562.80, "cloudy": "H  1  6562.80A"},
    "HBETA": {"wavelength": 4861.32, "cloudy": "H  1  4861.32A"},
    "OIII_5007": {"wavelength": 5006.84, "cloudy": "O  3  5006.84A"},
    "OIII_4959": {"wavelength": 4958.91, "cloudy": "O  3  4958.91A"},
    "NII_6584": {"wavelength": 6583.45, "cloudy": "N  2  6583.45A"},
    "NII_6548": {"wavelength": 6548.05, "cloudy": "N  2  6548.05A"},
    "OII_3727": {"wavelength": 3727.42, "cloudy": "O  2  3726.03A"},
}

# Calzetti et al. (2000) k(λ) = A(λ)/E(B-V) at the lines (DESIGN §9), R_V = 4.05.
CALZETTI_K = {"HALPHA": 3.33, "HBETA": 4.60, "OIII_5007": 4.46, "NII_6584": 3.32}
CALZETTI_RV = 4.05
# Case B recombination Hα/Hβ at 10^4 K (Osterbrock & Ferland 2006); AGN NLRs use 3.1.
CASE_B_BALMER_DECREMENT = 2.86
AGN_BALMER_DECREMENT = 3.1
