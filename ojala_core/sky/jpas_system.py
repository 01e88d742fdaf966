"""The "real" J-PAS observing system of the synthetic sky: how catalogue photometry differs from synthetic.

It builds the sim-to-real gap that domain adaptation must close: zero points, a
calibration tilt, as-built filter shifts, 3" aperture vs total light, tray PSF colour
terms, tile depths, correlated noise, missing filters. Not for the nominal synthetic
photometry the mock builder computes (see `ojala_core.photometry`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..filters import FilterCurve, jpas_narrow_band_names, load_filter
from ..photometry import (
    MAG_PER_LN_FLUX,
    PhotometricSystem,
    ab_magnitude,
    flambda_from_fnu,
    fnu_from_ab,
    log_wavelength_grid,
)
from ..vocabulary import TRAYS

__all__ = ["JPAS_BANDS", "JpasObservingSystem", "JpasFootprint", "APERTURE_PREFIX", "TOTAL_PREFIX",
           "FLAG_NOT_OBSERVED", "FLAG_BAD_PIXELS"]

JPAS_BANDS = jpas_narrow_band_names() + ["iSDSS"]
APERTURE_PREFIX = "APER_COR_3_0"   # 3" aperture, corrected to total for a point source
TOTAL_PREFIX = "AUTO"              # Kron (total light)
FLAG_NOT_OBSERVED = 1              # the tile has no image in this filter
FLAG_BAD_PIXELS = 2                # masked / bad pixels in the aperture

# 5σ limiting magnitudes (3" aperture) of the nominal survey: ~22.5 blue → ~22.0 red
# narrow bands, the bluest band shallower (CCD QE and atmosphere), iSDSS ~24.
def _nominal_depth(band: str) -> float:
    if band == "iSDSS":
        return 24.0
    wave = int(band[1:]) * 10.0
    depth = 22.5 - 0.5 * (wave - 3900.0) / (9100.0 - 3900.0)
    return depth - 0.35 if band == "J0378" else depth


@dataclass
class JpasFootprint:
    """J-PAS tiles (1°×1°) inside a rectangular DESI area.

    Attributes
    ----------
    desi_ra, desi_dec : (float, float)
        DESI area bounds [deg].
    tile_columns : int
        Number of 1° RA columns of J-PAS tiles starting at desi_ra[0] (all Dec rows).
    """

    desi_ra: tuple = (150.0, 170.0)
    desi_dec: tuple = (0.0, 10.0)
    tile_columns: int = 5

    @property
    def n_tiles(self) -> int:
        return self.tile_columns * int(round(self.desi_dec[1] - self.desi_dec[0]))

    @property
    def jpas_ra(self) -> tuple:
        return (self.desi_ra[0], self.desi_ra[0] + self.tile_columns)

    def draw_desi_positions(self, rng, n):
        """Uniform positions on the sphere inside the DESI area [deg]."""
        return _uniform_sphere(rng, n, self.desi_ra, self.desi_dec)

    def draw_jpas_positions(self, rng, n):
        """Uniform positions inside the J-PAS tiles [deg]."""
        return _uniform_sphere(rng, n, self.jpas_ra, self.desi_dec)

    def tile_of(self, ra, dec):
        """Tile id (1-based) for positions inside the J-PAS tiles, 0 outside."""
        col = np.floor(np.asarray(ra) - self.desi_ra[0]).astype(int)
        row = np.floor(np.asarray(dec) - self.desi_dec[0]).astype(int)
        n_rows = int(round(self.desi_dec[1] - self.desi_dec[0]))
        inside = (col >= 0) & (col < self.tile_columns) & (row >= 0) & (row < n_rows)
        return np.where(inside, 1 + col * n_rows + row, 0)


def _uniform_sphere(rng, n, ra_range, dec_range):
    ra = rng.uniform(*ra_range, n)
    s0, s1 = np.sin(np.radians(dec_range))
    dec = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
    return ra, dec


@dataclass
class JpasObservingSystem:
    """Fixed properties of the real J-PAS system and its tiles, drawn once per sky seed.

    Attributes (per band, in `JPAS_BANDS` order unless stated)
    ----------
    zero_point_offsets : list [mag]   added to the catalogue magnitudes (~0.02–0.05).
    tilt_mag_per_1000A : float        smooth calibration tilt, δm = tilt (λ − 6500 Å)/1000 Å.
    filter_shifts : list [Å]          as-built minus nominal central wavelength.
    depth_5sigma : list [mag AB]      nominal 5σ depth of the 3" aperture.
    tile_depth_offsets : list [mag]   per tile (index tile−1).
    tile_tray_psf_terms : list of dict  per tile, tray → fractional aperture-correction
                                        error for a fully extended object.
    tile_missing_bands : list of list  per tile, bands without an image.
    tray_noise_correlation : float    correlation of the noise within a tray.
    """

    zero_point_offsets: list
    tilt_mag_per_1000A: float
    filter_shifts: list
    depth_5sigma: list
    tile_depth_offsets: list
    tile_tray_psf_terms: list
    tile_missing_bands: list
    tray_noise_correlation: float = 0.3
    _photometry: PhotometricSystem | None = field(default=None, repr=False, compare=False)

    @classmethod
    def draw(cls, seed: int, footprint: JpasFootprint) -> "JpasObservingSystem":
        rng = np.random.default_rng([seed, 7])
        nb = len(JPAS_BANDS)
        zp = rng.normal(0.0, 0.035, nb)
        zp[-1] = rng.normal(0.0, 0.01)  # iSDSS is the best-calibrated band
        missing = []
        nb_names = jpas_narrow_band_names()
        for _ in range(footprint.n_tiles):
            k = rng.choice([0, 1, 2, 4], p=[0.6, 0.25, 0.1, 0.05])
            missing.append(sorted(rng.choice(nb_names, k, replace=False).tolist()))
        return cls(
            zero_point_offsets=zp.round(4).tolist(),
            tilt_mag_per_1000A=float(rng.choice([-1, 1]) * rng.uniform(0.012, 0.025)),
            filter_shifts=rng.normal(0.0, 4.0, nb).round(2).tolist(),
            depth_5sigma=[_nominal_depth(b) for b in JPAS_BANDS],
            tile_depth_offsets=rng.normal(0.0, 0.15, footprint.n_tiles).round(3).tolist(),
            tile_tray_psf_terms=[{t: float(round(rng.normal(0.0, 0.04), 4)) for t in TRAYS}
                                 for _ in range(footprint.n_tiles)],
            tile_missing_bands=missing,
        )

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("_photometry")
        d["bands"] = JPAS_BANDS
        return json.dumps(d, indent=1)

    @property
    def photometry(self) -> PhotometricSystem:
        """The as-built filters (nominal curves shifted by `filter_shifts`)."""
        if self._photometry is None:
            curves = []
            for band, shift in zip(JPAS_BANDS, self.filter_shifts):
                f = load_filter(band)
                curves.append(FilterCurve(band, f.wavelength + shift, f.response))
            self._photometry = PhotometricSystem(curves, log_wavelength_grid()[1])
        return self._photometry

    def calibration_offsets(self) -> np.ndarray:
        """Designed magnitude offsets (real − nominal) per band: zero point + tilt [mag]."""
        pivots = np.array([load_filter(b).pivot_wavelength for b in JPAS_BANDS])
        return np.asarray(self.zero_point_offsets) + self.tilt_mag_per_1000A * (pivots - 6500.0) / 1000.0

    def observe(self, rng, flambda, tile, r_eff_arcsec, point_source):
        """Catalogue photometry of objects.

        Parameters
        ----------
        rng : numpy.random.Generator
        flambda : ndarray (n, n_wave)
            True observed f_λ of the whole object on the common grid [erg s^-1 cm^-2 Å^-1].
        tile : ndarray (n,) int
            Tile ids (1-based).
        r_eff_arcsec : ndarray (n,)
            Half-light radius [arcsec] (0 for point sources).
        point_source : ndarray (n,) bool

        Returns
        -------
        dict of column name -> ndarray: ``{PREFIX}_{BAND}`` and ``{PREFIX}_{BAND}_ERR`` f_λ
        [erg s^-1 cm^-2 Å^-1] for both prefixes, ``FLAGS_{BAND}``, ``MAG_AUTO_iSDSS`` and
        ``MAG_ERR_AUTO_iSDSS``, and ``N_FILTERS_OBS``.
        """
        n = flambda.shape[0]
        bands = JPAS_BANDS
        pivots = np.array([load_filter(b).pivot_wavelength for b in bands])
        total = self.photometry.fnu(flambda) * 10 ** (-0.4 * self.calibration_offsets())
        t_idx = tile - 1
        extent = np.where(point_source, 0.0, r_eff_arcsec / (r_eff_arcsec + 0.6))
        # 3" aperture corrected for a point source: extended objects lose light, more
        # in the blue (redder cores), and each tray's seeing mis-corrects them a little.
        loss = 1.0 / (1.0 + np.where(point_source, 0.0, (r_eff_arcsec / 1.5) ** 1.5))
        gradient = 0.04 * extent[:, None] * (pivots[None, :] - 6500.0) / 1000.0
        psf = np.ones((n, len(bands)))
        for j, band in enumerate(bands[:-1]):
            tray = next(t for t, members in TRAYS.items() if band in members)
            terms = np.array([self.tile_tray_psf_terms[k][tray] for k in t_idx])
            psf[:, j] = 1.0 + terms * extent
        aperture = total * loss[:, None] * (1.0 + gradient) * psf
        kron = total * 0.97

        depth = np.asarray(self.depth_5sigma)[None, :] + np.asarray(self.tile_depth_offsets)[t_idx][:, None]
        sigma_sky = fnu_from_ab(depth) / 5.0
        columns = {}
        for prefix, flux, noise_scale in ((APERTURE_PREFIX, aperture, 1.0), (TOTAL_PREFIX, kron, 1.3)):
            # A fixed 3" aperture has the same sky noise for any object; the Kron
            # aperture of AUTO grows with the object.
            sky = sigma_sky * noise_scale * (1.0 + (prefix == TOTAL_PREFIX) * extent[:, None])
            sigma = np.sqrt(sky ** 2 * (1.0 + np.clip(flux, 0, None) / (10.0 * sky * 5.0)) + (0.01 * flux) ** 2)
            observed = flux + sigma * self._correlated_normal(rng, n)
            for j, band in enumerate(bands):
                columns[f"{prefix}_{band}"] = flambda_from_fnu(observed[:, j], pivots[j])
                columns[f"{prefix}_{band}_ERR"] = flambda_from_fnu(sigma[:, j], pivots[j])
            if prefix == TOTAL_PREFIX:
                i_flux, i_err = observed[:, -1], sigma[:, -1]
        flags = np.zeros((n, len(bands)), dtype=np.int16)
        for k in np.unique(t_idx):
            rows = t_idx == k
            for band in self.tile_missing_bands[k]:
                flags[rows, bands.index(band)] |= FLAG_NOT_OBSERVED
        bad = rng.random((n, len(bands) - 1)) < 0.004
        flags[:, :-1][bad] |= FLAG_BAD_PIXELS
        for j, band in enumerate(bands):
            columns[f"FLAGS_{band}"] = flags[:, j]
            unobserved = (flags[:, j] & FLAG_NOT_OBSERVED) > 0
            for prefix in (APERTURE_PREFIX, TOTAL_PREFIX):
                columns[f"{prefix}_{band}"][unobserved] = np.nan
                columns[f"{prefix}_{band}_ERR"][unobserved] = np.nan
        mag = ab_magnitude(i_flux)
        columns["MAG_AUTO_iSDSS"] = np.where(np.isfinite(mag), mag, 99.0)
        columns["MAG_ERR_AUTO_iSDSS"] = np.where(np.isfinite(mag), MAG_PER_LN_FLUX * i_err / np.abs(i_flux), 99.0)
        columns["N_FILTERS_OBS"] = (flags[:, :-1] & FLAG_NOT_OBSERVED == 0).sum(axis=1).astype(np.int16)
        columns["SNR_AUTO_iSDSS"] = i_flux / i_err
        return columns

    def _correlated_normal(self, rng, n):
        """Unit normal deviates correlated (ρ) within each tray, independent across trays."""
        rho = self.tray_noise_correlation
        out = np.sqrt(1.0 - rho) * rng.standard_normal((n, len(JPAS_BANDS)))
        for tray, members in TRAYS.items():
            shared = np.sqrt(rho) * rng.standard_normal(n)
            idx = [JPAS_BANDS.index(b) for b in members]
            out[:, idx] += shared[:, None]
        out[:, -1] += np.sqrt(rho) * rng.standard_normal(n)
        return out
