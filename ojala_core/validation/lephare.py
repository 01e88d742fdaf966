"""LePHARE template-fitting photo-z for galaxies, the classical baseline of the validation report.

Runs only when the ``lephare`` package imports and ``LEPHAREDIR`` points at its data (the
COSMOS templates, extinction laws, opacities); otherwise says why it cannot. The J-PAS
narrow bands are given to LePHARE as the same official OAJ curves OJALA uses (written into
the work folder), as AB magnitudes from the token table. Not for QSOs or stars (the COSMOS
galaxy templates only) and not for choosing which objects to score.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import load_filter
from ..photometry import MAG_PER_LN_FLUX
from ..vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["lephare_status", "lephare_magnitudes", "lephare_config", "run_lephare", "removed_bands",
           "LEPHARE_SETTINGS"]

log = logging.getLogger(__name__)


# The template grid (README of the baselines: COSMOS × 6 E(B−V) × Δz 0.02 to z = 1.6 builds in
# ≈45 s; finer grids grow fast). Calzetti dust on the spiral and starburst templates (8–31),
# none on the ellipticals, as in the COSMOS set-up of Ilbert et al. (2009).
LEPHARE_SETTINGS = {
    "Z_STEP": "0.02,0.,1.6", "EB_V": "0.,0.1,0.2,0.3,0.4,0.5", "MOD_EXTINC": "8,31",
    "EXTINC_LAW": "SB_calzetti.dat", "EM_LINES": "EMP_UV", "MAG_ABS": "-26,-8", "ERR_SCALE": "0.02",
}


def lephare_status() -> tuple[bool, str]:
    """(available, reason): whether LePHARE can run here, and if not, why.

    Checked without importing the package: importing it without ``LEPHAREDIR`` and
    ``LEPHAREWORK`` points them at a download cache in the home folder.
    """
    import importlib.util

    data = os.environ.get("LEPHAREDIR")
    if not data:
        return False, "LEPHAREDIR is not set (point it at the LePHARE data folder)"
    if not (Path(data) / "sed" / "GAL" / "COSMOS_SED").is_dir():
        return False, f"LEPHAREDIR={data} has no sed/GAL/COSMOS_SED templates"
    if importlib.util.find_spec("lephare") is None:
        return False, "the lephare package is not installed (pip install lephare)"
    return True, "available"


@contextlib.contextmanager
def _work_folder(work_dir: Path):
    """LEPHAREWORK set to `work_dir` for the duration (LePHARE reads it from the environment)."""
    saved = os.environ.get("LEPHAREWORK")
    os.environ["LEPHAREWORK"] = str(work_dir)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LEPHAREWORK", None)
        else:
            os.environ["LEPHAREWORK"] = saved


def lephare_magnitudes(frame: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
    """J-PAS narrow-band AB magnitudes and errors from a token table, LePHARE's missing value −99 elsewhere.

    m_band = MAG_i − 2.5 log10(f_ν(band) / f_ν(iSDSS)); σ_m = 1.0857 σ_ratio / ratio.

    Returns
    -------
    mag, err : ndarray (n, n_bands) [AB mag]
    context : ndarray (n,) int64, the LePHARE context (bit k set: band k used)
    """
    bands = vocabulary.narrow_bands
    ratio = frame[bands].to_numpy(float)
    ratio_err = frame[[f"{b}_ERR" for b in bands]].to_numpy(float)
    mag_i = frame["MAG_i"].to_numpy(float)[:, None]
    ok = np.isfinite(ratio) & (ratio > 0) & np.isfinite(ratio_err) & (ratio_err > 0) & np.isfinite(mag_i)
    safe = np.where(ok, ratio, 1.0)
    mag = np.where(ok, mag_i - 2.5 * np.log10(safe), -99.0)
    err = np.where(ok, MAG_PER_LN_FLUX * ratio_err / safe, -99.0)
    context = (ok * (2 ** np.arange(len(bands), dtype=np.int64))).sum(axis=1)
    return mag, err, context


def _write_filter_curves(folder: Path, bands) -> list[str]:
    """The OAJ transmission curves as LePHARE ``.res`` files (λ [Å], transmission); their names."""
    (folder / "ojala").mkdir(parents=True, exist_ok=True)
    names = []
    for band in bands:
        curve = load_filter(band)
        np.savetxt(folder / "ojala" / f"{band}.res", np.c_[curve.wavelength, curve.response], fmt="%.3f %.6f")
        names.append(f"ojala/{band}.res")
    return names


def lephare_config(work_dir, bands, settings: dict | None = None) -> dict:
    """LePHARE keywords for J-PAS narrow-band magnitudes and the COSMOS galaxy templates.

    `settings` override `LEPHARE_SETTINGS` (e.g. a coarser ``Z_STEP`` for a quick run).
    """
    import lephare as lp

    data = os.environ["LEPHAREDIR"]
    config = dict(lp.default_cosmos_config)
    config.update({
        "FILTER_REP": str(Path(work_dir) / "filt_ojala"),
        "FILTER_LIST": ",".join(_write_filter_curves(Path(work_dir) / "filt_ojala", bands)),
        "FILTER_FILE": "filter_ojala_jpas", "FILTER_CALIB": "0",
        "GAL_SED": f"{data}/sed/GAL/COSMOS_SED/COSMOS_MOD.list", "GAL_LIB": "LIB_COSMOS_OJALA",
        "GAL_LIB_IN": "LIB_COSMOS_OJALA", "GAL_LIB_OUT": "COSMOS_OJALA_JPAS", "ZPHOTLIB": "COSMOS_OJALA_JPAS",
        "INP_TYPE": "M", "CAT_MAG": "AB", "CAT_FMT": "MEME", "ADD_DUSTEM": "NO", "AUTO_ADAPT": "NO",
        "MAG_REF": str(len(bands) // 2), "MABS_FILT": "1", "MABS_ZBIN": "0,6", "VERBOSE": "NO",
        **LEPHARE_SETTINGS, **(settings or {}),
    })
    return config


@contextlib.contextmanager
def _quiet(log_path, mode="a"):
    """Send what the LePHARE C++ core prints on stdout/stderr to `log_path` (it ignores Python's sys.stdout)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, mode) as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _prepare_once(config, work_dir: Path, log_path: Path):
    """Build the template and magnitude libraries unless this configuration already has them."""
    import lephare as lp

    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()
    stamp = work_dir / "prepared.sha1"
    library = work_dir / "lib_mag" / f"{config['GAL_LIB_OUT']}.bin"
    if stamp.exists() and stamp.read_text() == key and library.exists():
        return False
    with _quiet(log_path):
        lp.prepare(lp.all_types_to_keymap(config), star_config=None, qso_config=None)
    stamp.write_text(key)
    return True


def run_lephare(frame: pd.DataFrame, work_dir, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                settings: dict | None = None) -> pd.DataFrame:
    """LePHARE photo-z of every row of `frame` (a token table with J-PAS NB ratios and MAG_i).

    Parameters
    ----------
    frame : DataFrame
        Rows to fit; its index is kept.
    work_dir : path
        ``LEPHAREWORK``: the template libraries are built there once and reused; LePHARE's
        own messages go to ``prepare.log`` and ``process.log`` in it.
    settings : dict, optional
        LePHARE keywords overriding `LEPHARE_SETTINGS`.

    Returns
    -------
    DataFrame with ``Z_LEPHARE`` (best-fit z, NaN where LePHARE failed), ``CHI2_LEPHARE``,
    ``N_BANDS_GIVEN``, ``N_BANDS_USED`` and ``N_BANDS_REMOVED`` (bands LePHARE dropped as
    discrepant, RM_DISCREPANT_BD) and ``REMOVED_BANDS`` (their names, comma-separated).
    """
    ok, reason = lephare_status()
    if not ok:
        raise RuntimeError(f"LePHARE is not available: {reason}")
    work_dir = Path(work_dir).resolve()
    for sub in ("filt", "lib_bin", "lib_mag"):  # LePHARE writes there but does not create them
        (work_dir / sub).mkdir(parents=True, exist_ok=True)
    mag, err, context = lephare_magnitudes(frame, vocabulary)
    with _work_folder(work_dir):
        with _quiet(work_dir / "import.log", mode="w"):
            import lephare as lp
        config = lephare_config(work_dir, vocabulary.narrow_bands, settings)
        if _prepare_once(config, work_dir, work_dir / "prepare.log"):
            log.info("LePHARE template libraries built in %s", work_dir)
        with _quiet(work_dir / "process.log", mode="w"):
            output, _ = lp.process(lp.all_types_to_keymap(config), _input_table(mag, err, context))
    z = np.asarray(output["Z_BEST"], dtype=float)
    given = np.asarray([bin(int(c)).count("1") for c in context])
    used = np.asarray(output["NBAND_USED"], dtype=int)
    removed = removed_bands((work_dir / "process.log").read_text(), len(frame), vocabulary.narrow_bands)
    return pd.DataFrame({"Z_LEPHARE": np.where((z >= 0) & (given > 0), z, np.nan),
                         "CHI2_LEPHARE": np.asarray(output["CHI_BEST"], dtype=float),
                         "N_BANDS_GIVEN": given, "N_BANDS_USED": used,
                         "N_BANDS_REMOVED": [len(r) for r in removed],
                         "REMOVED_BANDS": [",".join(r) for r in removed]}, index=frame.index)


def _input_table(mag, err, context):
    """LePHARE's input: id, (m_k, e_k) per band, context, zspec (unknown: −99), string_input."""
    from astropy.table import Table

    table = Table({"id": np.arange(len(mag))})
    for k in range(mag.shape[1]):
        table[f"m{k}"], table[f"e{k}"] = mag[:, k], err[:, k]
    table["context"] = context
    table["zspec"] = np.full(len(mag), -99.0)
    table["string_input"] = np.full(len(mag), "ojala")
    return table


def removed_bands(log_text: str, n_objects: int, bands) -> list[list[str]]:
    """Per object, the bands LePHARE removed as discrepant, parsed from its process log.

    LePHARE reports them as ``Source I // Band K removed …`` (I the row, K the 0-based band).
    """
    out: list[list[str]] = [[] for _ in range(n_objects)]
    for match in re.finditer(r"Source (\d+) // Band (\d+) removed", log_text):
        row, band = int(match.group(1)), int(match.group(2))
        if row < n_objects and band < len(bands):
            out[row].append(bands[band])
    return out
