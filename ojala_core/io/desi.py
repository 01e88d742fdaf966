"""Read DESI DR1-format files: redshift catalogue (in chunks, cut to a footprint) and coadd spectra.

Each reader checks the real column names and returns a DataFrame keyed by TARGETID (int64).
The VACs are read by `ojala_core.io.desi_vacs`. Not for deciding which labels to use (see
`ojala_core.mocks.tokens`).
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .desi_units import check_legacy_fluxes, legacy_flux_factors
from .tables import FITS_SUFFIXES, InputError, list_columns, open_fits, read_table, table_units

__all__ = ["read_redshift_catalogue", "iter_coadd_files", "CoaddBlock", "LEGACY_FLUX_BANDS", "CoaddIndex",
           "Footprint", "RedshiftCuts", "expand_paths", "iter_table_chunks", "coadd_survey_program",
           "check_coadd_file", "primary_coadd_rows",
           "coadd_targetids"]

LEGACY_FLUX_BANDS = ("G", "R", "Z", "W1", "W2")
CHUNK_ROWS = 500_000
# desidatamodel: coadd-SURVEY-PROGRAM-PIXNUM.fits with these surveys and programs.
_COADD_NAME = re.compile(r"coadd-(?P<survey>cmx|main|special|sv1|sv2|sv3)-(?P<program>backup|bright|dark|other)-",
                         re.IGNORECASE)


def expand_paths(patterns) -> list[str]:
    """Files named by `patterns` (a path, a quoted glob, or a list of them), sorted, each glob matching.

    FastSpecFit v3.0 ships main bright/dark as ``fastspec-iron-main-*-nside1-hpNN.fits`` files;
    every DESI input may be given as several files or a glob.
    """
    if patterns is None:
        return []
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    out = []
    for pattern in patterns:
        pattern = str(pattern)
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern))
            if not found:
                raise InputError(f"{pattern}: no file matches this pattern")
            out.extend(found)
        else:
            out.append(pattern)
    return out


@dataclass(frozen=True)
class Footprint:
    """A sky box [deg] (RA range may wrap through 0): the J-PAS catalogue's bounding box plus a margin."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    @classmethod
    def around(cls, ra, dec, margin_arcsec=1.0):
        """The bounding box of (`ra`, `dec`) [deg] widened by `margin_arcsec` (the match radius)."""
        ra = np.mod(np.asarray(ra, dtype=float), 360.0)
        dec = np.asarray(dec, dtype=float)
        ok = np.isfinite(ra) & np.isfinite(dec)
        if not ok.any():
            raise InputError("the J-PAS catalogue has no valid RA/DEC to define the footprint")
        ra, dec = np.sort(ra[ok]), dec[ok]
        # Start the RA range after the widest empty gap, so a field across RA = 0 stays one box.
        gaps = np.diff(np.concatenate([ra, ra[:1] + 360.0]))
        k = int(np.argmax(gaps))
        lo, hi = ra[(k + 1) % len(ra)], ra[k]
        margin = margin_arcsec / 3600.0
        dec_min, dec_max = max(dec.min() - margin, -90.0), min(dec.max() + margin, 90.0)
        cos_dec = np.cos(np.radians(min(max(abs(dec_min), abs(dec_max)), 89.9)))
        return cls(float(lo - margin / cos_dec), float(hi + margin / cos_dec), float(dec_min), float(dec_max))

    def contains(self, ra, dec) -> np.ndarray:
        ra = np.mod(np.asarray(ra, dtype=float), 360.0)
        lo, hi = np.mod(self.ra_min, 360.0), np.mod(self.ra_max, 360.0)
        in_ra = (ra >= lo) & (ra <= hi) if lo <= hi else (ra >= lo) | (ra <= hi)
        dec = np.asarray(dec, dtype=float)
        return in_ra & (dec >= self.dec_min) & (dec <= self.dec_max)


@dataclass(frozen=True)
class RedshiftCuts:
    """Optional DESI good-redshift cuts on top of ZWARN = 0 (applied when the labels are made).

    min_deltachi2 : keep DELTACHI2 >= this (e.g. 25 for DR1 galaxies); None: no cut.
    fiberstatus_zero : keep COADD_FIBERSTATUS == 0.
    objtype_tgt : keep OBJTYPE == 'TGT' (drops sky fibres and bad positioners).
    """

    min_deltachi2: float | None = None
    fiberstatus_zero: bool = False
    objtype_tgt: bool = False

    def columns(self) -> list[str]:
        return [c for c, on in (("DELTACHI2", self.min_deltachi2 is not None),
                                ("COADD_FIBERSTATUS", self.fiberstatus_zero), ("OBJTYPE", self.objtype_tgt)) if on]


def _native(values):
    values = np.asarray(values)
    if values.dtype.kind in "iufb":
        return values.astype(values.dtype.newbyteorder("="))
    if values.dtype.kind == "S":
        return np.char.strip(np.char.decode(values, "ascii"))
    if values.dtype.kind == "U":
        return np.char.strip(values)
    return values


def iter_table_chunks(path, hdu, columns, chunk_rows=CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """`columns` of a table file in blocks of `chunk_rows` rows (FITS memory-mapped: only these bytes are read).

    CSV and Parquet files are read whole (with only `columns`); the DR1 zall and VAC files are FITS.
    """
    path = Path(path)
    if path.suffix.lower() not in FITS_SUFFIXES:
        yield read_table(path, hdu=hdu, columns=columns)
        return
    available = list_columns(path, hdu)
    missing = [c for c in columns if c not in available]
    if missing:
        read_table(path, hdu=hdu, columns=columns)      # raises the reader's message naming them
    from astropy.io import fits

    with open_fits(path) as hdul:
        table = hdul[hdu] if hdu is not None else next(h for h in hdul if isinstance(h, fits.BinTableHDU))
        data = table.data
        n = 0 if data is None else len(data)
        for start in range(0, max(n, 1), chunk_rows):
            part = data[start:start + chunk_rows] if n else None
            frame = {}
            for c in columns:
                values = _native(part[c]) if n else np.array([])
                if values.ndim > 1 and c != "COVAR":
                    raise InputError(f"{path}: column '{c}' is multidimensional; expected one value per row")
                frame[c] = list(values) if values.ndim > 1 else values
            yield pd.DataFrame(frame)


def _hdu_or_first(path, *hdus):
    """The first of `hdus` the FITS file has, else None (its first table; CSV/Parquet have none)."""
    if Path(path).suffix.lower() not in FITS_SUFFIXES:
        return None
    with open_fits(path) as hdul:
        return next((h for h in hdus if h in hdul), None)


def _clean_survey_program(frame):
    for c in ("SURVEY", "PROGRAM"):
        if c in frame:
            frame[c] = frame[c].astype(str).str.strip().str.lower()
    return frame


def read_redshift_catalogue(paths, footprint: Footprint | None = None, cuts: RedshiftCuts = RedshiftCuts(),
                            counts: dict | None = None, chunk_rows=CHUNK_ROWS, targetids=None) -> pd.DataFrame:
    """DESI redshift catalogue (zall / zpix, one or several files): one row per TARGETID.

    Read in chunks with only the needed columns; rows outside `footprint` whose TARGETID is not in
    `targetids` (the targets of the coadds at hand, which make the training set) are dropped first, then
    non-``ZCAT_PRIMARY`` rows (DR1 zall files repeat a target per SURVEY/PROGRAM; SURVEY and PROGRAM
    of the primary are kept, lower case). Where a good-z cut of `cuts` fails, ZWARN is set to -1,
    so no redshift or class label is made; `counts` receives the rows each step dropped.
    """
    need = ["TARGETID", "TARGET_RA", "TARGET_DEC", "Z", "ZERR", "ZWARN", "SPECTYPE"]
    optional = ["ZCAT_PRIMARY", "MORPHTYPE", "PROGRAM", "SURVEY", "EBV", "PHOTSYS",
                *[f"FLUX_{b}" for b in LEGACY_FLUX_BANDS], *[f"FLUX_IVAR_{b}" for b in LEGACY_FLUX_BANDS]]
    tally = {"rows_read": 0, "outside_footprint": 0, "not_zcat_primary": 0, **{f"cut_{c}": 0 for c in cuts.columns()}}
    targetids = None if targetids is None else np.asarray(targetids, dtype=np.int64)
    frames = []
    for path in expand_paths(paths):
        hdu = _hdu_or_first(path, "ZCATALOG")
        available = list_columns(path, hdu)
        missing_cuts = [c for c in cuts.columns() if c not in available]
        if missing_cuts:
            raise InputError(f"{path}: missing column '{missing_cuts[0]}' needed by the good-redshift cut "
                             f"you asked for — drop that option or give a zall/zpix file that has it")
        columns = need + [c for c in optional + cuts.columns() if c in available and c not in need]
        units = table_units(path, hdu)
        to_nanomaggies = {b: legacy_flux_factors(units, b, path) for b in LEGACY_FLUX_BANDS if f"FLUX_{b}" in columns}
        first = len(frames)
        for chunk in iter_table_chunks(path, hdu, columns, chunk_rows):
            tally["rows_read"] += len(chunk)
            for b, (flux, ivar) in to_nanomaggies.items():
                chunk[f"FLUX_{b}"] = chunk[f"FLUX_{b}"].to_numpy(float) * flux
                if f"FLUX_IVAR_{b}" in chunk:
                    chunk[f"FLUX_IVAR_{b}"] = chunk[f"FLUX_IVAR_{b}"].to_numpy(float) * ivar
            if footprint is not None:
                inside = footprint.contains(chunk["TARGET_RA"], chunk["TARGET_DEC"])
                if targetids is not None:
                    inside |= np.isin(chunk["TARGETID"].to_numpy(np.int64), targetids)
                tally["outside_footprint"] += int((~inside).sum())
                chunk = chunk[inside]
            if "ZCAT_PRIMARY" in chunk:
                primary = chunk["ZCAT_PRIMARY"].astype(bool)
                tally["not_zcat_primary"] += int((~primary).sum())
                chunk = chunk[primary].drop(columns="ZCAT_PRIMARY")
            frames.append(chunk)
        if len(frames) > first:
            fluxes = [f"FLUX_{b}" for b in to_nanomaggies]
            check_legacy_fluxes(pd.concat([f[fluxes] for f in frames[first:]]), path, units, to_nanomaggies)
    if not frames:
        raise InputError("no DESI redshift catalogue given — give --desi-zcat FILES")
    frame = pd.concat(frames, ignore_index=True)
    frame["TARGETID"] = frame["TARGETID"].astype(np.int64)
    frame["SPECTYPE"] = frame["SPECTYPE"].astype(str).str.strip().str.upper()
    frame = _clean_survey_program(frame)
    fail = np.zeros(len(frame), dtype=bool)
    for column, bad in _cut_failures(frame, cuts).items():
        tally[f"cut_{column}"] = int((bad & ~fail).sum())
        fail |= bad
    frame.loc[fail, "ZWARN"] = -1        # a failed good-z cut: no redshift label (ZWARN != 0)
    _check_unique(frame, ", ".join(map(str, expand_paths(paths))))
    if counts is not None:
        counts.update(tally)
    return frame.reset_index(drop=True)


def _cut_failures(frame, cuts: RedshiftCuts) -> dict:
    out = {}
    if cuts.min_deltachi2 is not None:
        out["DELTACHI2"] = ~(frame["DELTACHI2"].to_numpy(float) >= cuts.min_deltachi2)
    if cuts.fiberstatus_zero:
        out["COADD_FIBERSTATUS"] = frame["COADD_FIBERSTATUS"].to_numpy() != 0
    if cuts.objtype_tgt:
        out["OBJTYPE"] = frame["OBJTYPE"].astype(str).str.strip().to_numpy() != "TGT"
    return out


def _check_unique(frame, path):
    dup = frame["TARGETID"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:5]
        raise InputError(f"{path}: duplicate TARGETID {frame['TARGETID'].iloc[rows[0]]} (rows {rows.tolist()})")


def coadd_survey_program(path, header=None):
    """(SURVEY, PROGRAM) of a coadd file, lower case: its SURVEY/PROGRAM header keywords, else its name
    (``coadd-SURVEY-PROGRAM-...fits``), else None."""
    if header is not None and "SURVEY" in header and "PROGRAM" in header:
        return str(header["SURVEY"]).strip().lower(), str(header["PROGRAM"]).strip().lower()
    match = _COADD_NAME.search(Path(path).name)
    return (match["survey"].lower(), match["program"].lower()) if match else None


class CoaddBlock:
    """The spectra of one coadd file: TARGETIDs, per-camera (wavelength, flux, ivar) and its (SURVEY, PROGRAM).

    Flux in 1e-17 erg s⁻¹ cm⁻² Å⁻¹; pixels with MASK ≠ 0 get ivar = 0. `survey_program` is None
    when the file says neither in its header nor in its name.
    """

    def __init__(self, path, targetid, cameras, survey_program=None):
        self.path = path
        self.targetid = targetid
        self.cameras = cameras  # camera -> (wavelength (n_pix,), flux (n, n_pix), ivar (n, n_pix))
        self.survey_program = survey_program

    def __len__(self):
        return len(self.targetid)


def _camera(hdul, cam, rows=slice(None)):
    """(wavelength, flux, ivar) of one camera of an open coadd, `rows` only; MASK ≠ 0 -> ivar 0."""
    wave = np.asarray(hdul[f"{cam}_WAVELENGTH"].data, dtype=float)
    flux = np.asarray(hdul[f"{cam}_FLUX"].data[rows], dtype=np.float32)
    ivar = np.asarray(hdul[f"{cam}_IVAR"].data[rows], dtype=np.float32)
    if f"{cam}_MASK" in hdul:
        ivar = np.where(np.asarray(hdul[f"{cam}_MASK"].data[rows]) != 0, 0.0, ivar).astype(np.float32)
    return wave, flux, ivar


def _coadd_header(hdul):
    """The header that carries SURVEY/PROGRAM (primary, else FIBERMAP)."""
    primary = hdul[0].header
    return primary if "SURVEY" in primary else hdul["FIBERMAP"].header


def check_coadd_file(path):
    """Refuse, naming `path`, a file that is not a readable DESI coadd (headers and shapes only)."""
    path = Path(path)
    with open_fits(path, "DESI coadd file") as hdul:
        if "FIBERMAP" not in hdul:
            raise InputError(f"{path}: not a DESI coadd (no FIBERMAP HDU)")
        n = hdul["FIBERMAP"].header.get("NAXIS2", 0)
        cams = [cam for cam in ("B", "R", "Z") if f"{cam}_FLUX" in hdul]
        if not cams:
            raise InputError(f"{path}: no B/R/Z spectra in this coadd file")
        for cam in cams:
            for part in ("WAVELENGTH", "IVAR"):
                if f"{cam}_{part}" not in hdul:
                    raise InputError(f"{path}: HDU {cam}_FLUX without {cam}_{part}")
            n_pix = hdul[f"{cam}_WAVELENGTH"].header.get("NAXIS1", 0)
            for part in ("FLUX", "IVAR"):
                h = hdul[f"{cam}_{part}"].header
                if (h.get("NAXIS2", 0), h.get("NAXIS1", 0)) != (n, n_pix):
                    raise InputError(f"{path}: {cam}_{part} has shape ({h.get('NAXIS2', 0)}, {h.get('NAXIS1', 0)}), "
                                     f"expected ({n}, {n_pix})")


def coadd_targetids(paths) -> np.ndarray:
    """The TARGETIDs of every coadd file in `paths` (FIBERMAP only), unique."""
    ids = [np.zeros(0, np.int64)]
    for path in paths:
        with open_fits(path, "DESI coadd file") as hdul:
            if "FIBERMAP" not in hdul:
                raise InputError(f"{path}: not a DESI coadd (no FIBERMAP HDU)")
            ids.append(np.asarray(hdul["FIBERMAP"].data["TARGETID"]).astype(np.int64))
    return np.unique(np.concatenate(ids))


def iter_coadd_files(paths) -> Iterator[CoaddBlock]:
    """Stream DESI coadd files one at a time (memory: one file)."""
    for path in paths:
        path = Path(path)
        check_coadd_file(path)
        with open_fits(path, "DESI coadd file", memmap=False) as hdul:
            targetid = np.asarray(hdul["FIBERMAP"].data["TARGETID"]).astype(np.int64)
            cameras = {cam: _camera(hdul, cam) for cam in ("B", "R", "Z") if f"{cam}_FLUX" in hdul}
            survey_program = coadd_survey_program(path, _coadd_header(hdul))
        yield CoaddBlock(path, targetid, cameras, survey_program)


def primary_coadd_rows(block: CoaddBlock, zcat: pd.DataFrame, rows) -> np.ndarray:
    """Which of `block`'s targets (their `rows` in `zcat`, NaN if absent) have this file as primary coadd.

    A target has one coadd per (SURVEY, PROGRAM) it was observed in; only the one of the redshift
    catalogue's primary row may make a mock, else a target appears twice with the same labels.
    """
    found = np.isfinite(rows)
    if not {"SURVEY", "PROGRAM"} <= set(zcat.columns):
        return found
    if block.survey_program is None:
        raise InputError(f"{block.path}: cannot tell which SURVEY/PROGRAM this coadd holds (no SURVEY/PROGRAM "
                         "header keywords and a name not like coadd-SURVEY-PROGRAM-PIXNUM.fits)")
    survey, program = block.survey_program
    at = rows[found].astype(int)
    same = np.zeros(len(rows), dtype=bool)
    same[found] = (zcat["SURVEY"].to_numpy()[at] == survey) & (zcat["PROGRAM"].to_numpy()[at] == program)
    return same


class CoaddIndex:
    """Find one object's DESI spectrum among many coadd files (TARGETID -> file, row).

    Only the FIBERMAP TARGETIDs are read up front; a spectrum is read when asked for. With `primary`
    (a redshift catalogue with TARGETID, SURVEY, PROGRAM), a target in several files is found in the
    file of its primary (SURVEY, PROGRAM); otherwise in the first file that holds it.
    """

    def __init__(self, paths, primary: pd.DataFrame | None = None):
        self.paths = [Path(p) for p in expand_paths(paths)]
        want = {}
        if primary is not None and {"SURVEY", "PROGRAM"} <= set(primary.columns):
            want = dict(zip(primary["TARGETID"].astype(np.int64).tolist(),
                            zip(primary["SURVEY"].astype(str).str.lower(), primary["PROGRAM"].astype(str).str.lower())))
        self._where = {}
        for k, path in enumerate(self.paths):
            with open_fits(path, "DESI coadd file") as hdul:
                tids = np.asarray(hdul["FIBERMAP"].data["TARGETID"]).astype(np.int64).tolist()
                here = coadd_survey_program(path, _coadd_header(hdul))
            for row, tid in enumerate(tids):
                if tid not in self._where or (here is not None and want.get(tid) == here):
                    self._where[tid] = (k, row)

    def __contains__(self, targetid) -> bool:
        return int(targetid) in self._where

    def spectrum(self, targetid):
        """(wavelength [Å], flux [1e-17 erg s⁻¹ cm⁻² Å⁻¹], ivar) of `targetid`, cameras joined
        (masked pixels ivar 0), or None when no file holds it."""
        if int(targetid) not in self._where:
            return None
        k, row = self._where[int(targetid)]
        waves, fluxes, ivars = [], [], []
        with open_fits(self.paths[k], "DESI coadd file") as hdul:
            for cam in ("B", "R", "Z"):
                if f"{cam}_FLUX" in hdul:
                    for store, values in zip((waves, fluxes, ivars), _camera(hdul, cam, row)):
                        store.append(values)
        wave, flux, ivar = (np.concatenate(a) for a in (waves, fluxes, ivars))
        order = np.argsort(wave, kind="stable")
        return wave[order], flux[order], ivar[order]
