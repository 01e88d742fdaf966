"""Read DESI DR1-format files: redshift catalogue, coadd spectra (streamed) and the VACs.

Each reader checks the real column names and returns a DataFrame keyed by TARGETID
(int64). Not for deciding which labels to use (see `ojala_core.mocks.tokens`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..lines import MEASURED_LINES
from ..vocabulary import DEFAULT_VOCABULARY
from .tables import InputError, list_columns, read_table

__all__ = ["DESI_VACS", "read_redshift_catalogue", "read_vac", "iter_coadd_files", "CoaddBlock",
           "LEGACY_FLUX_BANDS", "CoaddIndex"]

LEGACY_FLUX_BANDS = ("G", "R", "Z", "W1", "W2")

# VAC kind -> (FITS HDU, required columns) with DESI DR1 column names.
DESI_VACS = {
    "fastspec": ("FASTSPEC", [f"{line}_{q}{i}" for line in MEASURED_LINES
                              for q in ("EW", "CONT") for i in ("", "_IVAR")]),
    "cigale": ("CIGALE", ["MASS_CG", "MASS_ERR_CG", "SFR_CG", "SFR_ERR_CG"]),
    # MWS columns carry the names of the stellar tokens.
    "mws": ("SPTAB", [f"{t}{e}" for t in DEFAULT_VOCABULARY.targets_for("STAR") for e in ("", "_ERR")]),
    "bhmass": ("BHMASS", ["LOGMBH_MGII", "LOGMBH_MGII_ERR"]),
}


def _hdu_or_first(path, hdu):
    """The named HDU if the file has it, else the first table (CSV/Parquet have none)."""
    if Path(path).suffix.lower() not in (".fits", ".fit", ".fz"):
        return None
    from astropy.io import fits
    with fits.open(path, memmap=True) as hdul:
        return hdu if hdu in hdul else None


def read_redshift_catalogue(path) -> pd.DataFrame:
    """DESI redshift catalogue (zall / zpix): one row per TARGETID.

    Keeps ``ZCAT_PRIMARY`` rows when the column exists (DR1 zall files repeat targets).
    """
    hdu = _hdu_or_first(path, "ZCATALOG")
    available = list_columns(path, hdu)
    need = ["TARGETID", "TARGET_RA", "TARGET_DEC", "Z", "ZERR", "ZWARN", "SPECTYPE"]
    optional = ["ZCAT_PRIMARY", "MORPHTYPE", "PROGRAM", "SURVEY",
                *[f"FLUX_{b}" for b in LEGACY_FLUX_BANDS], *[f"FLUX_IVAR_{b}" for b in LEGACY_FLUX_BANDS]]
    frame = read_table(path, hdu=hdu, columns=need + [c for c in optional if c in available])
    if "ZCAT_PRIMARY" in frame:
        frame = frame[frame["ZCAT_PRIMARY"].astype(bool)].drop(columns="ZCAT_PRIMARY")
    frame["TARGETID"] = frame["TARGETID"].astype(np.int64)
    frame["SPECTYPE"] = frame["SPECTYPE"].astype(str).str.strip().str.upper()
    _check_unique(frame, path)
    return frame.reset_index(drop=True)


def read_vac(path, kind) -> pd.DataFrame:
    """A DESI VAC of `kind` ('fastspec', 'cigale', 'mws', 'bhmass'), keyed by TARGETID."""
    if kind not in DESI_VACS:
        raise ValueError(f"unknown VAC kind '{kind}'; known: {', '.join(DESI_VACS)}")
    hdu_name, need = DESI_VACS[kind]
    hdu = _hdu_or_first(path, hdu_name)
    frame = read_table(path, hdu=hdu, columns=["TARGETID"] + need)
    frame["TARGETID"] = frame["TARGETID"].astype(np.int64)
    _check_unique(frame, path)
    return frame


def _check_unique(frame, path):
    dup = frame["TARGETID"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:5]
        raise InputError(f"{path}: duplicate TARGETID {frame['TARGETID'].iloc[rows[0]]} (rows {rows.tolist()})")


class CoaddBlock:
    """The spectra of one coadd file: TARGETIDs and per-camera (wavelength, flux, ivar).

    Flux in 1e-17 erg s⁻¹ cm⁻² Å⁻¹; pixels with MASK ≠ 0 get ivar = 0.
    """

    def __init__(self, path, targetid, cameras):
        self.path = path
        self.targetid = targetid
        self.cameras = cameras  # camera -> (wavelength (n_pix,), flux (n, n_pix), ivar (n, n_pix))

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


def iter_coadd_files(paths) -> Iterator[CoaddBlock]:
    """Stream DESI coadd files one at a time (memory: one file)."""
    from astropy.io import fits

    for path in paths:
        path = Path(path)
        try:
            with fits.open(path, memmap=False) as hdul:
                if "FIBERMAP" not in hdul:
                    raise InputError(f"{path}: not a DESI coadd (no FIBERMAP HDU)")
                targetid = np.asarray(hdul["FIBERMAP"].data["TARGETID"]).astype(np.int64)
                cameras = {}
                for cam in ("B", "R", "Z"):
                    if f"{cam}_FLUX" not in hdul:
                        continue
                    for part in ("WAVELENGTH", "IVAR"):
                        if f"{cam}_{part}" not in hdul:
                            raise InputError(f"{path}: HDU {cam}_FLUX without {cam}_{part}")
                    wave, flux, ivar = _camera(hdul, cam)
                    if flux.shape != (len(targetid), len(wave)) or ivar.shape != flux.shape:
                        raise InputError(f"{path}: {cam} arrays have shape {flux.shape}, expected "
                                         f"({len(targetid)}, {len(wave)})")
                    cameras[cam] = (wave, flux, ivar)
                if not cameras:
                    raise InputError(f"{path}: no B/R/Z spectra in this coadd file")
        except (OSError, TypeError) as exc:
            raise InputError(f"{path}: corrupt or truncated coadd file ({exc})") from exc
        yield CoaddBlock(path, targetid, cameras)


class CoaddIndex:
    """Find one object's DESI spectrum among many coadd files (TARGETID -> file, row).

    Only the FIBERMAP TARGETIDs are read up front; a spectrum is read when asked for.
    """

    def __init__(self, paths):
        from astropy.io import fits

        self.paths = [Path(p) for p in paths]
        self._where = {}
        for k, path in enumerate(self.paths):
            with fits.open(path, memmap=True) as hdul:
                for row, tid in enumerate(np.asarray(hdul["FIBERMAP"].data["TARGETID"]).astype(np.int64)):
                    self._where[int(tid)] = (k, row)

    def __contains__(self, targetid) -> bool:
        return int(targetid) in self._where

    def spectrum(self, targetid):
        """(wavelength [Å], flux [1e-17 erg s⁻¹ cm⁻² Å⁻¹], ivar) of `targetid`, cameras joined
        (masked pixels ivar 0), or None when no file holds it."""
        from astropy.io import fits

        if int(targetid) not in self._where:
            return None
        k, row = self._where[int(targetid)]
        waves, fluxes, ivars = [], [], []
        with fits.open(self.paths[k], memmap=True) as hdul:
            for cam in ("B", "R", "Z"):
                if f"{cam}_FLUX" in hdul:
                    for store, values in zip((waves, fluxes, ivars), _camera(hdul, cam, row)):
                        store.append(values)
        wave, flux, ivar = (np.concatenate(a) for a in (waves, fluxes, ivars))
        order = np.argsort(wave, kind="stable")
        return wave[order], flux[order], ivar[order]
