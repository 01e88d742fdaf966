"""Produce the VAC of a J-PAS catalogue: stream it in partitions, predict, derive, classify, store embeddings.

Each input partition becomes ``catalogue/part-NNNNN.parquet`` (every input column kept,
predictions, derived quantities, quality flags, outlier score) and
``embeddings/part-NNNNN.npy``; a FAISS index of all embeddings is stored beside them; a
rerun skips finished partitions. Not for UMAP or reports.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import __version__
from ..io.files import atomic_path, write_json, write_parquet
from ..io.jpas import iter_jpas_catalogue
from ..mocks.tokens import catalogue_tokens
from ..model.inference import DEFAULT_TARGETS, predict
from ..model.pretrained import Ojala
from .columns import derived_columns
from .similarity import OUTLIER_K, EmbeddingIndex, load_embeddings

__all__ = ["produce_vac", "QUALITY_FLAGS", "MIN_NB_FOR_GOOD"]

MIN_NB_FOR_GOOD = 50
# Bit flags of QUALITY_FLAG: why a row was not predicted, or is predicted from less.
QUALITY_FLAGS = {"DUPLICATE_ID": 1, "NO_PHOTOMETRY": 2, "FEW_BANDS": 4, "NO_ISDSS": 8}


def _quality(phot: pd.DataFrame, tokens: pd.DataFrame, seen: set) -> np.ndarray:
    flags = np.zeros(len(phot), dtype=np.int16)
    ids = phot["JPAS_ID"].to_numpy()
    duplicate = pd.Series(ids).duplicated().to_numpy() | np.isin(ids, list(seen))
    flags[duplicate] |= QUALITY_FLAGS["DUPLICATE_ID"]
    n_nb = phot["N_NB_OBSERVED"].to_numpy()
    flags[n_nb < MIN_NB_FOR_GOOD] |= QUALITY_FLAGS["FEW_BANDS"]
    flags[~(phot["FNU_iSDSS"].to_numpy() > 0)] |= QUALITY_FLAGS["NO_ISDSS"]
    usable = tokens.drop(columns=["JPAS_ID", "RA", "DEC", "MORPHTYPE"]).notna().sum(axis=1).to_numpy()
    flags[usable < 5] |= QUALITY_FLAGS["NO_PHOTOMETRY"]
    return flags


def produce_vac(model_dir, catalogue, out_dir, prefix="APER_COR_3_0", chunk_rows=50_000, batch_size=256,
                id_column=None) -> dict:
    """Write the VAC of `catalogue` with the model in `model_dir` into `out_dir`; returns its manifest."""
    out_dir = Path(out_dir)
    (out_dir / "catalogue").mkdir(parents=True, exist_ok=True)
    (out_dir / "embeddings").mkdir(exist_ok=True)
    model = Ojala.from_pretrained(model_dir)
    t0 = time.time()
    seen: set = set()
    summary = {"rows": 0, "predicted": 0, **{name.lower(): 0 for name in QUALITY_FLAGS}, "masked_band_values": 0}
    first_row = 0
    parts = []
    with tqdm(unit="obj", desc="vac") as bar:
        for k, (raw, phot) in enumerate(iter_jpas_catalogue(catalogue, prefix, id_column, chunk_rows, all_columns=True)):
            part = out_dir / "catalogue" / f"part-{k:05d}.parquet"
            emb_path = out_dir / "embeddings" / f"part-{k:05d}.npy"
            tokens = catalogue_tokens(phot)
            flags = _quality(phot, tokens, seen)
            seen.update(phot["JPAS_ID"].tolist())
            if not (part.exists() and emb_path.exists()):
                _write_partition(model, raw, phot, tokens, flags, first_row, batch_size, part, emb_path)
            frame_flags = pd.read_parquet(part, columns=["QUALITY_FLAG", "CLASS"])
            summary["rows"] += len(raw)
            summary["predicted"] += int(frame_flags["CLASS"].notna().sum())
            for name, bit in QUALITY_FLAGS.items():
                summary[name.lower()] += int(((flags & bit) > 0).sum())
            nb = [c for c in tokens.columns if c.startswith("J0") and not c.endswith("_ERR")]
            observed = tokens[[f"{c}_ERR" for c in nb]].notna().to_numpy()
            summary["masked_band_values"] += int((observed & tokens[nb].isna().to_numpy()).sum())
            parts.append({"path": str(part.relative_to(out_dir)), "rows": len(raw), "first_row": first_row})
            first_row += len(raw)
            bar.update(len(raw))
    if summary["rows"] == 0:
        raise ValueError(f"{catalogue}: the catalogue is empty")
    _add_outlier_scores(out_dir, parts)
    manifest = {"version": __version__, "model": str(model_dir), "catalogue": str(catalogue), "prefix": prefix,
                "targets": list(DEFAULT_TARGETS), "embedding_dim": model.config.d_model,
                "quality_flags": QUALITY_FLAGS, "summary": summary, "partitions": parts,
                "outlier_score": f"distance to the {OUTLIER_K}th nearest neighbour in embedding space",
                "similarity_index": "similarity.faiss (exact L2; rows in similarity_rows.npy)",
                "seconds": round(time.time() - t0, 1)}
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _write_partition(model, raw, phot, tokens, flags, first_row, batch_size, part, emb_path):
    predictable = (flags & (QUALITY_FLAGS["DUPLICATE_ID"] | QUALITY_FLAGS["NO_PHOTOMETRY"])) == 0
    pred, embedding = predict(model, tokens[predictable], targets=DEFAULT_TARGETS, batch_size=batch_size)
    pred = pred.reindex(tokens.index)
    full_embedding = np.full((len(tokens), model.config.d_model), np.nan, dtype=np.float32)
    full_embedding[predictable] = embedding
    out = raw.copy()
    out["JPAS_ID"] = phot["JPAS_ID"].to_numpy()
    out["CLASS"] = pred["SPECTYPE"].to_numpy()
    for cls in model.vocabulary["SPECTYPE"].categories:
        out[f"P_{cls}"] = pred[f"P_SPECTYPE_{cls}"].to_numpy()
    for name in DEFAULT_TARGETS[1:]:
        out[name], out[f"{name}_ERR"] = pred[name].to_numpy(), pred[f"{name}_ERR"].to_numpy()
    mag_i = tokens["MAG_i"].to_numpy(float)
    for key, values in derived_columns(pred, mag_i, tokens["MAG_i_ERR"].to_numpy(float)).items():
        out[key] = values
    out["N_NB_OBSERVED"] = phot["N_NB_OBSERVED"].to_numpy()
    out["QUALITY_FLAG"] = flags
    out["EMBEDDING_ROW"] = first_row + np.arange(len(out), dtype=np.int64)
    with atomic_path(emb_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, full_embedding)
    write_parquet(part, out)


def _add_outlier_scores(out_dir: Path, parts: list):
    """Index all embeddings (FAISS), store the index, and add OUTLIER_SCORE to every partition."""
    import faiss

    embeddings = load_embeddings(out_dir)
    index = EmbeddingIndex(embeddings)
    scores = index.outlier_scores(embeddings)
    with atomic_path(out_dir / "similarity.faiss") as tmp:
        faiss.write_index(index.index, str(tmp))
    with atomic_path(out_dir / "similarity_rows.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, index.rows)
    for part in parts:
        path = out_dir / part["path"]
        frame = pd.read_parquet(path)
        frame["OUTLIER_SCORE"] = scores[frame["EMBEDDING_ROW"].to_numpy()]
        write_parquet(path, frame)
