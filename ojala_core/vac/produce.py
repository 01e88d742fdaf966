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

import functools
import glob
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import __version__
from ..io.files import atomic_path, write_json, write_parquet
from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, catalogue_ids, count_table_rows, iter_jpas_catalogue
from ..io.tables import InputError
from ..model.inference import predict
from ..model.pretrained import Ojala
from ..tokens import catalogue_tokens
from ..vocabulary import CLASS, DEFAULT_VOCABULARY
from .columns import derived_columns
from .embedding_map import UMAP_FIT_ROWS, fit_embedding_map, save_reducer
from .export import export_table
from .similarity import OUTLIER_K, EmbeddingIndex, load_embeddings

__all__ = ["produce_vac", "catalogue_files", "QUALITY_FLAGS", "MIN_NB_FOR_GOOD"]

MIN_NB_FOR_GOOD = 50
# Bit flags of QUALITY_FLAG: why a row was not predicted, or is predicted from less.
QUALITY_FLAGS = {"DUPLICATE_ID": 1, "NO_PHOTOMETRY": 2, "FEW_BANDS": 4, "NO_ISDSS": 8}
_TABLE_SUFFIXES = (".parquet", ".pq", ".fits", ".fit", ".csv")
# Small row groups let the explorer read one object's full row without reading its partition.
ROW_GROUP_ROWS = 4096


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
        raise FileNotFoundError(f"{catalogue}: no catalogue file (CSV, FITS or Parquet) found")
    return files


def produce_vac(model_dir, catalogue, out_dir, prefix="APER_COR_3_0", chunk_rows=50_000, batch_size=256,
                id_column=None, scheduler=None, fits=False, umap_fit_rows=UMAP_FIT_ROWS, seed=42,
                jpas_filters=None, flags_threshold=DEFAULT_FLAGS_THRESHOLD) -> dict:
    """Write the VAC of `catalogue` with the model in `model_dir` into `out_dir`; returns its manifest.

    `catalogue` is one file (streamed in `chunk_rows` partitions, unless `scheduler` is
    given) or a folder/glob of files (one partition per file, through Dask). `scheduler`:
    None, ``"local"`` (a local Dask cluster) or a Dask scheduler address. `fits` also
    writes ``fits/part-NNNNN.fits`` beside every Parquet partition. `jpas_filters` names the
    filter table of archive array columns and `flags_threshold` the SExtractor FLAGS from which
    a band is missing (see `ojala_core.io.jpas.read_jpas_catalogue`).
    """
    out_dir = Path(out_dir)
    (out_dir / "catalogue").mkdir(parents=True, exist_ok=True)
    (out_dir / "embeddings").mkdir(exist_ok=True)
    files = catalogue_files(catalogue)
    t0 = time.time()
    job = dict(model_dir=str(model_dir), prefix=prefix, id_column=id_column, batch_size=batch_size,
               out_dir=str(out_dir), filters=jpas_filters, flags_threshold=flags_threshold)
    if len(files) == 1 and scheduler is None:
        results = _stream_file(files[0], chunk_rows, job)
    else:
        results = _run_partitions_dask(files, scheduler or "local", job)
    summary = {"rows": 0, "predicted": 0, **{name.lower(): 0 for name in QUALITY_FLAGS}, "masked_band_values": 0}
    for result in results:
        for key in summary:
            summary[key] += result["summary"][key]
    if summary["rows"] == 0:
        raise InputError(f"{catalogue}: the catalogue is empty")
    parts = [{k: r[k] for k in ("path", "rows", "first_row", "source", "band_units")} for r in results]
    _final_pass(out_dir, parts, umap_fit_rows, seed, fits)
    manifest = {"version": __version__, "model": str(model_dir), "catalogue": str(catalogue), "prefix": prefix,
                "jpas_filters": None if jpas_filters is None else str(jpas_filters), "flags_threshold": flags_threshold,
                "targets": vac_targets(_load_model(str(model_dir))),
                "embedding_dim": int(np.load(out_dir / "embeddings" / "part-00000.npy", mmap_mode="r").shape[1]),
                "quality_flags": QUALITY_FLAGS, "summary": summary, "partitions": parts,
                "scheduler": scheduler, "fits": bool(fits),
                "outlier_score": f"distance to the {OUTLIER_K}th nearest neighbour in embedding space",
                "umap": {"fit_rows": umap_fit_rows, "seed": seed, "reducer": "umap.pkl"},
                "similarity_index": "similarity.faiss (exact L2; rows in similarity_rows.npy)",
                "seconds": round(time.time() - t0, 1)}
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _stream_file(path, chunk_rows, job) -> list[dict]:
    """One file, streamed: partition k = rows [k·chunk_rows, (k+1)·chunk_rows)."""
    seen: set = set()
    results = []
    first_row = 0
    with tqdm(unit="obj", desc="vac", total=count_table_rows(path)) as bar:
        for k, (raw, phot) in enumerate(iter_jpas_catalogue(path, job["prefix"], job["id_column"], chunk_rows,
                                                            all_columns=True, filters=job["filters"],
                                                            flags_threshold=job["flags_threshold"])):
            ids = phot["JPAS_ID"].to_numpy()
            duplicate = pd.Series(ids).duplicated().to_numpy() | np.isin(ids, list(seen))
            seen.update(ids.tolist())
            results.append(_vac_partition(raw, phot, duplicate, k, first_row, str(path), job))
            first_row += len(raw)
            bar.update(len(raw))
    return results


def _run_partitions_dask(files, scheduler, job) -> list[dict]:
    """One partition per file, as Dask tasks; duplicate ids are found across files first."""
    from dask.distributed import Client, LocalCluster, as_completed

    rows = [count_table_rows(f) for f in files]
    firsts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int)
    ids = np.concatenate([catalogue_ids(f, job["id_column"], int(o)) for f, o in zip(files, firsts)])
    duplicate = pd.Series(ids).duplicated().to_numpy()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
        if scheduler == "local" else None
    with Client(cluster if cluster is not None else scheduler) as client:
        futures = [client.submit(_file_partition, str(f), k, int(firsts[k]), duplicate[firsts[k]:firsts[k] + n],
                                 job, pure=False)
                   for k, (f, n) in enumerate(zip(files, rows))]
        with tqdm(total=int(sum(rows)), unit="obj", desc="vac (dask)") as bar:
            for future in as_completed(futures):
                bar.update(future.result()["rows"])
        results = [f.result() for f in futures]
    if cluster is not None:
        cluster.close()
    return results


def _file_partition(path, k, first_row, duplicate, job) -> dict:
    """A Dask task: the whole of one input file as partition k."""
    import torch

    torch.set_num_threads(1)
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
    tokens = catalogue_tokens(phot)
    flags = _quality(phot, tokens, duplicate)
    if not (part.exists() and emb_path.exists()):
        _write_partition(_load_model(job["model_dir"]), raw, phot, tokens, flags, first_row, job["batch_size"],
                         part, emb_path)
    predicted = pd.read_parquet(part, columns=["CLASS"])["CLASS"].notna().sum()
    nb = [c for c in DEFAULT_VOCABULARY.narrow_bands if c in tokens]
    observed = tokens[[f"{c}_ERR" for c in nb]].notna().to_numpy()
    summary = {"rows": len(raw), "predicted": int(predicted),
               "masked_band_values": int((observed & tokens[nb].isna().to_numpy()).sum()),
               **{name.lower(): int(((flags & bit) > 0).sum()) for name, bit in QUALITY_FLAGS.items()}}
    return {"path": str(part.relative_to(out_dir)), "rows": len(raw), "first_row": first_row, "source": source,
            "band_units": phot.attrs["band_units"], "summary": summary}


def _quality(phot: pd.DataFrame, tokens: pd.DataFrame, duplicate) -> np.ndarray:
    flags = np.zeros(len(phot), dtype=np.int16)
    flags[duplicate] |= QUALITY_FLAGS["DUPLICATE_ID"]
    flags[phot["N_NB_OBSERVED"].to_numpy() < MIN_NB_FOR_GOOD] |= QUALITY_FLAGS["FEW_BANDS"]
    flags[~(phot["FNU_iSDSS"].to_numpy() > 0)] |= QUALITY_FLAGS["NO_ISDSS"]
    values = [c for c in DEFAULT_VOCABULARY.observations if c in tokens and DEFAULT_VOCABULARY[c].kind != CLASS]
    usable = tokens[values].notna().sum(axis=1).to_numpy()
    flags[usable < 5] |= QUALITY_FLAGS["NO_PHOTOMETRY"]
    return flags


def vac_targets(model: Ojala) -> list[str]:
    """What the VAC predicts: the model's own default targets (expanded tokens included) and fine-tuned heads."""
    return model.vocabulary.targets + list(model.heads)


def _write_partition(model, raw, phot, tokens, flags, first_row, batch_size, part, emb_path):
    predictable = (flags & (QUALITY_FLAGS["DUPLICATE_ID"] | QUALITY_FLAGS["NO_PHOTOMETRY"])) == 0
    targets = vac_targets(model)
    pred, embedding = predict(model, tokens[predictable], targets=targets, batch_size=batch_size)
    pred = pred.reindex(tokens.index)
    full_embedding = np.full((len(tokens), model.config.d_model), np.nan, dtype=np.float32)
    full_embedding[predictable] = embedding
    out = raw.copy()
    out["JPAS_ID"] = phot["JPAS_ID"].to_numpy()
    vocab = model.vocabulary
    for name in targets:
        if name in vocab and vocab[name].kind == CLASS:
            # The VAC names the spectral class CLASS with P_{class}; another class token keeps its name.
            column, prefix = ("CLASS", "P_") if name == "SPECTYPE" else (name, f"P_{name}_")
            out[column] = pred[name].to_numpy()
            for cat in vocab[name].categories:
                out[f"{prefix}{cat}"] = pred[f"P_{name}_{cat}"].to_numpy()
        else:
            out[name], out[f"{name}_ERR"] = pred[name].to_numpy(), pred[f"{name}_ERR"].to_numpy()
    mag_i = tokens["MAG_i"].to_numpy(float)
    for key, values in derived_columns(pred, mag_i, tokens["MAG_i_ERR"].to_numpy(float)).items():
        out[key] = values
    out["MAG_i"] = mag_i
    out["N_NB_OBSERVED"] = phot["N_NB_OBSERVED"].to_numpy()
    out["QUALITY_FLAG"] = flags
    out["EMBEDDING_ROW"] = first_row + np.arange(len(out), dtype=np.int64)
    with atomic_path(emb_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, full_embedding)
    write_parquet(part, out)


def _final_pass(out_dir: Path, parts: list, umap_fit_rows: int, seed: int, fits: bool):
    """Over all embeddings: FAISS index, OUTLIER_SCORE, UMAP_X/UMAP_Y; then FITS copies if asked."""
    import faiss

    embeddings = load_embeddings(out_dir)
    index = EmbeddingIndex(embeddings)
    scores = index.outlier_scores(embeddings)
    coords, reducer = fit_embedding_map(embeddings, umap_fit_rows, seed)
    with atomic_path(out_dir / "similarity.faiss") as tmp:
        faiss.write_index(index.index, str(tmp))
    with atomic_path(out_dir / "similarity_rows.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, index.rows)
    if reducer is not None:
        save_reducer(reducer, out_dir / "umap.pkl")
    for part in tqdm(parts, desc="vac final pass", unit="part", disable=len(parts) < 2):
        path = out_dir / part["path"]
        frame = pd.read_parquet(path)
        rows = frame["EMBEDDING_ROW"].to_numpy()
        frame["OUTLIER_SCORE"] = scores[rows]
        frame["UMAP_X"], frame["UMAP_Y"] = coords[rows, 0], coords[rows, 1]
        write_parquet(path, frame, row_group_size=ROW_GROUP_ROWS)
        if fits:
            export_table(frame, out_dir / "fits" / (path.stem + ".fits"), "fits")
