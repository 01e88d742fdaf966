"""Positional cross-match of a J-PAS catalogue with DESI targets (astropy, one-to-one).

Not for deciding which matched objects to keep (see `build`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["crossmatch"]


def crossmatch(ra_jpas, dec_jpas, ra_desi, dec_desi, radius_arcsec=1.0):
    """Match each J-PAS object to its nearest DESI target within `radius_arcsec`.

    A DESI target claimed by several J-PAS objects keeps only the closest one.

    Parameters
    ----------
    ra_jpas, dec_jpas, ra_desi, dec_desi : array_like
        Positions [deg].
    radius_arcsec : float

    Returns
    -------
    jpas_index, desi_index : ndarray of int
        Matched pairs (rows of each input).
    separation_arcsec : ndarray
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    if len(ra_jpas) == 0 or len(ra_desi) == 0:
        empty = np.array([], dtype=int)
        return empty, empty, np.array([])
    jpas = SkyCoord(np.asarray(ra_jpas) * u.deg, np.asarray(dec_jpas) * u.deg)
    desi = SkyCoord(np.asarray(ra_desi) * u.deg, np.asarray(dec_desi) * u.deg)
    idx, sep, _ = jpas.match_to_catalog_sky(desi)
    sep = sep.to_value(u.arcsec)
    close = np.flatnonzero(sep <= radius_arcsec)
    # One-to-one: sort by separation and keep the first claim on each DESI target.
    order = close[np.argsort(sep[close], kind="stable")]
    _, first = np.unique(idx[order], return_index=True)
    kept = np.sort(order[first])
    return kept, idx[kept], sep[kept]
