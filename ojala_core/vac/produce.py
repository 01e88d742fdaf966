"""Produce the VAC of a J-PAS catalogue: stream it in partitions, predict, derive, classify, map.

Each input partition becomes ``catalogue/part-NNNNN.parquet`` (every input column kept,
predictions, derived quantities, quality flags) and ``embeddings/part-NNNNN.npy``; a rerun
skips finished partitions. One file is streamed in ``chunk_rows`` partitions; a folder or
glob of files (partitioned input) is one partition per file, run through Dask (a local
cluster, or a scheduler address). A final pass over all embeddings adds the outlier score,
the stored UMAP coordinates and the FAISS similarity index (optionally FITS copies).
Not for reports (see `ojala_core.validation`).
"""
from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import __version__
from ..calibration import CALIBRATION_FILE
from ..io.files import (
    atomic_path,
    check_output_folder,
    file_identity,
    files_sha256,
    remove_stale_partials,
    write_json,
    write_parquet,
)
from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, catalogue_ids, count_table_rows, iter_jpas_catalogue
from ..io.jpas_layout import CatalogueLayout
from ..io.tables import InputError
from ..model.compiled import check_compiler
from ..model.inference import predict
from ..model.pretrained import Ojala
from ..tokens import catalogue_tokens
from ..vocabulary import CLASS, DEFAULT_VOCABULARY
from ..zero_points import ZeroPoints
from .columns import derived_columns, passive_threshold_of
from .embedding_map import MAP_NEIGHBOURS, UMAP_FIT_ROWS
from .export import export_table
from .reference import (
    OUTSIDE_QUANTILE,
    EmbeddingReference,
    load_model_reference,
    load_reference,
    partition_columns,
)
from .similarity import NPROBE, OUTLIER_K, EmbeddingIndex, make_index, training_rows
from .store import ROW_GROUP_ROWS

__all__ = ["produce_vac", "catalogue_files", "QUALITY_FLAGS", "MIN_NB_FOR_GOOD"]

log = logging.getLogger(__name__)

MIN_NB_FOR_GOOD = 50
# Bit flags of QUALITY_FLAG: why a row was not predicted, or is predicted from less.
# BAD_COORDINATES: RA outside [0, 360) deg, |DEC| > 90 deg or not finite (still predicted: photometry is fine).
# OUTSIDE_TRAINING is set by the final pass, against the model's reference set (see `reference`).
QUALITY_FLAGS = {"DUPLICATE_ID": 1, "NO_PHOTOMETRY": 2, "FEW_BANDS": 4, "NO_ISDSS": 8, "BAD_COORDINATES": 16,
                 "OUTSIDE_TRAINING": 32}
# What a finished partition was made from: resume/part-NNNNN.json beside catalogue/ and embeddings/.
RUN_RECORD = "run.json"
_TABLE_SUFFIXES = (".parquet", ".pq", ".fits", ".fit", ".csv")
# Small row groups (store.ROW_GROUP_ROWS) let the explorer read one object's full row without its partition.


def catalogue_files(catalogue) -> list[Path]:
    """The files of a catalogue given as a file, a folder of table files or a glob pattern."""
    path = Path(catalogue)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _TABLE_SUFFIXES)
    elif path.exists():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(str(catalogue)))
    if not files:
        raise InputError(f"{catalogue}: no catalogue file (CSV, FITS or Parquet) found — check the path or glob")
    return files


def produce_vac(model_dir, catalogue, out_dir, prefix="APER_COR_3_0", chunk_rows=50_000, batch_size=256,
                id_column=None, scheduler=None, fits=False, umap_fit_rows=UMAP_FIT_ROWS, seed=42,
                jpas_filters=None, flags_threshold=DEFAULT_FLAGS_THRESHOLD, workers=None,
                precision="float32", zero_points=None, compiled=False) -> dict:
    """Write the VAC of `catalogue` with the model in `model_dir` into `out_dir`; returns its manifest.

    `catalogue` is one file (streamed in `chunk_rows` partitions, unless `scheduler` is
    given) or a folder/glob of files (one partition per file, through Dask). `scheduler`:
    None, ``"local"`` (a local Dask cluster) or a Dask scheduler address. `fits` also
    writes ``fits/part-NNNNN.fits`` beside every Parquet partition. `jpas_filters` names the
    filter table of archive array columns and `flags_threshold` the SExtractor FLAGS from which
    a band is missing (see `ojala_core.io.jpas.read_jpas_catalogue`). `workers`: processes that
    predict the partitions of one streamed file (default: one per core, each on one thread, for a
    file of at least `POOL_MIN_ROWS` rows; 1 runs them in this process). `precision`: ``"float32"``
    (eager, the default) or ``"bfloat16"`` (see `ojala_core.model.inference.PRECISIONS`); `compiled` runs
    the network as one compiled pass per worker (`ojala_core.model.compiled`: needs a C++ compiler,
    ~10-40 s of compiling per worker; with bfloat16 the fastest path, within bfloat16's tolerance).
    `zero_points` (`ojala_core.zero_points.ZeroPoints`, e.g. the mocks' ``zero_points.json``) puts the
    catalogue's photometry on the synthetic system the model was trained in; the manifest records them.

    With a model reference set (``ojala index``) every partition is complete when first written
    (OUTLIER_SCORE, UMAP_X/UMAP_Y and the OUTSIDE_TRAINING bit come from the reference) and the
    final pass only builds the similarity index; without one, the final pass fits the VAC's own
    map and rewrites each partition once with those columns.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    files = catalogue_files(catalogue)
    t0 = time.time()
    # Everything that can be refused is refused before anything is written to out_dir.
    _load_model(str(model_dir))
    if compiled:
        check_compiler()
    for path in files:
        CatalogueLayout(path, prefix, jpas_filters, id_column)
    rows = sum(count_table_rows(f) for f in files)
    if rows == 0:
        raise InputError(f"{catalogue}: the catalogue is empty — give a catalogue with rows")
    streamed = len(files) == 1 and scheduler is None
    run = _run_record(model_dir, files, dict(prefix=prefix, id_column=id_column, filters=_jsonable(jpas_filters),
                                             flags_threshold=flags_threshold,
                                             chunk_rows=chunk_rows if streamed else None, precision=precision,
                                             # absent when off: VACs made before these options still resume
                                             **({"compiled": True} if compiled else {}),
                                             **({} if zero_points is None else {"zero_points": zero_points.to_dict()})))
    reference = load_model_reference(model_dir)
    job = dict(model_dir=str(model_dir), prefix=prefix, id_column=id_column, batch_size=batch_size,
               out_dir=str(out_dir), filters=jpas_filters, flags_threshold=flags_threshold, run=run["sha256"],
               run_record=run, chunk_rows=chunk_rows, precision=precision, compiled=bool(compiled), fits=bool(fits),
               reference=None if reference is None else str(reference), zero_points=run["options"].get("zero_points"))
    # Every row is read and checked (units, values, flags) before the first partition is written:
    # a bad value in the last file is refused without leaving a half-made VAC behind.
    if streamed:
        _check_photometry(str(files[0]), job)
        _start_or_resume(out_dir, run)
        results = _stream_file(files[0], chunk_rows, job, _workers(workers, rows))
    else:
        results = _run_partitions_dask(files, scheduler or "local", job, start=lambda: _start_or_resume(out_dir, run))
    summary = {"rows": 0, "predicted": 0, **{name.lower(): 0 for name in QUALITY_FLAGS}, "masked_band_values": 0,
               **{key: 0 for key in INPUT_KINDS}}
    for result in results:
        for key in summary:
            summary[key] += result["summary"][key]
    if summary["rows"] == 0:
        raise InputError(f"{catalogue}: the catalogue is empty")
    reused = [r["path"] for r in results if r.get("reused")]
    if reused:
        log.warning("%s: reused %d finished partition(s) made from the same catalogue, model and options: %s",
                    out_dir, len(reused), ", ".join(Path(p).stem for p in reused))
    parts = [{k: r[k] for k in ("path", "rows", "first_row", "source", "band_units")} for r in results]
    final = _final_pass(out_dir, parts, reference, umap_fit_rows, seed, fits,
                        None if len(files) == 1 and scheduler is None else scheduler or "local")
    if final["outside_training"] is None:
        summary["outside_training"] = 0
    elif final["outside_training"]["objects"] is None:            # counted when the partitions were written
        final["outside_training"]["objects"] = summary["outside_training"]
    else:
        summary["outside_training"] = final["outside_training"]["objects"]
    manifest = {"version": __version__, "model": str(model_dir), "catalogue": str(catalogue), "prefix": prefix,
                "jpas_filters": None if jpas_filters is None else str(jpas_filters), "flags_threshold": flags_threshold,
                "targets": vac_targets(_load_model(str(model_dir))),
                "embedding_dim": int(np.load(out_dir / "embeddings" / "part-00000.npy", mmap_mode="r").shape[1]),
                "quality_flags": QUALITY_FLAGS, "summary": summary, "partitions": parts,
                "sparse_inputs": _missing_inputs(summary, catalogue),
                "calibration": _calibration_record(_load_model(str(model_dir))),
                "scheduler": scheduler, "workers": _workers(workers, rows) if streamed else None,
                "precision": precision, "compiled": bool(compiled), "fits": bool(fits), "reused_partitions": reused,
                "zero_points": run["options"].get("zero_points"),
                **final,
                "seconds": round(time.time() - t0, 1)}
    write_json(out_dir / "manifest.json", manifest)
    return manifest


class SeenIds:
    """The object ids met so far, as sorted 64-bit hashes (8 bytes per object, not a Python string each).

    `add` returns, for a chunk of ids, which repeat an id of an earlier chunk or of earlier rows of
    the chunk (the first occurrence is not a duplicate). Two different ids share a 64-bit hash with
    probability about N²/2⁶⁵ (3e-6 for 10⁷ objects): such a pair would be flagged DUPLICATE_ID.
    """

    def __init__(self):
        self._sorted = np.zeros(0, dtype=np.uint64)

    def add(self, ids) -> np.ndarray:
        hashes = pd.util.hash_array(np.asarray(ids, dtype=object))
        pos = np.searchsorted(self._sorted, hashes).clip(max=max(len(self._sorted) - 1, 0))
        earlier = (self._sorted[pos] == hashes) if len(self._sorted) else np.zeros(len(hashes), dtype=bool)
        repeated = earlier | pd.Series(hashes).duplicated().to_numpy()
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        self._sorted = np.sort(np.concatenate([self._sorted, np.unique(hashes[~repeated])]), kind="stable")
        return repeated


# Below this many rows a streamed file is predicted in this process by default: starting worker
# processes (importing torch) costs a few seconds.
POOL_MIN_ROWS = 100_000


def _workers(asked: int | None, rows: int) -> int:
    """Worker processes for a streamed file: as asked, else one per core (at most 8) for a large file."""
    import os

    if asked is not None:
        return max(1, int(asked))
    return max(1, min(os.cpu_count() or 1, 8)) if rows >= POOL_MIN_ROWS else 1


def _stream_file(path, chunk_rows, job, workers) -> list[dict]:
    """One file, streamed: partition k = rows [k·chunk_rows, (k+1)·chunk_rows).

    This process reads the file (units are fixed by its first chunk) and finds duplicate ids;
    with `workers` > 1 the partitions are predicted and written by that many processes of one
    thread each (a process per core beats one process on every core: the model's matrices are
    small), at most `workers` + 1 partitions in memory at a time.
    """
    seen = SeenIds()
    results, pending = [], []
    first_row = 0
    rows = count_table_rows(path)
    workers = min(workers, -(-rows // chunk_rows))          # no process for a catalogue of one partition
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(_partition_pool(workers)) if workers > 1 else None
        if pool is None:
            keep_freed_memory()
        bar = stack.enter_context(tqdm(unit="obj", desc="vac", total=rows))

        def collect(future):
            result = future.result()
            bar.update(result["rows"])
            results.append(result)

        for k, (raw, phot) in enumerate(iter_jpas_catalogue(path, job["prefix"], job["id_column"], chunk_rows,
                                                            all_columns=True, filters=job["filters"],
                                                            flags_threshold=job["flags_threshold"])):
            duplicate = seen.add(phot["JPAS_ID"].to_numpy())
            if pool is None:
                results.append(_vac_partition(raw, phot, duplicate, k, first_row, str(path), job))
                bar.update(len(raw))
            else:
                pending.append(pool.submit(_vac_partition, raw, phot, duplicate, k, first_row, str(path), job))
                while len(pending) > workers:
                    collect(pending.pop(0))
            first_row += len(raw)
        for future in pending:
            collect(future)
    return results


@contextlib.contextmanager
def _partition_pool(workers):
    """Worker processes (spawned, one torch/BLAS/FAISS thread each) for the partitions of a streamed file.

    A failing partition raises its own exception here; the others are cancelled.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _one_thread():
    """A VAC worker's settings: one torch and FAISS thread, and freed memory kept by the allocator."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    keep_freed_memory()


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for the next batch instead of returning it to the system.

    Every batch allocates and frees the same tens of MB of tensors. With glibc's defaults, and far
    more with the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nanny gives its workers, each is
    handed back to the system and faulted in again: on one 50,000-row partition (bfloat16, one
    thread) 63 s under Dask's setting (32 s of it system time), 35 s with the defaults, 30 s with
    these (trim at 1 GiB, blocks below 32 MiB from the heap). Applied at run time, so it overrides
    the environment. Returns False where the C library has no ``mallopt`` (not glibc).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all([mallopt(_M_MMAP_THRESHOLD, 32 << 20), mallopt(_M_TRIM_THRESHOLD, 1 << 30),
                mallopt(_M_TOP_PAD, 64 << 20)])


def _check_photometry(path, job) -> None:
    """Read all of `path` as the VAC will (units, values, flags); raises `InputError` on the first bad value."""
    for _ in iter_jpas_catalogue(path, job["prefix"], job["id_column"], job["chunk_rows"], filters=job["filters"],
                                 flags_threshold=job["flags_threshold"]):
        pass


def _gather_or_raise(client, futures, bar=None, rows=None):
    """Results of `futures` in submission order; the first failing task's own exception (one line
    for an InputError) is raised, the others cancelled."""
    from dask.distributed import as_completed

    for future in as_completed(futures):
        if future.status == "error":
            error = future.exception()          # before cancel, which forgets it
            client.cancel(futures)
            raise error
        if bar is not None:
            bar.update(rows(future.result()))
    return [f.result() for f in futures]


def _run_partitions_dask(files, scheduler, job, start) -> list[dict]:
    """One partition per file, as Dask tasks: every file checked first (then `start()`, which
    records the run in the output folder), duplicate ids found across files, then the partitions."""
    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)      # the scheduler's INFO lines are noise here
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL) if scheduler == "local" else None
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            with tqdm(total=len(files), unit="file", desc="vac check") as bar:
                _gather_or_raise(client, [client.submit(_check_photometry, str(f), job, pure=False) for f in files],
                                 bar, lambda _: 1)
            start()
            rows = [count_table_rows(f) for f in files]
            firsts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int)
            seen = SeenIds()
            duplicate = np.concatenate([seen.add(catalogue_ids(f, job["id_column"], int(o)))
                                        for f, o in zip(files, firsts)])
            futures = [client.submit(_file_partition, str(f), k, int(firsts[k]), duplicate[firsts[k]:firsts[k] + n],
                                     job, pure=False)
                       for k, (f, n) in enumerate(zip(files, rows))]
            with tqdm(total=int(sum(rows)), unit="obj", desc="vac (dask)") as bar:
                return _gather_or_raise(client, futures, bar, lambda result: result["rows"])
    finally:
        if cluster is not None:
            cluster.close()


def _file_partition(path, k, first_row, duplicate, job) -> dict:
    """A Dask task: the whole of one input file as partition k."""
    _one_thread()
    (raw, phot), = iter_jpas_catalogue(path, job["prefix"], job["id_column"], chunk_rows=1 << 62, all_columns=True,
                                       filters=job["filters"], flags_threshold=job["flags_threshold"])
    return _vac_partition(raw, phot, np.asarray(duplicate), k, first_row, path, job)


@functools.lru_cache(maxsize=2)
def _load_model(model_dir):
    return Ojala.from_pretrained(model_dir)


def _vac_partition(raw, phot, duplicate, k, first_row, source, job) -> dict:
    """Write partition k (unless already written) and return its summary counts."""
    out_dir = Path(job["out_dir"])
    part = out_dir / "catalogue" / f"part-{k:05d}.parquet"
    emb_path = out_dir / "embeddings" / f"part-{k:05d}.npy"
    record = out_dir / "resume" / f"part-{k:05d}.json"
    zero_points = job["zero_points"] and ZeroPoints.from_dict(job["zero_points"])
    tokens = catalogue_tokens(phot, zero_points=zero_points or None)
    flags = _quality(phot, tokens, duplicate)
    made_from = {"run": job["run"], "source": str(Path(source).resolve()), "first_row": int(first_row),
                 "rows": len(raw)}
    reused = part.exists() and emb_path.exists() and record.exists() and _read_json(record) == made_from
    if not reused:
        record.unlink(missing_ok=True)
        if not (out_dir / RUN_RECORD).exists():      # written with the first partition, not before
            write_json(out_dir / RUN_RECORD, job["run_record"])
        _write_partition(_load_model(job["model_dir"]), raw, phot, tokens, flags, first_row, part, emb_path, job)
        write_json(record, made_from)            # last: a partition without its record is made again
    written = pd.read_parquet(part, columns=["CLASS", "QUALITY_FLAG"])
    flags = written["QUALITY_FLAG"].to_numpy()   # with OUTSIDE_TRAINING when the reference set gave it
    nb = [c for c in DEFAULT_VOCABULARY.narrow_bands if c in tokens]
    observed = tokens[[f"{c}_ERR" for c in nb]].notna().to_numpy()
    summary = {"rows": len(raw), "predicted": int(written["CLASS"].notna().sum()),
               "masked_band_values": int((observed & tokens[nb].isna().to_numpy()).sum()),
               **_input_counts(tokens),
               **{name.lower(): int(((flags & bit) > 0).sum()) for name, bit in QUALITY_FLAGS.items()}}
    return {"path": str(part.relative_to(out_dir)), "rows": len(raw), "first_row": first_row, "source": source,
            "band_units": phot.attrs["band_units"], "summary": summary, "reused": bool(reused)}


# Inputs a catalogue may lack entirely (a J-PAS table without its Legacy cross-match, say): their
# absence changes what the model can tell apart, so the VAC says so.
INPUT_KINDS = {"with_morphtype": "MORPHTYPE", "with_broad_bands": "Legacy/WISE magnitudes (MAG_G…MAG_W2)",
               "with_isdss": "the iSDSS magnitude"}


def _input_counts(tokens) -> dict:
    """Rows of a partition that have MORPHTYPE, any Legacy/WISE magnitude, and iSDSS."""
    legacy = [t for t in DEFAULT_VOCABULARY.legacy_magnitudes.values() if t in tokens]
    isdss = [t for t in DEFAULT_VOCABULARY.broad_band_magnitudes if t not in legacy and t in tokens]

    def rows_with(columns):
        return int(tokens[columns].notna().any(axis=1).sum()) if columns else 0
    return {"with_morphtype": rows_with([c for c in ("MORPHTYPE",) if c in tokens]),
            "with_broad_bands": rows_with(legacy), "with_isdss": rows_with(isdss)}


def _missing_inputs(summary, catalogue) -> dict:
    """Input kinds that fewer than half the rows have (fraction of rows with each); warns once per kind."""
    missing = {}
    for key, what in INPUT_KINDS.items():
        fraction = summary[key] / max(summary["rows"], 1)
        if fraction < 0.5:
            missing[key.removeprefix("with_")] = round(fraction, 4)
            log.warning("%s: %s in %.0f%% of the rows: the model classifies and measures those objects from the "
                        "other photometry only, less reliably (e.g. galaxies called STAR or QSO without MORPHTYPE; "
                        "see 'ojala realism')", catalogue, what, 100 * fraction)
    return missing


def _jsonable(value):
    return None if value is None else (list(value) if isinstance(value, (list, tuple)) else str(value))


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _run_record(model_dir, files, options) -> dict:
    """What this run's partitions are made from: input files, model bytes and options (with their hash)."""
    import hashlib

    model_dir = Path(model_dir)
    # A calibration changes the errors written, so a VAC resumed after 'ojala calibrate' starts again.
    model_files = [model_dir / name for name in ("config.json", "model.safetensors", CALIBRATION_FILE)
                   if name != CALIBRATION_FILE or (model_dir / name).exists()]
    record = {"catalogue": [file_identity(f) for f in files],
              "model": {"path": str(model_dir.resolve()),
                        "sha256": files_sha256(model_files)},
              "options": options}
    record["sha256"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return record


def _start_or_resume(out_dir: Path, run: dict):
    """Refuse a folder holding another run's partitions; remove stale temporary files; record this run."""
    previous_path = out_dir / RUN_RECORD
    previous = _read_json(previous_path) if previous_path.exists() else None
    has_parts = any((out_dir / "catalogue").glob("part-*.parquet")) or any((out_dir / "embeddings").glob("part-*"))
    if previous is None and has_parts:
        raise InputError(f"{out_dir}: holds VAC partitions without a record of what they were made from (an older "
                         "'ojala vac', or not a VAC) — give a new --out, or delete the folder to start fresh")
    if previous is not None and previous.get("sha256") != run["sha256"]:
        differ = [f"another {k}" for k in ("catalogue", "model") if previous.get(k) != run[k]]
        before, now = previous.get("options") or {}, run["options"]
        options = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if options:
            differ.append(f"other options ({', '.join(options)})")
        raise InputError(f"{out_dir}: holds a VAC made from {' and '.join(differ) or 'another run'} — give a new "
                         "--out, or delete the folder to start fresh (a rerun with the same catalogue, model and "
                         "options resumes it)")
    stale = remove_stale_partials(out_dir)
    if stale:
        log.warning("%s: removed %d temporary file(s) left by an interrupted run", out_dir, len(stale))


def _quality(phot: pd.DataFrame, tokens: pd.DataFrame, duplicate) -> np.ndarray:
    flags = np.zeros(len(phot), dtype=np.int16)
    flags[duplicate] |= QUALITY_FLAGS["DUPLICATE_ID"]
    flags[phot["N_NB_OBSERVED"].to_numpy() < MIN_NB_FOR_GOOD] |= QUALITY_FLAGS["FEW_BANDS"]
    flags[~(phot["FNU_iSDSS"].to_numpy() > 0)] |= QUALITY_FLAGS["NO_ISDSS"]
    ra, dec = phot["RA"].to_numpy(float), phot["DEC"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        bad_position = ~((ra >= 0) & (ra < 360) & (np.abs(dec) <= 90))
    flags[bad_position] |= QUALITY_FLAGS["BAD_COORDINATES"]
    values = [c for c in DEFAULT_VOCABULARY.observations if c in tokens and DEFAULT_VOCABULARY[c].kind != CLASS]
    usable = tokens[values].notna().sum(axis=1).to_numpy()
    flags[usable < 5] |= QUALITY_FLAGS["NO_PHOTOMETRY"]
    return flags


def _calibration_record(model: Ojala) -> dict | None:
    """The post-hoc calibration the VAC's errors, probabilities and WHAN classes went through (None: raw)."""
    c = model.calibration
    return None if c is None else {"sigma_scale": c.sigma_scale, "temperature": c.temperature,
                                   "thresholds": c.thresholds, **c.about}


def vac_targets(model: Ojala) -> list[str]:
    """What the VAC predicts: the model's own default targets (expanded tokens included) and fine-tuned heads."""
    return model.vocabulary.targets + list(model.heads)


def _write_partition(model, raw, phot, tokens, flags, first_row, part, emb_path, job):
    predictable = (flags & (QUALITY_FLAGS["DUPLICATE_ID"] | QUALITY_FLAGS["NO_PHOTOMETRY"])) == 0
    targets = vac_targets(model)
    pred, embedding = predict(model, tokens[predictable], targets=targets, batch_size=job["batch_size"],
                              precision=job["precision"], compiled=job["compiled"])
    pred = pred.reindex(tokens.index)
    full_embedding = np.full((len(tokens), model.config.d_model), np.nan, dtype=np.float32)
    full_embedding[predictable] = embedding
    columns = {"JPAS_ID": phot["JPAS_ID"].to_numpy()}
    vocab = model.vocabulary
    for name in targets:
        if name in vocab and vocab[name].kind == CLASS:
            # The VAC names the spectral class CLASS with P_{class}; another class token keeps its name.
            column, prefix = ("CLASS", "P_") if name == "SPECTYPE" else (name, f"P_{name}_")
            columns[column] = pred[name].to_numpy()
            for cat in vocab[name].categories:
                columns[f"{prefix}{cat}"] = pred[f"P_{name}_{cat}"].to_numpy()
        else:
            columns[name], columns[f"{name}_ERR"] = pred[name].to_numpy(), pred[f"{name}_ERR"].to_numpy()
    mag_i = tokens["MAG_i"].to_numpy(float)
    columns.update(derived_columns(pred, mag_i, tokens["MAG_i_ERR"].to_numpy(float), passive_threshold_of(model),
                                   vocab))
    columns["MAG_i"] = mag_i
    columns["N_NB_OBSERVED"] = phot["N_NB_OBSERVED"].to_numpy()
    columns["QUALITY_FLAG"] = flags
    columns["EMBEDDING_ROW"] = first_row + np.arange(len(raw), dtype=np.int64)
    if job["reference"] is not None:          # complete now: no second write in the final pass
        columns.update(_reference_columns(full_embedding, columns["EMBEDDING_ROW"], flags, job["reference"]))
    out = pd.concat([raw.drop(columns=[c for c in columns if c in raw]).reset_index(drop=True),
                     pd.DataFrame(columns)], axis=1)
    with atomic_path(emb_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, full_embedding)
    write_parquet(part, out, row_group_size=ROW_GROUP_ROWS)
    if job["reference"] is not None and job["fits"]:
        export_table(out, Path(job["out_dir"]) / "fits" / (part.stem + ".fits"), "fits")


def _reference_columns(embedding, rows, flags, ref_dir) -> dict:
    """OUTLIER_SCORE, UMAP_X/UMAP_Y from the model's reference set and QUALITY_FLAG with OUTSIDE_TRAINING."""
    reference = load_reference(ref_dir)
    columns = partition_columns(embedding, rows, reference)
    with np.errstate(invalid="ignore"):
        outside = columns["OUTLIER_SCORE"] > reference.outlier_threshold
    bit = QUALITY_FLAGS["OUTSIDE_TRAINING"]
    columns["QUALITY_FLAG"] = np.where(outside, flags | bit, flags & ~bit).astype(flags.dtype)
    return columns


def _final_pass(out_dir: Path, parts: list, reference, umap_fit_rows: int, seed: int, fits: bool,
                scheduler=None) -> dict:
    """The similarity index (and, without a model reference set, the VAC's own map), in stages whose cost
    grows linearly with N.

    (1) count the finite embeddings of each partition; (2) one task: train the VAC's FAISS index on
    a seeded sample and add every partition; without a `reference` it also fits the map on a seeded
    sample of at most `umap_fit_rows` objects and (3) writes each partition once more with
    OUTLIER_SCORE (against the VAC itself) and UMAP_X/UMAP_Y (FITS copies too if asked). With a
    `reference` those columns were written with the partitions. Each stage runs as Dask tasks when
    `scheduler` is given (``"local"`` or an address). Returns the manifest entries that say how the
    columns were made.
    """
    emb_paths = [str(out_dir / "embeddings" / (Path(p["path"]).stem + ".npy")) for p in parts]
    own_map = reference is None
    with _final_pass_client(scheduler) as run:
        counts = run(_finite_count, [(p,) for p in emb_paths])
        index_about, = run(_index_and_map, [(str(out_dir), emb_paths, [p["first_row"] for p in parts], counts,
                                              seed, umap_fit_rows if own_map else 0)])
        if own_map:
            run(_finish_partition, [(str(out_dir), p["path"], e, fits) for p, e in zip(parts, emb_paths)])
    (out_dir / "umap.pkl").unlink(missing_ok=True)          # older VACs: a pickle nobody should load
    about = "the VAC itself (the model has no reference set; see 'ojala index')" if own_map else \
        f"the model's reference set {reference} ({int(np.load(Path(reference) / 'umap.npy', mmap_mode='r').shape[0])}" \
        " training objects)"
    return {"outlier_score": f"distance to the {OUTLIER_K}th nearest object of {about} in embedding space",
            "reference": None if own_map else str(reference),
            "umap": {"sample": "map/ of this VAC" if own_map else str(reference), "fit_rows": umap_fit_rows,
                     "seed": seed,
                     "placement": f"inverse-distance mean of the {MAP_NEIGHBOURS} nearest sample objects"},
            "similarity_index": index_about,
            "outside_training": None if own_map else
            {"objects": None, "threshold": load_reference(reference).outlier_threshold,
             "rule": f"OUTLIER_SCORE above the {OUTSIDE_QUANTILE:.0%} quantile of the reference objects' own scores "
                     f"(QUALITY_FLAG bit {QUALITY_FLAGS['OUTSIDE_TRAINING']})"}}


@contextlib.contextmanager
def _final_pass_client(scheduler):
    """A function run(fn, list of argument tuples) -> results: in this process, or as Dask tasks."""
    if scheduler is None:
        yield lambda fn, calls: [fn(*args) for args in tqdm(calls, desc=f"vac {fn.__name__.strip('_')}",
                                                             unit="task", disable=len(calls) < 2)]
        return
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
        if scheduler == "local" else None
    with Client(cluster if cluster is not None else scheduler) as client:
        yield lambda fn, calls: client.gather([client.submit(fn, *args, pure=False) for args in calls])
    if cluster is not None:
        cluster.close()


def _finite_count(emb_path) -> int:
    return int(np.isfinite(np.load(emb_path, mmap_mode="r")).all(axis=1).sum())


def _sample(emb_paths, counts, size, seed) -> np.ndarray:
    """`size` finite embeddings drawn without replacement (seeded) from all partitions, one partition at a time."""
    total = int(sum(counts))
    picks = np.sort(np.random.default_rng(seed).choice(total, min(size, total), replace=False))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    chunks = []
    for k, path in enumerate(emb_paths):
        local = picks[(picks >= offsets[k]) & (picks < offsets[k + 1])] - offsets[k]
        if len(local):
            embedding = np.load(path, mmap_mode="r")
            chunks.append(np.asarray(embedding[np.flatnonzero(np.isfinite(embedding).all(axis=1))[local]]))
    return np.concatenate(chunks).astype(np.float32)


def _index_and_map(out_dir, emb_paths, first_rows, counts, seed, map_rows) -> str:
    """One task: similarity.faiss over every finite embedding, and map/ when `map_rows` > 0."""
    out_dir = Path(out_dir)
    dim = int(np.load(emb_paths[0], mmap_mode="r").shape[1])
    index = make_index(dim, int(sum(counts)), seed=seed)
    if not index.is_trained:
        index.train(_sample(emb_paths, counts, training_rows(index), seed))

    def finite_parts():
        for path, first in zip(emb_paths, first_rows):
            embedding = np.load(path)
            rows = np.flatnonzero(np.isfinite(embedding).all(axis=1))
            yield first + rows, embedding[rows]

    vac_index = EmbeddingIndex.from_parts(index, finite_parts())
    vac_index.save(out_dir)
    if map_rows > 0:
        EmbeddingReference.fit(_sample(emb_paths, counts, map_rows, seed), seed).save(
            out_dir / "map", {"source": "this VAC", "seed": seed})
    kind = f"IVF-Flat, {index.nlist} lists, {NPROBE} probed" if hasattr(index, "nlist") else "exact L2"
    return f"similarity.faiss ({kind}; EMBEDDING_ROW of each vector in similarity_rows.npy)"


@functools.lru_cache(maxsize=2)
def _vac_index(out_dir, stamp):
    return EmbeddingIndex.load(out_dir)


def _finish_partition(out_dir, part_path, emb_path, fits):
    """One task (VACs without a model reference set): a partition's OUTLIER_SCORE against the VAC's own index
    and UMAP_X/UMAP_Y from its own map sample, written."""
    out_dir = Path(out_dir)
    path = out_dir / part_path
    frame = pd.read_parquet(path)
    vac_index = _vac_index(str(out_dir), (out_dir / "similarity.faiss").stat().st_mtime)
    columns = partition_columns(np.load(emb_path), frame["EMBEDDING_ROW"].to_numpy(), load_reference(out_dir / "map"),
                                vac_index)
    for name, values in columns.items():
        frame[name] = values
    write_parquet(path, frame, row_group_size=ROW_GROUP_ROWS)
    if fits:
        export_table(frame, out_dir / "fits" / (path.stem + ".fits"), "fits")
