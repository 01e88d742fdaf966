"""Nearest-neighbour search over object embeddings (FAISS): exact for small sets, IVF-Flat for large ones.

`EmbeddingIndex` is the VAC's similarity index (``similarity.faiss``), built partition by
partition; `recall_at_k` measures an approximate index against exact search. Outlier scores
and the 2-D map are in `reference` and `embedding_map`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["EmbeddingIndex", "load_embeddings", "make_index", "recall_at_k", "OUTLIER_K", "EXACT_ROWS", "NPROBE"]

OUTLIER_K = 10
# Up to this many vectors the index is exact (IndexFlatL2); above, IVF-Flat with √n lists, of
# which NPROBE are scanned: recall@10 ≥ 0.95 on model embeddings (bench/bench_vac.py --recall).
EXACT_ROWS = 10_000
NPROBE = 24
_TRAIN_PER_LIST = 40              # FAISS k-means wants ≥ 39 training vectors per list


def load_embeddings(vac_dir) -> np.ndarray:
    """All embeddings of a VAC (rows in EMBEDDING_ROW order; NaN rows for unpredicted objects).

    Holds every embedding in memory: for the explorer and tests, never for the VAC's final pass.
    """
    parts = sorted((Path(vac_dir) / "embeddings").glob("part-*.npy"))
    if not parts:
        raise FileNotFoundError(f"{vac_dir}: no embeddings/part-*.npy (run 'ojala vac' first)")
    return np.concatenate([np.load(p) for p in parts])


def make_index(dim: int, n_rows: int, exact_rows: int = EXACT_ROWS, seed: int = 42):
    """An empty FAISS L2 index for `n_rows` vectors: exact, or IVF-Flat (to train) when larger."""
    import faiss

    if n_rows <= exact_rows:
        return faiss.IndexFlatL2(dim)
    nlist = int(np.clip(np.sqrt(n_rows), 16, 65_536))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    index.cp.seed = seed
    index.nprobe = NPROBE
    return index


def training_rows(index) -> int:
    """How many vectors `index` wants for training (0 for an exact index)."""
    return 0 if index.is_trained else _TRAIN_PER_LIST * index.nlist


def _set_nprobe(index):
    import faiss

    if not isinstance(index, faiss.IndexFlat):
        faiss.extract_index_ivf(index).nprobe = NPROBE
    return index


class EmbeddingIndex:
    """Nearest-neighbour search over the finite rows of an embedding array.

    Parameters
    ----------
    embeddings : ndarray (n, d)
        Rows with NaN (objects without a prediction) are left out of the index.
    exact_rows : above this many finite rows the index is IVF-Flat (approximate).
    """

    def __init__(self, embeddings, exact_rows=EXACT_ROWS, seed=42):
        embeddings = np.asarray(embeddings, dtype=np.float32)
        self.rows = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
        if len(self.rows) == 0:
            raise ValueError("no finite embedding to index")
        vectors = np.ascontiguousarray(embeddings[self.rows])
        self.index = make_index(embeddings.shape[1], len(self.rows), exact_rows, seed)
        if not self.index.is_trained:
            pick = np.random.default_rng(seed).choice(len(vectors), min(len(vectors), training_rows(self.index)),
                                                      replace=False)
            self.index.train(vectors[np.sort(pick)])
        self.index.add(vectors)

    @classmethod
    def from_parts(cls, index, parts) -> "EmbeddingIndex":
        """Add `parts`, an iterable of (EMBEDDING_ROW of each vector, vectors (m, d)), to a trained index."""
        self = cls.__new__(cls)
        self.index = _set_nprobe(index)
        rows = []
        for part_rows, vectors in parts:
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            rows.append(np.asarray(part_rows, dtype=np.int64))
        self.rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return self

    @classmethod
    def load(cls, vac_dir, mmap: bool = False) -> "EmbeddingIndex":
        """The index stored in a VAC folder (similarity.faiss + similarity_rows.npy); `mmap` maps an
        IVF index's vectors from the file instead of reading them (256 bytes per object for `small`)."""
        import faiss

        self = cls.__new__(cls)
        path = str(Path(vac_dir) / "similarity.faiss")
        flags = faiss.IO_FLAG_MMAP if mmap else 0
        try:
            index = faiss.read_index(path, flags)
        except RuntimeError:                  # a flat (exact) index cannot be mapped: read it
            index = faiss.read_index(path)
        self.index = _set_nprobe(index)
        self.rows = np.load(Path(vac_dir) / "similarity_rows.npy", mmap_mode="r" if mmap else None)
        return self

    def save(self, vac_dir):
        """Write similarity.faiss and similarity_rows.npy into `vac_dir`."""
        import faiss

        from ..io.files import atomic_path

        with atomic_path(Path(vac_dir) / "similarity.faiss") as tmp:
            faiss.write_index(self.index, str(tmp))
        with atomic_path(Path(vac_dir) / "similarity_rows.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, self.rows)

    def search(self, vectors, k):
        """The k nearest indexed rows of each vector: (rows (m, k), distances (m, k), ascending).

        An approximate index may return fewer than k; missing neighbours are row -1, distance inf.
        """
        vectors = np.ascontiguousarray(np.atleast_2d(vectors).astype(np.float32))
        distance2, nearest = self.index.search(vectors, min(k, len(self.rows)))
        rows = np.where(nearest >= 0, self.rows[nearest], -1)
        return rows, np.where(nearest >= 0, np.sqrt(np.maximum(distance2, 0.0)), np.inf)

    def neighbours_of(self, row, vector, k):
        """k nearest other objects of VAC row `row`, whose embedding is `vector` (d,) (itself excluded).
        `vector` may also be the whole embedding array, of which row `row` is taken."""
        vector = np.asarray(vector)
        rows, dist = self.search(vector[row] if vector.ndim == 2 else vector, k + 1)
        keep = (rows[0] != row) & (rows[0] >= 0)
        return rows[0][keep][:k], dist[0][keep][:k]

    def outlier_scores(self, embeddings, k=OUTLIER_K, batch=65_536, rows=None):
        """Distance to the k-th nearest other indexed object, per row (NaN for rows with NaN).

        `embeddings` holds the vectors of VAC rows `rows` (default: every row, 0..n-1); the
        object itself, when indexed, is skipped (it is its own nearest neighbour).
        """
        embeddings = np.asarray(embeddings, dtype=np.float32)
        rows = np.arange(len(embeddings)) if rows is None else np.asarray(rows)
        scores = np.full(len(embeddings), np.nan, dtype=np.float32)
        finite = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
        for start in range(0, len(finite), batch):
            local = finite[start:start + batch]
            found, dist = self.search(embeddings[local], k + 1)
            is_self = found == rows[local, None]
            # Drop the object itself if found, else the farthest: k neighbours remain.
            drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), dist.shape[1] - 1)
            kept = np.ones_like(is_self)
            kept[np.arange(len(local)), drop] = False
            if dist.shape[1] > 1:
                scores[local] = dist[kept].reshape(len(local), dist.shape[1] - 1)[:, -1]
        return scores


def recall_at_k(index, exact, queries, k=OUTLIER_K) -> float:
    """Fraction of the exact k nearest neighbours that `index` finds (both FAISS indexes of the same vectors)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    _, truth = exact.search(queries, k)
    _, found = _set_nprobe(index).search(queries, k)
    return float(np.mean([len(np.intersect1d(t, f)) / k for t, f in zip(truth, found)]))
