"""The J-PAS archive layout: one array column per quantity, indexed by the release's filter table.

Holds the filter tables of known releases and reads one from a file, finds columns by
case-insensitive, table-qualified names (TAP exports), reads array cells from FITS, Parquet or
CSV and streams raw rows. Not for units (see `jpas_units`) nor for the meaning of the columns
(see `jpas_layout`).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import jpas_narrow_band_names
from .tables import InputError

__all__ = ["MINIJPAS_FILTERS", "FILTER_TABLES", "filter_table", "embedded_filter_table", "FILTER_HDU",
           "ColumnIndex", "array_values", "looks_like_array",
           "iter_raw_chunks", "file_columns", "declared_units"]

# miniJPAS and J-NEP (CEFCA archive, tables minijpas.* and jnep.*): FILTER_ID − 1 is the array
# index; 0 is uJAVA, so reading the arrays by position from J0378 shifts every band by one.
MINIJPAS_FILTERS = ("uJAVA", *jpas_narrow_band_names(), "J1007", "uJPAS", "gSDSS", "rSDSS", "iSDSS")
FILTER_TABLES = {"minijpas": MINIJPAS_FILTERS, "jnep": MINIJPAS_FILTERS}
_KNOWN_FILTERS = {name.upper(): name for name in MINIJPAS_FILTERS}


def filter_table(spec) -> tuple[str, ...] | None:
    """Filter names in array-index order: a built-in table name, a file, or a list of names.

    The file lists one filter name per array index in order (``uJAVA``, ``J0378`` …), one per
    line or separated by commas/spaces; ``#`` starts a comment. Names are checked against the
    J-PAS filters (case-insensitive) and must be unique.
    """
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        names, origin = [str(n) for n in spec], "the filter list"
    elif str(spec).lower() in FILTER_TABLES:
        return FILTER_TABLES[str(spec).lower()]
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"{spec}: neither a built-in filter table ({', '.join(FILTER_TABLES)}) nor a file "
                             "listing filter names in array-index order")
        names = [n for line in path.read_text().splitlines()
                 for n in re.split(r"[\s,]+", line.split("#", 1)[0]) if n]
        origin = str(path)
    table = []
    for k, name in enumerate(names):
        known = _KNOWN_FILTERS.get(name.upper())
        if known is None:
            raise InputError(f"{origin}: unknown filter '{name}' at index {k} "
                             f"(J-PAS filters: {', '.join(MINIJPAS_FILTERS)})")
        if known in table:
            raise InputError(f"{origin}: filter '{known}' listed twice (indices {table.index(known)} and {k})")
        table.append(known)
    if not table:
        raise InputError(f"{origin}: no filter names")
    return tuple(table)


# The archive's filter table (CEFCA ``minijpas.Filter``: FILTER_ID from 1, NAME) as an HDU of the
# catalogue file; the array index of a filter is FILTER_ID - 1.
FILTER_HDU = "FILTER"


def embedded_filter_table(path) -> tuple[str, ...] | None:
    """Filter names in array-index order from a FITS catalogue's FILTER HDU (FILTER_ID, NAME), or None."""
    from astropy.io import fits

    if Path(path).suffix.lower() not in (".fits", ".fit", ".fz"):
        return None
    with fits.open(path, memmap=True) as hdul:
        hdu = next((h for h in hdul[1:] if h.name.upper() in (FILTER_HDU, "FILTERS")), None)
        if hdu is None:
            return None
        names = {c.upper(): c for c in hdu.columns.names}
        if "FILTER_ID" not in names or not ({"NAME", "FILTER"} & set(names)):
            raise InputError(f"{path}: HDU {hdu.name} needs columns FILTER_ID and NAME (the archive's filter table)")
        ids = np.asarray(hdu.data[names["FILTER_ID"]]).astype(int)
        labels = [str(v).strip() for v in hdu.data[names.get("NAME") or names["FILTER"]]]
    order = np.argsort(ids)
    if not np.array_equal(ids[order], np.arange(1, len(ids) + 1)):
        raise InputError(f"{path}: HDU {hdu.name}: FILTER_ID must run 1…{len(ids)} (one row per array index)")
    return filter_table([labels[k] for k in order])


def bare_name(name) -> str:
    """Column name without its table qualifier (``minijpas.magabdualobj.flux_auto`` → ``flux_auto``)."""
    return str(name).rsplit(".", 1)[-1].strip()


class ColumnIndex:
    """The columns of one file, found by case-insensitive names without table qualifiers."""

    def __init__(self, names, path):
        self.path = path
        self.names = list(names)
        self._by_key: dict[str, list[str]] = {}
        for name in self.names:
            self._by_key.setdefault(bare_name(name).upper(), []).append(name)

    def find(self, canonical) -> str | None:
        """The file's column for `canonical` (None if absent); two candidates are refused."""
        found = self._by_key.get(canonical.upper(), [])
        if len(found) > 1:
            raise InputError(f"{self.path}: columns {found} all read as '{canonical}'; keep one of them")
        return found[0] if found else None

    def bare_names(self) -> dict[str, str]:
        """actual name -> name without the table qualifier (qualified kept where two would clash)."""
        return {name: (bare_name(name) if len(self._by_key[bare_name(name).upper()]) == 1 else name)
                for name in self.names}


def _cell_values(cell, where, row) -> np.ndarray:
    if isinstance(cell, bytes):
        cell = cell.decode("ascii", "replace")
    if isinstance(cell, str):
        text = cell.strip().strip("[](){}")
        parts = [p for p in re.split(r"[\s,]+", text) if p]
        try:
            return np.array(parts, dtype=float)
        except ValueError:
            raise InputError(f"{where}, row {row}: cannot read the array cell '{cell[:60]}'") from None
    if cell is None or (np.ndim(cell) == 0 and pd.isna(cell)):
        return np.array([], dtype=float)
    return np.asarray(cell, dtype=float).ravel()


def array_values(values, n_filters, where, row_offset=0) -> np.ndarray:
    """(rows, n_filters) float array of an array column (FITS vectors, Parquet lists or CSV cells).

    CSV cells hold the values separated by spaces, or bracketed and comma-separated; an empty
    cell is a row without values (NaN). A row of another length is refused, naming it.
    """
    arr = np.asarray(values)
    if arr.ndim == 2:
        if arr.shape[1] != n_filters:
            raise InputError(f"{where}: {arr.shape[1]} values per row, but the filter table has {n_filters} filters")
        return arr.astype(float)
    out = np.full((len(arr), n_filters), np.nan)
    for k, cell in enumerate(arr):
        cell_values = _cell_values(cell, where, row_offset + k)
        if cell_values.size == 0:
            continue
        if cell_values.size != n_filters:
            raise InputError(f"{where}, row {row_offset + k}: {cell_values.size} values, but the filter table has "
                             f"{n_filters} filters")
        out[k] = cell_values
    return out


def looks_like_array(values) -> bool:
    """True for a column of vectors: a 2-D array, or cells holding lists or several numbers."""
    arr = np.asarray(values)
    if arr.ndim == 2:
        return True
    if arr.dtype != object or len(arr) == 0:
        return False
    cell = next((c for c in arr if c is not None and not (np.ndim(c) == 0 and pd.isna(c))), None)
    if isinstance(cell, (list, tuple, np.ndarray)):
        return True
    if isinstance(cell, str):
        parts = [p for p in re.split(r"[\s,]+", cell.strip().strip("[](){}")) if p]
        try:
            return len(parts) > 1 and bool(np.array(parts, dtype=float).size)
        except ValueError:
            return False
    return False


def file_columns(path) -> list[str]:
    """Column names of a CSV, FITS or Parquet table without reading its rows."""
    from .tables import list_columns

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return list_columns(path)
    except (OSError, EOFError, ValueError, StopIteration, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: corrupt, truncated or unreadable table ({exc})") from exc


def declared_units(path) -> dict[str, str]:
    """Units declared in a FITS header (column -> TUNIT); {} for CSV and Parquet."""
    from .tables import table_units

    return table_units(path)


def _native(values: np.ndarray) -> np.ndarray:
    values = np.array(values)
    if values.dtype.kind in "iuf" and values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    if values.dtype.kind == "S":
        values = np.char.strip(np.char.decode(values, "ascii", "replace")).astype(object)
    return values


def iter_raw_chunks(path, columns, chunk_rows, text_columns=()):
    """Stream the given columns of a table as ``{name: array}`` chunks of `chunk_rows` rows.

    FITS vector columns come as 2-D arrays, Parquet lists and CSV array cells as object arrays;
    CSV `text_columns` (ids) stay text, never a float round-trip.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            # pre_buffer off: with it, pyarrow kept every read row group (memory grew with the file, 1.5 →
            # 3.7 GB over 16 chunks of 50,000 rows); without, memory holds about one chunk.
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_rows,
                                                                              columns=list(columns)):
                frame = batch.to_pandas()
                yield {c: frame[c].to_numpy() for c in columns}
        elif suffix in (".csv", ".txt"):
            for frame in pd.read_csv(path, usecols=list(columns), comment="#", chunksize=chunk_rows,
                                     dtype={c: str for c in text_columns if c in columns}):
                yield {c: frame[c].to_numpy() for c in columns}
        elif suffix in (".fits", ".fit", ".fz"):
            from astropy.io import fits

            with fits.open(path, memmap=True) as hdul:
                table = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
                if table is None:
                    raise InputError(f"{path}: no binary table in this FITS file")
                n = len(table.data) if table.data is not None else 0
                for start in range(0, max(n, 1), chunk_rows):
                    yield {c: _native(table.data[c][start:start + chunk_rows]) for c in columns}
        else:
            raise InputError(f"{path}: unknown table format '{suffix}' (use CSV, FITS or Parquet)")
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: corrupt, truncated or unreadable table ({exc})") from exc
