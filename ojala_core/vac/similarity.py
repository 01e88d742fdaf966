"""Similarity search and outlier scores over VAC object embeddings (FAISS, exact L2).

Outlier score: the distance to an object's k-th nearest neighbour in embedding space
(k = 10 by default): objects far from every other object are the ones the model has
seen least like. Not for UMAP coordinates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["EmbeddingIndex", "load_embeddings", "OUTLIER_K"]

OUTLIER_K = 10


def load_embeddings(vac_dir) -> np.ndarray:
    """All embeddings of a VAC (rows in EMBEDDING_ROW order; NaN rows for unpredicted objects)."""
    parts = sorted((Path(vac_dir) / "embeddings").glob("part-*.npy"))
    if not parts:
        raise FileNotFoundError(f"{vac_dir}: no embeddings/part-*.npy (run 'ojala vac' first)")
    return np.concatenate([np.load(p) for p in parts])


class EmbeddingIndex:
    """Exact nearest-neighbour search over the finite rows of an embedding array.

    Parameters
    ----------
    embeddings : ndarray (n, d)
        Rows with NaN (objects without a prediction) are left out of the index.
    """

    def __init__(self, embeddings):
        import faiss

        embeddings = np.asarray(embeddings, dtype=np.float32)
        self.rows = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
        if len(self.rows) == 0:
            raise ValueError("no finite embedding to index")
        self.index = faiss.IndexFlatL2(embeddings.shape[1])
        self.index.add(np.ascontiguousarray(embeddings[self.rows]))

    @classmethod
    def load(cls, vac_dir) -> "EmbeddingIndex":
        """The index stored in a VAC folder (similarity.faiss + similarity_rows.npy)."""
        import faiss

        self = cls.__new__(cls)
        self.index = faiss.read_index(str(Path(vac_dir) / "similarity.faiss"))
        self.rows = np.load(Path(vac_dir) / "similarity_rows.npy")
        return self

    def search(self, vectors, k):
        """The k nearest indexed rows of each vector: (rows (m, k), distances (m, k), ascending)."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors).astype(np.float32))
        distance2, nearest = self.index.search(vectors, min(k, len(self.rows)))
        return self.rows[nearest], np.sqrt(np.maximum(distance2, 0.0))

    def neighbours_of(self, row, embeddings, k):
        """k nearest other objects of VAC row `row` (itself excluded)."""
        rows, dist = self.search(embeddings[row], k + 1)
        keep = rows[0] != row
        return rows[0][keep][:k], dist[0][keep][:k]

    def outlier_scores(self, embeddings, k=OUTLIER_K, batch=65_536):
        """Distance to the k-th nearest other object, per row (NaN for rows not indexed)."""
        scores = np.full(len(embeddings), np.nan, dtype=np.float32)
        for start in range(0, len(self.rows), batch):
            rows = self.rows[start:start + batch]
            _, dist = self.search(embeddings[rows], k + 1)   # the first neighbour is the object itself
            scores[rows] = dist[:, -1]
        return scores
