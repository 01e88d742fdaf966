"""DESI-like measurements of the synthetic sky: redshifts, Legacy photometry, coadd spectra and VAC values.

Turns truth into what DESI DR1 files would hold (with noise and the real column names)
and writes the coadd spectra files. Not for reading DESI files (see `ojala_core.io`).
"""
from __future__ import annotations

import numpy as np

from ..io.files import atomic_path
from ..lines import EMISSION_LINES, MEASURED_LINES
from ..photometry import AB_ZEROPOINT, nanomaggies_from_ab, resample_flux_conserving
from .qso import virial_log_mbh

__all__ = ["LEGACY_BANDS", "DESI_CAMERAS", "legacy_photometry", "morphological_type",
           "fiber_fraction", "measure_redshift", "camera_wavelengths", "observe_spectra",
           "write_coadd", "fastspec_values", "cigale_values", "mws_values", "bhmass_values"]

# Legacy Surveys DR9/10 bands: column suffix, filter name, 5σ point-source depth [AB]
# (Dey et al. 2019; unWISE forced photometry for W1/W2).
LEGACY_BANDS = (("G", "DECam_g", 24.0), ("R", "DECam_r", 23.4), ("Z", "DECam_z", 22.5),
                ("W1", "WISE_W1", 20.7), ("W2", "WISE_W2", 20.0))

# DESI spectrograph cameras: wavelength range [Å] and the per-pixel noise [1e-17 erg/s/cm²/Å]
# of a dark-time coadd at the native 0.8 Å sampling (rough EDR values; bright ×1.5).
DESI_CAMERAS = {"B": (3600.0, 5930.0, 0.9), "R": (5660.0, 7720.0, 0.7), "Z": (7520.0, 9824.0, 1.0)}
DESI_NATIVE_PIXEL = 0.8  # Å


def legacy_photometry(rng, fnu_total, point_source):
    """Legacy Surveys fluxes [nanomaggies] with noise and inverse variances.

    Parameters
    ----------
    fnu_total : ndarray (n, 5)
        True total f_ν in g, r, z, W1, W2 [erg s^-1 cm^-2 Hz^-1].
    point_source : ndarray (n,) bool
        Extended sources get 1.5× the point-source noise.
    """
    ab = -2.5 * np.log10(np.clip(fnu_total, 1e-40, None)) - AB_ZEROPOINT
    true = nanomaggies_from_ab(ab)
    out = {}
    for j, (band, _, depth) in enumerate(LEGACY_BANDS):
        sigma = np.hypot(nanomaggies_from_ab(depth) / 5.0 * np.where(point_source, 1.0, 1.5),
                         0.01 * true[:, j])
        out[f"FLUX_{band}"] = (true[:, j] + sigma * rng.standard_normal(len(sigma))).astype(np.float32)
        out[f"FLUX_IVAR_{band}"] = (1.0 / sigma ** 2).astype(np.float32)
    return out


FAINT_POINT_REX = (22.0, 0.2)   # beyond r = 22, this fraction of point sources is fitted as REX


def morphological_type(rng, r_eff_arcsec, quenched, point_source, mag_r=None):
    """Legacy Surveys TYPE from size and star-formation state (PSF, REX, EXP, DEV, SER).

    Compact galaxies (r_eff < 0.3") are PSF, as Legacy calls them; faint point sources are
    sometimes REX (`FAINT_POINT_REX`, when `mag_r` is given): the wrong answers a real
    catalogue holds. Extended QSOs come in as sources that are not point-like (their host).
    """
    n = len(r_eff_arcsec)
    out = np.where(quenched, "DEV", "EXP").astype(object)
    out[rng.random(n) < 0.15] = "SER"
    out[r_eff_arcsec < 0.8] = "REX"
    out[r_eff_arcsec < 0.3] = "PSF"
    out[point_source] = "PSF"
    if mag_r is not None:
        faint, rate = FAINT_POINT_REX
        out[point_source & (np.asarray(mag_r) > faint) & (rng.random(n) < rate)] = "REX"
    return out.astype(str)


def fiber_fraction(r_eff_arcsec):
    """Fraction of the total light in a 1.5" DESI fibre in 1.1" seeing (0.78 for a point source)."""
    return 0.78 / (1.0 + (np.asarray(r_eff_arcsec) / 0.9) ** 1.3)


def measure_redshift(rng, z, spectype):
    """DESI Z, ZERR and ZWARN: small random errors, ~1 % flagged failures."""
    n = len(z)
    scale = np.select([spectype == "QSO", spectype == "STAR"], [3e-4, 1e-5], 3e-5) * (1 + z)
    zerr = scale * rng.uniform(0.5, 1.5, n)
    z_obs = z + zerr * rng.standard_normal(n)
    zwarn = np.where(rng.random(n) < 0.01, 4, 0).astype(np.int64)
    return z_obs, zerr.astype(np.float32), zwarn


def camera_wavelengths(dlam):
    """Wavelength arrays [Å] of the B, R, Z cameras sampled every `dlam` Å."""
    return {cam: np.arange(lo, hi + 0.5 * dlam, dlam) for cam, (lo, hi, _) in DESI_CAMERAS.items()}


def observe_spectra(rng, grid_edges, flambda, fiber_frac, program, dlam):
    """Coadded fibre spectra per camera with noise, in 1e-17 erg s^-1 cm^-2 Å^-1.

    Parameters
    ----------
    grid_edges : ndarray
        Bin edges [Å] of the common grid on which `flambda` is given.
    flambda : ndarray (n, n_grid)
        True total observed f_λ [erg s^-1 cm^-2 Å^-1].
    fiber_frac : ndarray (n,)
    program : ndarray (n,) of {'bright', 'dark'}
    dlam : float
        Output sampling [Å] (DESI's native is 0.8 Å; coarser grids are documented).

    Returns
    -------
    dict camera -> (wavelength, flux, ivar, mask) with flux/ivar float32 (n, n_pix).
    """
    grid_centres = np.sqrt(grid_edges[1:] * grid_edges[:-1])
    out = {}
    for cam, wave in camera_wavelengths(dlam).items():
        edges = np.r_[wave - 0.5 * dlam, wave[-1] + 0.5 * dlam]
        inside = (grid_centres > edges[0] - 50) & (grid_centres < edges[-1] + 50)
        lam_in = grid_centres[inside]
        flux = resample_flux_conserving(lam_in, flambda[:, inside], edges) * 1e17
        flux *= fiber_frac[:, None]
        # Instrumental resolution (R ~ 2000–5000): a 1-pixel Gaussian at these samplings.
        kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
        kernel /= kernel.sum()
        flux = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, flux)
        base = DESI_CAMERAS[cam][2] * np.sqrt(DESI_NATIVE_PIXEL / dlam)
        sigma = base * np.where(program == "bright", 1.5, 1.0)[:, None] * np.ones_like(flux)
        if cam == "Z":  # sky-line residuals: a few noisier pixels
            sigma *= np.where(rng.random(flux.shape[1]) < 0.05, 3.0, 1.0)[None, :]
        sigma = np.sqrt(sigma ** 2 + 0.002 * np.clip(flux, 0, None))
        noisy = flux + sigma * rng.standard_normal(flux.shape)
        out[cam] = (wave, noisy.astype(np.float32), (1.0 / sigma ** 2).astype(np.float32),
                    np.zeros(flux.shape, dtype=np.uint8))
    return out


def write_coadd(path, fibermap: dict, spectra: dict, survey="main", program=None):
    """Write a DESI-format coadd file: FIBERMAP + {B,R,Z}_{WAVELENGTH,FLUX,IVAR,MASK}, SURVEY/PROGRAM in the header."""
    from astropy.io import fits

    from ..io.files import _to_fits_column_array

    primary = fits.PrimaryHDU()
    primary.header["SURVEY"] = survey
    if program is not None:
        primary.header["PROGRAM"] = program
    hdus = [primary]
    cols = [fits.Column(name=k, format=fits.column._convert_record2fits(_to_fits_column_array(v).dtype),
                        array=_to_fits_column_array(v)) for k, v in fibermap.items()]
    hdus.append(fits.BinTableHDU.from_columns(cols, name="FIBERMAP"))
    for cam, (wave, flux, ivar, mask) in spectra.items():
        h = fits.ImageHDU(wave.astype(np.float64), name=f"{cam}_WAVELENGTH")
        h.header["BUNIT"] = "Angstrom"
        hdus.append(h)
        h = fits.ImageHDU(flux, name=f"{cam}_FLUX")
        h.header["BUNIT"] = "10**-17 erg/(s cm2 Angstrom)"
        hdus.append(h)
        h = fits.ImageHDU(ivar, name=f"{cam}_IVAR")
        h.header["BUNIT"] = "10**+34 (s2 cm4 Angstrom2) / erg2"
        hdus.append(h)
        hdus.append(fits.ImageHDU(mask, name=f"{cam}_MASK"))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)


def fastspec_values(rng, truth, z, fiber_frac, program, dlam):
    """FastSpecFit-like line EWs, fluxes and continua with IVARs (0/0 where a line is off the spectrum).

    Fluxes and continua are fibre quantities in 1e-17 units; EWs are rest-frame [Å].
    """
    out = {}
    lo, hi = DESI_CAMERAS["B"][0], DESI_CAMERAS["Z"][1]
    pix_sigma = 0.8 * np.sqrt(DESI_NATIVE_PIXEL / dlam) * np.where(program == "bright", 1.5, 1.0)
    for line in MEASURED_LINES:
        observed = EMISSION_LINES[line].wavelength * (1 + z)
        covered = (observed > lo + 20) & (observed < hi - 20)
        cont = truth[f"{line}_CONT_FLAMBDA"] * 1e17 * fiber_frac
        flux = truth[f"{line}_FLUX"] * 1e17 * fiber_frac
        sigma_flux = pix_sigma * dlam * np.sqrt(6.0)
        sigma_cont = np.hypot(pix_sigma / 5.0, 0.02 * np.abs(cont))
        ew = truth[f"{line}_EW"]
        sigma_ew = np.hypot(sigma_flux / np.clip(cont, 1e-3, None) / (1 + z), 0.03 * np.abs(ew))
        n = len(z)
        values = {
            f"{line}_FLUX": (flux + sigma_flux * rng.standard_normal(n), sigma_flux),
            f"{line}_EW": (ew + sigma_ew * rng.standard_normal(n), sigma_ew),
            f"{line}_CONT": (cont + sigma_cont * rng.standard_normal(n), sigma_cont),
        }
        for name, (val, sig) in values.items():
            out[name] = np.where(covered, val, 0.0).astype(np.float32)
            out[f"{name}_IVAR"] = np.where(covered, 1.0 / np.broadcast_to(sig, (n,)) ** 2, 0.0).astype(np.float32)
    return out


def cigale_values(rng, log_mass, log_sfr, mag_r):
    """CIGALE-like log stellar mass and SFR with errors growing to faint magnitudes [dex]."""
    n = len(log_mass)
    faint = np.clip((mag_r - 17.0) / 6.0, 0.0, 1.0)
    sig_m = 0.06 + 0.10 * faint
    sig_s = 0.15 + 0.25 * faint
    return {
        "MASS_CG": (log_mass + sig_m * rng.standard_normal(n)).astype(np.float32),
        "MASS_ERR_CG": sig_m.astype(np.float32),
        "SFR_CG": (log_sfr + sig_s * rng.standard_normal(n)).astype(np.float32),
        "SFR_ERR_CG": sig_s.astype(np.float32),
    }


def mws_values(rng, truth, mag_r):
    """MWS SP-pipeline-like stellar parameters with errors growing to faint magnitudes (r ≈ 23:
    2.6× those at r = 15 in log g)."""
    n = len(mag_r)
    faint = np.clip((mag_r - 15.0) / 4.5, 0.0, 1.8)
    sigmas = {"TEFF": truth["TEFF"] * (0.01 + 0.02 * faint), "LOGG": 0.08 + 0.22 * faint,
              "FEH": 0.06 + 0.16 * faint, "ALPHAFE": 0.04 + 0.08 * faint}
    out = {}
    for name, sig in sigmas.items():
        out[name] = (truth[name] + sig * rng.standard_normal(n)).astype(np.float32)
        out[f"{name}_ERR"] = sig.astype(np.float32)
    return out


def bhmass_values(rng, z, fwhm_mgii, log_l3000):
    """Mg II virial BH masses as a DESI QSO VAC would report them (covered: 0.33 < z < 2.45)."""
    n = len(z)
    fwhm = fwhm_mgii * np.exp(0.1 * rng.standard_normal(n))
    l3000 = log_l3000 + 0.05 * rng.standard_normal(n)
    log_mbh = virial_log_mbh(fwhm, l3000)
    covered = (z > 0.33) & (z < 2.45)
    return {
        "MGII_FWHM": np.where(covered, fwhm, np.nan).astype(np.float32),
        "LOGL3000": np.where(covered, l3000, np.nan).astype(np.float32),
        "LOGMBH_MGII": np.where(covered, log_mbh, np.nan).astype(np.float32),
        "LOGMBH_MGII_ERR": np.where(covered, np.hypot(2 * 0.1 / np.log(10), 0.025), np.nan).astype(np.float32),
    }
