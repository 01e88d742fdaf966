"""The 2-D UMAP map of VAC object embeddings: fitted once on a subsample, applied to every object.

Stored with the VAC (``UMAP_X``/``UMAP_Y`` columns, the fitted reducer in ``umap.pkl``)
so the dashboard never recomputes it. Not for similarity search (see `similarity`).
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
from tqdm import tqdm

from ..io.files import atomic_path

__all__ = ["fit_embedding_map", "save_reducer", "UMAP_FIT_ROWS"]

UMAP_FIT_ROWS = 20_000
_TRANSFORM_BATCH = 50_000


def fit_embedding_map(embeddings, fit_rows=UMAP_FIT_ROWS, seed=42, n_neighbors=15):
    """UMAP coordinates of every finite embedding row.

    Parameters
    ----------
    embeddings : ndarray (n, d); rows with NaN (unpredicted objects) get NaN coordinates.
    fit_rows : the reducer is fitted on at most this many random rows, then every other
        row is placed with ``transform`` (so the map of a large VAC costs one fit).
    seed : fixes the subsample and UMAP's randomness (same VAC, same map).

    Returns
    -------
    coords : ndarray (n, 2) float32
    reducer : the fitted ``umap.UMAP`` (None when fewer than 3 rows are finite)
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    coords = np.full((len(embeddings), 2), np.nan, dtype=np.float32)
    finite = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
    if len(finite) < 3:
        return coords, None
    import umap

    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(finite, size=min(fit_rows, len(finite)), replace=False))
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(fit) - 1), min_dist=0.1,
                        random_state=seed, transform_seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # 'n_jobs overridden by random_state', spectral init notes
        coords[fit] = reducer.fit_transform(embeddings[fit])
        rest = np.setdiff1d(finite, fit)
        for start in tqdm(range(0, len(rest), _TRANSFORM_BATCH), desc="umap", unit="batch", disable=len(rest) == 0):
            rows = rest[start:start + _TRANSFORM_BATCH]
            coords[rows] = reducer.transform(embeddings[rows])
    return coords, reducer


def save_reducer(reducer, path):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(reducer, fh)

