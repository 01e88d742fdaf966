"""Positional cross-match of a J-PAS catalogue with DESI targets, one-to-one, partitioned by HEALPix pixel.

Both sides are streamed in chunks into per-pixel files on disk (nside 32: 1.8° pixels, far larger
than any match radius); each J-PAS pixel is then matched (astropy, nearest neighbour on the sphere)
against the DESI objects of that pixel and its eight neighbours, as one task per pixel, in this
process or on a Dask cluster. Memory holds one chunk or one pixel's objects at a time, plus the
matched pairs. Not for deciding which matched objects to keep (see `build`).
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

__all__ = ["crossmatch", "crossmatch_chunks", "NSIDE", "CHUNK_ROWS"]

NSIDE = 32                      # 12,288 pixels of 1.83° (nested order)
CHUNK_ROWS = 1_000_000
_POSITION = np.dtype([("row", "<i8"), ("ra", "<f8"), ("dec", "<f8")])


def crossmatch(ra_jpas, dec_jpas, ra_desi, dec_desi, radius_arcsec=1.0, chunk_rows=CHUNK_ROWS, workdir=None,
               scheduler=None):
    """Match each J-PAS object to its nearest DESI target within `radius_arcsec`.

    A DESI target claimed by several J-PAS objects keeps only the closest one (ties: the first
    J-PAS row).

    Parameters
    ----------
    ra_jpas, dec_jpas, ra_desi, dec_desi : array_like
        Positions [deg].
    radius_arcsec : float
    chunk_rows : rows of each side bucketed at a time
    workdir : folder for the temporary per-pixel files (default: the system's temporary folder)
    scheduler : None (this process), ``"local"`` (a local Dask cluster) or a Dask scheduler address

    Returns
    -------
    jpas_index, desi_index : ndarray of int
        Matched pairs (rows of each input), by J-PAS row.
    separation_arcsec : ndarray
    """
    def chunks(ra, dec):
        ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
        for start in range(0, len(ra), chunk_rows):
            yield ra[start:start + chunk_rows], dec[start:start + chunk_rows]

    return crossmatch_chunks(chunks(ra_jpas, dec_jpas), chunks(ra_desi, dec_desi), radius_arcsec, workdir, scheduler)


def crossmatch_chunks(jpas_chunks, desi_chunks, radius_arcsec=1.0, workdir=None, scheduler=None):
    """`crossmatch` of two catalogues given as iterables of (ra, dec) chunks [deg]; rows count from 0
    on each side in chunk order (for catalogues read a file at a time)."""
    with tempfile.TemporaryDirectory(prefix=".crossmatch-", dir=workdir) as tmp:
        tmp = Path(tmp)
        jpas_pixels = _bucket(jpas_chunks, tmp / "jpas")
        desi_pixels = _bucket(desi_chunks, tmp / "desi")
        tasks = [(str(tmp), int(p), [int(q) for q in _with_neighbours(p) if q in desi_pixels], radius_arcsec)
                 for p in sorted(jpas_pixels)]
        tasks = [t for t in tasks if t[2]]
        with _runner(scheduler) as run:
            claims = run(_match_pixel, tasks)
    if not claims:
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([])
    jpas_rows, desi_rows, sep = (np.concatenate(c) for c in zip(*claims))
    # One-to-one: by separation (then J-PAS row), the first claim on each DESI target is kept.
    order = np.lexsort((jpas_rows, sep))
    _, first = np.unique(desi_rows[order], return_index=True)
    kept = order[first]
    kept = kept[np.argsort(jpas_rows[kept])]
    return jpas_rows[kept], desi_rows[kept], sep[kept]


def _pixels(ra, dec) -> np.ndarray:
    from astropy import units as u
    from astropy_healpix import lonlat_to_healpix

    return lonlat_to_healpix(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg, NSIDE, order="nested")


def _with_neighbours(pixel) -> np.ndarray:
    from astropy_healpix import neighbours

    around = neighbours(np.array([pixel]), NSIDE, order="nested")[:, 0]
    return np.unique(np.concatenate([[pixel], around[around >= 0]]))


def _bucket(chunks, folder: Path) -> set:
    """Append every chunk's (row, ra, dec) to ``folder/PIXEL.bin``; returns the pixels met.

    Rows with a non-finite position are left out (they cannot match)."""
    folder.mkdir(parents=True)
    met, offset = set(), 0
    for ra, dec in chunks:
        ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
        rows = offset + np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        offset += len(ra)
        if not len(rows):
            continue
        local = rows - (offset - len(ra))
        pixel = _pixels(ra[local], dec[local])
        order = np.argsort(pixel, kind="stable")
        records = np.empty(len(rows), dtype=_POSITION)
        records["row"], records["ra"], records["dec"] = rows[order], ra[local][order], dec[local][order]
        pixels, starts = np.unique(pixel[order], return_index=True)
        for p, start, stop in zip(pixels, starts, [*starts[1:], len(records)]):
            with open(folder / f"{int(p)}.bin", "ab") as fh:
                fh.write(records[start:stop].tobytes())
            met.add(int(p))
    return met


def _read(folder: Path, pixels) -> np.ndarray:
    parts = [np.fromfile(folder / f"{p}.bin", dtype=_POSITION) for p in pixels if (folder / f"{p}.bin").exists()]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=_POSITION)


def _match_pixel(tmp, pixel, desi_pixels, radius_arcsec):
    """One task: nearest DESI target (this pixel and its neighbours) of each J-PAS object of `pixel`."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    jpas = _read(Path(tmp) / "jpas", [pixel])
    desi = _read(Path(tmp) / "desi", desi_pixels)
    if not len(jpas) or not len(desi):
        return None
    idx, sep, _ = SkyCoord(jpas["ra"] * u.deg, jpas["dec"] * u.deg).match_to_catalog_sky(
        SkyCoord(desi["ra"] * u.deg, desi["dec"] * u.deg))
    sep = sep.to_value(u.arcsec)
    close = sep <= radius_arcsec
    return jpas["row"][close], desi["row"][idx[close]], sep[close]


@contextlib.contextmanager
def _runner(scheduler):
    """run(fn, tasks) -> the non-None results: in this process, or as Dask tasks."""
    if scheduler is None:
        yield lambda fn, tasks: [r for r in (fn(*t) for t in tqdm(tasks, desc="cross-match", unit="pixel",
                                                                  disable=len(tasks) < 8)) if r is not None]
        return
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
        if scheduler == "local" else None
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            yield lambda fn, tasks: [r for r in client.gather([client.submit(fn, *t, pure=False) for t in tasks])
                                     if r is not None]
    finally:
        if cluster is not None:
            cluster.close()
