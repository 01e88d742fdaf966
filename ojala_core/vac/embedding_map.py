"""The 2-D map of object embeddings: UMAP fitted once on a bounded sample, every other object placed by kNN.

The sample's embeddings and 2-D coordinates are plain arrays (no pickled reducer): an object
is placed at the inverse-distance-weighted mean of the map positions of its `MAP_NEIGHBOURS`
nearest sample objects in embedding space, which is linear in N, runs per partition and gives
the same bytes for the same inputs. Not for similarity search (see `similarity`).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["fit_map_sample", "place_on_map", "UMAP_FIT_ROWS", "MAP_NEIGHBOURS"]

UMAP_FIT_ROWS = 20_000
MAP_NEIGHBOURS = 10
SPECTRAL_MIN_ROWS = 64


def fit_map_sample(sample, seed=42, n_neighbors=15) -> np.ndarray:
    """UMAP coordinates (m, 2) float32 of `sample` (m, d), every row finite; fixed by `seed`.

    Runs on one thread (numba and BLAS too: a parallel sum's order decides the last bit, and
    UMAP's optimisation amplifies it), so the same sample gives the same bytes (checked in
    tests/test_scale.py and by the resume test of tests/test_reliability.py). Identical rows are
    fitted once and share their position: repeated points make the graph's spectrum degenerate,
    and the eigenvectors of a degenerate spectrum (UMAP's spectral start) change with the last bit
    of arithmetic, which differed from one process to the next. Fewer than 3 distinct rows: all
    at the origin. A small sample starts from PCA: UMAP's spectral start needs more rows than its
    eigenvectors.
    """
    sample = np.asarray(sample, dtype=np.float32)
    distinct, inverse = np.unique(sample, axis=0, return_inverse=True) if len(sample) else (sample, np.zeros(0, int))
    inverse = np.asarray(inverse).reshape(-1)
    if len(distinct) < 3:
        return np.zeros((len(sample), 2), dtype=np.float32)
    import numba
    import umap
    from threadpoolctl import threadpool_limits

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(distinct) - 1), min_dist=0.1,
                        init="spectral" if len(distinct) > SPECTRAL_MIN_ROWS else "pca", random_state=seed)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")        # 'n_jobs overridden by random_state', spectral init notes
            return reducer.fit_transform(distinct).astype(np.float32)[inverse]
    finally:
        numba.set_num_threads(threads)


def place_on_map(sample_coords, neighbours, distances) -> np.ndarray:
    """Map positions (n, 2) from the nearest sample objects of each object.

    Parameters
    ----------
    sample_coords : (m, 2) map coordinates of the sample.
    neighbours : (n, k) indices into the sample (-1: none found), nearest first.
    distances : (n, k) embedding-space distances to them (same units as the embeddings).

    An object at distance 0 from a sample object (the sample itself) gets that object's position.
    """
    neighbours = np.asarray(neighbours)
    distances = np.asarray(distances, dtype=np.float64)
    found = neighbours >= 0
    weights = np.where(found, 1.0 / np.maximum(distances, 1e-12), 0.0)
    exact = found[:, 0] & (distances[:, 0] <= 1e-12)
    weights[exact] = 0.0
    weights[exact, 0] = 1.0
    coords = sample_coords[np.where(found, neighbours, 0)].astype(np.float64)     # (n, k, 2)
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        placed = (weights[..., None] * coords).sum(axis=1) / total
    return placed.astype(np.float32)
