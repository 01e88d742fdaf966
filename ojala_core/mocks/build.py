"""Build the mock tables: train (synthetic), test_synth, test_real and jpas_unlabelled.

Streams DESI coadd files one at a time (one Parquet part per file, so a rerun resumes),
then writes the four Parquet tables (the real ones on the synthetic system through the zero
points fitted on the matched stars, ``zero_points.json``), ``manifest.json`` and a QA plot. Not for the
physics of the photometry (see `synthetic`, `errors`, `tokens`).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .. import __version__
from ..filters import load_filter
from ..io.desi import (
    Footprint,
    RedshiftCuts,
    check_coadd_file,
    coadd_targetids,
    expand_paths,
    iter_coadd_files,
    primary_coadd_rows,
    read_redshift_catalogue,
)
from ..io.desi_vacs import DEFAULT_BH_ESTIMATOR, read_vac
from ..io.files import atomic_path, check_output_folder, file_identity, remove_stale_partials, write_json, write_parquet
from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, read_jpas_catalogue
from ..io.tables import InputError
from ..photometry import C_ANGSTROM_PER_S, ab_magnitude
from ..tokens import catalogue_tokens, legacy_magnitude_tokens, narrow_band_tokens
from ..vocabulary import DEFAULT_VOCABULARY as VOCAB
from ..zero_points import ZERO_POINTS_FILE, ZeroPoints
from .crossmatch import crossmatch
from .errors import RealErrorModel
from .synthetic import SYNTHETIC_BANDS, CoaddPhotometry
from .tokens import label_tokens

__all__ = ["MockInputs", "build_mocks", "MOCK_SPLITS", "MIN_NB_OBSERVED"]

log = logging.getLogger(__name__)

MOCK_SPLITS = ("train", "test_synth", "test_real", "jpas_unlabelled")
MIN_NB_OBSERVED = 50
_NB = VOCAB.narrow_bands
_I_PIVOT = load_filter("iSDSS").pivot_wavelength


@dataclass
class MockInputs:
    """Paths of the DESI and J-PAS files a mock build reads (real or synthetic-sky files).

    Every ``desi_*`` input is a path, a glob, or a list of them (FastSpecFit v3.0 ships 24
    ``nside1-hpNN`` files); `redshift_cuts` are optional DESI good-z cuts and `bh_estimator` the
    Mg II VAC's mass column (``LOGMASS_{bh_estimator}``); `mws_pipeline` picks the MWS parameters.
    """

    desi_zcatalog: str | list
    desi_spectra: list
    jpas_catalogue: str
    desi_fastspec: str | list | None = None
    desi_cigale: str | list | None = None
    desi_mws: str | list | None = None
    desi_bhmass: str | list | None = None
    redshift_cuts: RedshiftCuts = field(default_factory=RedshiftCuts)
    bh_estimator: str = DEFAULT_BH_ESTIMATOR
    mws_pipeline: str = "rvspecfit"          # or "ferre" (SPTAB, errors from COVAR)
    jpas_prefix: str = "APER_COR_3_0"
    jpas_filters: str | None = None          # filter table of archive array columns (see io.jpas)
    jpas_flags_threshold: int = DEFAULT_FLAGS_THRESHOLD
    source_manifest: dict = field(default_factory=dict)

    @classmethod
    def from_sky(cls, sky_dir, jpas_prefix="APER_COR_3_0", jpas_filters=None,
                 jpas_flags_threshold=DEFAULT_FLAGS_THRESHOLD):
        """Inputs of a sky made by ``ojala sky`` (paths from its manifest)."""
        sky_dir = Path(sky_dir)
        manifest_path = sky_dir / "manifest.json"
        if not manifest_path.exists():
            raise InputError(f"{manifest_path}: not found; is {sky_dir} a sky built by 'ojala sky'?")
        manifest = json.loads(manifest_path.read_text())
        files = {f["key"]: sky_dir / f["path"] for f in manifest["files"] if f["key"] != "desi_coadd"}
        spectra = [str(sky_dir / f["path"]) for f in manifest["files"] if f["key"] == "desi_coadd"]
        return cls(desi_zcatalog=str(files["desi_zcatalog"]), desi_spectra=spectra,
                   jpas_catalogue=str(files["jpas_catalogue"]), desi_fastspec=str(files["desi_fastspec"]),
                   desi_cigale=str(files["desi_cigale"]), desi_mws=str(files["desi_mws"]),
                   desi_bhmass=str(files["desi_bhmass"]), jpas_prefix=jpas_prefix,
                   jpas_filters=jpas_filters, jpas_flags_threshold=jpas_flags_threshold,
                   source_manifest={k: manifest[k] for k in ("preset", "seed", "version", "counts")})


def _nb_matrix(frame, suffix=""):
    return frame[[f"{b}{suffix}" for b in _NB]].to_numpy(float)


def _part_rows(block, zcat_index, zcat, matched, real, vacs, error_model, photometry, rng, dropped):
    """Token rows of the DESI targets in one coadd file (train and test_synth); `dropped` counts the others."""
    rows = zcat_index.reindex(block.targetid).to_numpy()
    keep = primary_coadd_rows(block, zcat, rows)
    dropped["spectra"] += len(keep)
    dropped["not_in_redshift_catalogue"] += int((~np.isfinite(rows)).sum())
    dropped["not_primary_coadd"] += int((np.isfinite(rows) & ~keep).sum())
    nan_spectrum = np.zeros(len(keep), dtype=bool)
    for _, flux, ivar in block.cameras.values():
        nan_spectrum |= (~np.isfinite(flux) & (ivar != 0)).any(axis=1)
    dropped["nan_spectra"] += int(nan_spectrum.sum())
    if not keep.any():
        return None
    rows = rows[keep].astype(int)
    fnu, _ = photometry.fnu(block.cameras)
    fnu = fnu[keep]
    z = zcat.iloc[rows].reset_index(drop=True)
    fnu_i = fnu[:, SYNTHETIC_BANDS.index("iSDSS")]
    fnu_r = fnu[:, SYNTHETIC_BANDS.index("DECam_r")]
    nb = narrow_band_tokens(fnu[:, :len(_NB)], np.zeros((len(z), len(_NB))), fnu_i)
    legacy = legacy_magnitude_tokens(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        # DESI spectra are fibre light: rescale to total with the Legacy r flux.
        mag_i = ab_magnitude(fnu_i) + (legacy["MAG_R"] - ab_magnitude(fnu_r))
    usable = np.isfinite(mag_i) & np.isfinite(fnu_i) & (fnu_i > 0)
    isdss_flambda = fnu_i * C_ANGSTROM_PER_S / _I_PIVOT ** 2 / 1e-17
    labels = label_tokens(z, vacs, isdss_flambda)

    ratio = np.column_stack([nb[b] for b in _NB])
    jpas_row = matched.reindex(z["TARGETID"].to_numpy()).to_numpy()
    is_test = np.isfinite(jpas_row)
    noisy = np.full_like(ratio, np.nan)
    err = np.full_like(ratio, np.nan)
    mag_err = np.full(len(z), np.nan)
    train = usable & ~is_test
    if train.any():
        noisy[train], err[train], mag_err[train], _ = error_model.perturb(rng, ratio[train], mag_i[train])
    if is_test.any():
        # Test-Synth: synthetic fluxes perturbed with the matched object's own real errors.
        own = real.iloc[jpas_row[is_test].astype(int)]
        err[is_test] = _nb_matrix(own, "_ERR")
        noisy[is_test] = ratio[is_test] + err[is_test] * rng.standard_normal(err[is_test].shape)
        mag_err[is_test] = own["MAG_i_ERR"].to_numpy()
    # Same rule as for real catalogues: a non-positive flux is a non-detection (missing
    # value) in an observed band (the error stays).
    noisy[~(noisy > 0)] = np.nan
    jpas_ids = np.full(len(z), "", dtype=object)
    jpas_ids[is_test] = real["JPAS_ID"].to_numpy()[jpas_row[is_test].astype(int)]
    table = {"TARGETID": z["TARGETID"].to_numpy(np.int64), "JPAS_ID": jpas_ids,
             "RA": z["TARGET_RA"].to_numpy(), "DEC": z["TARGET_DEC"].to_numpy(),
             "SPLIT": np.where(is_test, "test_synth", "train"), "DOMAIN": "synthetic"}
    for j, b in enumerate(_NB):
        table[b], table[f"{b}_ERR"] = noisy[:, j], err[:, j]
    table["MAG_i"] = mag_i + np.nan_to_num(mag_err) * rng.standard_normal(len(z))
    table["MAG_i_ERR"] = mag_err
    table.update(legacy)
    table["MORPHTYPE"] = z["MORPHTYPE"].to_numpy() if "MORPHTYPE" in z else None
    table.update(labels)
    frame = pd.DataFrame(table)
    few = np.isfinite(err).sum(axis=1) < MIN_NB_OBSERVED
    dropped["no_synthetic_photometry"] += int((~usable).sum())
    dropped["few_bands"] += int((usable & few).sum())
    return frame[usable & ~few]


def _write_concatenated(parts, path, select=None):
    """Stream Parquet parts into one file (row groups of one part at a time)."""
    writer = None
    rows = 0
    with atomic_path(path) as tmp:
        for part in parts:
            table = pq.read_table(part)
            if select is not None:
                table = table.filter(select(table))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
            rows += table.num_rows
        if writer is not None:
            writer.close()
    return rows


def build_mocks(inputs: MockInputs, out_dir, seed=42, radius_arcsec=1.0, scheduler=None) -> dict:
    """Build (or resume) the mock tables in `out_dir`; returns the manifest.

    Parameters
    ----------
    inputs : MockInputs
    out_dir : path
    seed : int
        Seeds the noise of every coadd file's mocks (deterministic per file).
    radius_arcsec : float
        Cross-match radius J-PAS × DESI.
    scheduler : None, ``"local"`` or a Dask scheduler address
        Where the cross-match's HEALPix pixels are matched (see `crossmatch`).
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    parts_dir = out_dir / "parts"
    t0 = time.time()
    jpas = read_jpas_catalogue(inputs.jpas_catalogue, prefix=inputs.jpas_prefix, filters=inputs.jpas_filters,
                               flags_threshold=inputs.jpas_flags_threshold)
    n_read = len(jpas)
    jpas = jpas[(jpas["N_NB_OBSERVED"] >= MIN_NB_OBSERVED) & (jpas["FNU_iSDSS"] > 0)].reset_index(drop=True)
    real = catalogue_tokens(jpas)
    # The zall table holds every DR1 target: keep those of the coadds given (the training set) and
    # those in the J-PAS footprint plus the match radius (the cross-match).
    zcat_counts = {}
    zcat = read_redshift_catalogue(inputs.desi_zcatalog, footprint=Footprint.around(real["RA"], real["DEC"],
                                   radius_arcsec), cuts=inputs.redshift_cuts, counts=zcat_counts,
                                   targetids=coadd_targetids(sorted(inputs.desi_spectra)))
    # The cross-match's per-pixel files: in the system's temporary folder, or in out_dir where Dask workers see them.
    workdir = None
    if scheduler is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(".crossmatch-*"):          # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        workdir = out_dir
    j_idx, d_idx, sep = crossmatch(real["RA"], real["DEC"], zcat["TARGET_RA"], zcat["TARGET_DEC"], radius_arcsec,
                                   workdir=workdir, scheduler=scheduler)
    matched = pd.Series(j_idx, index=zcat["TARGETID"].to_numpy()[d_idx])
    log.info("J-PAS %d objects (%d with >= %d NB), DESI %d, matched %d",
             n_read, len(jpas), MIN_NB_OBSERVED, len(zcat), len(j_idx))
    wavelength = np.array([VOCAB[b].pivot_wavelength for b in _NB])
    error_model = RealErrorModel(_nb_matrix(real), _nb_matrix(real, "_ERR"), real["MAG_i"].to_numpy(),
                                 real["MAG_i_ERR"].to_numpy(), wavelength)
    vacs, label_gates = {}, {}
    for kind, path in (("fastspec", inputs.desi_fastspec), ("cigale", inputs.desi_cigale),
                       ("mws", inputs.desi_mws), ("bhmass", inputs.desi_bhmass)):
        if path:
            label_gates[kind] = {}
            vacs[kind] = read_vac(path, kind, primary=zcat, counts=label_gates[kind],
                                  bh_estimator=inputs.bh_estimator,
                                  mws_pipeline=inputs.mws_pipeline).set_index("TARGETID")
    zcat_index = pd.Series(np.arange(len(zcat)), index=zcat["TARGETID"].to_numpy())
    photometry = CoaddPhotometry()

    spectra = sorted(inputs.desi_spectra)
    if not spectra:
        raise InputError("no DESI coadd spectra files given — give --desi-spectra FILES (or --sky DIR)")
    for path in spectra:
        check_coadd_file(path)
    # Everything above only reads; from here on out_dir is written.
    run = _run_record(inputs, spectra, seed, radius_arcsec)
    _start_or_resume(parts_dir, run)
    part_paths = [parts_dir / f"{i:05d}-{Path(p).stem}.parquet" for i, p in enumerate(spectra)]
    records = [p.with_suffix(".json") for p in part_paths]
    made_from = [{"run": run["sha256"], "spectra": file_identity(p)} for p in spectra]
    done = {i: _read_json(r) for i, r in enumerate(records) if part_paths[i].exists() and r.exists()}
    done = {i: r for i, r in done.items() if r is not None and r.get("made_from") == made_from[i]}
    todo = [i for i in range(len(spectra)) if i not in done]
    if done:
        log.warning("%s: reused %d finished part(s) made from the same inputs and options", parts_dir, len(done))
    with tqdm(total=len(spectra), initial=len(spectra) - len(todo), unit="file", desc="mocks") as bar:
        for i, block in zip(todo, iter_coadd_files([spectra[i] for i in todo])):
            rng = np.random.default_rng([seed, i])
            dropped = dict.fromkeys(_DROP_REASONS, 0)
            frame = _part_rows(block, zcat_index, zcat, matched, real, vacs, error_model, photometry, rng, dropped)
            records[i].unlink(missing_ok=True)
            write_parquet(part_paths[i], frame if frame is not None else pd.DataFrame())
            done[i] = {"made_from": made_from[i], "dropped": dropped}
            write_json(records[i], done[i])      # last: a part without its record is made again
            if dropped["nan_spectra"]:
                log.warning("%s: %d spectra hold NaN fluxes in unmasked pixels", spectra[i], dropped["nan_spectra"])
            bar.update(1)
    dropped = {k: sum(done[i]["dropped"].get(k, 0) for i in done) for k in _DROP_REASONS}

    parts = [p for p in part_paths if pq.ParquetFile(p).metadata.num_rows > 0]
    n_train = _write_concatenated(parts, out_dir / "train.parquet",
                                  select=lambda t: pa.compute.equal(t["SPLIT"], "train"))
    test_synth = pd.concat([pd.read_parquet(p, filters=[("SPLIT", "==", "test_synth")]) for p in parts],
                           ignore_index=True)
    write_parquet(out_dir / "test_synth.parquet", test_synth)

    # Test-Real: the same objects and DESI labels, with their real J-PAS photometry.
    photometric = [c for c in real.columns if c not in ("JPAS_ID", "RA", "DEC")]
    own = real.set_index("JPAS_ID").loc[test_synth["JPAS_ID"], photometric].reset_index(drop=True)
    test_real = test_synth.copy()
    test_real[photometric] = own.to_numpy()
    test_real["SPLIT"], test_real["DOMAIN"] = "test_real", "real"
    # The catalogue's photometry put on the synthetic system by zero points fitted on the matched
    # stars (photometry only, no label but the DESI class that picks the stars).
    zero_points = ZeroPoints.fit(test_real, test_synth)
    zero_points.save(out_dir / ZERO_POINTS_FILE)
    log.info("zero points: %s", zero_points.summary())
    write_parquet(out_dir / "test_real.parquet", zero_points.apply(test_real))

    unmatched = np.setdiff1d(np.arange(len(real)), j_idx)
    unlabelled = zero_points.apply(real.iloc[unmatched].reset_index(drop=True))
    unlabelled.insert(0, "TARGETID", np.int64(-1))
    unlabelled["SPLIT"], unlabelled["DOMAIN"] = "jpas_unlabelled", "real"
    write_parquet(out_dir / "jpas_unlabelled.parquet", unlabelled)

    counts = {"train": _class_counts(pq.read_table(out_dir / "train.parquet", columns=["SPECTYPE"]).to_pandas()),
              "test_synth": _class_counts(test_synth), "test_real": _class_counts(test_real),
              "jpas_unlabelled": {"ALL": len(unlabelled)}}
    manifest = {
        "version": __version__, "seed": seed, "radius_arcsec": radius_arcsec,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {**{k: v for k, v in asdict(inputs).items() if k not in ("desi_spectra", "source_manifest")},
                   "n_spectra_files": len(spectra), "source_manifest": inputs.source_manifest},
        "crossmatch": {"jpas_read": n_read, "jpas_with_min_nb": len(jpas), "desi": len(zcat),
                       "matched": int(len(j_idx)),
                       "median_separation_arcsec": float(np.median(sep)) if len(sep) else None},
        "files": [{"split": s, "path": f"{s}.parquet",
                   "rows": pq.ParquetFile(out_dir / f"{s}.parquet").metadata.num_rows}
                  for s in MOCK_SPLITS],
        "counts_by_class": counts,
        "redshift_catalogue": zcat_counts, "label_gates": label_gates,
        "dropped_spectra": dropped, "reused_parts": len(spectra) - len(todo),
        "zero_points": {"path": ZERO_POINTS_FILE, "applied_to": ["test_real", "jpas_unlabelled"],
                        "summary": zero_points.summary(), "offsets": zero_points.offsets},
        "seconds": round(time.time() - t0, 1),
    }
    assert manifest["files"][0]["rows"] == n_train
    write_json(out_dir / "manifest.json", manifest)
    return manifest


_DROP_REASONS = ("spectra", "not_in_redshift_catalogue", "not_primary_coadd", "nan_spectra",
                 "no_synthetic_photometry", "few_bands")
_RUN_RECORD = "run.json"


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _run_record(inputs: MockInputs, spectra, seed, radius_arcsec) -> dict:
    """What the parts are made from: identities of every input file, and the options (with their hash)."""
    import hashlib

    files = {k: ([file_identity(p) for p in expand_paths(v)] if v else None) for k, v in asdict(inputs).items()
             if k in ("desi_zcatalog", "jpas_catalogue", "desi_fastspec", "desi_cigale", "desi_mws", "desi_bhmass")}
    record = {"files": files, "spectra": [file_identity(p) for p in spectra],
              "options": {"seed": seed, "radius_arcsec": radius_arcsec, "jpas_prefix": inputs.jpas_prefix,
                          "jpas_filters": None if inputs.jpas_filters is None else str(inputs.jpas_filters),
                          "jpas_flags_threshold": inputs.jpas_flags_threshold,
                          "redshift_cuts": asdict(inputs.redshift_cuts), "bh_estimator": inputs.bh_estimator,
                          "mws_pipeline": inputs.mws_pipeline}}
    record["sha256"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return record


def _start_or_resume(parts_dir: Path, run: dict):
    """Refuse parts made from other inputs (another sky, another seed); remove stale temporary files."""
    previous_path = parts_dir / _RUN_RECORD
    previous = _read_json(previous_path) if previous_path.exists() else None
    has_parts = parts_dir.is_dir() and any(parts_dir.glob("*.parquet"))
    where = parts_dir.parent
    if previous is None and has_parts:
        raise InputError(f"{where}: holds mock parts without a record of what they were made from (an older "
                         "'ojala mocks') — give a new --out, or delete the folder to start fresh")
    if previous is not None and previous.get("sha256") != run["sha256"]:
        differ = [k for k in ("files", "spectra", "options") if previous.get(k) != run[k]]
        raise InputError(f"{where}: holds mocks made from other {' and '.join(differ) or 'inputs'} — give a new "
                         "--out, or delete the folder to start fresh (a rerun with the same inputs resumes it)")
    stale = remove_stale_partials(where)
    if stale:
        log.warning("%s: removed %d temporary file(s) left by an interrupted run", where, len(stale))
    if previous is None:
        write_json(previous_path, run)


def _class_counts(frame):
    counts = frame["SPECTYPE"].fillna("UNKNOWN").value_counts()
    return {str(k): int(v) for k, v in counts.items()}
