"""Write the small J-PAS catalogue files of tests/data, following the published data models.

Written from the documentation (CEFCA archive tables ``minijpas.MagABDualObj`` / ``jnep.*`` as
described in Bonoli et al. 2021 and used in public miniJPAS code; SExtractor flag definitions),
not from ``ojala_core.sky``: one array column per quantity indexed by FILTER_ID − 1 (0 uJAVA,
1–54 J0378…J0910, 55 J1007, 56 uJPAS, 57 gSDSS, 58 rSDSS, 59 iSDSS), ``FLUX_*`` in
1e-19 erg s⁻¹ cm⁻² Å⁻¹, ``FLUX_RELERR_*`` = σ_f/f, ``MAG_*`` AB with 99 for non-detections,
per-filter SExtractor ``FLAGS`` and ``MASK_FLAGS``; TAP exports with lower-case, table-qualified
names and array cells as space-separated numbers. The sources are noise-free, so every test
knows the true numbers:

- row 0: flat f_ν spectrum, AB 20.8 in every band, S/N 9 in every band (σ_f = f/9);
- every band's absolute error is that σ_f (sky-limited), so brighter rows have higher S/N;
- row 1 (AB 19.0): J0378 one magnitude brighter and uJAVA 0.5 fainter (a band shifted by
  one index shows at once);
- row 3: FLAGS = 2 (deblended) in every band; row 4: FLAGS = 1 everywhere and 4
  (saturated) in J0660; row 5: MASK_FLAGS = 1 in J0500; row 6 (if present): a negative flux
  (non-detection, MAG 99) in J0400.

Run from the repository root: ``python tests/data/make_jpas_archive_files.py`` (deterministic).
Pivot wavelengths come from the official J-PAS curves (`ojala_core.filters`); the five filters
OJALA does not use get their approximate central wavelengths (miniJPAS paper, Table 1).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from astropy.io import fits

from ojala_core.filters import jpas_narrow_band_names, load_filter

HERE = Path(__file__).resolve().parent
NB = jpas_narrow_band_names()
FILTERS = ["uJAVA", *NB, "J1007", "uJPAS", "gSDSS", "rSDSS", "iSDSS"]
OJALA_BANDS = NB + ["iSDSS"]
APPROX_WAVELENGTH = {"uJAVA": 3497.0, "J1007": 10069.0, "uJPAS": 3522.0, "gSDSS": 4751.0, "rSDSS": 6258.0}
PIVOT = np.array([APPROX_WAVELENGTH.get(f) or load_filter(f).pivot_wavelength for f in FILTERS])
C = 2.99792458e18                       # Å/s
ZP = 48.60                              # AB: m = -2.5 log10 f_ν - 48.60
MAG_PER_LN = 2.5 / math.log(10.0)
ARCHIVE_UNIT = "1e-19 erg/(s cm2 Angstrom)"
TRUE_MAG = np.array([20.8, 19.0, 18.0, 21.5, 22.0, 20.0, 22.5, 19.5])
TRUE_SNR_ROW0 = 9.0
TYPES = ["PSF", "REX", "EXP", "DEV", "SER", "PSF", "REX", "EXP"]


def true_magnitudes(n):
    """(n, 60) AB magnitudes of the test sources, in archive filter order."""
    mag = np.repeat(TRUE_MAG[:n, None], len(FILTERS), axis=1)
    mag[1, FILTERS.index("J0378")] -= 1.0
    mag[1, FILTERS.index("uJAVA")] += 0.5
    return mag


def photometry(n):
    """f_λ [erg s⁻¹ cm⁻² Å⁻¹], absolute σ, AB mag and mag error, (n, 60) each; FLAGS and MASK_FLAGS."""
    mag = true_magnitudes(n)
    flam = 10 ** (-0.4 * (mag + ZP)) * C / PIVOT ** 2
    sigma = np.repeat((10 ** (-0.4 * (TRUE_MAG[0] + ZP)) * C / PIVOT ** 2 / TRUE_SNR_ROW0)[None], n, axis=0)
    if n > 6:
        flam[6, FILTERS.index("J0400")] = -0.3 * sigma[6, FILTERS.index("J0400")]
    with np.errstate(invalid="ignore"):
        mag_out = np.where(flam > 0, mag, 99.0)
        mag_err = np.where(flam > 0, MAG_PER_LN * sigma / np.abs(flam), 99.0)
    flags = np.zeros((n, len(FILTERS)), dtype=np.int16)
    mask = np.zeros((n, len(FILTERS)), dtype=np.int16)
    flags[3] = 2
    flags[4] = 1
    flags[4, FILTERS.index("J0660")] = 4
    mask[5, FILTERS.index("J0500")] = 1
    return flam, sigma, mag_out, mag_err, flags, mask


def positions(n):
    return 214.0 + 0.01 * np.arange(n), 52.5 + 0.01 * np.arange(n)


def write_archive_fits(path, n=8):
    """miniJPAS-like FITS: array columns, TUNIT 1e-19 erg/(s cm2 Angstrom), relative errors, Legacy TYPE."""
    flam, sigma, mag, mag_err, flags, mask = photometry(n)
    ra, dec = positions(n)
    k = len(FILTERS)
    cols = [fits.Column("TILE_ID", "J", array=np.full(n, 2241)),
            fits.Column("NUMBER", "J", array=np.arange(1, n + 1)),
            fits.Column("ALPHA_J2000", "D", unit="deg", array=ra),
            fits.Column("DELTA_J2000", "D", unit="deg", array=dec),
            fits.Column("FLUX_APER_COR_3_0", f"{k}E", unit=ARCHIVE_UNIT, array=flam / 1e-19),
            fits.Column("FLUX_RELERR_APER_COR_3_0", f"{k}E", array=sigma / np.abs(flam)),
            fits.Column("MAG_APER_COR_3_0", f"{k}E", unit="mag", array=mag),
            fits.Column("MAG_ERR_APER_COR_3_0", f"{k}E", unit="mag", array=mag_err),
            fits.Column("MAG_AUTO", f"{k}E", unit="mag", array=mag),
            fits.Column("MAG_ERR_AUTO", f"{k}E", unit="mag", array=mag_err),
            fits.Column("FLAGS", f"{k}I", array=flags),
            fits.Column("MASK_FLAGS", f"{k}I", array=mask),
            fits.Column("TYPE", "3A", array=np.array(TYPES[:n]))]
    table = fits.BinTableHDU.from_columns(cols, name="MAGABDUALOBJ")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=True)


def _cells(values, fmt="{:.6g}", sep=" ", brackets=False):
    cells = [sep.join(fmt.format(v) for v in row) for row in values]
    return [f"[{c}]" if brackets else c for c in cells]


def write_tap_csv(path, n=6):
    """TAP export: lower-case table-qualified names, space-separated array cells, FLAGS as [a,b,…]; no units."""
    flam, sigma, mag, mag_err, flags, mask = photometry(n)
    ra, dec = positions(n)
    t = "minijpas.magabdualobj."
    header = [f"{t}tile_id", f"{t}number", f"{t}alpha_j2000", f"{t}delta_j2000", f"{t}flux_aper_cor_3_0",
              f"{t}flux_relerr_aper_cor_3_0", f"{t}mag_auto", f"{t}mag_err_auto", f"{t}flags", f"{t}mask_flags",
              "ls_dr9.tractor.type"]
    columns = [[str(2241)] * n, [str(i + 1) for i in range(n)], [f"{v:.6f}" for v in ra], [f"{v:.6f}" for v in dec],
               _cells(flam / 1e-19), _cells(sigma / np.abs(flam)), _cells(mag, "{:.4f}"), _cells(mag_err, "{:.4f}"),
               _cells(flags, "{:d}", ",", brackets=True), _cells(mask, "{:d}"), TYPES[:n]]
    lines = ["# ADQL: SELECT ... FROM minijpas.MagABDualObj JOIN ls_dr9.tractor (CEFCA TAP export)", ",".join(header)]
    lines += [",".join(f'"{col[i]}"' if " " in col[i] or "," in col[i] else col[i] for col in columns)
              for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def _flat_columns(n, prefix="APER_COR_3_0"):
    flam, sigma, mag, mag_err, flags, mask = photometry(n)
    idx = [FILTERS.index(b) for b in OJALA_BANDS]
    ra, dec = positions(n)
    base = {"NUMBER": np.arange(1, n + 1), "ALPHA_J2000": ra, "DELTA_J2000": dec}
    return base, flam[:, idx], sigma[:, idx], flags[:, idx], mask[:, idx]


def _write_csv(path, columns, fmt="{:.6e}"):
    names = list(columns)
    rows = len(next(iter(columns.values())))
    lines = [",".join(names)]
    for i in range(rows):
        cells = []
        for name in names:
            v = columns[name][i]
            cells.append(str(v) if isinstance(v, (str, np.integer, int)) else fmt.format(v))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def write_flat_relerr_csv(path, n=6):
    """Flat layout, f_λ in erg s⁻¹ cm⁻² Å⁻¹ (unit-less CSV) with relative errors in ``_RELERR`` columns."""
    base, flam, sigma, _, _ = _flat_columns(n)
    cols = dict(base)
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_RELERR"] = flam[:, j], sigma[:, j] / flam[:, j]
    _write_csv(path, cols)


def _write_flat_fits(path, cols, units):
    fcols = []
    for name, values in cols.items():
        values = np.asarray(values)
        fmt = "D" if values.dtype.kind == "f" else "J"
        fcols.append(fits.Column(name, fmt, unit=units.get(name), array=values))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(fcols, name="JPAS")]).writeto(path, overwrite=True)


def write_flat_relerr_as_err_fits(path, n=8):
    """Flat layout in 1e-19 erg/(s cm2 Angstrom) whose ``_ERR`` columns hold relative errors (must be refused)."""
    base, flam, sigma, _, _ = _flat_columns(n)
    cols, units = dict(base), {}
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j] / 1e-19, sigma[:, j] / flam[:, j]
        units[f"APER_COR_3_0_{b}"] = ARCHIVE_UNIT
    _write_flat_fits(path, cols, units)


def write_flat_declared_scale_fits(path, n=6):
    """Flat layout with TUNIT 1e-19 erg/(s cm2 Angstrom) on values and errors, no MAG_AUTO_iSDSS."""
    base, flam, sigma, _, _ = _flat_columns(n)
    cols, units = dict(base), {}
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j] / 1e-19, sigma[:, j] / 1e-19
        units[f"APER_COR_3_0_{b}"] = units[f"APER_COR_3_0_{b}_ERR"] = ARCHIVE_UNIT
    _write_flat_fits(path, cols, units)


def write_flat_fnu_csv(path, n=6):
    """Flat layout, unit-less CSV of f_ν in erg s⁻¹ cm⁻² Hz⁻¹ (a flat-f_ν source has every ratio 1)."""
    base, flam, sigma, _, _ = _flat_columns(n)
    pivot = np.array([load_filter(b).pivot_wavelength for b in OJALA_BANDS])
    cols = dict(base)
    for j, b in enumerate(OJALA_BANDS):
        to_fnu = pivot[j] ** 2 / C
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j] * to_fnu, sigma[:, j] * to_fnu
    _write_csv(path, cols)


def write_flat_ambiguous_csv(path, n=6):
    """Flat layout, unit-less CSV of f_λ in units of 1e-19: could as well be f_ν in nanomaggies (must be refused)."""
    base, flam, sigma, _, _ = _flat_columns(n)
    cols = dict(base)
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j] / 1e-19, sigma[:, j] / 1e-19
    _write_csv(path, cols, "{:.5g}")


def write_flat_flags_csv(path, n=6):
    """Flat layout with per-band SExtractor FLAGS_ and MASK_FLAGS_ columns and a lower-case Legacy ``type``."""
    base, flam, sigma, flags, mask = _flat_columns(n)
    cols = dict(base)
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j], sigma[:, j]
        cols[f"FLAGS_{b}"], cols[f"MASK_FLAGS_{b}"] = flags[:, j], mask[:, j]
    cols["type"] = TYPES[:n]
    _write_csv(path, cols)


def write_flat_nanomaggy_mag_g_csv(path, n=6):
    """Flat layout whose ``MAG_G`` holds Legacy fluxes in nanomaggies, not magnitudes (must be refused)."""
    base, flam, sigma, _, _ = _flat_columns(n)
    cols = dict(base)
    for j, b in enumerate(OJALA_BANDS):
        cols[f"APER_COR_3_0_{b}"], cols[f"APER_COR_3_0_{b}_ERR"] = flam[:, j], sigma[:, j]
    cols["MAG_G"] = 10 ** (-0.4 * (TRUE_MAG[:n] - 22.5))
    _write_csv(path, cols)


def write_filter_table(path):
    """The miniJPAS/J-NEP filter table as a file: one name per array index."""
    path.write_text("# miniJPAS / J-NEP filter table: line k = array index k (FILTER_ID - 1)\n"
                    + "\n".join(FILTERS) + "\n")


FILES = {"minijpas_archive.fits": write_archive_fits, "minijpas_tap_export.csv": write_tap_csv,
         "flat_relerr.csv": write_flat_relerr_csv, "flat_relerr_as_err.fits": write_flat_relerr_as_err_fits,
         "flat_declared_scale.fits": write_flat_declared_scale_fits, "flat_fnu_unitless.csv": write_flat_fnu_csv,
         "flat_ambiguous_unitless.csv": write_flat_ambiguous_csv, "flat_flags.csv": write_flat_flags_csv,
         "flat_nanomaggy_mag_g.csv": write_flat_nanomaggy_mag_g_csv, "minijpas_filters.txt": write_filter_table}


def main():
    for name, write in FILES.items():
        write(HERE / name)
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
