"""The fixed reference set of a model: embeddings of a seeded sample of its training objects and their 2-D map.

Stored in ``MODEL/reference/`` (``ojala index``) so that OUTLIER_SCORE (distance to the
`OUTLIER_K`-th nearest reference object) and UMAP_X/UMAP_Y mean the same in every VAC made
with that model. A VAC whose model has none keeps its own map sample in ``VAC/map/``.
Not for the explorer's similarity search (see `similarity`).
"""
from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np

from ..io.files import atomic_path, weights_digest, write_json
from .embedding_map import MAP_NEIGHBOURS, UMAP_FIT_ROWS, fit_map_sample, place_on_map
from .similarity import OUTLIER_K, EmbeddingIndex

__all__ = ["EmbeddingReference", "build_reference", "load_model_reference", "partition_columns",
           "REFERENCE_ROWS", "OUTSIDE_QUANTILE"]

REFERENCE_ROWS = UMAP_FIT_ROWS
# An object whose OUTLIER_SCORE exceeds this quantile of the reference objects' own scores (each
# against the other reference objects) is outside the training set: 1 % of training-like objects are.
OUTSIDE_QUANTILE = 0.99
log = logging.getLogger(__name__)


class EmbeddingReference:
    """Sample embeddings (m, d), their map coordinates (m, 2) and a FAISS index over them."""

    def __init__(self, embeddings, coords, index: EmbeddingIndex | None = None, seed=42):
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.coords = np.asarray(coords, dtype=np.float32)
        self.index = index if index is not None else EmbeddingIndex(self.embeddings, seed=seed)

    @functools.cached_property
    def outlier_threshold(self) -> float:
        """OUTLIER_SCORE above which an object lies outside the training set (`OUTSIDE_QUANTILE` of the
        reference objects' own leave-one-out scores)."""
        return float(np.nanquantile(self.index.outlier_scores(self.embeddings), OUTSIDE_QUANTILE))

    @classmethod
    def fit(cls, sample, seed=42) -> "EmbeddingReference":
        """UMAP of `sample` (finite rows only) and its index."""
        return cls(sample, fit_map_sample(sample, seed), seed=seed)

    def save(self, folder, about: dict):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in (("embeddings.npy", self.embeddings), ("umap.npy", self.coords)):
            with atomic_path(folder / name) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, array)
        self.index.save(folder)
        write_json(folder / "reference.json", {**about, "rows": len(self.embeddings)})

    @classmethod
    def load(cls, folder) -> "EmbeddingReference":
        folder = Path(folder)
        return cls(np.load(folder / "embeddings.npy"), np.load(folder / "umap.npy"), EmbeddingIndex.load(folder))


def build_reference(model_dir, mocks_dir, rows=REFERENCE_ROWS, seed=42, batch_size=256) -> Path:
    """Write ``MODEL/reference/`` from a seeded sample of `rows` objects of ``MOCKS/train.parquet``."""
    import pandas as pd

    from ..model.inference import predict
    from ..model.pretrained import Ojala
    from .produce import vac_targets

    model = Ojala.from_pretrained(model_dir)
    train = pd.read_parquet(Path(mocks_dir) / "train.parquet")
    pick = np.sort(np.random.default_rng(seed).choice(len(train), min(rows, len(train)), replace=False))
    _, embedding = predict(model, train.iloc[pick], targets=vac_targets(model), batch_size=batch_size)
    finite = np.isfinite(embedding).all(axis=1)
    folder = Path(model_dir) / "reference"
    EmbeddingReference.fit(embedding[finite], seed).save(
        folder, {"mocks": str(mocks_dir), "seed": seed, "weights_sha256": weights_digest(model_dir),
                 "command": f"ojala index --model {model_dir} --mocks {mocks_dir} --rows {rows} --seed {seed}"})
    return folder


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, stamp: float) -> EmbeddingReference:
    return EmbeddingReference.load(folder)


def load_reference(folder) -> EmbeddingReference:
    """A stored reference (cached per process: every partition task of a worker shares it)."""
    folder = Path(folder)
    return _load_cached(str(folder), (folder / "reference.json").stat().st_mtime)


def load_model_reference(model_dir) -> Path | None:
    """``MODEL/reference`` when present and made from these weights, else None (with a warning)."""
    folder = Path(model_dir) / "reference"
    if not (folder / "reference.json").exists():
        log.warning("%s has no reference set: OUTLIER_SCORE and the map are relative to this VAC "
                    "(make one with 'ojala index --model %s --mocks MOCKDIR')", model_dir, model_dir)
        return None
    if json.loads((folder / "reference.json").read_text()).get("weights_sha256") != weights_digest(model_dir):
        log.warning("%s was made from other weights: ignored (remake it with 'ojala index')", folder)
        return None
    return folder


def partition_columns(embeddings, rows, reference: EmbeddingReference, vac_index: EmbeddingIndex | None = None):
    """OUTLIER_SCORE, UMAP_X, UMAP_Y (float32, NaN where the embedding is NaN) of VAC rows `rows`.

    The map is placed from the reference; the outlier score is the distance to the
    `OUTLIER_K`-th nearest reference object, or, given `vac_index`, to the `OUTLIER_K`-th
    nearest other object of the VAC.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    out = {name: np.full(len(embeddings), np.nan, dtype=np.float32) for name in ("OUTLIER_SCORE", "UMAP_X", "UMAP_Y")}
    finite = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
    if len(finite) == 0:
        return out
    found, dist = reference.index.search(embeddings[finite], max(MAP_NEIGHBOURS, OUTLIER_K))
    coords = place_on_map(reference.coords, found[:, :MAP_NEIGHBOURS], dist[:, :MAP_NEIGHBOURS])
    out["UMAP_X"][finite], out["UMAP_Y"][finite] = coords[:, 0], coords[:, 1]
    if vac_index is None:
        out["OUTLIER_SCORE"][finite] = dist[:, min(OUTLIER_K, dist.shape[1]) - 1]
    else:
        out["OUTLIER_SCORE"] = vac_index.outlier_scores(embeddings, rows=rows)
    return out
