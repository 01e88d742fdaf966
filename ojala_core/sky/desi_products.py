"""Write the sky's DESI files in the DR1 layouts: zall-pix with repeats, extra coadds, and the four label VACs.

A DR1 target observed in several (SURVEY, PROGRAM) has one zall row, one coadd and one VAC row
per observation, with one row marked primary; so here a fraction of the targets is observed a
second time (SV1/SV3, same program), with its own noise, and the main-survey observation stays
the primary one. The VACs carry their DR1 names, HDUs and quality columns, failed fits and
flagged rows included. Not for the measurement models (see `desi`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io.desi_vacs import DEFAULT_BH_ESTIMATOR
from ..io.files import write_fits_table, write_fits_tables
from ..vocabulary import DEFAULT_VOCABULARY
from . import desi

__all__ = ["write_desi_products", "REPEAT_FRACTION", "SKY_DESI_FILES", "DESI_MEASUREMENTS"]

# Product files relative to the sky folder: (path, HDU the rows are counted in, what it is).
SKY_DESI_FILES = {
    "desi_zcatalog": ("desi/zall-pix-ojala.fits", "ZCATALOG", "DESI redshift catalogue (zall-pix layout)"),
    "desi_fastspec": ("desi/vac/fastspec-ojala.fits", "FASTSPEC", "FastSpecFit v3.0 layout (FASTSPEC + METADATA)"),
    "desi_cigale": ("desi/vac/IronPhysProp-ojala.fits", "DATA", "CIGALE stellar mass / SFR (IronPhysProp layout)"),
    "desi_mws": ("desi/vac/mwsall-pix-ojala.fits", "RVTAB", "MWS stellar parameters (mwsall: RVTAB + SPTAB)"),
    "desi_bhmass": ("desi/vac/qso-mgii-bhmass-ojala.fits", "BHMASS", "Mg II BH masses (DR1 VAC layout)"),
}
# Shard columns that are DESI measurements (besides FLUX_*, FSF_*, MWS_*), not truth.
DESI_MEASUREMENTS = ("DESI_Z", "ZERR", "ZWARN", "MASS_CG", "MASS_ERR_CG", "SFR_CG", "SFR_ERR_CG",
                     "MGII_FWHM", "LOGL3000", "LOGMBH_MGII", "LOGMBH_MGII_ERR")
# Fraction of DESI targets observed a second time (in DR1 roughly one target in ten has more
# than one coadd); the second observation is in SV1 or SV3 and is never the primary.
REPEAT_FRACTION = 0.05
REPEAT_SURVEYS = ("sv1", "sv3")
# Fractions of CIGALE fits that failed (LOGM = LOGSFR = 0) or have an untrustworthy mass PDF,
# and of MWS fits with SUCCESS false or an RVS warning.
CIGALE_FAILED = 0.01
CIGALE_BAD_PDF = 0.01
MWS_FAILED = 0.01
MWS_WARNED = 0.01
_STAR = DEFAULT_VOCABULARY.targets_for("STAR")
# mwsall SPTAB COVAR order: [Fe/H], [a/Fe], log10 micro, Teff, log g.
_FERRE_ORDER = ("FEH", "ALPHAFE", None, "TEFF", "LOGG")


def _repeat_rows(frame, base: dict, noisy: dict, repeated, surveys, rng) -> dict:
    """`base` columns of the primary rows followed by those of the repeated targets' second observations.

    `noisy` maps column -> 1σ array (per primary row): the second observation gets its own noise.
    """
    out = {}
    for name, values in base.items():
        values = np.asarray(values)
        again = values[repeated]
        if name in noisy:
            sigma = np.asarray(noisy[name], dtype=float)[repeated]
            again = np.where(np.isfinite(sigma) & (sigma > 0),
                             again + np.nan_to_num(sigma) * rng.standard_normal(len(again)), again).astype(values.dtype)
        out[name] = np.concatenate([values, again])
    out["SURVEY"] = np.concatenate([np.full(len(frame), "main"), surveys[repeated]])
    return out


def _ivar_sigma(ivar):
    ivar = np.asarray(ivar, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)


def _zcat(desi_rows, repeated, surveys, rng):
    n = len(desi_rows)
    flux_cols = [c for c in desi_rows.columns if c.startswith("FLUX_")]
    zwarn = desi_rows["ZWARN"].to_numpy(np.int64)
    good = zwarn == 0
    base = {"TARGETID": desi_rows["TARGETID"].to_numpy(np.int64), "TARGET_RA": desi_rows["RA"].to_numpy(),
            "TARGET_DEC": desi_rows["DEC"].to_numpy(), "Z": desi_rows["DESI_Z"].to_numpy(),
            "ZERR": desi_rows["ZERR"].to_numpy(), "ZWARN": zwarn, "SPECTYPE": desi_rows["SPECTYPE"].to_numpy(),
            # Δχ² to the next-best fit: large for a secure redshift, small where ZWARN is set.
            "DELTACHI2": np.where(good, 10 ** rng.uniform(1.7, 4.0, n), rng.uniform(0.5, 9.0, n)),
            "PROGRAM": desi_rows["PROGRAM"].to_numpy(), "MORPHTYPE": desi_rows["MORPHTYPE"].to_numpy(),
            "OBJTYPE": np.full(n, "TGT"), "COADD_FIBERSTATUS": np.zeros(n, np.int32),
            # The sky has no Galactic dust: EBV = 0 (the readers then redden nothing back).
            "EBV": np.zeros(n, np.float32), "PHOTSYS": np.full(n, "S"),
            **{c: desi_rows[c].to_numpy() for c in flux_cols}}
    out = _repeat_rows(desi_rows, base, {"Z": desi_rows["ZERR"].to_numpy()}, repeated, surveys, rng)
    nspec = np.where(repeated, 2, 1).astype(np.int16)
    out["ZCAT_NSPEC"] = np.concatenate([nspec, nspec[repeated]])
    out["ZCAT_PRIMARY"] = np.concatenate([np.ones(n, bool), np.zeros(int(repeated.sum()), bool)])
    units = {c: ("nanomaggy^-2" if "IVAR" in c else "nanomaggy") for c in flux_cols}
    units.update({"TARGET_RA": "deg", "TARGET_DEC": "deg", "EBV": "mag"})
    return out, units


def _fastspec(gal, repeated, surveys, rng):
    fsf = {c[4:]: gal[c].to_numpy() for c in gal.columns if c.startswith("FSF_")}
    sigmas = {k: _ivar_sigma(fsf[f"{k}_IVAR"]) for k in fsf if not k.endswith("_IVAR")}
    rows = _repeat_rows(gal, {"TARGETID": gal["TARGETID"].to_numpy(np.int64), **fsf}, sigmas, repeated, surveys, rng)
    meta = {"TARGETID": rows["TARGETID"], "SURVEY": rows.pop("SURVEY"),
            "PROGRAM": np.concatenate([gal["PROGRAM"].to_numpy(), gal["PROGRAM"].to_numpy()[repeated]]),
            "Z": np.concatenate([gal["DESI_Z"].to_numpy(), gal["DESI_Z"].to_numpy()[repeated]])}
    units = {k: ("Angstrom" if k.endswith("_EW") else "1e-17 erg/(s cm2 Angstrom)" if k.endswith("_CONT")
                 else "1e-17 erg/(s cm2)" if k.endswith("_FLUX") else None) for k in rows}
    return [("FASTSPEC", rows, units), ("METADATA", meta, None)]


def _cigale(gal, repeated, surveys, rng):
    n = len(gal)
    values = {"LOGM": gal["MASS_CG"].to_numpy(float), "LOGM_ERR": gal["MASS_ERR_CG"].to_numpy(float),
              "LOGSFR": gal["SFR_CG"].to_numpy(float), "LOGSFR_ERR": gal["SFR_ERR_CG"].to_numpy(float)}
    # PDF quality flags near 1 (trustworthy: 0.2 < FLAG < 5); a few fits with a poor mass PDF.
    flag_m = np.exp(0.25 * rng.standard_normal(n))
    flag_m[rng.random(n) < CIGALE_BAD_PDF] = 0.1
    flags = {"FLAG_MASSPDF": flag_m, "FLAG_SFRPDF": np.exp(0.25 * rng.standard_normal(n))}
    base = {"TARGETID": gal["TARGETID"].to_numpy(np.int64), "PROGRAM": gal["PROGRAM"].to_numpy(),
            "Z": gal["DESI_Z"].to_numpy(), **values, **flags}
    rows = _repeat_rows(gal, base, {"LOGM": values["LOGM_ERR"], "LOGSFR": values["LOGSFR_ERR"]},
                        repeated, surveys, rng)
    failed = rng.random(len(rows["TARGETID"])) < CIGALE_FAILED      # CIGALE writes 0 for a failed fit
    for c in values:
        rows[c] = np.where(failed, 0.0, rows[c])
    return rows


def _mws(star, repeated, surveys, rng):
    n = len(star)
    measured = {t: star[f"MWS_{t}"].to_numpy(float) for t in _STAR}
    errors = {f"{t}_ERR": star[f"MWS_{t}_ERR"].to_numpy(float) for t in _STAR}
    vrad = star["DESI_Z"].to_numpy(float) * 2.998e5
    base = {"TARGETID": star["TARGETID"].to_numpy(np.int64), "PROGRAM": star["PROGRAM"].to_numpy(),
            "VRAD": vrad, "VRAD_ERR": np.full(n, 1.5), **measured, **errors}
    rv = _repeat_rows(star, base, {t: errors[f"{t}_ERR"] for t in _STAR}, repeated, surveys, rng)
    m = len(rv["TARGETID"])
    rv["PRIMARY"] = np.arange(m) < n
    rv["SUCCESS"] = rng.random(m) >= MWS_FAILED
    rv["RVS_WARN"] = np.where(rng.random(m) < MWS_WARNED, 4, 0).astype(np.int64)
    # FERRE (SPTAB, row-matched): its own measurement of the truth, errors only in COVAR.
    truth = {t: np.concatenate([star[t].to_numpy(float), star[t].to_numpy(float)[repeated]]) for t in _STAR}
    sp = {"TARGETID": rv["TARGETID"], "SUCCESS": rv["SUCCESS"].astype(np.int64)}
    covar = np.zeros((m, 25))
    for k, token in enumerate(_FERRE_ORDER):
        sigma = rv[f"{token}_ERR"] if token else np.full(m, 0.1)
        if token:
            sp[token] = truth[token] + sigma * rng.standard_normal(m)
        covar[:, 6 * k] = sigma ** 2
    sp["COVAR"] = covar
    return [("RVTAB", rv, {"TEFF": "K", "TEFF_ERR": "K", "VRAD": "km/s", "VRAD_ERR": "km/s"}),
            ("SPTAB", sp, {"TEFF": "K"})]


def _bhmass(qso, repeated, surveys, rng):
    column = f"LOGMASS_{DEFAULT_BH_ESTIMATOR}"
    base = {"TARGETID": qso["TARGETID"].to_numpy(np.int64), "PROGRAM": qso["PROGRAM"].to_numpy(),
            "Z": qso["DESI_Z"].to_numpy(), "FWHM_MGII": qso["MGII_FWHM"].to_numpy(),
            "LOGL3000": qso["LOGL3000"].to_numpy(), column: qso["LOGMBH_MGII"].to_numpy(),
            f"{column}_ERR": qso["LOGMBH_MGII_ERR"].to_numpy()}
    return _repeat_rows(qso, base, {column: base[f"{column}_ERR"]}, repeated, surveys, rng)


def _second_coadds(out_dir: Path, repeated_ids: dict, seed) -> None:
    """One extra coadd per main-survey coadd holding the repeated targets' second observation."""
    from astropy.io import fits

    for k, path in enumerate(sorted((out_dir / "desi" / "spectra").glob("coadd-main-*.fits"))):
        with fits.open(path, memmap=True) as hdul:
            fibermap = hdul["FIBERMAP"].data
            ids = np.asarray(fibermap["TARGETID"]).astype(np.int64)
            rows = np.flatnonzero(np.isin(ids, list(repeated_ids)))
            if not len(rows):
                continue
            rng = np.random.default_rng([seed, 2, k])
            program = path.name.split("-")[2]
            surveys = np.array([repeated_ids[t] for t in ids[rows]])
            fmap = {name: np.asarray(fibermap[name])[rows] for name in fibermap.columns.names}
            spectra = {}
            for cam in ("B", "R", "Z"):
                flux = np.asarray(hdul[f"{cam}_FLUX"].data[rows], dtype=np.float32)
                ivar = np.asarray(hdul[f"{cam}_IVAR"].data[rows], dtype=np.float32)
                noise = np.where(ivar > 0, rng.standard_normal(flux.shape) / np.sqrt(np.where(ivar > 0, ivar, 1)), 0)
                spectra[cam] = (np.asarray(hdul[f"{cam}_WAVELENGTH"].data), (flux + noise).astype(np.float32), ivar,
                                np.asarray(hdul[f"{cam}_MASK"].data[rows]))
        for survey in REPEAT_SURVEYS:
            pick = surveys == survey
            if pick.any():
                name = path.name.replace("coadd-main-", f"coadd-{survey}-")
                desi.write_coadd(path.parent / name, {c: v[pick] for c, v in fmap.items()},
                                 {cam: (w, f[pick], i[pick], m[pick]) for cam, (w, f, i, m) in spectra.items()},
                                 survey=survey, program=program)


def write_desi_products(out_dir, frame: pd.DataFrame, seed: int) -> None:
    """The sky's DESI files (SKY_DESI_FILES and the second-observation coadds) from the merged shards."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng([seed, 1])
    desi_rows = frame[frame["IN_DESI"]].reset_index(drop=True)
    repeated = rng.random(len(desi_rows)) < REPEAT_FRACTION
    surveys = np.asarray(REPEAT_SURVEYS)[rng.integers(0, len(REPEAT_SURVEYS), len(desi_rows))]
    survey_of = pd.Series(surveys, index=desi_rows["TARGETID"].to_numpy(np.int64))

    def subset(spectype, extra=None):
        keep = (desi_rows["SPECTYPE"] == spectype).to_numpy() & (True if extra is None else extra)
        rows = desi_rows[keep].reset_index(drop=True)
        return rows, repeated[keep], surveys[keep]

    zcat, units = _zcat(desi_rows, repeated, surveys, rng)
    write_fits_table(out_dir / SKY_DESI_FILES["desi_zcatalog"][0], zcat, "ZCATALOG", units=units)
    gal, gal_rep, gal_sv = subset("GALAXY")
    write_fits_tables(out_dir / SKY_DESI_FILES["desi_fastspec"][0], _fastspec(gal, gal_rep, gal_sv, rng))
    write_fits_table(out_dir / SKY_DESI_FILES["desi_cigale"][0], _cigale(gal, gal_rep, gal_sv, rng), "DATA")
    star, star_rep, star_sv = subset("STAR")
    write_fits_tables(out_dir / SKY_DESI_FILES["desi_mws"][0], _mws(star, star_rep, star_sv, rng))
    qso, qso_rep, qso_sv = subset("QSO", np.isfinite(desi_rows["LOGMBH_MGII"].to_numpy(float)))
    write_fits_table(out_dir / SKY_DESI_FILES["desi_bhmass"][0], _bhmass(qso, qso_rep, qso_sv, rng), "BHMASS",
                     units={"FWHM_MGII": "km/s"})
    _second_coadds(out_dir, survey_of[repeated].to_dict(), seed)
