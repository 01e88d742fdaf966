"""Photometric units of J-PAS catalogue columns, and checks of fluxes, errors and magnitudes against their values.

Declared units (FITS TUNIT such as ``1e-19 erg/(s cm2 Angstrom)``) are parsed with astropy.units, scale
kept; without one the values decide, and only where a single reading fits. Not for reading files
(see `jpas_archive`) nor for tokens (see `catalogue_tokens`).
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import astropy.units as u
import numpy as np

from ..photometry import AB_ZEROPOINT, C_ANGSTROM_PER_S
from .tables import InputError

log = logging.getLogger(__name__)

__all__ = ["BandUnit", "parse_unit", "infer_flux_unit", "check_flux_errors", "check_magnitudes", "MAGNITUDE_RANGE",
           "check_magnitude_offset", "check_flux_scale", "implied_ab", "MAG_SENTINELS", "FLAMBDA_CGS", "FNU_CGS"]

FLAMBDA_CGS = u.erg / u.s / u.cm ** 2 / u.AA
FNU_CGS = u.erg / u.s / u.cm ** 2 / u.Hz
MAGGY_FNU_CGS = 10.0 ** (-0.4 * AB_ZEROPOINT)   # 1 maggy = f_ν of AB magnitude 0 [erg s⁻¹ cm⁻² Hz⁻¹]
MAG_SENTINELS = (99.0, -99.0, 999.0, -999.0)

# A band of a real catalogue has its median AB magnitude in this range; a unit reading
# whose median falls outside it is not the file's unit.
PLAUSIBLE_MEDIAN_AB = (5.0, 35.0)
# Valid AB magnitudes of single objects (0 and the sentinels mean "not measured").
MAGNITUDE_RANGE = (0.0, 40.0)
# More out-of-range values than this fraction: the column is not magnitudes at all.
MAX_OUT_OF_RANGE_FRACTION = 0.01
# Photometric errors are limited by calibration to S/N of a few thousand at best.
MAX_MEDIAN_SNR = 1.0e4
# log σ vs log f: absolute errors rise with the flux (slope 0 … 1), relative ones fall (≈ −1 … −0.5).
RELATIVE_ERROR_SLOPE = -0.3

# Readings tried on unit-less values >= 1e-10, to say in the refusal what they could be.
_SCALED_READINGS = {"f_lambda in 1e-19 erg/(s cm2 Angstrom)": ("flambda", 1e-19),
                    "f_lambda in 1e-17 erg/(s cm2 Angstrom)": ("flambda", 1e-17),
                    "f_nu in nanomaggies": ("fnu", 1e-9 * MAGGY_FNU_CGS),
                    "f_nu in microJansky": ("fnu", 1e-29)}


@dataclass(frozen=True)
class BandUnit:
    """How to read a photometry column.

    kind: ``flambda`` or ``fnu`` (values × scale are erg s⁻¹ cm⁻² Å⁻¹ or Hz⁻¹), ``magnitude``
    (AB), ``relative`` (σ_f / f, errors only); `source` says where the reading came from.
    """

    kind: str
    scale: float = 1.0
    source: str = ""


def _normalised_unit_text(text: str) -> str:
    # FITS reads a bare 'A' as the ampere; catalogues mean the Ångström.
    return re.sub(r"(?<![A-Za-z])(A|AA|Å|angstroms?)(?![A-Za-z])", "Angstrom", text.strip())


def parse_unit(text, where) -> BandUnit | None:
    """`BandUnit` of a declared unit string; None when nothing is declared.

    Raises `InputError` naming `where` for a unit that is not a flux density, an AB
    magnitude or dimensionless.
    """
    if text is None or not str(text).strip():
        return None
    text = str(text)
    compact = text.lower().replace(" ", "")
    if compact in ("ab", "abmag", "magab", "mag(ab)", "mag", "mags", "magnitude", "magnitudes"):
        return BandUnit("magnitude", source=f"unit '{text}'")
    try:
        unit = u.Unit(_normalised_unit_text(text), parse_strict="raise")
    except ValueError:
        raise InputError(f"{where}: unit '{text}' is not a unit astropy.units can read") from None
    source = f"unit '{text}'"
    if unit.is_equivalent(FLAMBDA_CGS):
        return BandUnit("flambda", float(unit.to(FLAMBDA_CGS)), source)
    if unit.is_equivalent(FNU_CGS):
        return BandUnit("fnu", float(unit.to(FNU_CGS)), source)
    if unit.is_equivalent(u.mgy):
        return BandUnit("fnu", float(unit.to(u.mgy)) * MAGGY_FNU_CGS, source)
    if unit.is_equivalent(u.dimensionless_unscaled):
        return BandUnit("relative", float(unit.to(u.dimensionless_unscaled)), source)
    raise InputError(f"{where}: unit '{text}' is neither a flux density (f_lambda, f_nu), an AB magnitude "
                     "nor dimensionless")


def implied_ab(values, kind, scale, pivot) -> np.ndarray:
    """AB magnitudes of positive `values` read as `kind` × `scale` at `pivot` [Å] (NaN elsewhere)."""
    v = np.asarray(values, dtype=float) * scale
    fnu = v * pivot ** 2 / C_ANGSTROM_PER_S if kind == "flambda" else v
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(fnu > 0, -2.5 * np.log10(fnu) - AB_ZEROPOINT, np.nan)


def _plausible(values, kind, scale, pivot) -> tuple[bool, float]:
    m = implied_ab(values, kind, scale, pivot)
    median = float(np.nanmedian(m)) if np.isfinite(m).any() else math.nan
    return PLAUSIBLE_MEDIAN_AB[0] < median < PLAUSIBLE_MEDIAN_AB[1], median


def check_flux_scale(values, unit: BandUnit, pivot, where) -> None:
    """Refuse a flux reading whose median AB magnitude is not that of real sources."""
    ok, median = _plausible(values, unit.kind, unit.scale, pivot)
    if not ok and math.isfinite(median):
        raise InputError(f"{where}: read as {unit.source or unit.kind} the fluxes have a median AB magnitude "
                         f"of {median:.1f}; that is not the unit of these values (declare the right unit)")


def infer_flux_unit(values, pivot, where) -> BandUnit:
    """`BandUnit` of a unit-less photometry column, from its values, or a refusal naming `where`.

    AB magnitudes lie in 5–40; fluxes in erg s⁻¹ cm⁻² Å⁻¹ or Hz⁻¹ are far below 1e-10
    and f_λ and f_ν differ by ~1e11 at optical wavelengths, so the median magnitude
    tells them apart. Values of order 1 … 1e4 could be scaled f_λ or f_ν alike: refused.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & ~np.isin(v, MAG_SENTINELS)]
    if v.size == 0:
        raise InputError(f"{where}: no finite values to tell the units from")
    if np.mean((v > 5) & (v < 40)) > 0.95 and np.all(np.abs(v) >= 1e-10):
        return BandUnit("magnitude", source="values (AB magnitudes)")
    if np.mean(np.abs(v) < 1e-10) > 0.95:
        readings = {kind: _plausible(v, kind, 1.0, pivot) for kind in ("flambda", "fnu")}
        fits = [kind for kind, (ok, _) in readings.items() if ok]
        if len(fits) == 1:
            return BandUnit(fits[0], 1.0, f"values (cgs {fits[0]})")
        medians = ", ".join(f"as {k} median AB {m:.1f}" for k, (_, m) in readings.items())
        raise InputError(f"{where}: cannot tell whether the values are f_lambda or f_nu ({medians}); "
                         "declare the unit")
    fits = [name for name, (kind, scale) in _SCALED_READINGS.items() if _plausible(v, kind, scale, pivot)[0]]
    could = f" (they fit {', '.join(fits)} alike)" if fits else ""
    raise InputError(f"{where}: cannot tell whether the values are AB magnitudes, f_lambda or f_nu{could}; "
                     "declare the unit in the FITS header, or convert the column")


def check_flux_errors(values, errors, where_values, where_errors) -> None:
    """Refuse an error column that is not an absolute error of `values` (same unit).

    Relative errors (σ_f/f) used as absolute fall as the flux rises; errors in another
    unit give an absurd S/N. Both are refused with the columns named.
    """
    f = np.asarray(values, dtype=float)
    e = np.asarray(errors, dtype=float)
    ok = np.isfinite(f) & np.isfinite(e) & (f > 0) & (e > 0)
    if ok.sum() < 3:
        return
    snr = float(np.median(f[ok] / e[ok]))
    if snr > MAX_MEDIAN_SNR:
        raise InputError(f"{where_errors}: the median S/N of {where_values} would be {snr:.3g}; these errors are "
                         "not in the unit of the values (relative errors? name them ..._RELERR)")
    logf, loge = np.log10(f[ok]), np.log10(e[ok])
    if ok.sum() >= 8 and np.ptp(logf) > 0.5:
        slope = float(np.polyfit(logf, loge, 1)[0])
        if slope < RELATIVE_ERROR_SLOPE:
            raise InputError(f"{where_errors}: the errors fall as the flux rises (log-slope {slope:.2f}); they look "
                             f"like relative errors (sigma/f), not absolute errors of {where_values} "
                             "(name them ..._RELERR, or FLUX_RELERR_ in the archive layout)")


def check_magnitudes(values, where, row_offset=0) -> np.ndarray:
    """AB magnitudes with the missing-value markers (±99, ±999, 0) and NaN as NaN.

    A column with more than `MAX_OUT_OF_RANGE_FRACTION` of its measured values outside 0–40
    is not AB magnitudes (nanomaggies called ``MAG_G`` show values in the hundreds, negative
    ones for faint sources): refused, naming the column and its first bad rows. Rarer such
    values are missing, with a warning naming their rows.
    """
    v = np.asarray(values, dtype=float)
    missing = ~np.isfinite(v) | np.isin(v, MAG_SENTINELS) | (v == 0)
    bad = ~missing & ((v < MAGNITUDE_RANGE[0]) | (v > MAGNITUDE_RANGE[1]))
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"row {row_offset + r} = {v[r]:.4g}" for r in rows[:5])
        text = (f"{where}: {bad.sum()} value(s) outside the AB magnitude range "
                f"{MAGNITUDE_RANGE[0]:g}-{MAGNITUDE_RANGE[1]:g} ({shown})")
        if bad.sum() > MAX_OUT_OF_RANGE_FRACTION * (~missing).sum():
            raise InputError(f"{text}; not AB magnitudes (fluxes such as nanomaggies?)")
        log.warning("%s; taken as missing", text)
    return np.where(missing | bad, np.nan, v)


def check_magnitude_offset(values, reference, where, where_reference, max_offset) -> None:
    """Refuse magnitudes whose median difference from `reference` (same objects) exceeds `max_offset` [mag]."""
    d = np.asarray(values, dtype=float) - np.asarray(reference, dtype=float)
    d = d[np.isfinite(d)]
    if d.size >= 3 and abs(float(np.median(d))) > max_offset:
        raise InputError(f"{where}: median difference from {where_reference} is {float(np.median(d)):+.2f} mag "
                         f"(more than {max_offset:g}); not AB magnitudes of the same objects (a flux column, "
                         "Vega magnitudes, or a wrong flux unit?)")
