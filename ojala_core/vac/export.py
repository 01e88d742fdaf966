"""Write VAC rows (a partition, or a user's selection) as CSV, Parquet or FITS.

FITS gets the units the FITS standard can state (dex and solar units cannot: docs/formats.md
lists every column's unit); missing strings become ''. Not for reading VACs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io.files import atomic_path, write_fits_table, write_parquet
from ..io.tables import InputError
from .columns import vac_units

__all__ = ["export_table", "EXPORT_FORMATS"]

EXPORT_FORMATS = {"csv": ".csv", "parquet": ".parquet", "fits": ".fits"}


def export_table(frame: pd.DataFrame, path, fmt: str) -> Path:
    """Write `frame` to `path` atomically in format `fmt` (csv, parquet or fits)."""
    path = Path(path)
    if fmt == "parquet":
        write_parquet(path, frame)
    elif fmt == "csv":
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    elif fmt == "fits":
        columns = {}
        for name in frame.columns:
            values = frame[name]
            if values.dtype == object or pd.api.types.is_string_dtype(values) \
                    or isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype(object).where(values.notna(), "").astype(str)
            columns[name] = values.to_numpy()
        write_fits_table(path, columns, "OJALA_VAC", units=_fits_units(vac_units(frame.columns)))
    else:
        raise InputError(f"unknown export format '{fmt}' (choose from {sorted(EXPORT_FORMATS)})")
    return path


def _fits_units(units: dict) -> dict:
    """The units the FITS standard can state."""
    from astropy import units as u

    kept = {}
    for name, unit in units.items():
        unit = unit.replace("mag(AB)", "mag")
        try:
            u.Unit(unit, format="fits")
        except ValueError:
            continue
        kept[name] = unit
    return kept
