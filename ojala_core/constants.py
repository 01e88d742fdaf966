"""Physical constants, the cosmology and the scaling relations used across OJALA.

One place for numbers with references. Not for token definitions (see `vocabulary`).
"""
from __future__ import annotations

import numpy as np
from astropy.cosmology import FlatLambdaCDM

__all__ = ["COSMOLOGY", "SOLAR_LUMINOSITY_ERG_S", "MPC_CM", "CALZETTI_RV", "CASE_B_BALMER_DECREMENT",
           "AGN_BALMER_DECREMENT", "speagle14_log_sfr"]

# DESIGN §9: luminosity distances from flat ΛCDM with H0 = 70 km/s/Mpc, Ωm = 0.3.
COSMOLOGY = FlatLambdaCDM(H0=70.0, Om0=0.3)

SOLAR_LUMINOSITY_ERG_S = 3.826e33
MPC_CM = 3.0857e24

# Calzetti et al. (2000) R_V; k(λ) at each line is in the line table (`ojala_core.lines`).
CALZETTI_RV = 4.05
# Case B recombination Hα/Hβ at 10^4 K (Osterbrock & Ferland 2006); AGN NLRs use 3.1.
CASE_B_BALMER_DECREMENT = 2.86
AGN_BALMER_DECREMENT = 3.1



def speagle14_log_sfr(log_mass, z):
    """Star-forming main sequence of Speagle et al. (2014, eq. 28) [dex Msun/yr].

    log SFR = (0.84 − 0.026 t) log M* − (6.51 − 0.11 t), t = cosmic age [Gyr] at `z`
    (`COSMOLOGY`); `log_mass` in dex Msun.
    """
    t = COSMOLOGY.age(np.asarray(z, dtype=float)).value
    return (0.84 - 0.026 * t) * np.asarray(log_mass) - (6.51 - 0.11 * t)

