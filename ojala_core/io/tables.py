"""Reading tables from CSV, FITS or Parquet with clear errors about files and columns.

One reader for every catalogue OJALA takes; format-specific column meanings live in
`ojala_core.io.jpas` and `ojala_core.io.desi`.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["InputError", "read_table", "table_units"]


class InputError(ValueError):
    """Bad input: names the file, and the column or row, that is wrong."""


def _decode_bytes(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        if frame[col].dtype == object and len(frame) and isinstance(frame[col].iloc[0], bytes):
            frame[col] = frame[col].str.decode("ascii").str.strip()
    return frame


def read_table(path, hdu=None, columns=None) -> pd.DataFrame:
    """Read a CSV, FITS (binary table) or Parquet file into a DataFrame.

    Parameters
    ----------
    path : path
    hdu : str or int, optional
        FITS extension (default: the first table).
    columns : list of str, optional
        Columns to read (Parquet and FITS read only these).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if columns is not None:
            available = list_columns(path, hdu)
            missing = [c for c in columns if c not in available]
            if missing:
                raise InputError(_missing_message(path, missing, available))
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path, columns=columns)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, usecols=columns, comment="#")
        elif suffix in (".fits", ".fit", ".fz"):
            frame = _read_fits(path, hdu, columns)
        else:
            raise InputError(f"{path}: unknown table format '{suffix}' (use CSV, FITS or Parquet)")
    except InputError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path}: corrupt, truncated or unreadable table ({exc})") from exc
    return _decode_bytes(frame)


def _read_fits(path, hdu, columns):
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        table_hdu = _table_hdu(hdul, hdu, path)
        names = table_hdu.columns.names
        wanted = names if columns is None else columns
        data = table_hdu.data
        out = {}
        for name in wanted:
            values = np.asarray(data[name])
            if values.ndim > 1:
                raise InputError(f"{path}: column '{name}' is multidimensional; expected one value per row")
            out[name] = values.astype(values.dtype.newbyteorder("=")) if values.dtype.kind in "iuf" else values
        return pd.DataFrame(out)


def _table_hdu(hdul, hdu, path):
    from astropy.io import fits

    if hdu is not None:
        try:
            return hdul[hdu]
        except KeyError:
            raise InputError(f"{path}: no HDU named '{hdu}'") from None
    for h in hdul:
        if isinstance(h, fits.BinTableHDU):
            return h
    raise InputError(f"{path}: no binary table in this FITS file")


def list_columns(path, hdu=None) -> list[str]:
    """Column names of a table file without reading its rows."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).schema_arrow.names
    if suffix in (".fits", ".fit", ".fz"):
        from astropy.io import fits
        with fits.open(path, memmap=True) as hdul:
            return list(_table_hdu(hdul, hdu, path).columns.names)
    return list(pd.read_csv(path, nrows=0, comment="#").columns)


def table_units(path, hdu=None) -> dict:
    """Units declared in a FITS table header (column -> unit string); {} for other formats."""
    path = Path(path)
    if path.suffix.lower() not in (".fits", ".fit", ".fz"):
        return {}
    from astropy.io import fits
    with fits.open(path, memmap=True) as hdul:
        return {c.name: c.unit for c in _table_hdu(hdul, hdu, path).columns if c.unit}


def _missing_message(path, missing, available) -> str:
    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, available, n=2)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"'{name}'{hint}")
    return f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(parts)}"

