"""Synthetic J-PAS (+ DECam r) photometry of DESI coadd spectra, as one matrix product per file.

The B, R, Z cameras are stitched at the middle of their overlaps, masked pixels are
interpolated, and a filter-weight matrix on that grid gives f_ν and its error. Not for
the realistic J-PAS noise (see `errors`).
"""
from __future__ import annotations

import numpy as np

from ..filters import load_filter
from ..photometry import C_ANGSTROM_PER_S

__all__ = ["SYNTHETIC_BANDS", "CoaddPhotometry"]

from ..io.jpas import JPAS_CATALOGUE_BANDS

SYNTHETIC_BANDS = JPAS_CATALOGUE_BANDS + ["DECam_r"]
_FLUX_UNIT = 1e-17  # DESI coadd flux unit [erg s^-1 cm^-2 Å^-1]


def _stitch(cameras):
    """Concatenate camera pixels, switching camera at the middle of each overlap."""
    names = [c for c in ("B", "R", "Z") if c in cameras]
    keep = []
    for i, cam in enumerate(names):
        wave = cameras[cam][0]
        lo = -np.inf if i == 0 else 0.5 * (cameras[names[i - 1]][0][-1] + wave[0])
        hi = np.inf if i == len(names) - 1 else 0.5 * (wave[-1] + cameras[names[i + 1]][0][0])
        keep.append((cam, (wave >= lo) & (wave < hi)))
    wave = np.concatenate([cameras[c][0][m] for c, m in keep])
    flux = np.concatenate([cameras[c][1][:, m] for c, m in keep], axis=1)
    ivar = np.concatenate([cameras[c][2][:, m] for c, m in keep], axis=1)
    return wave, flux, ivar


def _pixel_edges(wave):
    mid = 0.5 * (wave[1:] + wave[:-1])
    return np.r_[wave[0] - (mid[0] - wave[0]), mid, wave[-1] + (wave[-1] - mid[-1])]


class CoaddPhotometry:
    """Filter weights on a DESI wavelength grid (built once per distinct grid)."""

    def __init__(self, bands=SYNTHETIC_BANDS):
        self.bands = list(bands)
        self._cache = {}

    def _weights(self, wave):
        key = (len(wave), float(wave[0]), float(wave[-1]))
        if key not in self._cache:
            dlam = np.diff(_pixel_edges(wave))
            rows = []
            for band in self.bands:
                f = load_filter(band)
                if f.wavelength[f.response > 0].min() < wave[0] or f.wavelength[f.response > 0].max() > wave[-1]:
                    raise ValueError(f"filter {band} is not covered by spectra spanning "
                                     f"{wave[0]:.0f}–{wave[-1]:.0f} Å")
                t = np.interp(wave, f.wavelength, f.response, left=0.0, right=0.0)
                rows.append(t * wave * dlam / np.sum(t * C_ANGSTROM_PER_S / wave * dlam))
            self._cache[key] = np.vstack(rows)
        return self._cache[key]

    def fnu(self, cameras):
        """f_ν per band [erg s⁻¹ cm⁻² Hz⁻¹] and its error, for one coadd file.

        Parameters
        ----------
        cameras : dict
            camera -> (wavelength [Å], flux [1e-17 erg s⁻¹ cm⁻² Å⁻¹] (n, n_pix), ivar).

        Returns
        -------
        fnu, fnu_err : ndarray (n, n_band)
            NaN for spectra with more than 20 % of a band's weight on bad pixels.
        """
        wave, flux, ivar = _stitch(cameras)
        weights = self._weights(wave)
        good = (ivar > 0) & np.isfinite(flux)
        filled = flux.astype(np.float64)
        for i in np.flatnonzero(~good.all(axis=1)):
            if good[i].sum() > 1:
                filled[i, ~good[i]] = np.interp(wave[~good[i]], wave[good[i]], flux[i, good[i]])
        fnu = filled @ weights.T * _FLUX_UNIT
        with np.errstate(divide="ignore"):
            variance = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
        err = np.sqrt(variance @ (weights ** 2).T) * _FLUX_UNIT
        bad_weight = (~good).astype(float) @ weights.T / weights.sum(axis=1)
        unusable = bad_weight > 0.2
        return np.where(unusable, np.nan, fnu), np.where(unusable, np.nan, err)
