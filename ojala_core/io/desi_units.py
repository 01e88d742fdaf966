"""Units of the DESI inputs: declared units of label and flux columns converted, values checked for plausibility.

A VAC column's declared unit (FITS TUNIT) is parsed with astropy.units and converted to the
unit the labels are made in (stellar masses and SFRs given in M☉ become log10 values, a
continuum in other f_λ units is rescaled); a unit of the wrong kind is refused. Whatever the
declared unit, a column whose median value is not one a real catalogue holds (masses of 10¹⁰
taken as logs) is refused naming file and column, and single implausible values become missing
and are counted. Not for the J-PAS photometry (see `ojala_core.io.jpas_units`).
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd

from ..lines import lines_with_ew
from ..vocabulary import DEFAULT_VOCABULARY
from .jpas_units import MAGGY_FNU_CGS, BandUnit, check_flux_scale, parse_unit
from .tables import InputError

__all__ = ["LabelUnit", "LABEL_UNITS", "convert_label_units", "check_label_values", "mask_implausible",
           "legacy_flux_factors", "check_legacy_fluxes"]

log = logging.getLogger(__name__)

SENTINEL_MAX = -90.0      # DESI pipelines write -99, -999, -9999 for "no value"
NANOMAGGY_FNU_CGS = 1e-9 * MAGGY_FNU_CGS


@dataclass(frozen=True)
class LabelUnit:
    """What one output column of `read_vac` holds: its unit, whether it is log10 of it, its plausible range.

    `median_range` bounds the median of a file's column (a column outside it is in another unit);
    `value_range` bounds single values (outside: missing, counted).
    """

    unit: str
    log10: bool
    median_range: tuple[float, float]
    value_range: tuple[float, float]
    errors: tuple[str, ...] = ()          # its error columns: _ERR (same unit) or _IVAR (unit⁻²)


def _vocab_unit(token) -> str:
    return DEFAULT_VOCABULARY[token].unit


def _label_units() -> dict[str, LabelUnit]:
    out = {  # token-list: the DESI VACs' own columns (their data models' units), named as read_vac outputs them
        # CIGALE (IronPhysProp): log10 M☉ and log10 M☉/yr.
        "LOGM": LabelUnit("solMass", True, (5.0, 12.8), (3.0, 13.5), ("LOGM_ERR",)),
        "LOGSFR": LabelUnit("solMass/yr", True, (-5.0, 3.5), (-12.0, 5.0), ("LOGSFR_ERR",)),
        # Mg II BH masses: log10 M☉.
        "LOGMBH": LabelUnit("solMass", True, (6.0, 11.0), (4.0, 12.0), ("LOGMBH_ERR",)),
        # MWS: Teff in the vocabulary's unit; log g, [Fe/H], [α/Fe] are logarithmic already.
        "TEFF": LabelUnit(_vocab_unit("TEFF"), False, (2500.0, 40000.0), (2000.0, 60000.0), ("TEFF_ERR",)),
        "LOGG": LabelUnit("cm/s2", True, (-0.5, 6.0), (-1.5, 7.0), ("LOGG_ERR",)),
        "FEH": LabelUnit("", False, (-4.5, 1.0), (-6.0, 1.5), ("FEH_ERR",)),
        "ALPHAFE": LabelUnit("", False, (-1.0, 1.2), (-1.5, 1.5), ("ALPHAFE_ERR",)),
    }
    for ln in lines_with_ew():
        # FastSpecFit v3.0: rest-frame EW in Å (emission > 0) and continua in 1e-17 erg s⁻¹ cm⁻² Å⁻¹.
        out[f"{ln.name}_EW"] = LabelUnit(_vocab_unit(ln.ew_token), False, (-50.0, 2000.0), (-500.0, 1.0e4),
                                         (f"{ln.name}_EW_IVAR",))
        if ln.owns_continuum:
            out[f"{ln.name}_CONT"] = LabelUnit("1e-17 erg/(s cm2 Angstrom)", False, (-1.0, 1.0e5), (-1.0e3, 1.0e7),
                                               (f"{ln.name}_CONT_IVAR",))
    return out


LABEL_UNITS = _label_units()


def _parse_declared(text, where):
    """(unit, is_log) of a declared unit string; None for none or one astropy cannot read (logged)."""
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    compact = re.sub(r"\s+", "", raw.lower())
    if compact in ("dex", "log", "[dex]"):
        return u.dimensionless_unscaled, True
    rewritten = re.sub(r"^(log10|log|lg)\s*\(", "dex(", raw, flags=re.IGNORECASE)
    rewritten = re.sub(r"^\[(.*)\]$", r"dex(\1)", rewritten)
    try:
        unit = u.Unit(rewritten, parse_strict="raise")
    except ValueError:
        log.warning("%s: unit '%s' is not one astropy.units can read; the values are checked by range only",
                    where, raw)
        return None
    if isinstance(unit, u.FunctionUnitBase):
        return unit.physical_unit, True
    return unit, False


def convert_label_units(frame: pd.DataFrame, units: dict, path) -> pd.DataFrame:
    """`frame` (output columns of `read_vac`) converted from the declared `units`
    (output column -> (declared unit text, the file's column name)).

    A linear M☉ (or M☉/yr) column becomes log10, its _ERR σ/(v ln 10); a scaled unit of the same
    kind is rescaled (IVAR by the square); a unit of another kind is refused naming file and column.
    """
    frame = frame.copy()
    for column, spec in LABEL_UNITS.items():
        if column not in frame or column not in units:
            continue
        where = f"{path}: column '{units[column][1]}'"
        declared = _parse_declared(units[column][0], where)
        if declared is None:
            continue
        unit, is_log = declared
        target = u.Unit(spec.unit) if spec.unit else u.dimensionless_unscaled
        if is_log and (unit == u.dimensionless_unscaled or not spec.log10):
            continue                 # 'dex', or [Fe/H]-like: nothing to convert
        if not unit.is_equivalent(target):
            raise InputError(f"{where}: declared unit '{units[column][0]}' is not {'log10 ' if spec.log10 else ''}"
                             f"{target.to_string() or 'dimensionless'} — this column is not the {column} of the VAC "
                             "(or its unit is wrong; fix TUNIT)")
        factor = float(unit.to(target))
        values = frame[column].to_numpy(float)
        sentinel = values <= SENTINEL_MAX
        if spec.log10 and is_log:
            new = values + math.log10(factor)
        elif spec.log10:              # linear values of a log label: M☉ -> log10 M☉
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.where(values > 0, np.log10(values * factor), np.nan)
                for err in spec.errors:
                    if err in frame:
                        frame[err] = np.where(values > 0, frame[err].to_numpy(float) / (values * math.log(10)), np.nan)
        else:
            new = values * factor
            for err in spec.errors:
                if err in frame:
                    scale = factor ** -2 if err.endswith("_IVAR") else factor
                    frame[err] = frame[err].to_numpy(float) * scale
        frame[column] = np.where(sentinel, values, new)
        if factor != 1.0 or (spec.log10 and not is_log):
            log.info("%s: read in unit '%s', converted to %s%s", where, units[column][0],
                     "log10 " if spec.log10 else "", target.to_string() or "dimensionless")
    return frame


def check_label_values(frame: pd.DataFrame, path, file_columns: dict, skip_zero=False) -> None:
    """Refuse a column whose median is not plausible for its label (naming `path` and the file's column).

    Values at or below the sentinel, and exact zeros when `skip_zero` (CIGALE's failed fits), are
    left to the quality gates.
    """
    for column, spec in LABEL_UNITS.items():
        if column not in frame:
            continue
        values = frame[column].to_numpy(float)
        ok = np.isfinite(values) & (values > SENTINEL_MAX)
        if skip_zero:
            ok &= values != 0
        if not ok.any():
            continue
        median = float(np.median(values[ok]))
        lo, hi = spec.median_range
        if not lo <= median <= hi:
            name = file_columns.get(column, column)
            what = f"log10 {spec.unit}" if spec.log10 else (spec.unit or "dimensionless")
            hint = (" — values in M☉ rather than log10? give log10 values or declare the unit (TUNIT 'solMass')"
                    if spec.log10 and median > 100 else " — check the column's unit")
            raise InputError(f"{path}: column '{name}': median {median:.4g} is not a plausible {column} in {what} "
                             f"(expected {lo:g} to {hi:g}){hint}")


def mask_implausible(frame: pd.DataFrame, counts: dict) -> None:
    """Single values outside their label's range become missing (errors too), counted as ``out_of_range``."""
    counts.setdefault("out_of_range", 0)
    for column, spec in LABEL_UNITS.items():
        if column not in frame:
            continue
        values = frame[column].to_numpy(float)
        lo, hi = spec.value_range
        bad = np.isfinite(values) & ((values < lo) | (values > hi))
        if bad.any():
            counts["out_of_range"] += int(bad.sum())
            for c in (column, *spec.errors):
                if c in frame:
                    frame.loc[bad, c] = np.nan


def legacy_flux_factors(units: dict, band, path) -> tuple[float, float]:
    """(flux, ivar) factors that turn a zcat's FLUX_{band}, FLUX_IVAR_{band} into nanomaggies (and nmgy⁻²).

    Undeclared units are DESI's nanomaggies; a declared f_λ or non-flux unit is refused.
    """
    flux_col, ivar_col = f"FLUX_{band}", f"FLUX_IVAR_{band}"
    where = f"{path}: column '{flux_col}'"
    unit = parse_unit(units.get(flux_col), where)
    if unit is None:
        flux = 1.0
    elif unit.kind != "fnu":
        raise InputError(f"{where}: declared unit '{units[flux_col]}' is not an f_nu (Legacy Surveys fluxes are in "
                         "nanomaggies)")
    else:
        flux = unit.scale / NANOMAGGY_FNU_CGS
    text = units.get(ivar_col)
    if not (text and str(text).strip()):
        return flux, flux ** -2
    try:
        sigma = parse_unit((u.Unit(str(text), parse_strict="raise") ** -0.5).to_string(), ivar_col)
    except (ValueError, InputError):
        sigma = None
    if sigma is None or sigma.kind != "fnu":
        raise InputError(f"{path}: column '{ivar_col}': declared unit '{text}' is not an inverse flux squared "
                         "(nanomaggy^-2)")
    return flux, (sigma.scale / NANOMAGGY_FNU_CGS) ** -2


def check_legacy_fluxes(frame: pd.DataFrame, path, units: dict, bands) -> None:
    """Refuse a zcat flux column whose values, read in nanomaggies, are not magnitudes of real sources."""
    for band in bands:
        column = f"FLUX_{band}"
        if column in frame:
            source = f"unit '{units[column]}'" if units.get(column) else "nanomaggies (DESI's unit)"
            check_flux_scale(frame[column].to_numpy(float), BandUnit("fnu", NANOMAGGY_FNU_CGS, source), None,
                             f"{path}: column '{column}'")
