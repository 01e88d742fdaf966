"""Filter transmission curves: the official J-PAS curves and DECam / WISE from speclite.

Reads the curve files shipped inside the ``milespy`` and ``speclite`` wheels (read as
files, neither package is imported). Not for photometry itself: see `photometry`.
"""
from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FilterCurve", "load_filter", "jpas_narrow_band_names", "FILTER_SOURCES"]

# J-PAS narrow bands used by OJALA: J0378, then every 10 nm from J0390 to J0910
# (uJAVA and J1007 are not covered by DESI spectra).
_JPAS_NB = ["J0378"] + [f"J{w:04d}" for w in range(390, 911, 10)]

# filter name -> (distribution holding the file, file path inside it, wavelength unit in Å)
FILTER_SOURCES: dict[str, tuple[str, str, float]] = {
    **{nb: ("milespy", f"milespy/config_files/filters/OAJ_JPAS.{nb}.dat", 1.0) for nb in _JPAS_NB},
    "iSDSS": ("milespy", "milespy/config_files/filters/OAJ_JPAS.iSDSS.dat", 1.0),
    "DECam_g": ("speclite", "speclite/data/filters/decamDR1-g.ecsv", 1.0),
    "DECam_r": ("speclite", "speclite/data/filters/decamDR1-r.ecsv", 1.0),
    "DECam_z": ("speclite", "speclite/data/filters/decamDR1-z.ecsv", 1.0),
    "WISE_W1": ("speclite", "speclite/data/filters/wise2010-W1.ecsv", 1.0e4),
    "WISE_W2": ("speclite", "speclite/data/filters/wise2010-W2.ecsv", 1.0e4),
}


def jpas_narrow_band_names() -> list[str]:
    """The 54 J-PAS narrow-band names in wavelength order (J0378 … J0910)."""
    return list(_JPAS_NB)


@dataclass(frozen=True)
class FilterCurve:
    """A photon-counting transmission curve.

    Attributes
    ----------
    name : str
        Filter name as used in the vocabulary (e.g. ``J0660``, ``iSDSS``, ``DECam_r``).
    wavelength : ndarray
        Wavelengths [Å], increasing.
    response : ndarray
        Dimensionless transmission (photon counting), >= 0.
    """

    name: str
    wavelength: np.ndarray
    response: np.ndarray

    @property
    def pivot_wavelength(self) -> float:
        """Pivot wavelength [Å]: sqrt(∫T λ dλ / ∫T/λ dλ)."""
        lam, t = self.wavelength, self.response
        return float(np.sqrt(np.trapezoid(t * lam, lam) / np.trapezoid(t / lam, lam)))

    @property
    def effective_width(self) -> float:
        """Width [Å] of the rectangle of peak height with the same area."""
        return float(np.trapezoid(self.response, self.wavelength) / self.response.max())


def _distribution_file(distribution: str, relative: str) -> Path:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"filter curves need the '{distribution}' package installed (pip install {distribution})"
        ) from exc
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise FileNotFoundError(f"filter curve file not found: {path} (from {distribution})")
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_curve_file(path: Path, unit_in_angstrom: float) -> tuple[np.ndarray, np.ndarray]:
    # speclite's ECSV files: '#' header, one line of column names, then two columns;
    # the wavelength unit comes from FILTER_SOURCES.
    rows = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]
    data = np.array(rows, dtype=float)
    lam, resp = data[:, 0], data[:, 1]
    order = np.argsort(lam)
    lam, resp = lam[order] * unit_in_angstrom, np.clip(resp[order], 0.0, None)
    # The OAJ curves stop at 1e-4 rather than 0: close them so the response is
    # defined (zero) everywhere outside the tabulated range.
    step = np.diff(lam).min()
    if resp[0] > 0:
        lam, resp = np.r_[lam[0] - step, lam], np.r_[0.0, resp]
    if resp[-1] > 0:
        lam, resp = np.r_[lam, lam[-1] + step], np.r_[resp, 0.0]
    return lam, resp


@functools.cache
def load_filter(name: str) -> FilterCurve:
    """Load a filter curve by vocabulary name.

    Parameters
    ----------
    name : str
        One of the keys of `FILTER_SOURCES`.

    Returns
    -------
    FilterCurve
    """
    if name not in FILTER_SOURCES:
        raise KeyError(f"unknown filter '{name}'; known: {', '.join(FILTER_SOURCES)}")
    distribution, relative, unit = FILTER_SOURCES[name]
    lam, resp = _read_curve_file(_distribution_file(distribution, relative), unit)
    return FilterCurve(name, lam, resp)
