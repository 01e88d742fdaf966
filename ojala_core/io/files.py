"""Atomic file writing and small FITS/Parquet/JSON helpers.

Everything is written to a temporary name in the target folder and renamed, so an
interrupted job never leaves a half-written file behind. Not for format parsing.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_fits_table", "write_fits_tables", "write_parquet", "write_json", "count_rows",
           "remove_stale_partials", "file_identity", "files_sha256", "weights_digest",
           "check_output_folder"]

_PARTIAL_SUFFIX = ".partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it onto `path` if the block succeeds.

    The file gets the permissions of any newly created file (0666 less the user's umask):
    `tempfile.mkstemp` alone would leave every output readable by its owner only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_PARTIAL_SUFFIX, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _to_fits_column_array(values):
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind == "U":
        arr = arr.astype(str).astype("S")
    return arr


def _fits_table_hdu(columns: dict, extname: str, units: dict | None = None, header: dict | None = None):
    from astropy.io import fits

    cols = []
    units = units or {}
    for name, values in columns.items():
        arr = _to_fits_column_array(values)
        fmt = fits.column._convert_record2fits(arr.dtype) if arr.ndim == 1 else None
        if arr.ndim > 1:
            fmt = f"{arr.shape[1]}{fits.column._convert_record2fits(arr.dtype)}"
        cols.append(fits.Column(name=name, format=fmt, array=arr, unit=units.get(name)))
    table = fits.BinTableHDU.from_columns(cols, name=extname)
    for key, value in (header or {}).items():
        table.header[key] = value
    return table


def write_fits_table(path, columns: dict, extname: str, units: dict | None = None, header: dict | None = None):
    """Write a binary-table FITS file (primary HDU + one table HDU named `extname`)."""
    write_fits_tables(path, [(extname, columns, units)], header)


def write_fits_tables(path, tables, header: dict | None = None):
    """Write a FITS file of several binary tables: `tables` lists (extname, columns, units); `header`
    goes to every table HDU."""
    from astropy.io import fits

    hdus = [_fits_table_hdu(columns, extname, units, header) for extname, columns, units in tables]
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(tmp, overwrite=True)


def write_parquet(path, frame, **options):
    """Write a pandas DataFrame to Parquet atomically (`options` go to pyarrow, e.g. row_group_size)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, **options)


def write_json(path, obj):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def count_rows(path) -> int:
    """Rows of a Parquet file, or of the first table HDU of a FITS file."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    from astropy.io import fits
    with fits.open(path, memmap=True) as hdul:
        table = next(h for h in hdul if isinstance(h, fits.BinTableHDU))
        return int(table.header["NAXIS2"])


def remove_stale_partials(folder) -> list[Path]:
    """Delete the temporary files (``.NAME.*.partial``) an interrupted job left under `folder`."""
    folder = Path(folder)
    stale = sorted(folder.rglob(f".*{_PARTIAL_SUFFIX}")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def file_identity(path) -> dict:
    """What a file is, cheaply: resolved path, size [bytes] and modification time [ns]."""
    path = Path(path).resolve()
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def files_sha256(paths) -> str:
    """One SHA-256 over the bytes of `paths` (in the given order), e.g. a model's config.json + weights."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def weights_digest(model_dir) -> str:
    """SHA-256 of a model folder's ``model.safetensors``: a reference set or a calibration is made for it."""
    return files_sha256([Path(model_dir) / "model.safetensors"])


def check_output_folder(path, option="--out"):
    """Refuse an output folder that is an existing file (before anything is written)."""
    from .tables import InputError

    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent}: is a file, not a folder — give another {option}")
            break
