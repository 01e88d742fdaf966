"""Build the mock tables: train (synthetic), test_synth, test_real and jpas_unlabelled.

Streams DESI coadd files one at a time (one Parquet part per file, so a rerun resumes),
then writes the four Parquet tables, ``manifest.json`` and a QA plot. Not for the
physics of the photometry (see `synthetic`, `errors`, `tokens`).
"""
from __future__ import annotations

import json
import logging
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
from ..io.desi import iter_coadd_files, read_redshift_catalogue, read_vac
from ..io.files import atomic_path, write_json, write_parquet
from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, read_jpas_catalogue
from ..io.tables import InputError
from ..photometry import C_ANGSTROM_PER_S, ab_magnitude
from ..tokens import catalogue_tokens, legacy_magnitude_tokens, narrow_band_tokens
from ..vocabulary import DEFAULT_VOCABULARY as VOCAB
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
    """Paths of the DESI and J-PAS files a mock build reads (real or synthetic-sky files)."""

    desi_zcatalog: str
    desi_spectra: list
    jpas_catalogue: str
    desi_fastspec: str | None = None
    desi_cigale: str | None = None
    desi_mws: str | None = None
    desi_bhmass: str | None = None
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


def _part_rows(block, zcat_index, zcat, matched, real, vacs, error_model, photometry, rng):
    """Token rows of the DESI targets in one coadd file (train and test_synth)."""
    rows = zcat_index.reindex(block.targetid).to_numpy()
    keep = np.isfinite(rows)
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
    return frame[usable & (np.isfinite(err).sum(axis=1) >= MIN_NB_OBSERVED)]


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


def build_mocks(inputs: MockInputs, out_dir, seed=42, radius_arcsec=1.0) -> dict:
    """Build (or resume) the mock tables in `out_dir`; returns the manifest.

    Parameters
    ----------
    inputs : MockInputs
    out_dir : path
    seed : int
        Seeds the noise of every coadd file's mocks (deterministic per file).
    radius_arcsec : float
        Cross-match radius J-PAS × DESI.
    """
    out_dir = Path(out_dir)
    parts_dir = out_dir / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jpas = read_jpas_catalogue(inputs.jpas_catalogue, prefix=inputs.jpas_prefix, filters=inputs.jpas_filters,
                               flags_threshold=inputs.jpas_flags_threshold)
    n_read = len(jpas)
    jpas = jpas[(jpas["N_NB_OBSERVED"] >= MIN_NB_OBSERVED) & (jpas["FNU_iSDSS"] > 0)].reset_index(drop=True)
    real = catalogue_tokens(jpas)
    zcat = read_redshift_catalogue(inputs.desi_zcatalog)
    j_idx, d_idx, sep = crossmatch(real["RA"], real["DEC"], zcat["TARGET_RA"], zcat["TARGET_DEC"], radius_arcsec)
    matched = pd.Series(j_idx, index=zcat["TARGETID"].to_numpy()[d_idx])
    log.info("J-PAS %d objects (%d with >= %d NB), DESI %d, matched %d",
             n_read, len(jpas), MIN_NB_OBSERVED, len(zcat), len(j_idx))
    wavelength = np.array([VOCAB[b].pivot_wavelength for b in _NB])
    error_model = RealErrorModel(_nb_matrix(real), _nb_matrix(real, "_ERR"), real["MAG_i"].to_numpy(),
                                 real["MAG_i_ERR"].to_numpy(), wavelength)
    vacs = {}
    for kind, path in (("fastspec", inputs.desi_fastspec), ("cigale", inputs.desi_cigale),
                       ("mws", inputs.desi_mws), ("bhmass", inputs.desi_bhmass)):
        if path:
            vacs[kind] = read_vac(path, kind).set_index("TARGETID")
    zcat_index = pd.Series(np.arange(len(zcat)), index=zcat["TARGETID"].to_numpy())
    photometry = CoaddPhotometry()

    spectra = sorted(inputs.desi_spectra)
    if not spectra:
        raise InputError("no DESI coadd spectra files given")
    part_paths = [parts_dir / f"{i:05d}-{Path(p).stem}.parquet" for i, p in enumerate(spectra)]
    todo = [i for i, p in enumerate(part_paths) if not p.exists()]
    with tqdm(total=len(spectra), initial=len(spectra) - len(todo), unit="file", desc="mocks") as bar:
        for i, block in zip(todo, iter_coadd_files([spectra[i] for i in todo])):
            rng = np.random.default_rng([seed, i])
            frame = _part_rows(block, zcat_index, zcat, matched, real, vacs, error_model, photometry, rng)
            write_parquet(part_paths[i], frame if frame is not None else pd.DataFrame())
            bar.update(1)

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
    write_parquet(out_dir / "test_real.parquet", test_real)

    unmatched = np.setdiff1d(np.arange(len(real)), j_idx)
    unlabelled = real.iloc[unmatched].reset_index(drop=True)
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
        "seconds": round(time.time() - t0, 1),
    }
    assert manifest["files"][0]["rows"] == n_train
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _class_counts(frame):
    counts = frame["SPECTYPE"].fillna("UNKNOWN").value_counts()
    return {str(k): int(v) for k, v in counts.items()}
