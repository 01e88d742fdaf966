"""Which columns of a J-PAS catalogue hold what, in which unit: the flat and the archive layout.

`CatalogueLayout` finds the columns of one file (flat ``{PREFIX}_{FILTER}`` columns, or archive
arrays ``FLUX_{PREFIX}[n]`` read through a named filter table), fixes each band's unit once
and turns raw rows into the canonical flat table: f_λ in erg s⁻¹ cm⁻² Å⁻¹ (or AB magnitudes)
with absolute errors. Not for f_ν, flags and tokens (see `jpas`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import FILTER_SOURCES, jpas_narrow_band_names, load_filter
from ..photometry import C_ANGSTROM_PER_S
from ..vocabulary import DEFAULT_VOCABULARY
from .jpas_archive import (
    FILTER_HDU,
    FILTER_TABLES,
    ColumnIndex,
    array_values,
    declared_units,
    embedded_filter_table,
    file_columns,
    filter_table,
    iter_raw_chunks,
    looks_like_array,
)
from .jpas_units import BandUnit, check_flux_errors, check_flux_scale, infer_flux_unit, parse_unit
from .tables import InputError, _missing_message, check_numeric_columns

__all__ = ["CatalogueLayout", "JPAS_CATALOGUE_BANDS", "LEGACY_MAGNITUDES", "ARCHIVE_FLUX_UNIT"]

log = logging.getLogger(__name__)

JPAS_CATALOGUE_BANDS = jpas_narrow_band_names() + ["iSDSS"]
LEGACY_MAGNITUDES = tuple(DEFAULT_VOCABULARY.legacy_magnitudes.values())  # MAG_G … MAG_W2
# CEFCA archive data model: FLUX_* arrays in 1e-19 erg s⁻¹ cm⁻² Å⁻¹, FLUX_RELERR_* = σ_f/f,
# MAG_* AB; used for array columns that declare no unit (TAP CSV exports).
ARCHIVE_FLUX_UNIT = BandUnit("flambda", 1e-19, "the CEFCA archive data model (1e-19 erg/(s cm2 Angstrom))")
_ARCHIVE_UNITS = {"FLUX": ARCHIVE_FLUX_UNIT, "FLUX_ERR": ARCHIVE_FLUX_UNIT,
                  "FLUX_RELERR": BandUnit("relative", 1.0, "the CEFCA archive data model (relative errors)"),
                  "MAG": BandUnit("magnitude", source="the CEFCA archive data model (AB)"),
                  "MAG_ERR": BandUnit("magnitude", source="the CEFCA archive data model (AB)")}
# archive array quantity -> flat column pattern ({p} prefix, {f} filter)
_FLAT_OF_ARRAY = {"FLUX": "{p}_{f}", "FLUX_ERR": "{p}_{f}_ERR", "FLUX_RELERR": "{p}_{f}_RELERR",
                  "MAG": "{p}_{f}", "MAG_ERR": "{p}_{f}_ERR", "FLAGS": "FLAGS_{f}", "MASK_FLAGS": "MASK_FLAGS_{f}"}
# The object id: TILE_ID-NUMBER (or NUMBER) unless --id-column names another.
ID_COLUMNS = ("TILE_ID", "NUMBER")
_SCALARS = ("ALPHA_J2000", "DELTA_J2000", *ID_COLUMNS, "MAG_AUTO_iSDSS", "MAG_ERR_AUTO_iSDSS", "MORPHTYPE",
            *LEGACY_MAGNITUDES, *[e for c in LEGACY_MAGNITUDES for e in (c.replace("MAG_", "MAG_ERR_", 1), f"{c}_ERR")])
# Legacy Surveys call the morphology TYPE; read it as MORPHTYPE when that is absent.
_MORPHTYPE_ALIASES = ("TYPE",)


def _pivot(name) -> float | None:
    return load_filter(name).pivot_wavelength if name in FILTER_SOURCES else None


@dataclass
class CatalogueLayout:
    """Where a J-PAS catalogue keeps its photometry, and in which units.

    Parameters
    ----------
    path : path
    prefix : str
        Photometry prefix (``APER_COR_3_0``, ``AUTO`` …).
    filters : str, path or list, optional
        Filter table of archive array columns: a built-in name (``minijpas``, ``jnep``), a file
        listing the filter names in index order, or a list. Required for array columns.
    id_column : str, optional
    """

    path: Path
    prefix: str = "APER_COR_3_0"
    filters: object = None
    id_column: str | None = None
    kind: str = field(init=False)
    band_units: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.path = Path(self.path)
        self.index = ColumnIndex(file_columns(self.path), self.path)
        self.declared = {self.index.bare_names()[k]: v for k, v in declared_units(self.path).items()}
        self.table = filter_table(self.filters)
        self._readings: dict | None = None
        self._dropped: set = set()
        p = self.prefix
        flat = {f"{p}_{b}" for b in JPAS_CATALOGUE_BANDS}
        arrays = {q: self.index.find(f"{q}_{p}" if q not in ("FLAGS", "MASK_FLAGS") else q) for q in _FLAT_OF_ARRAY}
        if any(self.index.find(c) for c in flat) or not (arrays["FLUX"] or arrays["MAG"]):
            self.kind, self.arrays = "flat", {}
        else:
            self.kind = "archive"
            self.arrays = {q: c for q, c in arrays.items() if c and not (q.startswith("MAG") and arrays["FLUX"])}
            self.arrays.update({f"TOTAL_{q}": c for q in ("MAG", "MAG_ERR")
                                if (c := self.index.find(f"{q}_AUTO")) and not self.index.find(f"{q}_AUTO_iSDSS")})
            if self.table is None:
                self.table = embedded_filter_table(self.path)
                if self.table is not None:
                    log.info("%s: filter table from its %s HDU (%d filters)", self.path, FILTER_HDU, len(self.table))
            if self.table is None:
                column = arrays["FLUX"] or arrays["MAG"]
                raise InputError(f"{self.path}: column '{column}' holds one value per filter; name the filter table "
                                 f"(--jpas-filters {' or '.join(FILTER_TABLES)}, or a file listing the filter names in "
                                 "array-index order)")
        self._check_columns()
        self._check_magnitude_units()

    # -- which columns -------------------------------------------------------------------------
    def _check_columns(self):
        need = ["ALPHA_J2000", "DELTA_J2000"]
        if self.kind == "flat":
            for b in JPAS_CATALOGUE_BANDS:
                col = f"{self.prefix}_{b}"
                need += [col] if self.index.find(f"{col}_RELERR") else [col, f"{col}_ERR"]
        elif not (self.arrays.get("FLUX_RELERR") or self.arrays.get("FLUX_ERR") or self.arrays.get("MAG_ERR")):
            need.append(f"FLUX_RELERR_{self.prefix}")
        if self.id_column:
            need.append(self.id_column)
        missing = [c for c in need if self.index.find(c) is None]
        if missing:
            raise InputError(_missing_message(self.path, missing, self.index.names))

    def _check_magnitude_units(self):
        """A magnitude column that declares a flux unit (nanomaggies called MAG_G) is refused."""
        names = ["MAG_AUTO_iSDSS", *LEGACY_MAGNITUDES, *[c for q, c in self.arrays.items() if q.endswith("MAG")]]
        for name in names:
            actual = self.index.find(name)
            if actual is None:
                continue
            where = f"{self.path}: column '{actual}'"
            unit = parse_unit(self.declared.get(self.index.bare_names()[actual]), where)
            if unit is not None and unit.kind != "magnitude":
                raise InputError(f"{where}: declared {unit.source} is not an AB magnitude")

    def source_columns(self, all_columns=False) -> list[str]:
        """Columns of the file to read (actual names)."""
        wanted = list(self.arrays.values())
        names = [*_SCALARS, *_MORPHTYPE_ALIASES, *([self.id_column] if self.id_column else [])]
        if self.kind == "flat":
            names += [f"{self.prefix}_{b}{s}" for b in JPAS_CATALOGUE_BANDS for s in ("", "_ERR", "_RELERR")]
            names += [f"{f}_{b}" for f in ("FLAGS", "MASK_FLAGS") for b in JPAS_CATALOGUE_BANDS]
        wanted += [c for n in names if (c := self.index.find(n))]
        if all_columns:
            wanted += [c for c in self.index.names if c not in wanted]
        return list(dict.fromkeys(wanted))

    def id_columns(self) -> list[str]:
        """Actual names of the columns the object id is made of (read as text)."""
        names = [self.id_column] if self.id_column else list(ID_COLUMNS)
        return [c for n in names if (c := self.index.find(n))]

    # -- raw rows -> canonical flat table --------------------------------------------------------
    def iter_chunks(self, chunk_rows=100_000, all_columns=False):
        """Yield (row_offset, canonical flat DataFrame) chunks; band units are fixed by the first chunk."""
        offset = 0
        for raw in iter_raw_chunks(self.path, self.source_columns(all_columns), chunk_rows, self.id_columns()):
            n = len(next(iter(raw.values()))) if raw else 0
            if n:
                yield offset, self.canonical(raw, offset)
                offset += n
        if offset == 0:
            raise InputError(f"{self.path}: the catalogue is empty")

    def _flat_columns(self, raw, offset) -> dict:
        """Raw columns under canonical names, archive arrays spread over one column per filter."""
        bare = self.index.bare_names()
        out = {}
        array_columns = set(self.arrays.values())
        for actual, values in raw.items():
            if actual in array_columns:
                continue
            if looks_like_array(values):
                if actual not in self._dropped:
                    log.info("%s: array column '%s' (another prefix or quantity) is not carried", self.path, actual)
                    self._dropped.add(actual)
                continue
            out[self._canonical_scalar(actual, bare[actual])] = values
        for quantity, actual in self.arrays.items():
            values = array_values(raw[actual], len(self.table), f"{self.path}: column '{actual}'", offset)
            if quantity.startswith("TOTAL_"):
                if "iSDSS" in self.table:
                    name = "MAG_AUTO_iSDSS" if quantity == "TOTAL_MAG" else "MAG_ERR_AUTO_iSDSS"
                    out[name] = values[:, self.table.index("iSDSS")]
                continue
            for j, f in enumerate(self.table):
                out[_FLAT_OF_ARRAY[quantity].format(p=self.prefix, f=f)] = values[:, j]
        if "MORPHTYPE" not in out and "TYPE" in out:
            out["MORPHTYPE"] = out.pop("TYPE")
        return out

    def _canonical_scalar(self, actual, bare) -> str:
        for name in (*_SCALARS, *_MORPHTYPE_ALIASES, *([self.id_column] if self.id_column else [])):
            if bare.upper() == name.upper():
                return name
        if self.kind == "flat" and bare.upper().startswith((f"{self.prefix}_".upper(), "FLAGS_", "MASK_FLAGS_")):
            for b in JPAS_CATALOGUE_BANDS:
                for name in (f"{self.prefix}_{b}", f"{self.prefix}_{b}_ERR", f"{self.prefix}_{b}_RELERR",
                             f"FLAGS_{b}", f"MASK_FLAGS_{b}"):
                    if bare.upper() == name.upper():
                        return name
        return bare

    def _declared(self, flat_name, quantity) -> BandUnit | None:
        """Declared unit of a flat column, or of the archive array it came from (or the archive data model)."""
        where = f"{self.path}: column '{flat_name}'"
        if self.kind == "flat":
            return parse_unit(self.declared.get(self._bare_of(flat_name)), where)
        actual = self.arrays.get(quantity)
        unit = parse_unit(self.declared.get(self.index.bare_names().get(actual, "")), f"{self.path}: column '{actual}'")
        # absolute errors without a unit of their own share the values' unit (the caller's default)
        return unit or (_ARCHIVE_UNITS.get(quantity) if quantity in ("FLUX", "FLUX_RELERR", "MAG") else None)

    def _bare_of(self, canonical) -> str:
        actual = self.index.find(canonical)
        return self.index.bare_names().get(actual, canonical) if actual else canonical

    def _fix_units(self, flat):
        """Each band's value and error reading, from declarations or the first chunk's values."""
        readings, inferred, unmeasured = {}, {}, []
        filters = JPAS_CATALOGUE_BANDS if self.kind == "flat" else self.table
        for f in filters:
            col = f"{self.prefix}_{f}"
            if col not in flat:
                continue
            where = f"{self.path}: column '{col}'"
            value_quantity = "FLUX" if "FLUX" in self.arrays else "MAG"
            value = self._declared(col, value_quantity)
            pivot = _pivot(f)
            if value is None:
                if pivot is None:
                    continue
                if not np.isfinite(np.asarray(flat[col], dtype=float)).any():
                    unmeasured.append((f, col, pivot))     # takes the unit the other bands show, below
                    continue
                value = infer_flux_unit(flat[col], pivot, where)
                inferred[col] = value.kind
            elif value.kind == "relative":
                raise InputError(f"{where}: declared unit {value.source} is dimensionless; expected a flux density "
                                 "or an AB magnitude")
            if value.kind in ("flambda", "fnu"):
                if pivot is None and value.kind == "fnu":
                    log.info("%s: %s skipped (f_nu without a known pivot wavelength)", self.path, col)
                    continue
                if pivot is not None:
                    check_flux_scale(flat[col], value, pivot, where)
            if f"{col}_RELERR" in flat:
                error = self._declared(f"{col}_RELERR", "FLUX_RELERR") or BandUnit("relative", 1.0, "name _RELERR")
                if error.kind != "relative" or value.kind == "magnitude":
                    raise InputError(f"{self.path}: column '{col}_RELERR' must be dimensionless errors of fluxes")
            else:
                error = self._declared(f"{col}_ERR", "FLUX_ERR" if value_quantity == "FLUX" else "MAG_ERR") or value
                if (error.kind == "magnitude") != (value.kind == "magnitude"):
                    raise InputError(f"{self.path}: column '{col}_ERR' ({error.source}) is not in the unit kind of "
                                     f"'{col}' ({value.source})")
            readings[f] = (value, error, pivot)
        kinds = set(inferred.values())
        if len(kinds) > 1:
            sample = {k: next(c for c, v in inferred.items() if v == k) for k in kinds}
            raise InputError(f"{self.path}: the unit-less columns read as different units "
                             f"({', '.join(f'{c} as {k}' for k, c in sample.items())}); declare the units")
        if unmeasured:
            # A band without any measurement in the first rows (a filter these objects were not
            # observed in) reads as the other unit-less bands do; alone, it cannot be told.
            if not inferred:
                f, col, _ = unmeasured[0]
                raise InputError(f"{self.path}: column '{col}': no finite values to tell the units from")
            value, error, _ = next(readings[f] for f in readings if f"{self.prefix}_{f}" in inferred)
            for f, col, pivot in unmeasured:
                readings[f] = (value, error, pivot)
        return readings

    def canonical(self, raw, offset=0) -> pd.DataFrame:
        """Canonical flat table of one raw chunk: f_λ [erg s⁻¹ cm⁻² Å⁻¹] or AB, absolute errors."""
        flat = self._flat_columns(raw, offset)
        check_numeric_columns(flat, [c for c in flat if c.startswith(f"{self.prefix}_")], self.path, offset)
        first = self._readings is None
        if first:
            self._readings = self._fix_units(flat)
        for f, (value, error, pivot) in self._readings.items():
            col = f"{self.prefix}_{f}"
            v = np.asarray(flat[col], dtype=float)
            e = np.asarray(flat.pop(f"{col}_RELERR", flat.get(f"{col}_ERR")), dtype=float)
            if value.kind == "magnitude":
                flat[col], flat[f"{col}_ERR"] = v, e
                self.band_units[f] = "magnitude"
                continue
            to_flambda = value.scale * (C_ANGSTROM_PER_S / pivot ** 2 if value.kind == "fnu" else 1.0)
            flux = v * to_flambda
            if error.kind == "relative":
                err = np.abs(e * error.scale * flux)
            else:
                err = e * error.scale * (C_ANGSTROM_PER_S / pivot ** 2 if error.kind == "fnu" else 1.0)
            if first and pivot is not None:
                check_flux_errors(flux, err, f"'{col}'", f"{self.path}: column '{col}_ERR'")
            flat[col], flat[f"{col}_ERR"] = flux, err
            self.band_units[f] = "flambda"
        for f in (self.table or ()):               # filters without a reading (f_nu, no pivot) are not carried
            if f not in self._readings:
                for suffix in ("", "_ERR", "_RELERR"):
                    flat.pop(f"{self.prefix}_{f}{suffix}", None)
        for f in JPAS_CATALOGUE_BANDS:             # bands the filter table lacks are not observed
            for suffix in ("", "_ERR"):
                flat.setdefault(f"{self.prefix}_{f}{suffix}", np.full(len(flat["ALPHA_J2000"]), np.nan))
            self.band_units.setdefault(f, "flambda")
        return pd.DataFrame(flat)

