"""Write the small DESI DR1 files of tests/data/desi_dr1/ from the published data models.

Run ``python tests/data/make_desi_dr1_files.py`` to remake them (deterministic). The layouts
follow the public documentation, not the project's synthetic sky: desidatamodel (zall-pix HDU
ZCATALOG with SURVEY, PROGRAM, ZCAT_PRIMARY, DELTACHI2, COADD_FIBERSTATUS, OBJTYPE, EBV, PHOTSYS;
healpix coadds coadd-SURVEY-PROGRAM-PIXNUM.fits with FIBERMAP and {B,R,Z}_{WAVELENGTH,FLUX,IVAR,MASK}),
the CIGALE IronPhysProp VAC (HDU DATA: LOGM, LOGM_ERR, LOGSFR, LOGSFR_ERR, FLAG_MASSPDF,
FLAG_SFRPDF; one row per TARGETID, SURVEY, PROGRAM; failed fits LOGM = LOGSFR = 0),
desi-mws-dr1-datamodel (mwsall: RVTAB with *_ERR, SUCCESS, RVS_WARN, SURVEY, PROGRAM, PRIMARY;
SPTAB row-matched, errors only in COVAR[25] over [Fe/H], [a/Fe], log10micro, Teff, logg), the
Mg II BH-mass VAC (HDU BHMASS, LOGMASS_DAS_VO09(_ERR) and other estimators) and FastSpecFit v3.0
(fastspec-iron-main-{bright,dark}-nside1-hpNN.fits, HDUs FASTSPEC and row-matched METADATA).

The cases (each checked in tests/test_desi_dr1.py):
- G1, a galaxy observed in main/bright and main/dark; ZCAT_PRIMARY is main/dark. It has a coadd,
  a CIGALE row and a FastSpecFit row in each; only the main/dark ones may be used.
- G2, a galaxy whose CIGALE fit failed (LOGM = LOGSFR = 0); G3, one with FLAG_MASSPDF = 0.1.
- G4, a galaxy with DELTACHI2 = 4 (fails a DELTACHI2 >= 25 cut); SKY1 an OBJTYPE = SKY fibre with
  COADD_FIBERSTATUS = 8; FAR1, a galaxy far outside the J-PAS footprint.
- S1, a star observed twice whose MWS PRIMARY row is the main/bright one; S2 with SUCCESS = False;
  S3 with RVS_WARN = 1; S4 with a FERRE sentinel TEFF = -9999 in SPTAB.
- Q1, a QSO in main/dark (primary) and sv1/dark with VO09 and S11 BH masses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

OUT = Path(__file__).resolve().parent / "desi_dr1"
BASE = 39627000000000000
IDS = {name: BASE + k for k, name in enumerate(
    ["G1", "G2", "G3", "G4", "SKY1", "FAR1", "S1", "S2", "S3", "S4", "Q1"], start=1)}
# J-PAS-like field the tests cross-match against: RA 150.0-150.2, DEC 2.0-2.2.
POS = {"G1": (150.05, 2.05), "G2": (150.06, 2.06), "G3": (150.07, 2.07), "G4": (150.08, 2.08),
       "SKY1": (150.09, 2.09), "FAR1": (210.0, -5.0), "S1": (150.11, 2.11), "S2": (150.12, 2.12),
       "S3": (150.13, 2.13), "S4": (150.14, 2.14), "Q1": (150.15, 2.15)}


def _table(name, columns: dict, units: dict | None = None, header: dict | None = None):
    """A BinTableHDU from name -> (FITS format, values)."""
    units = units or {}
    cols = [fits.Column(name=k, format=fmt, array=np.asarray(v), unit=units.get(k)) for k, (fmt, v) in columns.items()]
    hdu = fits.BinTableHDU.from_columns(cols, name=name)
    for k, v in (header or {}).items():
        hdu.header[k] = v
    return hdu


def _write(path, *hdus, primary_header=None):
    primary = fits.PrimaryHDU()
    for k, v in (primary_header or {}).items():
        primary.header[k] = v
    fits.HDUList([primary, *hdus]).writeto(path, overwrite=True)


def zall():
    # (name, SURVEY, PROGRAM, ZCAT_PRIMARY, SPECTYPE, Z, DELTACHI2, COADD_FIBERSTATUS, OBJTYPE)
    rows = [("G1", "main", "bright", False, "GALAXY", 0.1001, 900.0, 0, "TGT"),
            ("G1", "main", "dark", True, "GALAXY", 0.1000, 1500.0, 0, "TGT"),
            ("G2", "main", "dark", True, "GALAXY", 0.2000, 800.0, 0, "TGT"),
            ("G3", "main", "dark", True, "GALAXY", 0.3000, 700.0, 0, "TGT"),
            ("G4", "main", "dark", True, "GALAXY", 0.4000, 4.0, 0, "TGT"),
            ("SKY1", "main", "dark", True, "GALAXY", 0.5000, 100.0, 8, "SKY"),
            ("FAR1", "main", "dark", True, "GALAXY", 0.6000, 600.0, 0, "TGT"),
            ("S1", "sv3", "bright", False, "STAR", -0.0001, 3000.0, 0, "TGT"),
            ("S1", "main", "bright", True, "STAR", -0.0001, 3000.0, 0, "TGT"),
            ("S2", "main", "bright", True, "STAR", 0.0001, 3000.0, 0, "TGT"),
            ("S3", "main", "bright", True, "STAR", 0.0001, 3000.0, 0, "TGT"),
            ("S4", "main", "bright", True, "STAR", 0.0001, 3000.0, 0, "TGT"),
            ("Q1", "sv1", "dark", False, "QSO", 1.2002, 200.0, 0, "TGT"),
            ("Q1", "main", "dark", True, "QSO", 1.2000, 250.0, 0, "TGT")]
    n = len(rows)
    col = {k: [r[i] for r in rows] for i, k in enumerate(
        ["NAME", "SURVEY", "PROGRAM", "ZCAT_PRIMARY", "SPECTYPE", "Z", "DELTACHI2", "COADD_FIBERSTATUS", "OBJTYPE"])}
    columns = {
        "TARGETID": ("K", [IDS[m] for m in col["NAME"]]),
        "SURVEY": ("7A", col["SURVEY"]), "PROGRAM": ("6A", col["PROGRAM"]),
        "Z": ("D", col["Z"]), "ZERR": ("D", np.full(n, 2e-5)), "ZWARN": ("K", np.zeros(n, np.int64)),
        "SPECTYPE": ("6A", col["SPECTYPE"]), "DELTACHI2": ("D", col["DELTACHI2"]),
        "COADD_FIBERSTATUS": ("J", np.asarray(col["COADD_FIBERSTATUS"], np.int32)),
        "TARGET_RA": ("D", [POS[m][0] for m in col["NAME"]]), "TARGET_DEC": ("D", [POS[m][1] for m in col["NAME"]]),
        "OBJTYPE": ("3A", col["OBJTYPE"]),
        "MORPHTYPE": ("4A", np.where(np.asarray(col["SPECTYPE"]) == "GALAXY", "EXP", "PSF")),
        "EBV": ("E", np.full(n, 0.02, np.float32)), "PHOTSYS": ("1A", np.full(n, "S")),
        **{f"FLUX_{b}": ("E", np.full(n, 10.0, np.float32)) for b in ("G", "R", "Z", "W1", "W2")},
        **{f"FLUX_IVAR_{b}": ("E", np.full(n, 25.0, np.float32)) for b in ("G", "R", "Z", "W1", "W2")},
        "ZCAT_NSPEC": ("I", np.ones(n, np.int16)), "ZCAT_PRIMARY": ("L", col["ZCAT_PRIMARY"]),
    }
    units = {**{f"FLUX_{b}": "nanomaggy" for b in ("G", "R", "Z", "W1", "W2")},
             **{f"FLUX_IVAR_{b}": "nanomaggy^-2" for b in ("G", "R", "Z", "W1", "W2")},
             "TARGET_RA": "deg", "TARGET_DEC": "deg", "EBV": "mag"}
    _write(OUT / "zall-pix-iron-small.fits", _table("ZCATALOG", columns, units))


def coadd(survey, program, level):
    """G1's coadd in (survey, program); flux `level` [1e-17 erg s⁻¹ cm⁻² Å⁻¹] tells the files apart."""
    fibermap = _table("FIBERMAP", {"TARGETID": ("K", [IDS["G1"]]), "COADD_FIBERSTATUS": ("J", [0]),
                                   "TARGET_RA": ("D", [POS["G1"][0]]), "TARGET_DEC": ("D", [POS["G1"][1]]),
                                   "OBJTYPE": ("3A", ["TGT"])})
    hdus = [fibermap]
    for cam, lo, hi in (("B", 3600.0, 5800.0), ("R", 5760.0, 7620.0), ("Z", 7520.0, 9824.0)):
        wave = np.arange(lo, hi, 20.0)
        h = fits.ImageHDU(wave, name=f"{cam}_WAVELENGTH")
        h.header["BUNIT"] = "Angstrom"
        flux = fits.ImageHDU(np.full((1, len(wave)), level, np.float32), name=f"{cam}_FLUX")
        flux.header["BUNIT"] = "10**-17 erg/(s cm2 Angstrom)"
        ivar = fits.ImageHDU(np.ones((1, len(wave)), np.float32), name=f"{cam}_IVAR")
        ivar.header["BUNIT"] = "10**+34 (s2 cm4 Angstrom2) / erg2"
        hdus += [h, flux, ivar, fits.ImageHDU(np.zeros((1, len(wave)), np.int32), name=f"{cam}_MASK")]
    _write(OUT / f"coadd-{survey}-{program}-10000.fits", *hdus,
           primary_header={"SURVEY": survey, "PROGRAM": program, "SPGRP": "healpix", "SPGRPVAL": 10000,
                           "HPXNSIDE": 64, "HPXPIXEL": 10000})


def cigale():
    # (name, SURVEY, PROGRAM, LOGM, LOGM_ERR, LOGSFR, LOGSFR_ERR, FLAG_MASSPDF, FLAG_SFRPDF)
    rows = [("G1", "main", "bright", 9.0, 0.2, -1.0, 0.4, 1.0, 1.0),
            ("G1", "main", "dark", 10.5, 0.1, 0.5, 0.3, 1.1, 1.2),
            ("G2", "main", "dark", 0.0, 0.0, 0.0, 0.0, 1.0, 1.0),
            ("G3", "main", "dark", 11.0, 0.1, 1.0, 0.2, 0.1, 2.0)]
    cols = ["NAME", "SURVEY", "PROGRAM", "LOGM", "LOGM_ERR", "LOGSFR", "LOGSFR_ERR", "FLAG_MASSPDF", "FLAG_SFRPDF"]
    c = {k: [r[i] for r in rows] for i, k in enumerate(cols)}
    columns = {"TARGETID": ("K", [IDS[m] for m in c["NAME"]]), "SURVEY": ("7A", c["SURVEY"]),
               "PROGRAM": ("6A", c["PROGRAM"]), "Z": ("D", np.full(len(rows), 0.1)),
               **{k: ("D", c[k]) for k in cols[3:]}}
    _write(OUT / "IronPhysProp-small.fits", _table("DATA", columns))


def mwsall():
    # (name, SURVEY, PROGRAM, PRIMARY, SUCCESS, RVS_WARN, TEFF, LOGG, FEH, ALPHAFE)
    rows = [("S1", "sv3", "bright", False, True, 0, 6500.0, 3.5, -1.5, 0.3),
            ("S1", "main", "bright", True, True, 0, 5800.0, 4.4, -0.2, 0.05),
            ("S2", "main", "bright", True, False, 0, 5000.0, 4.0, -0.5, 0.1),
            ("S3", "main", "bright", True, True, 1, 5200.0, 4.1, -0.4, 0.1),
            ("S4", "main", "bright", True, True, 0, 6000.0, 4.2, -0.3, 0.1)]
    cols = ["NAME", "SURVEY", "PROGRAM", "PRIMARY", "SUCCESS", "RVS_WARN", "TEFF", "LOGG", "FEH", "ALPHAFE"]
    c = {k: [r[i] for r in rows] for i, k in enumerate(cols)}
    n = len(rows)
    errs = {"TEFF": 50.0, "LOGG": 0.1, "FEH": 0.05, "ALPHAFE": 0.02}
    rv = {"VRAD": ("D", np.full(n, 12.0)), "VRAD_ERR": ("D", np.full(n, 1.0)),
          **{p: ("D", c[p]) for p in ("LOGG", "TEFF", "ALPHAFE", "FEH")},
          **{f"{p}_ERR": ("D", np.full(n, errs[p])) for p in ("LOGG", "TEFF", "ALPHAFE", "FEH")},
          "RVS_WARN": ("K", c["RVS_WARN"]), "TARGETID": ("K", [IDS[m] for m in c["NAME"]]),
          "SUCCESS": ("L", c["SUCCESS"]), "SURVEY": ("7A", c["SURVEY"]), "PROGRAM": ("6A", c["PROGRAM"]),
          "PRIMARY": ("L", c["PRIMARY"])}
    # FERRE: its own values (S4's TEFF a -9999 sentinel), errors as COVAR diagonal; PARAM order
    # [Fe/H], [a/Fe], log10micro, Teff, logg.
    ferre = {"TEFF": [6400.0, 5750.0, 5050.0, 5250.0, -9999.0], "LOGG": [3.6, 4.3, 4.0, 4.1, 4.2],
             "FEH": [-1.4, -0.25, -0.5, -0.4, -0.3], "ALPHAFE": [0.3, 0.06, 0.1, 0.1, 0.1]}
    sig = {"FEH": 0.04, "ALPHAFE": 0.03, "MICRO": 0.1, "TEFF": 40.0, "LOGG": 0.08}
    covar = np.zeros((n, 25))
    for k, p in enumerate(("FEH", "ALPHAFE", "MICRO", "TEFF", "LOGG")):
        covar[:, 6 * k] = sig[p] ** 2
    sp = {"SUCCESS": ("K", np.ones(n, np.int64)), "TARGETID": rv["TARGETID"],
          **{p: ("D", ferre[p]) for p in ("TEFF", "LOGG", "FEH", "ALPHAFE")},
          "COVAR": ("25D", covar)}
    _write(OUT / "mwsall-pix-iron-small.fits", _table("RVTAB", rv, {"TEFF": "K", "TEFF_ERR": "K"}),
           _table("SPTAB", sp, {"TEFF": "K"}))


def bhmass():
    rows = [("Q1", "sv1", "dark", 9.4, 0.5, 9.6), ("Q1", "main", "dark", 8.5, 0.3, 8.7)]
    columns = {"TARGETID": ("K", [IDS[r[0]] for r in rows]), "SURVEY": ("7A", [r[1] for r in rows]),
               "PROGRAM": ("6A", [r[2] for r in rows]), "Z": ("D", [1.2, 1.2]),
               "LOGMASS_DAS_VO09": ("D", [r[3] for r in rows]), "LOGMASS_DAS_VO09_ERR": ("D", [r[4] for r in rows]),
               "LOGMASS_DAS_S11": ("D", [r[5] for r in rows]), "LOGMASS_DAS_S11_ERR": ("D", [0.4, 0.35])}
    _write(OUT / "bhmass-small.fits", _table("BHMASS", columns))


def fastspec(program, hp, rows):
    """One FastSpecFit v3.0 healpix file: FASTSPEC and row-matched METADATA."""
    from ojala_core.lines import lines_with_ew

    n = len(rows)
    ids = [IDS[r[0]] for r in rows]
    columns = {"TARGETID": ("K", ids)}
    for ln in lines_with_ew():
        columns[f"{ln.name}_EW"] = ("E", np.asarray([r[1] for r in rows], np.float32))
        columns[f"{ln.name}_EW_IVAR"] = ("E", np.full(n, 4.0, np.float32))
        if ln.owns_continuum:
            columns[f"{ln.name}_CONT"] = ("E", np.full(n, 2.0, np.float32))
            columns[f"{ln.name}_CONT_IVAR"] = ("E", np.full(n, 100.0, np.float32))
    meta = {"TARGETID": ("K", ids), "SURVEY": ("7A", np.full(n, "main")), "PROGRAM": ("6A", np.full(n, program)),
            "HEALPIX": ("J", np.full(n, 10000, np.int32)), "Z": ("D", [0.1] * n), "EBV": ("E", np.full(n, 0.02))}
    _write(OUT / f"fastspec-iron-main-{program}-nside1-hp{hp:02d}.fits",
           _table("FASTSPEC", columns, {c: "Angstrom" for c in columns if c.endswith("_EW")}),
           _table("METADATA", meta))


def main():
    OUT.mkdir(exist_ok=True)
    zall()
    coadd("main", "dark", 2.0)
    coadd("main", "bright", 1.0)
    cigale()
    mwsall()
    bhmass()
    fastspec("dark", 0, [("G1", 50.0), ("G2", 5.0)])
    fastspec("bright", 3, [("G1", 10.0), ("G3", 8.0)])


if __name__ == "__main__":
    main()
