"""Stellar spectra from published model-atmosphere grids installed offline from PyPI.

Three grids, chosen per star by (Teff, log g):
- PHOENIX-ACES (Husser et al. 2013, A&A 553, A6) for Teff ≤ 12,000 K: 2,300–12,000 K,
  log g 0–6, [M/H] −4…+1 and, at 3,500–8,000 K and [M/H] ≤ 0, [α/Fe] −0.2…+1.2;
- BT-Settl (Allard et al. 2012) above 12,000 K, to 70,000 K (solar-scaled, [α/Fe] = 0);
- Koester DA white dwarfs with 3-D corrections (Koester 2010; Tremblay et al. 2013) for
  log g ≥ `WHITE_DWARF_LOGG`: 1,500–140,000 K, log g 7–9.
PHOENIX and BT-Settl come binned by the SEDFit package (PyPI `SEDFit==0.6.1`: Δlog λ =
0.003, 913 Å–32 µm, surface log λF_λ); the DA models by the corv package (PyPI `corv==0.2`:
1,000 Å–9.5 µm, Eddington flux H_ν, air wavelengths, used as vacuum: a 2–3 Å shift).

Not for high-resolution work: R ≈ 145 (2–5 grid points per J-PAS band), so the sky's DESI
spectra of stars show bands and breaks, not lines. Interpolation is linear in log f_λ over a
Delaunay triangulation of (log Teff, log g, [M/H]) per [α/Fe] plane, then linear in [α/Fe];
outside the grid's hull, the nearest grid star.

The SEDFit files are pickles: they are read by an unpickler that admits only the numpy and
astropy classes they hold, once, into a NumPy cache (`cache_folder()`).
"""
from __future__ import annotations

import bz2
import functools
import importlib.metadata
import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator, RegularGridInterpolator

__all__ = ["AtmosphereGrid", "library_spectrum", "load_grid", "cache_folder", "PHOENIX_TEFF_MAX",
           "WHITE_DWARF_LOGG", "GRID_SOURCES", "package_folder", "read_sedfit"]

PHOENIX_TEFF_MAX = 12_000.0      # [K]: PHOENIX at and below, BT-Settl above
WHITE_DWARF_LOGG = 6.5           # [dex]: the DA grid at and above (PHOENIX/BT-Settl stop at 6)
NORMALISATION_WAVELENGTH = 5500.0  # [Å]; every spectrum is 1 here
SPEED_OF_LIGHT = 2.99792458e18   # [Å/s]
GRID_SOURCES = {"phoenix": ("SEDFit", "sed_phoenix.p"), "btsettl": ("SEDFit", "sed_btsettl.p"),
                "koester_da": ("corv", "models/warwick_da")}
# The only globals the SEDFit pickles may name (checked when they are read).
_PICKLE_GLOBALS = {
    ("astropy.table.column", "Column"), ("astropy.table.table", "Table"), ("astropy.units.core", "CompositeUnit"),
    ("astropy.units.core", "IrreducibleUnit"), ("astropy.units.core", "PrefixUnit"), ("astropy.units.core", "Unit"),
    ("astropy.units.core", "_recreate_irreducible_unit"), ("astropy.units.quantity", "Quantity"),
    ("collections", "OrderedDict"), ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
}
# Scales that make one grid step about one unit in each axis of the triangulation.
_AXIS_SCALES = np.array([0.01, 0.5, 0.5])     # log10 Teff, log g, [M/H]


def cache_folder() -> Path:
    """Where the converted grids live: $OJALA_CACHE, else ~/.cache/ojala."""
    return Path(os.environ.get("OJALA_CACHE", Path.home() / ".cache" / "ojala"))


def package_folder(package: str) -> Path:
    """The folder of an installed data package, found but not imported (their __init__ needs more)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {package} package is missing: `make venv` installs it "
                           f"(pip install --no-deps {package}; see the Makefile)")
    return Path(spec.submodule_search_locations[0])


def _package_path(package: str, inner: str) -> Path:
    return package_folder(package) / inner


class _GridUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a stellar grid file")
        return super().find_class(module, name)


@dataclass(frozen=True, eq=False)     # hashed by identity: one grid, one set of interpolators
class AtmosphereGrid:
    """Spectra of one grid: log10 f_λ (n, m) on `wavelength` (m,) [Å] at its n nodes."""

    name: str
    wavelength: np.ndarray
    log_flambda: np.ndarray
    teff: np.ndarray
    logg: np.ndarray
    feh: np.ndarray
    alpha: np.ndarray

    def interpolate(self, teff, logg, feh, alpha) -> np.ndarray:
        """log10 f_λ (k, m) at k stars (see the module doc for the scheme)."""
        if self.name == "koester_da":
            return self._white_dwarf(teff, logg)
        points = _axes(teff, logg, feh)
        out = _plane(self, 0.0)(points)
        missing = ~np.isfinite(out).all(axis=1)
        if missing.any():                             # outside the hull: the nearest node
            out[missing] = _nearest(self)(points[missing])
        planes = np.unique(self.alpha)
        alpha = np.clip(np.asarray(alpha, float), planes.min(), planes.max())
        for k in np.flatnonzero((alpha != 0.0) & (len(planes) > 1)):
            at = np.clip(np.searchsorted(planes, alpha[k]) - 1, 0, len(planes) - 2)
            low, high = planes[at], planes[at + 1]
            weight = (alpha[k] - low) / (high - low)
            pair = [_plane(self, low)(points[k:k + 1])[0], _plane(self, high)(points[k:k + 1])[0]]
            if np.isfinite(pair).all():               # α-planes cover 3,500–8,000 K, [M/H] ≤ 0 only
                out[k] = (1 - weight) * pair[0] + weight * pair[1]
        return out

    def _white_dwarf(self, teff, logg):
        teffs, loggs = np.unique(self.teff), np.unique(self.logg)
        cube = self.log_flambda.reshape(len(loggs), len(teffs), -1)
        spline = RegularGridInterpolator((loggs, np.log10(teffs)), cube)
        query = np.column_stack([np.clip(logg, loggs[0], loggs[-1]),
                                 np.log10(np.clip(teff, teffs[0], teffs[-1]))])
        return spline(query)


def _axes(teff, logg, feh):
    return np.column_stack([np.log10(teff), logg, feh]) / _AXIS_SCALES


@functools.lru_cache(maxsize=None)
def _plane(grid: AtmosphereGrid, alpha: float):
    nodes = grid.alpha == alpha
    return LinearNDInterpolator(_axes(grid.teff[nodes], grid.logg[nodes], grid.feh[nodes]),
                                grid.log_flambda[nodes])


@functools.lru_cache(maxsize=None)
def _nearest(grid: AtmosphereGrid):
    nodes = grid.alpha == 0.0
    return NearestNDInterpolator(_axes(grid.teff[nodes], grid.logg[nodes], grid.feh[nodes]),
                                 grid.log_flambda[nodes])


def read_sedfit(path: Path) -> dict:
    """A SEDFit grid file: wavelength [Å], log10 f_λ (n, m) float32, teff, logg, feh, alpha."""
    with bz2.open(path) as handle:
        log_lambda_flambda, table, wavelength = _GridUnpickler(handle).load()
    wavelength = np.asarray(getattr(wavelength, "value", wavelength), float)
    return {"wavelength": wavelength,
            "log_flambda": (np.asarray(log_lambda_flambda) - np.log10(wavelength)).astype(np.float32),
            **{key: np.asarray(table[column], float) for key, column in
               (("teff", "teff"), ("logg", "logg"), ("feh", "feh"), ("alpha", "alpha"))}}


def _read_koester(folder: Path) -> dict:
    """Every `<100 log g>_3D` file with log g ≥ 7: 4π H_ν -> f_λ on the common wavelength grid."""
    spectra, teff, logg, wavelength = [], [], [], None
    for path in sorted(folder.glob("*_3D")):
        g = int(path.name.split("_")[0]) / 100.0
        if g < 7.0:
            continue
        head, *blocks = path.read_text().split("Effective temperature")
        wavelength = np.array(head.split()[1:], float)
        for block in blocks:
            teff.append(float(block.split()[1]))
            logg.append(g)
            h_nu = np.array(block.partition("\n")[2].split(), float)
            f_lambda = 4 * np.pi * np.maximum(h_nu, 1e-300) * SPEED_OF_LIGHT / wavelength ** 2
            spectra.append(np.log10(f_lambda))
    return {"wavelength": wavelength, "log_flambda": np.array(spectra, np.float32), "teff": np.array(teff),
            "logg": np.array(logg), "feh": np.zeros(len(teff)), "alpha": np.zeros(len(teff))}


@functools.cache
def load_grid(name: str) -> AtmosphereGrid:
    """Grid `name` (a key of `GRID_SOURCES`), converted once into the cache folder."""
    package, inner = GRID_SOURCES[name]
    version = importlib.metadata.version(package) if importlib.util.find_spec(package) else "missing"
    cached = cache_folder() / f"stellar-{name}-{package}-{version}.npz"
    if not cached.exists():
        source = _package_path(package, inner)
        arrays = _read_koester(source) if name == "koester_da" else read_sedfit(source)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial.npz")
        np.savez(partial, **arrays)
        partial.replace(cached)                       # never a half-written cache
    with np.load(cached) as arrays:
        return AtmosphereGrid(name, **{key: arrays[key] for key in arrays.files})


def library_spectrum(wavelength, teff, logg, feh, alphafe) -> np.ndarray:
    """f_λ (n_star, n_wave) of stars from the grids, 1 at 5,500 Å.

    wavelength [Å] (any order, within 1,000 Å–9.5 µm for white dwarfs and 913 Å–32 µm
    otherwise); teff [K], logg [dex], feh [dex] and alphafe [dex] are (n_star,) arrays.
    """
    wavelength = np.asarray(wavelength, float)
    teff, logg, feh, alphafe = (np.atleast_1d(np.asarray(p, float)) for p in (teff, logg, feh, alphafe))
    kind = np.where(logg >= WHITE_DWARF_LOGG, "koester_da", np.where(teff <= PHOENIX_TEFF_MAX, "phoenix", "btsettl"))
    flux = np.empty((teff.size, wavelength.size))
    for name in np.unique(kind):
        rows = np.flatnonzero(kind == name)
        grid = load_grid(str(name))
        log_flux = grid.interpolate(teff[rows], logg[rows], np.nan_to_num(feh[rows]), np.nan_to_num(alphafe[rows]))
        on_grid = _resample(grid.wavelength, log_flux, np.append(wavelength, NORMALISATION_WAVELENGTH))
        flux[rows] = 10.0 ** (on_grid[:, :-1] - on_grid[:, -1:])
    return flux


def _resample(source, log_flux, target):
    """Linear interpolation in log f_λ of every row from `source` to `target` wavelengths."""
    at = np.clip(np.searchsorted(source, target) - 1, 0, len(source) - 2)
    weight = np.clip((target - source[at]) / (source[at + 1] - source[at]), 0.0, 1.0)
    return log_flux[:, at] * (1 - weight) + log_flux[:, at + 1] * weight
