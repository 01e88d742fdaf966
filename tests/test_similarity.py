"""Similarity search and outlier scores over embeddings."""
import numpy as np
import pytest

from ojala_core.vac.similarity import EmbeddingIndex


@pytest.fixture
def cloud():
    rng = np.random.default_rng(0)
    emb = rng.normal(0, 1, (500, 8)).astype(np.float32)
    emb[7] += 25.0                       # an isolated object
    emb[11] = np.nan                     # an object without a prediction
    return emb


def test_neighbours_are_sorted_by_distance_and_exclude_the_object(cloud):
    index = EmbeddingIndex(cloud)
    rows, dist = index.neighbours_of(3, cloud, k=10)
    assert len(rows) == 10 and 3 not in rows and 11 not in rows
    assert np.all(np.diff(dist) >= 0)
    brute = np.sqrt(((np.nan_to_num(cloud, nan=1e9) - cloud[3]) ** 2).sum(1))
    brute[3] = np.inf
    assert set(rows) == set(np.argsort(brute)[:10])


def test_the_isolated_object_has_the_highest_outlier_score(cloud):
    scores = EmbeddingIndex(cloud).outlier_scores(cloud, k=5)
    assert np.nanargmax(scores) == 7 and np.isnan(scores[11])
    assert np.sum(np.isfinite(scores)) == 499
