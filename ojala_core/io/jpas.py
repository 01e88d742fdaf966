"""Read a J-PAS catalogue (CSV, FITS or Parquet) into f_ν per band, whatever its layout and units.

Accepts the flat layout (``{PREFIX}_{FILTER}`` with ``_ERR`` or ``_RELERR`` columns) and the CEFCA
archive layout (arrays ``FLUX_{PREFIX}``, ``FLUX_RELERR_{PREFIX}``, ``MAG_…``, ``FLAGS``, ``MASK_FLAGS``
read through a named filter table; see `jpas_layout`), in f_λ, f_ν or AB magnitudes with declared
or unambiguous units; missing photometry (99 magnitudes, NaN, non-positive fluxes, masked or badly
flagged bands) becomes NaN. Not for turning photometry into tokens (see `catalogue_tokens`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import load_filter
from ..photometry import C_ANGSTROM_PER_S, MAG_PER_LN_FLUX, ab_magnitude, fnu_from_ab
from .files import count_rows
from .jpas_archive import ColumnIndex, file_columns
from .jpas_layout import ID_COLUMNS, JPAS_CATALOGUE_BANDS, LEGACY_MAGNITUDES, CatalogueLayout
from .jpas_units import MAG_SENTINELS, MAGNITUDE_RANGE, check_magnitude_offset, check_magnitudes
from .tables import InputError, read_table

__all__ = ["JPAS_CATALOGUE_BANDS", "LEGACY_MAGNITUDES", "DEFAULT_FLAGS_THRESHOLD", "read_jpas_catalogue",
           "band_flagged", "flat_catalogue", "iter_jpas_catalogue", "jpas_photometry", "catalogue_ids",
           "count_table_rows"]

# SExtractor FLAGS (Bertin & Arnouts 1996; SExtractor manual, "Extraction flags"): 1 neighbours or
# bad pixels bias the photometry by >10 %, 2 the object was deblended, 4 at least one pixel is
# saturated, 8 truncated at the image boundary, 16/32 aperture/isophotal data incomplete or
# corrupted, 64/128 memory overflow. Bits 1 and 2 are routine for galaxies in crowded fields and
# leave the measurement usable; a band is dropped from FLAGS >= 4 (saturated or worse).
DEFAULT_FLAGS_THRESHOLD = 4
# MAG_AUTO_iSDSS (total) may differ from the aperture-corrected iSDSS flux by galaxy extent,
# never by this much; a larger median difference is a unit or column mistake.
MAX_TOTAL_APERTURE_OFFSET = 3.0
# Legacy/WISE magnitudes of the same objects lie within this of MAG_i (AB colours of real sources).
MAX_COLOUR_OFFSET = 5.0


def _to_fnu(values, errors, units, pivot):
    values = np.asarray(values, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if units == "magnitude":
        bad = ~np.isfinite(values) | np.isin(values, MAG_SENTINELS) | (values > MAGNITUDE_RANGE[1]) | (values < 0)
        fnu = fnu_from_ab(np.where(bad, np.nan, values))
        err = fnu / MAG_PER_LN_FLUX * np.where(np.isin(errors, MAG_SENTINELS), np.nan, errors)
        bad |= ~np.isfinite(err) | (err <= 0)
        return np.where(bad, np.nan, fnu), np.where(bad, np.nan, err)
    # A measured non-positive flux is a non-detection: the value is missing, but the band
    # was observed (its error stays), which is what the ≥ 50-filter criterion counts.
    observed = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
    fnu = np.where(observed & (values > 0), values, np.nan) * pivot ** 2 / C_ANGSTROM_PER_S
    err = np.where(observed, errors, np.nan) * pivot ** 2 / C_ANGSTROM_PER_S
    return fnu, err


def read_jpas_catalogue(path, prefix="APER_COR_3_0", id_column=None, filters=None,
                        flags_threshold=DEFAULT_FLAGS_THRESHOLD) -> pd.DataFrame:
    """Read a J-PAS catalogue into a table of f_ν per band.

    Parameters
    ----------
    path : path
        CSV, FITS or Parquet file, flat or archive layout (names case-insensitive, table
        qualifiers such as ``minijpas.magabdualobj.`` ignored).
    prefix : str
        Photometry prefix (``APER_COR_3_0`` or ``AUTO`` …).
    id_column : str, optional
        Column holding a unique object id; default ``TILE_ID``-``NUMBER`` if present,
        else ``NUMBER``, else the row number.
    filters : str, path or list, optional
        Filter table of archive array columns (``minijpas``, ``jnep``, or a file listing the
        filter names in array-index order); required for array columns, never guessed.
    flags_threshold : int
        A band is missing where its SExtractor ``FLAGS`` >= this (default 4 keeps
        neighbour/deblending bits 1 and 2); ``MASK_FLAGS`` != 0 always makes it missing.

    Returns
    -------
    DataFrame with ``JPAS_ID`` (str), ``RA``, ``DEC`` [deg], ``FNU_{band}`` and
    ``FNU_{band}_ERR`` [erg s⁻¹ cm⁻² Hz⁻¹] for J0378…J0910 and iSDSS (NaN = missing; a
    non-positive flux is missing but keeps its error: the band was observed),
    ``MAG_i`` (total iSDSS AB, NaN if missing) and ``MAG_i_ERR``, ``MAG_G…MAG_W2`` and ``_ERR`` when present,
    ``MORPHTYPE`` (or Legacy ``TYPE``) when present, ``N_NB_OBSERVED``.
    """
    (frame, phot), = iter_jpas_catalogue(path, prefix, id_column, chunk_rows=1 << 62, filters=filters,
                                         flags_threshold=flags_threshold, check_unique=True)
    return phot


def iter_jpas_catalogue(path, prefix="APER_COR_3_0", id_column=None, chunk_rows=100_000, all_columns=False,
                        filters=None, flags_threshold=DEFAULT_FLAGS_THRESHOLD, check_unique=False):
    """Stream a J-PAS catalogue as (canonical rows, `jpas_photometry` table) chunks.

    The canonical rows are the file's columns with the photometry in the flat layout, f_λ in
    erg s⁻¹ cm⁻² Å⁻¹ (or AB magnitudes) with absolute errors, archive arrays spread over one
    column per filter. Units are fixed by the first chunk; ids are checked for uniqueness only
    within a chunk, and only with `check_unique`. `all_columns` keeps every scalar input column
    in the rows (for a VAC). Parquet is read by record batches, CSV by pandas chunks.
    """
    layout = CatalogueLayout(path, prefix, filters, id_column)
    for offset, frame in layout.iter_chunks(chunk_rows, all_columns):
        phot = jpas_photometry(frame, prefix, layout.band_units, layout.path, id_column, offset,
                               check_unique=check_unique, flags_threshold=flags_threshold)
        phot.attrs["band_units"] = dict(layout.band_units)   # how the bands were read, for whoever re-reads
        yield frame, phot


def flat_catalogue(path, prefixes=("APER_COR_3_0", "AUTO"), filters=None) -> pd.DataFrame:
    """A J-PAS catalogue (any layout) in the flat layout of docs/formats.md, e.g. to convert an archive file.

    Every scalar column of the file, and for J0378…J0910 and iSDSS: ``{PREFIX}_{band}`` f_λ
    [erg s⁻¹ cm⁻² Å⁻¹] (or AB magnitudes where the file has only those) with absolute
    ``_ERR`` for each of `prefixes`, and ``FLAGS_{band}`` / ``MASK_FLAGS_{band}`` where present.
    """
    per_band = {f"{q}_{b}" for q in ("FLAGS", "MASK_FLAGS") for b in JPAS_CATALOGUE_BANDS}
    frame = None
    for prefix in prefixes:
        layout = CatalogueLayout(path, prefix, filters)
        chunks = [chunk for _, chunk in layout.iter_chunks(1 << 62, all_columns=frame is None)]
        chunk = pd.concat(chunks, ignore_index=True)
        photometry = [f"{prefix}_{b}{e}" for b in JPAS_CATALOGUE_BANDS for e in ("", "_ERR")]
        if frame is None:
            banded = (*[f"{p}_" for p in prefixes], "FLAGS_", "MASK_FLAGS_")
            other = [c for c in chunk.columns if not c.startswith(banded)]
            frame = chunk[[*other, *photometry, *[c for c in chunk.columns if c in per_band]]]
        else:
            frame = pd.concat([frame, chunk[photometry]], axis=1)
    return frame


def band_flagged(frame, band, flags_threshold=DEFAULT_FLAGS_THRESHOLD) -> np.ndarray:
    """Rows of canonical `frame` whose `band` is flagged: SExtractor FLAGS >= `flags_threshold` or MASK_FLAGS != 0."""
    bad = np.zeros(len(frame), dtype=bool)
    if f"FLAGS_{band}" in frame:
        bad |= np.nan_to_num(np.asarray(frame[f"FLAGS_{band}"], dtype=float)) >= flags_threshold
    if f"MASK_FLAGS_{band}" in frame:
        bad |= np.nan_to_num(np.asarray(frame[f"MASK_FLAGS_{band}"], dtype=float)) != 0
    return bad


def jpas_photometry(frame, prefix, units, path, id_column=None, row_offset=0, check_unique=True,
                    flags_threshold=DEFAULT_FLAGS_THRESHOLD) -> pd.DataFrame:
    """f_ν table (see `read_jpas_catalogue`) of canonical catalogue rows `frame` with known band units.

    `units` maps each band to ``flambda`` [erg s⁻¹ cm⁻² Å⁻¹] or ``magnitude`` (AB); `row_offset`
    numbers the rows of a chunk in messages and ids; `check_unique` False leaves duplicate ids
    to the caller (streaming).
    """
    out = {"JPAS_ID": _object_ids(frame, id_column, path, row_offset, check_unique),
           "RA": np.asarray(frame["ALPHA_J2000"], dtype=float), "DEC": np.asarray(frame["DELTA_J2000"], dtype=float)}
    n_obs = np.zeros(len(frame), dtype=np.int16)
    for band in JPAS_CATALOGUE_BANDS:
        col = f"{prefix}_{band}"
        fnu, err = _to_fnu(frame[col], frame[f"{col}_ERR"], units[band], load_filter(band).pivot_wavelength)
        flagged = band_flagged(frame, band, flags_threshold)
        fnu[flagged] = np.nan
        err[flagged] = np.nan
        out[f"FNU_{band}"], out[f"FNU_{band}_ERR"] = fnu, err
        if band != "iSDSS":
            n_obs += np.isfinite(err)
    out["N_NB_OBSERVED"] = n_obs
    aperture_i = ab_magnitude(out["FNU_iSDSS"])
    if "MAG_AUTO_iSDSS" in frame:
        out["MAG_i"] = check_magnitudes(frame["MAG_AUTO_iSDSS"], f"{path}: column 'MAG_AUTO_iSDSS'", row_offset)
        check_magnitude_offset(out["MAG_i"], aperture_i, f"{path}: column 'MAG_AUTO_iSDSS'",
                               f"the magnitude of '{prefix}_iSDSS'", MAX_TOTAL_APERTURE_OFFSET)
    else:
        out["MAG_i"] = np.where(aperture_i < MAGNITUDE_RANGE[1], aperture_i, np.nan)   # a noise-level flux: missing
    if "MAG_ERR_AUTO_iSDSS" in frame:
        err = np.asarray(frame["MAG_ERR_AUTO_iSDSS"], dtype=float)
        out["MAG_i_ERR"] = np.where(np.isfinite(out["MAG_i"]) & (err > 0) & (err < 10), err, np.nan)
    else:
        out["MAG_i_ERR"] = MAG_PER_LN_FLUX * out["FNU_iSDSS_ERR"] / out["FNU_iSDSS"]
    for col in LEGACY_MAGNITUDES:
        if col in frame:
            out[col] = check_magnitudes(frame[col], f"{path}: column '{col}'", row_offset)
            check_magnitude_offset(out[col], out["MAG_i"], f"{path}: column '{col}'", "MAG_i", MAX_COLOUR_OFFSET)
            err_col = next((e for e in _legacy_error_names(col) if e in frame), None)
            v = np.asarray(frame[err_col], dtype=float) if err_col else np.full(len(frame), np.nan)
            # no error without a value
            out[f"{col}_ERR"] = np.where(np.isfinite(out[col]) & (v > 0) & (v < MAGNITUDE_RANGE[1]), v, np.nan)
    if "MORPHTYPE" in frame:
        out["MORPHTYPE"] = pd.Series(frame["MORPHTYPE"]).astype(str).str.strip().replace({"": None, "nan": None,
                                                                                          "None": None}).to_numpy()
    return pd.DataFrame(out)


def _legacy_error_names(column):
    """Accepted error columns of a Legacy magnitude: J-PAS style MAG_ERR_G, or MAG_G_ERR."""
    return (column.replace("MAG_", "MAG_ERR_", 1), f"{column}_ERR")


def catalogue_ids(path, id_column=None, row_offset=0) -> np.ndarray:
    """Object ids of every row of a J-PAS catalogue file, reading only the id columns
    (as `read_jpas_catalogue` builds them; row numbers from `row_offset` if it has none)."""
    index = ColumnIndex(file_columns(path), path)
    found = {n: index.find(n) for n in ([id_column] if id_column else ID_COLUMNS)}
    if id_column and not found[id_column]:
        raise InputError(f"{path}: no id column '{id_column}'")
    wanted = {actual: name for name, actual in found.items() if actual}
    if wanted:
        frame = read_table(path, columns=list(wanted), text_columns=list(wanted)).rename(columns=wanted)
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
    parts = [id_column] if id_column else [c for c in ID_COLUMNS if c in frame]
    for name in parts:
        blank = frame[name].isna().to_numpy() | (frame[name].astype(str).str.strip() == "").to_numpy()
        if blank.any():
            rows = (row_offset + np.flatnonzero(blank)[:5]).tolist()
            raise InputError(f"{path}: column '{name}': blank object id (rows {rows}) — fill it, or name a complete "
                             "id column with --id-column")
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
        rows = (row_offset + np.flatnonzero(duplicated.to_numpy())[:5])
        raise InputError(f"{path}: duplicate object ids {sorted(set(ids.iloc[rows]))} (rows {rows.tolist()})")
    return ids.to_numpy()
