"""Read a J-PAS catalogue (CSV, FITS or Parquet) into f_ν per band, whatever its units.

Accepts ``{PREFIX}_{FILTER}`` / ``{PREFIX}_{FILTER}_ERR`` columns in f_λ
[erg s⁻¹ cm⁻² Å⁻¹] or AB magnitudes (detected, ambiguous units refused); missing
photometry (99 magnitudes, NaN, non-positive fluxes, flagged bands) becomes NaN.
Not for turning photometry into tokens (see `ojala_core.mocks.tokens`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import jpas_narrow_band_names, load_filter
from ..photometry import C_ANGSTROM_PER_S, fnu_from_ab
from .files import count_rows
from .tables import InputError, list_columns, read_table, table_units

__all__ = ["JPAS_CATALOGUE_BANDS", "LEGACY_MAGNITUDES", "read_jpas_catalogue", "iter_jpas_catalogue",
           "jpas_photometry", "detect_flux_units", "catalogue_ids", "count_table_rows"]

JPAS_CATALOGUE_BANDS = jpas_narrow_band_names() + ["iSDSS"]
LEGACY_MAGNITUDES = ("MAG_G", "MAG_R", "MAG_Z", "MAG_W1", "MAG_W2")
_SENTINELS = (99.0, -99.0, 999.0, -999.0)


def detect_flux_units(values, declared_unit=None, where=""):
    """'flambda' or 'magnitude' for a photometry column.

    Uses the declared unit when there is one; otherwise the values: AB magnitudes of
    real sources lie in 5–40 (or are 99 sentinels), f_λ of astronomical sources in
    erg s⁻¹ cm⁻² Å⁻¹ is far below 1e-10.
    """
    if declared_unit:
        unit = declared_unit.lower().replace(" ", "")
        if "mag" in unit:
            return "magnitude"
        if "erg" in unit and ("angstrom" in unit or "aa" in unit or "å" in unit):
            return "flambda"
        raise InputError(f"{where}: unit '{declared_unit}' is neither AB magnitudes nor erg/(s cm2 Angstrom)")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & ~np.isin(v, _SENTINELS)]
    if v.size == 0:
        raise InputError(f"{where}: no finite values to tell the units from")
    magnitude_like = np.mean((v > 5) & (v < 40))
    flux_like = np.mean(np.abs(v) < 1e-10)
    if magnitude_like > 0.95 and flux_like == 0:
        return "magnitude"
    if flux_like > 0.95:
        return "flambda"
    raise InputError(f"{where}: cannot tell whether the values are AB magnitudes or f_lambda "
                     "(declare the unit in the FITS header, or convert the column)")


def _to_fnu(values, errors, units, pivot):
    values = np.asarray(values, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if units == "magnitude":
        bad = ~np.isfinite(values) | np.isin(values, _SENTINELS) | (values > 40) | (values < 0)
        fnu = fnu_from_ab(np.where(bad, np.nan, values))
        err = 0.4 * np.log(10.0) * fnu * np.where(np.isin(errors, _SENTINELS), np.nan, errors)
        bad |= ~np.isfinite(err) | (err <= 0)
        return np.where(bad, np.nan, fnu), np.where(bad, np.nan, err)
    # A measured non-positive flux is a non-detection: the value is missing, but the band
    # was observed (its error stays), which is what the ≥ 50-filter criterion counts.
    observed = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
    fnu = np.where(observed & (values > 0), values, np.nan) * pivot ** 2 / C_ANGSTROM_PER_S
    err = np.where(observed, errors, np.nan) * pivot ** 2 / C_ANGSTROM_PER_S
    return fnu, err


def read_jpas_catalogue(path, prefix="APER_COR_3_0", id_column=None) -> pd.DataFrame:
    """Read a J-PAS catalogue into a table of f_ν per band.

    Parameters
    ----------
    path : path
        CSV, FITS or Parquet file.
    prefix : str
        Photometry prefix of the flux columns (``APER_COR_3_0`` or ``AUTO`` …).
    id_column : str, optional
        Column holding a unique object id; default ``TILE_ID``-``NUMBER`` if present,
        else ``NUMBER``, else the row number.

    Returns
    -------
    DataFrame with ``JPAS_ID`` (str), ``RA``, ``DEC`` [deg], ``FNU_{band}`` and
    ``FNU_{band}_ERR`` [erg s⁻¹ cm⁻² Hz⁻¹] for J0378…J0910 and iSDSS (NaN = missing; a
    non-positive flux is missing but keeps its error: the band was observed),
    ``MAG_i`` (total iSDSS AB, NaN if missing) and ``MAG_i_ERR``, ``MAG_G…MAG_W2`` and ``_ERR`` when present,
    ``MORPHTYPE`` when present, ``N_NB_OBSERVED``.
    """
    columns = _wanted_columns(list_columns(path), prefix, id_column)
    frame = read_table(path, columns=columns)
    if len(frame) == 0:
        raise InputError(f"{path}: the catalogue is empty")
    units = _column_units(frame, table_units(path), prefix, path)
    return jpas_photometry(frame, prefix, units, path, id_column)


def _wanted_columns(available, prefix, id_column):
    flux_cols = [f"{prefix}_{b}" for b in JPAS_CATALOGUE_BANDS]
    need = ["ALPHA_J2000", "DELTA_J2000"] + [c + e for c in flux_cols for e in ("", "_ERR")]
    optional = ["TILE_ID", "NUMBER", "MAG_AUTO_iSDSS", "MAG_ERR_AUTO_iSDSS", "MORPHTYPE", *(id_column and [id_column] or []),
                *[f"FLAGS_{b}" for b in JPAS_CATALOGUE_BANDS],
                *LEGACY_MAGNITUDES, *[e for c in LEGACY_MAGNITUDES for e in _legacy_error_names(c)]]
    return need + [c for c in optional if c in available]


def _legacy_error_names(column):
    """Accepted error columns of a Legacy magnitude: J-PAS style MAG_ERR_G, or MAG_G_ERR."""
    return (column.replace("MAG_", "MAG_ERR_", 1), f"{column}_ERR")


def _column_units(frame, declared, prefix, path):
    """'flambda' or 'magnitude' per band, from the declared units or the values."""
    return {band: detect_flux_units(frame[f"{prefix}_{band}"], declared.get(f"{prefix}_{band}"),
                                    where=f"{path}: column '{prefix}_{band}'")
            for band in JPAS_CATALOGUE_BANDS}


def iter_jpas_catalogue(path, prefix="APER_COR_3_0", id_column=None, chunk_rows=100_000, all_columns=False):
    """Stream a J-PAS catalogue as (raw rows, `jpas_photometry` table) chunks.

    Units are fixed by the first chunk; ids are not checked for uniqueness across chunks
    (the caller does). Parquet is read by record batches and CSV by pandas chunks.
    `all_columns` keeps every input column in the raw rows (for a VAC).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    available = list_columns(path)
    columns = available if all_columns else _wanted_columns(available, prefix, id_column)
    missing = [c for c in _wanted_columns(available, prefix, id_column) if c not in available]
    if missing:
        raise InputError(f"{path}: missing columns {missing[:5]}")
    declared = table_units(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        chunks = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns))
    elif suffix in (".csv", ".txt"):
        chunks = pd.read_csv(path, usecols=columns, comment="#", chunksize=chunk_rows)
    else:
        frame = read_table(path, columns=columns)
        chunks = (frame.iloc[i:i + chunk_rows] for i in range(0, len(frame), chunk_rows))
    units = None
    offset = 0
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)
        if units is None:
            if len(chunk) == 0:
                raise InputError(f"{path}: the catalogue is empty")
            units = _column_units(chunk, declared, prefix, path)
        phot = jpas_photometry(chunk, prefix, units, path, id_column, offset, check_unique=False)
        phot.attrs["band_units"] = units      # how the bands were read, for whoever re-reads these rows
        yield chunk, phot
        offset += len(chunk)


def jpas_photometry(frame, prefix, units, path, id_column=None, row_offset=0, check_unique=True) -> pd.DataFrame:
    """f_ν table (see `read_jpas_catalogue`) of catalogue rows `frame` with known band units.

    `row_offset` numbers the rows of a chunk when the catalogue has no id column;
    `check_unique` False leaves duplicate ids to the caller (streaming).
    """
    flux_cols = [f"{prefix}_{b}" for b in JPAS_CATALOGUE_BANDS]
    out = {"JPAS_ID": _object_ids(frame, id_column, path, row_offset, check_unique),
           "RA": frame["ALPHA_J2000"].to_numpy(float), "DEC": frame["DELTA_J2000"].to_numpy(float)}
    n_obs = np.zeros(len(frame), dtype=np.int16)
    for band, col in zip(JPAS_CATALOGUE_BANDS, flux_cols):
        fnu, err = _to_fnu(frame[col], frame[f"{col}_ERR"], units[band], load_filter(band).pivot_wavelength)
        if f"FLAGS_{band}" in frame:
            flagged = frame[f"FLAGS_{band}"].to_numpy() != 0
            fnu[flagged] = np.nan
            err[flagged] = np.nan
        out[f"FNU_{band}"], out[f"FNU_{band}_ERR"] = fnu, err
        if band != "iSDSS":
            n_obs += np.isfinite(err)
    out["N_NB_OBSERVED"] = n_obs
    if "MAG_AUTO_iSDSS" in frame:
        mag = frame["MAG_AUTO_iSDSS"].to_numpy(float)
        out["MAG_i"] = np.where(np.isfinite(mag) & (mag > 0) & (mag < 40), mag, np.nan)
    else:
        out["MAG_i"] = -2.5 * np.log10(out["FNU_iSDSS"]) - 48.60
    if "MAG_ERR_AUTO_iSDSS" in frame:
        err = frame["MAG_ERR_AUTO_iSDSS"].to_numpy(float)
        out["MAG_i_ERR"] = np.where(np.isfinite(out["MAG_i"]) & (err > 0) & (err < 10), err, np.nan)
    else:
        out["MAG_i_ERR"] = 1.0857 * out["FNU_iSDSS_ERR"] / out["FNU_iSDSS"]
    for col in LEGACY_MAGNITUDES:
        if col in frame:
            err_col = next((e for e in _legacy_error_names(col) if e in frame), None)
            for name, source in ((col, col), (f"{col}_ERR", err_col)):
                v = frame[source].to_numpy(float) if source else np.full(len(frame), np.nan)
                out[name] = np.where(np.isfinite(v) & (v > 0) & (v < 40), v, np.nan)
            out[f"{col}_ERR"] = np.where(np.isfinite(out[col]), out[f"{col}_ERR"], np.nan)   # no error without a value
    if "MORPHTYPE" in frame:
        out["MORPHTYPE"] = frame["MORPHTYPE"].astype(str).str.strip().replace({"": None, "nan": None})
    return pd.DataFrame(out)


def catalogue_ids(path, id_column=None, row_offset=0) -> np.ndarray:
    """Object ids of every row of a J-PAS catalogue file, reading only the id columns
    (as `read_jpas_catalogue` builds them; row numbers from `row_offset` if it has none)."""
    available = set(list_columns(path))
    wanted = [c for c in ([id_column] if id_column else ["TILE_ID", "NUMBER"]) if c in available]
    if id_column and not wanted:
        raise InputError(f"{path}: no id column '{id_column}'")
    if wanted:
        frame = read_table(path, columns=wanted)
    else:
        frame = pd.DataFrame(index=range(count_table_rows(path)))
    return _object_ids(frame, id_column, path, row_offset, check_unique=False)


def count_table_rows(path) -> int:
    """Rows of a catalogue file (Parquet/FITS from metadata, CSV by reading one column)."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return len(pd.read_csv(path, usecols=[0], comment="#"))
    return count_rows(path)


def _object_ids(frame, id_column, path, row_offset=0, check_unique=True):
    if id_column:
        ids = frame[id_column].astype(str)
    elif "TILE_ID" in frame and "NUMBER" in frame:
        ids = frame["TILE_ID"].astype(str) + "-" + frame["NUMBER"].astype(str)
    elif "NUMBER" in frame:
        ids = frame["NUMBER"].astype(str)
    else:
        ids = pd.Series((row_offset + np.arange(len(frame))).astype(str))
    duplicated = ids.duplicated(keep=False)
    if check_unique and duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())[:5]
        raise InputError(f"{path}: duplicate object ids {sorted(set(ids.iloc[rows]))} (rows {rows.tolist()})")
    return ids.to_numpy()
