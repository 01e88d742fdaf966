"""Read the DESI label VACs (FastSpecFit, CIGALE, MWS, Mg II BH masses) in their DR1 layouts.

Each VAC is found by the columns present, joined on the redshift catalogue's primary
(TARGETID, SURVEY, PROGRAM), and its quality gates applied (failed fits become missing, counted).
Not for turning the values into tokens (see `ojala_core.mocks.tokens`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..lines import lines_with_ew
from ..vocabulary import DEFAULT_VOCABULARY
from .desi import _check_unique, _clean_survey_program, _hdu_or_first, expand_paths, iter_table_chunks
from .desi_units import SENTINEL_MAX, check_label_values, convert_label_units, mask_implausible
from .tables import FITS_SUFFIXES, InputError, list_columns, open_fits, table_units

__all__ = ["VAC_KINDS", "VacLayout", "VAC_LAYOUTS", "read_vac", "DEFAULT_BH_ESTIMATOR", "CIGALE_PDF_RANGE",
           "MWS_PIPELINES"]

VAC_KINDS = ("fastspec", "cigale", "mws", "bhmass")
DEFAULT_BH_ESTIMATOR = "DAS_VO09"     # Mg II VAC: LOGMASS_DAS_VO09 (Vestergaard & Osmer 2009 calibration)
# IronPhysProp release notes: a mass/SFR PDF is trustworthy where 0.2 < FLAG_*PDF < 5.
CIGALE_PDF_RANGE = (0.2, 5.0)
_STAR = DEFAULT_VOCABULARY.targets_for("STAR")
# FERRE PARAM/COVAR order in mwsall SPTAB: ([Fe/H], [a/Fe], log10micro, Teff, logg).
_FERRE_INDEX = {"FEH": 0, "ALPHAFE": 1, "TEFF": 3, "LOGG": 4}  # token-list: FERRE's fixed parameter order


@dataclass(frozen=True)
class VacLayout:
    """One file layout of a VAC kind: where the table is and which file column gives each output column."""

    name: str
    hdus: tuple                      # HDU names tried in order (CSV/Parquet: the only table)
    columns: dict                    # output column -> file column
    flags: tuple = ()                # quality columns read as they are
    notes: str = ""

    def needed(self) -> list[str]:
        return [*self.columns.values(), *self.flags]


# MWS stellar parameters from RVSpecfit (RVTAB, with _ERR) or FERRE (SPTAB, errors from COVAR).
MWS_PIPELINES = ("rvspecfit", "ferre")
_FERRE = VacLayout("mwsall SPTAB (DR1, FERRE) matched to RVTAB", ("SPTAB",),
                   {f"{t}{e}": f"{t}{e}" for t in _STAR for e in ("", "_ERR")}, flags=("SUCCESS",),
                   notes="errors: square root of the COVAR diagonal; SURVEY/PROGRAM/PRIMARY from RVTAB row by row")


def _fastspec_columns() -> dict:
    out = {}
    for ln in lines_with_ew():
        for q in ("EW", "CONT") if ln.owns_continuum else ("EW",):
            for suffix in ("", "_IVAR"):
                out[f"{ln.name}_{q}{suffix}"] = f"{ln.name}_{q}{suffix}"
    return out


def _bh_layout(estimator):
    return VacLayout("Mg II BH-mass VAC (DR1)", ("BHMASS",),
                     {"LOGMBH": f"LOGMASS_{estimator}", "LOGMBH_ERR": f"LOGMASS_{estimator}_ERR"})


def vac_layouts(kind, bh_estimator=DEFAULT_BH_ESTIMATOR) -> list[VacLayout]:
    """The known layouts of a VAC `kind`, DR1 first."""
    star = {f"{t}{e}": f"{t}{e}" for t in _STAR for e in ("", "_ERR")}
    layouts = {
        "fastspec": [VacLayout("FastSpecFit v3.0 (DR1)", ("FASTSPEC",), _fastspec_columns(),
                               notes="SURVEY/PROGRAM from the row-matched METADATA HDU")],
        "cigale": [VacLayout("IronPhysProp (DR1)", ("DATA", "CIGALE"),
                             {"LOGM": "LOGM", "LOGM_ERR": "LOGM_ERR", "LOGSFR": "LOGSFR", "LOGSFR_ERR": "LOGSFR_ERR"},
                             flags=("FLAG_MASSPDF", "FLAG_SFRPDF"))],
        "mws": [VacLayout("mwsall RVTAB (DR1, RVSpecfit)", ("RVTAB",), star, flags=("SUCCESS", "RVS_WARN"))],
        "bhmass": [_bh_layout(bh_estimator)],
    }
    if kind not in layouts:
        raise ValueError(f"unknown VAC kind '{kind}'; known: {', '.join(VAC_KINDS)}")
    return layouts[kind]


VAC_LAYOUTS = {kind: vac_layouts(kind) for kind in VAC_KINDS}


@dataclass
class _Found:
    layout: VacLayout
    hdu: str | None
    available: list = field(default_factory=list)


def _detect(path, kind, bh_estimator) -> _Found:
    """The layout of `path` from the columns present; one message naming what is missing otherwise."""
    best = None
    for layout in vac_layouts(kind, bh_estimator):
        hdu = _hdu_or_first(path, *layout.hdus)
        available = list_columns(path, hdu)
        missing = [c for c in layout.needed() if c not in available]
        if not missing:
            return _Found(layout, hdu, available)
        present = len(layout.needed()) - len(missing)
        if best is None or present > best[0]:         # ties: the DR1 layout, listed first
            best = (present, layout, missing, hdu)
    _, layout, missing, hdu = best
    names = ", ".join(f"'{c}'" for c in missing[:6]) + (" ..." if len(missing) > 6 else "")
    where = f"HDU {hdu}: " if hdu else ""
    known = "; ".join(f"{ly.name} (HDU {'/'.join(ly.hdus)}: {', '.join(ly.needed()[:4])} ...)"
                      for ly in vac_layouts(kind, bh_estimator))
    raise InputError(f"{path}: {where}missing column{'s' if len(missing) > 1 else ''} {names} — not a {kind} VAC "
                     f"of a known layout (closest: {layout.name}; known: {known})")


def _survey_program(path, found: _Found):
    """SURVEY/PROGRAM columns of the VAC rows: in the table, or (FastSpecFit) in METADATA row by row."""
    if {"SURVEY", "PROGRAM"} <= set(found.available):
        return ["SURVEY", "PROGRAM"], None
    if Path(path).suffix.lower() in FITS_SUFFIXES:
        with open_fits(path) as hdul:
            has_meta = "METADATA" in hdul
        if has_meta and {"SURVEY", "PROGRAM", "TARGETID"} <= set(list_columns(path, "METADATA")):
            return [], "METADATA"
    return [], None


def _read_rows(path, found: _Found, keep_ids, counts):
    """The layout's columns (+ TARGETID, SURVEY, PROGRAM where present) of the rows whose TARGETID is wanted."""
    extra, meta_hdu = _survey_program(path, found)
    columns = ["TARGETID", *extra, *found.layout.needed()]
    if found.layout.name.startswith("mwsall") and "PRIMARY" in found.available:
        columns.append("PRIMARY")
    meta_chunks = iter_table_chunks(path, meta_hdu, ["TARGETID", "SURVEY", "PROGRAM"]) if meta_hdu else None
    parts = []
    for chunk in iter_table_chunks(path, found.hdu, list(dict.fromkeys(columns))):
        if meta_chunks is not None:
            meta = next(meta_chunks)
            if len(meta) != len(chunk) or not np.array_equal(meta["TARGETID"].to_numpy(), chunk["TARGETID"].to_numpy()):
                raise InputError(f"{path}: METADATA and {found.hdu} rows do not match (TARGETID differs) — the "
                                 "FastSpecFit file is damaged or was edited")
            chunk = chunk.assign(SURVEY=meta["SURVEY"].to_numpy(), PROGRAM=meta["PROGRAM"].to_numpy())
        counts["rows_read"] += len(chunk)
        if keep_ids is not None:
            chunk = chunk[np.isin(chunk["TARGETID"].to_numpy(np.int64), keep_ids)]
        parts.append(chunk)
    return pd.concat(parts, ignore_index=True)


def _read_ferre(path, keep_ids, counts):
    """FERRE stellar parameters (SPTAB) with errors from COVAR, matched row by row to RVTAB's keys."""
    if Path(path).suffix.lower() not in FITS_SUFFIXES:
        raise InputError(f"{path}: the FERRE parameters are read from a mwsall FITS file (HDUs RVTAB and SPTAB)")
    with open_fits(path) as hdul:
        missing = [h for h in ("RVTAB", "SPTAB") if h not in hdul]
    if missing:
        raise InputError(f"{path}: no HDU {missing[0]} — the FERRE parameters need mwsall's RVTAB and SPTAB")
    sp_need = ["TARGETID", "SUCCESS", *_STAR, "COVAR"]
    rv_need = ["TARGETID", "SURVEY", "PROGRAM", "PRIMARY"]
    for hdu, need in (("SPTAB", sp_need), ("RVTAB", rv_need)):
        absent = [c for c in need if c not in list_columns(path, hdu)]
        if absent:
            raise InputError(f"{path}: HDU {hdu}: missing column{'s' if len(absent) > 1 else ''} "
                             f"{', '.join(repr(c) for c in absent)} (mwsall DR1 layout)")
    parts = []
    for sp, rv in zip(iter_table_chunks(path, "SPTAB", sp_need), iter_table_chunks(path, "RVTAB", rv_need)):
        if len(sp) != len(rv) or not np.array_equal(sp["TARGETID"].to_numpy(), rv["TARGETID"].to_numpy()):
            raise InputError(f"{path}: SPTAB and RVTAB rows do not match (TARGETID differs); the datamodel has them "
                             "row by row")
        covar = np.stack(sp.pop("COVAR").to_numpy()).reshape(len(sp), 5, 5) if len(sp) else np.zeros((0, 5, 5))
        with np.errstate(invalid="ignore"):
            for token in _STAR:
                k = _FERRE_INDEX[token]
                sp[f"{token}_ERR"] = np.where(covar[:, k, k] > 0, np.sqrt(covar[:, k, k]), np.nan)
        part = pd.concat([sp, rv.drop(columns="TARGETID")], axis=1)
        counts["rows_read"] += len(part)
        if keep_ids is not None:
            part = part[np.isin(part["TARGETID"].to_numpy(np.int64), keep_ids)]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _in_label_units(frame, path, hdu, file_columns: dict, skip_zero=False):
    """`frame` (output names) converted from the file's declared units and checked for plausible values."""
    declared = table_units(path, hdu)
    units = {out: (declared[col], col) for out, col in file_columns.items() if col in declared}
    frame = convert_label_units(frame, units, path)
    check_label_values(frame, path, file_columns, skip_zero=skip_zero)
    return frame


def _join_primary(frame, primary, path, counts):
    """One row per TARGETID: the row of the redshift catalogue's primary (SURVEY, PROGRAM)."""
    frame = _clean_survey_program(frame)
    if primary is not None and {"SURVEY", "PROGRAM"} <= set(frame.columns) & set(primary.columns):
        keys = primary[["TARGETID", "SURVEY", "PROGRAM"]]
        joined = frame.merge(keys, on=["TARGETID", "SURVEY", "PROGRAM"], how="inner")
        counts["not_primary"] += len(frame) - len(joined)
        frame = joined
    elif "PRIMARY" in frame:
        keep = frame["PRIMARY"].astype(bool).to_numpy()
        counts["not_primary"] += int((~keep).sum())
        frame = frame[keep]
    _check_unique(frame, path)
    return frame


def _missing(frame, columns, bad, counts, reason):
    """Set `columns` to NaN where `bad`; count the rows."""
    bad = np.asarray(bad, dtype=bool)
    counts[reason] = counts.get(reason, 0) + int(bad.sum())
    for c in columns:
        frame.loc[bad, c] = np.nan


def _gate(kind, layout: VacLayout, frame, counts):
    """The VAC's own quality gates: what they reject becomes missing, and is counted."""
    values = [c for c in layout.columns if not c.endswith(("_ERR", "_IVAR"))]
    if kind == "cigale" and "FLAG_MASSPDF" in frame:
        lo, hi = CIGALE_PDF_RANGE
        failed = (frame["LOGM"].to_numpy(float) == 0) & (frame["LOGSFR"].to_numpy(float) == 0)
        _missing(frame, list(layout.columns), failed, counts, "failed_fit")
        for flag, token in (("FLAG_MASSPDF", "LOGM"), ("FLAG_SFRPDF", "LOGSFR")):
            f = frame[flag].to_numpy(float)
            _missing(frame, [token, f"{token}_ERR"], ~failed & ~((f > lo) & (f < hi)), counts, f"bad_{flag}")
    if kind == "mws" and "SUCCESS" in frame:
        failed = ~frame["SUCCESS"].astype(bool).to_numpy()
        _missing(frame, list(layout.columns), failed, counts, "success_false")
        if "RVS_WARN" in frame:
            warn = ~failed & (frame["RVS_WARN"].to_numpy() != 0)
            _missing(frame, list(layout.columns), warn, counts, "rvs_warn")
    for c in values:
        v = frame[c].to_numpy(float)
        sentinel = v <= SENTINEL_MAX
        if sentinel.any():
            err = [e for e in (f"{c}_ERR", f"{c}_IVAR") if e in frame]
            _missing(frame, [c, *err], sentinel, counts, "sentinel_values")
    counts.setdefault("sentinel_values", 0)


def read_vac(paths, kind, primary: pd.DataFrame | None = None, counts: dict | None = None,
             bh_estimator=DEFAULT_BH_ESTIMATOR, mws_pipeline="rvspecfit") -> pd.DataFrame:
    """A DESI VAC of `kind` ('fastspec', 'cigale', 'mws', 'bhmass') from one or several files (or globs).

    Returns one row per TARGETID with the layout's output columns (e.g. LOGM, LOGM_ERR for CIGALE;
    TEFF, TEFF_ERR ... for MWS; LOGMBH, LOGMBH_ERR [dex(Msun)] for the Mg II VAC; {LINE}_EW/_CONT with
    _IVAR for FastSpecFit, EW in Å, continua in 1e-17 erg s⁻¹ cm⁻² Å⁻¹), values failing the VAC's gates
    missing. MWS values come from RVSpecfit (RVTAB) or, with ``mws_pipeline='ferre'``, from FERRE
    (SPTAB, errors from the COVAR diagonal). `primary` (the redshift catalogue) restricts the rows
    to its targets and picks each target's primary (SURVEY, PROGRAM) row; `counts` receives the rows
    read, dropped and gated.
    """
    if kind not in VAC_KINDS:
        raise ValueError(f"unknown VAC kind '{kind}'; known: {', '.join(VAC_KINDS)}")
    if mws_pipeline not in MWS_PIPELINES:
        raise ValueError(f"unknown MWS pipeline '{mws_pipeline}'; known: {', '.join(MWS_PIPELINES)}")
    ferre = kind == "mws" and mws_pipeline == "ferre"
    tally = {"rows_read": 0, "not_primary": 0}
    keep_ids = None if primary is None else primary["TARGETID"].to_numpy(np.int64)
    frames, layouts = [], set()
    for path in expand_paths(paths):
        if ferre:
            layouts.add(_FERRE.name)
            frames.append(_in_label_units(_read_ferre(path, keep_ids, tally), path, "SPTAB", {t: t for t in _STAR}))
            continue
        found = _detect(path, kind, bh_estimator)
        layouts.add(found.layout.name)
        rows = _read_rows(path, found, keep_ids, tally).rename(columns={v: k for k, v in found.layout.columns.items()})
        frames.append(_in_label_units(rows, path, found.hdu, found.layout.columns, skip_zero=kind == "cigale"))
    if not frames:
        raise InputError(f"no {kind} VAC file given")
    if len(layouts) > 1:
        raise InputError(f"{kind} VAC files of different layouts given together: {', '.join(sorted(layouts))}")
    frame = pd.concat(frames, ignore_index=True)
    frame["TARGETID"] = frame["TARGETID"].astype(np.int64)
    frame = _join_primary(frame, primary, ", ".join(expand_paths(paths)), tally).reset_index(drop=True)
    layout = _FERRE if ferre else next(ly for ly in vac_layouts(kind, bh_estimator) if ly.name in layouts)
    _gate(kind, layout, frame, tally)
    mask_implausible(frame, tally)
    if counts is not None:
        counts.update({"layout": layout.name, **tally})
    return frame[["TARGETID", *layout.columns]]
