"""Reading tables from CSV, FITS or Parquet with clear errors about files and columns.

One reader for every catalogue OJALA takes; format-specific column meanings live in
`ojala_core.io.jpas` and `ojala_core.io.desi`.
"""
from __future__ import annotations

import contextlib
import difflib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["InputError", "read_table", "table_units", "guarded_read", "open_fits", "FITS_SUFFIXES",
           "check_numeric_columns"]

FITS_SUFFIXES = (".fits", ".fit", ".fz")
_FITS_BLOCK = 2880          # a FITS file is a whole number of 2880-byte blocks (FITS standard 4.0, Sect. 3.1)
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".txt")
# What the file readers (astropy, pyarrow, pandas) raise for a file that is not what its name says:
# truncated FITS data (TypeError) or header (StopIteration, OSError), a PNG named .fits, bad Parquet.
_READ_ERRORS = (OSError, EOFError, ValueError, StopIteration, TypeError, UnicodeDecodeError)


class InputError(ValueError):
    """Bad input: names the file, and the column or row, that is wrong."""


@contextlib.contextmanager
def guarded_read(path, what="table"):
    """Turn the readers' own exceptions for a bad file into one `InputError` naming `path`."""
    try:
        yield
    except InputError:
        raise
    except _READ_ERRORS as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"{path}: corrupt, truncated or unreadable {what} ({detail}) — check that the file is "
                         f"complete and is the {what} it is named as") from None


def _check_suffix(path):
    suffix = Path(path).suffix.lower()
    if suffix not in (*FITS_SUFFIXES, *_PARQUET_SUFFIXES, *_CSV_SUFFIXES):
        hint = "; decompress it first (gunzip)" if suffix in (".gz", ".bz2", ".xz", ".zip") else ""
        raise InputError(f"{path}: unknown table format '{suffix}' — use CSV, FITS or Parquet{hint}")
    return suffix


@contextlib.contextmanager
def open_fits(path, what="FITS file", memmap=True):
    """`astropy.io.fits.open` with bad files refused as `InputError` (truncated data found from the headers)."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found" if not path.exists() else f"{path}: is a folder, not a file")
    size = path.stat().st_size
    if size % _FITS_BLOCK:
        raise InputError(f"{path}: truncated or not a FITS file ({size} bytes, not a whole number of "
                         f"{_FITS_BLOCK}-byte FITS blocks) — download or copy the file again")
    # astropy's own warnings about a damaged file would print several lines before the one error line.
    with guarded_read(path, what), warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=memmap) as hdul:
            for hdu in hdul:
                info = hdu.fileinfo()
                if info and info["datLoc"] + hdu.size > size:
                    raise InputError(f"{path}: truncated: HDU '{hdu.name}' needs {info['datLoc'] + hdu.size} bytes, "
                                     f"the file has {size} — download or copy the file again")
            yield hdul


def _decode_bytes(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        if frame[col].dtype == object and len(frame) and isinstance(frame[col].iloc[0], bytes):
            frame[col] = frame[col].str.decode("ascii").str.strip()
    return frame


def read_table(path, hdu=None, columns=None, text_columns=()) -> pd.DataFrame:
    """Read a CSV, FITS (binary table) or Parquet file into a DataFrame.

    Parameters
    ----------
    path : path
    hdu : str or int, optional
        FITS extension (default: the first table).
    columns : list of str, optional
        Columns to read (Parquet and FITS read only these).
    text_columns : columns a CSV holds as text (ids: a blank cell must not turn 19-digit ids into floats).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = _check_suffix(path)
    if columns is not None:
        available = list_columns(path, hdu)
        missing = [c for c in columns if c not in available]
        if missing:
            raise InputError(_missing_message(path, missing, available))
    with guarded_read(path):
        if suffix in _PARQUET_SUFFIXES:
            frame = pd.read_parquet(path, columns=columns)
        elif suffix in _CSV_SUFFIXES:
            frame = pd.read_csv(path, usecols=columns, comment="#", dtype={c: str for c in text_columns})
        else:
            frame = _read_fits(path, hdu, columns)
    return _decode_bytes(frame)


def _read_fits(path, hdu, columns):
    with open_fits(path) as hdul:
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
    if not path.is_file():
        raise InputError(f"{path}: file not found" if not path.exists() else f"{path}: is a folder, not a table file")
    suffix = _check_suffix(path)
    if suffix in FITS_SUFFIXES:
        with open_fits(path) as hdul:
            return list(_table_hdu(hdul, hdu, path).columns.names)
    with guarded_read(path):
        if suffix in _PARQUET_SUFFIXES:
            import pyarrow.parquet as pq
            return pq.ParquetFile(path).schema_arrow.names
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty — give a table with a header line and rows")
        return list(pd.read_csv(path, nrows=0, comment="#").columns)


def table_units(path, hdu=None) -> dict:
    """Units declared in a FITS table header (column -> unit string); {} for other formats."""
    path = Path(path)
    if path.suffix.lower() not in FITS_SUFFIXES:
        return {}
    with open_fits(path) as hdul:
        return {c.name: c.unit for c in _table_hdu(hdul, hdu, path).columns if c.unit}


def _missing_message(path, missing, available) -> str:
    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, available, n=2)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"'{name}'{hint}")
    return f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(parts)}"



def check_numeric_columns(columns: dict, names, path, row_offset=0):
    """Refuse text in numeric columns (``'n/a'`` in a flux), naming the file, the column and the first row.

    Blank cells and NaN stay missing values; `columns` maps names to arrays (those not present are skipped).
    """
    for name in names:
        values = columns.get(name)
        if values is None or np.asarray(values).dtype.kind not in "OUS":
            continue
        text = pd.Series(np.asarray(values, dtype=object))
        numbers = pd.to_numeric(text, errors="coerce")
        blank = text.isna() | text.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
        bad = np.flatnonzero(numbers.isna().to_numpy() & ~blank.to_numpy())
        if len(bad):
            raise InputError(f"{path}: column '{name}': row {row_offset + bad[0]}: {text.iloc[bad[0]]!r} is not a "
                             f"number ({len(bad)} such rows) — leave missing values blank or NaN")
