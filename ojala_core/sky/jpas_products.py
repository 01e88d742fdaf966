"""Write the sky's J-PAS catalogue in the CEFCA archive layout (one array column per quantity).

As miniJPAS/J-NEP tables are downloaded: ``FLUX_{PREFIX}`` in 1e-19 erg s⁻¹ cm⁻² Å⁻¹ with
``FLUX_RELERR_{PREFIX}`` (σ_f / f), ``MAG_AUTO``/``MAG_ERR_AUTO`` (AB), SExtractor ``FLAGS`` and
CEFCA ``MASK_FLAGS``, each an array indexed by the release's filter table (here miniJPAS's 60
filters, uJAVA first), which the file carries as a ``FILTER`` HDU (FILTER_ID, NAME) like the
archive's Filter table. Filters the sky does not simulate (uJAVA, J1007, uJPAS, gSDSS, rSDSS)
and filters a tile has no image in are NaN with a MASK_FLAGS bit. Legacy Surveys / WISE
magnitudes and MORPHTYPE are appended as a cross-match with the Legacy Surveys would give them.
Not for the observing model (see `jpas_system`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.files import write_fits_tables
from ..io.jpas_archive import FILTER_HDU, MINIJPAS_FILTERS
from ..photometry import C_ANGSTROM_PER_S, MAG_PER_LN_FLUX, ab_from_nanomaggies, ab_magnitude
from .desi import LEGACY_BANDS
from .jpas_system import APERTURE_PREFIX, FLAG_BAD_PIXELS, FLAG_NOT_OBSERVED, JPAS_BANDS, TOTAL_PREFIX

__all__ = ["write_jpas_catalogue", "ARCHIVE_FILTERS", "ARCHIVE_UNIT", "MASK_NO_IMAGE", "MASK_BAD_PIXELS",
           "SEXTRACTOR_DEBLENDED", "DEBLENDED_FRACTION", "LEGACY_UNMATCHED_FRACTION", "JPAS_MEASUREMENTS"]

ARCHIVE_FILTERS = MINIJPAS_FILTERS
ARCHIVE_UNIT = "1e-19 erg/(s cm2 Angstrom)"
MASK_NO_IMAGE = 1           # MASK_FLAGS: no image of this filter at the object (or filter not simulated)
MASK_BAD_PIXELS = 2         # MASK_FLAGS: masked / bad pixels in the aperture
SEXTRACTOR_DEBLENDED = 2    # FLAGS: the object was deblended (routine for galaxies; photometry usable)
DEBLENDED_FRACTION = 0.15   # of extended (non-PSF) objects
LEGACY_UNMATCHED_FRACTION = 0.05   # rows with no Legacy counterpart: no MORPHTYPE, Legacy magnitudes 99
# Shard columns the catalogue measures (the truth table leaves them out).
JPAS_MEASUREMENTS = tuple(f"{p}_{b}{e}" for p in (APERTURE_PREFIX, TOTAL_PREFIX) for b in JPAS_BANDS
                          for e in ("", "_ERR")) + tuple(f"FLAGS_{b}" for b in JPAS_BANDS) + (
    "MAG_AUTO_iSDSS", "MAG_ERR_AUTO_iSDSS", "ALPHA_J2000", "DELTA_J2000")


def _legacy_magnitudes(frame) -> dict:
    out = {}
    for band, _, _ in LEGACY_BANDS:
        flux = frame[f"FLUX_{band}"].to_numpy(float)
        ivar = frame[f"FLUX_IVAR_{band}"].to_numpy(float)
        mag = ab_from_nanomaggies(flux)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = MAG_PER_LN_FLUX / (flux * np.sqrt(ivar))
        ok = np.isfinite(mag)
        out[f"MAG_{band}"] = np.where(ok, mag, 99.0)
        out[f"MAG_ERR_{band}"] = np.where(ok, err, 99.0)
    return out


def _arrays(jp, prefix):
    """(flux [1e-19 f_λ], relative error) arrays over ARCHIVE_FILTERS; NaN where not simulated."""
    n = len(jp)
    flux = np.full((n, len(ARCHIVE_FILTERS)), np.nan, np.float32)
    relerr = np.full_like(flux, np.nan)
    for band in JPAS_BANDS:
        j = ARCHIVE_FILTERS.index(band)
        value = jp[f"{prefix}_{band}"].to_numpy(float)
        error = jp[f"{prefix}_{band}_ERR"].to_numpy(float)
        flux[:, j] = value / 1e-19
        with np.errstate(divide="ignore", invalid="ignore"):
            relerr[:, j] = error / np.abs(value)
    return flux, relerr


def _magnitudes(flux_1e19, relerr):
    """AB MAG and MAG_ERR arrays of f_λ arrays (99 where the flux is not positive, as the archive writes)."""
    pivots = np.array([_pivot(f) for f in ARCHIVE_FILTERS])
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = ab_magnitude(flux_1e19.astype(float) * 1e-19 * pivots[None, :] ** 2 / C_ANGSTROM_PER_S)
        err = MAG_PER_LN_FLUX * relerr.astype(float)
    ok = np.isfinite(mag)
    return np.where(ok, mag, 99.0).astype(np.float32), np.where(ok, err, 99.0).astype(np.float32)


def _pivot(name):
    from ..filters import FILTER_SOURCES, load_filter

    return load_filter(name).pivot_wavelength if name in FILTER_SOURCES else np.nan


def write_jpas_catalogue(path, jp: pd.DataFrame, seed: int, legacy_unmatched=LEGACY_UNMATCHED_FRACTION) -> None:
    """Write the J-PAS catalogue rows `jp` (merged shards, IN_JPAS) in the archive layout; a
    fraction `legacy_unmatched` of them lose their Legacy cross-match (MORPHTYPE and magnitudes)."""
    n = len(jp)
    rng = np.random.default_rng([seed, 3])
    mask = np.full((n, len(ARCHIVE_FILTERS)), MASK_NO_IMAGE, np.int16)
    for band in JPAS_BANDS:
        sky_flags = jp[f"FLAGS_{band}"].to_numpy(np.int16)
        mask[:, ARCHIVE_FILTERS.index(band)] = (np.where(sky_flags & FLAG_NOT_OBSERVED, MASK_NO_IMAGE, 0)
                                                | np.where(sky_flags & FLAG_BAD_PIXELS, MASK_BAD_PIXELS, 0))
    extended = jp["MORPHTYPE"].astype(str).to_numpy() != "PSF"
    deblended = extended & (rng.random(n) < DEBLENDED_FRACTION)
    flags = np.repeat(np.where(deblended, SEXTRACTOR_DEBLENDED, 0).astype(np.int16)[:, None],
                      len(ARCHIVE_FILTERS), axis=1)
    columns = {"TILE_ID": jp["TILE_ID"].to_numpy(np.int32), "NUMBER": (jp["OBJECT_ID"] + 1).to_numpy(np.int64),
               "ALPHA_J2000": jp["ALPHA_J2000"].to_numpy(), "DELTA_J2000": jp["DELTA_J2000"].to_numpy()}
    units = {"ALPHA_J2000": "deg", "DELTA_J2000": "deg"}
    for prefix in (APERTURE_PREFIX, TOTAL_PREFIX):
        flux, relerr = _arrays(jp, prefix)
        columns[f"FLUX_{prefix}"], columns[f"FLUX_RELERR_{prefix}"] = flux, relerr
        units[f"FLUX_{prefix}"] = ARCHIVE_UNIT
        if prefix == TOTAL_PREFIX:
            columns["MAG_AUTO"], columns["MAG_ERR_AUTO"] = _magnitudes(flux, relerr)
            units["MAG_AUTO"] = units["MAG_ERR_AUTO"] = "mag"
    # Some objects have no Legacy counterpart (masked bright-star halos, blends, the footprint's
    # edges): their cross-match columns are empty, as in a real J-PAS × Legacy table.
    unmatched = rng.random(n) < legacy_unmatched
    legacy = {name: np.where(unmatched, 99.0, values) for name, values in _legacy_magnitudes(jp).items()}
    morphtype = np.where(unmatched, "", jp["MORPHTYPE"].astype(str).to_numpy())
    columns.update({"FLAGS": flags, "MASK_FLAGS": mask, "N_FILTERS_OBS": jp["N_FILTERS_OBS"].to_numpy(np.int16),
                    **legacy, "MORPHTYPE": morphtype})
    filters = {"FILTER_ID": np.arange(1, len(ARCHIVE_FILTERS) + 1, dtype=np.int16),
               "NAME": np.array(ARCHIVE_FILTERS)}
    write_fits_tables(path, [("JPAS", columns, units), (FILTER_HDU, filters, None)],
                      header={"PHOTSYS": "J-PAS (synthetic real system)"})
