"""Milky-Way extinction along a sightline: the transmission 10^(-0.4 A_λ) of one stated law.

Used to put FastSpecFit continua (measured on dereddened spectra) back on the raw coadd's scale.
Not for the extinction inside a galaxy (see `ojala_core.lines`, Calzetti k).
"""
from __future__ import annotations

import numpy as np

__all__ = ["MW_LAW", "MW_RV", "milky_way_transmission"]

# Fitzpatrick (1999, PASP 111, 63) with R_V = 3.1, as implemented in dust_extinction (F99), applied
# to the catalogue's E(B−V) (SFD98, the EBV column of the DESI files).
MW_LAW = "F99"
MW_RV = 3.1


def milky_way_transmission(wavelength, ebv, r_v=MW_RV) -> np.ndarray:
    """Fraction 10^(-0.4 A_λ) of the light at observed `wavelength` [Å] left after E(B−V) = `ebv` [mag].

    NaN outside the law's range (1000 Å – 3.3 µm) or where `ebv` is not finite.
    """
    import astropy.units as u
    from dust_extinction.parameter_averages import F99

    law = F99(Rv=r_v)
    wave, ebv = np.broadcast_arrays(np.asarray(wavelength, dtype=float), np.asarray(ebv, dtype=float))
    inv_micron = np.divide(1e4, wave, out=np.full(wave.shape, np.nan), where=wave > 0)
    ok = np.isfinite(ebv) & (inv_micron >= law.x_range[0]) & (inv_micron <= law.x_range[1])
    a_over_av = np.full(wave.shape, np.nan)
    if ok.any():
        a_over_av[ok] = law(wave[ok] * u.AA)
    return 10.0 ** (-0.4 * a_over_av * r_v * ebv)
