"""Survey scale: approximate neighbours against exact search, the non-pickle map, the model's reference set,
reproducible VACs and the same VAC from a 3-worker Dask cluster."""
import numpy as np
import pandas as pd
import pytest

from ojala_core.cli import main
from ojala_core.io.tables import InputError
from ojala_core.model.config import MODEL_PRESETS
from ojala_core.model.pretrained import Ojala
from ojala_core.model.tokenizer import Normalisation
from ojala_core.vac.embedding_map import fit_map_sample, place_on_map
from ojala_core.vac.produce import QUALITY_FLAGS, produce_vac
from ojala_core.vac.reference import EmbeddingReference
from ojala_core.vac.similarity import EmbeddingIndex, make_index, recall_at_k
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints

# Neighbour-based columns of two VACs whose embeddings differ by float32 round-off (worker threads
# against this process) or whose index is approximate: this share of rows must agree to 1e-3.
ANN_AGREEMENT = 0.95


def clustered_embeddings(n, dim=64, seed=0):
    """Objects on a few low-dimensional clumps, like model embeddings (not an isotropic Gaussian)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (40, dim))
    basis = rng.normal(0, 1, (40, 6, dim))
    clump = rng.integers(0, 40, n)
    return (centres[clump] + np.einsum("nk,nkd->nd", rng.normal(0, 1, (n, 6)), basis[clump])
            + rng.normal(0, 0.05, (n, dim))).astype(np.float32)


def test_ivf_index_recall_at_10_against_exact_search_is_at_least_095():
    import faiss

    vectors = clustered_embeddings(30_000)
    approximate = EmbeddingIndex(vectors, exact_rows=1_000, seed=3)
    assert hasattr(approximate.index, "nlist")                    # really approximate
    exact = faiss.IndexFlatL2(vectors.shape[1])
    exact.add(vectors)
    assert recall_at_k(approximate.index, exact, vectors[::30], k=10) >= 0.95


def test_approximate_outlier_scores_match_exact_ones_on_most_rows():
    vectors = clustered_embeddings(20_000, seed=1)
    vectors[5] += 50.0                                           # far from every clump
    exact = EmbeddingIndex(vectors).outlier_scores(vectors)
    approx = EmbeddingIndex(vectors, exact_rows=1_000).outlier_scores(vectors)
    assert np.mean(np.isclose(approx, exact, rtol=1e-3)) >= ANN_AGREEMENT
    assert np.argmax(approx) == 5


def test_index_built_partition_by_partition_equals_the_one_built_at_once():
    vectors = clustered_embeddings(3_000, seed=2)
    index = make_index(vectors.shape[1], len(vectors))
    parts = EmbeddingIndex.from_parts(index, [(np.arange(0, 1000), vectors[:1000]),
                                              (np.arange(1000, 3000), vectors[1000:])])
    at_once = EmbeddingIndex(vectors)
    np.testing.assert_array_equal(parts.search(vectors[:50], 10)[0], at_once.search(vectors[:50], 10)[0])


def test_map_fit_is_byte_identical_and_places_the_sample_on_itself():
    sample = clustered_embeddings(600, seed=4)
    coords = fit_map_sample(sample, seed=7)
    assert coords.tobytes() == fit_map_sample(sample, seed=7).tobytes()
    reference = EmbeddingReference(sample, coords)
    found, dist = reference.index.search(sample, 10)
    np.testing.assert_array_equal(place_on_map(coords, found, dist), coords)


def test_placement_is_the_inverse_distance_mean_of_the_neighbours():
    coords = np.array([[0.0, 0.0], [3.0, 6.0]], dtype=np.float32)
    placed = place_on_map(coords, np.array([[0, 1]]), np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(placed, [[1.0, 2.0]])               # weights 1 and 1/2


@pytest.fixture(scope="module")
def model_with_reference(tiny_mocks, tmp_path_factory):
    path = tmp_path_factory.mktemp("scalemodel") / "model"
    train = pd.read_parquet(tiny_mocks[0] / "train.parquet")
    Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(train, V)).save_pretrained(path)
    assert main(["index", "--model", str(path), "--mocks", str(tiny_mocks[0]), "--rows", "300", "--seed", "5"]) == 0
    return path


@pytest.fixture(scope="module")
def split_catalogue(tiny_sky, tmp_path_factory):
    from ojala_core.io.jpas import flat_catalogue

    cat = flat_catalogue(tiny_sky / "jpas" / "jpas-catalogue.fits")
    folder = tmp_path_factory.mktemp("scalecat")
    cat.to_parquet(folder / "jpas.parquet")
    (folder / "parts").mkdir()
    for k, start in enumerate(range(0, len(cat), 400)):
        cat.iloc[start:start + 400].to_parquet(folder / "parts" / f"jpas-{k:03d}.parquet")
    return folder


def _vac(folder, manifest):
    return pd.concat(pd.read_parquet(folder / p["path"]) for p in manifest["partitions"]).reset_index(drop=True)


def test_outlier_score_is_measured_against_the_models_reference_set(model_with_reference, split_catalogue, tmp_path):
    manifest = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "vac", chunk_rows=400)
    assert manifest["reference"] == str(model_with_reference / "reference")
    assert not (tmp_path / "vac" / "map").exists() and not (tmp_path / "vac" / "umap.pkl").exists()
    vac = _vac(tmp_path / "vac", manifest)
    embeddings = np.concatenate([np.load(p) for p in sorted((tmp_path / "vac" / "embeddings").glob("*.npy"))])
    reference = np.load(model_with_reference / "reference" / "embeddings.npy")
    row = int(vac["OUTLIER_SCORE"].first_valid_index())
    tenth = np.sort(np.sqrt(((reference - embeddings[row]) ** 2).sum(axis=1)))[9]
    assert vac.loc[row, "OUTLIER_SCORE"] == pytest.approx(tenth, rel=1e-4)
    coords = np.load(model_with_reference / "reference" / "umap.npy")
    inside = vac[["UMAP_X", "UMAP_Y"]].dropna()
    assert (inside.min() >= coords.min(axis=0) - 1e-4).all() and (inside.max() <= coords.max(axis=0) + 1e-4).all()
    # bit 32: above the 99 % quantile of the reference objects' own scores (each against the other 299)
    own = np.sort(np.sqrt(((reference[:, None, :] - reference[None, :, :]) ** 2).sum(-1)), axis=1)[:, 10]
    threshold = manifest["outside_training"]["threshold"]
    assert threshold == pytest.approx(np.quantile(own, 0.99), rel=1e-4)
    flagged = (vac["QUALITY_FLAG"].to_numpy() & QUALITY_FLAGS["OUTSIDE_TRAINING"]) > 0
    assert np.array_equal(flagged, vac["OUTLIER_SCORE"].to_numpy() > threshold)
    assert manifest["summary"]["outside_training"] == manifest["outside_training"]["objects"] == flagged.sum()
    assert flagged.mean() < 0.2                                       # the sky's own objects are mostly inside


def test_a_catalogue_of_unphysical_seds_flags_itself_against_the_reference(model_with_reference, split_catalogue,
                                                                           tmp_path):
    cat = pd.read_parquet(split_catalogue / "jpas.parquet").iloc[:300].reset_index(drop=True)
    bands = [c for c in cat.columns if c.startswith("APER_COR_3_0_J") and not c.endswith("_ERR")]
    rng = np.random.default_rng(0)
    flux = cat[bands].to_numpy(float)
    cat[bands] = flux[np.arange(len(cat))[:, None], np.argsort(rng.uniform(size=flux.shape), axis=1)] * \
        rng.uniform(0.2, 5.0, size=flux.shape)                      # bands shuffled and scaled: no SED is like it
    cat.to_parquet(tmp_path / "odd.parquet")
    manifest = produce_vac(model_with_reference, tmp_path / "odd.parquet", tmp_path / "vac")
    vac = _vac(tmp_path / "vac", manifest)
    flagged = (vac["QUALITY_FLAG"].to_numpy() & QUALITY_FLAGS["OUTSIDE_TRAINING"]) > 0
    assert flagged.mean() > 0.5, flagged.mean()     # a VAC-relative score could not say this: they are all alike


def test_same_seed_gives_byte_identical_vac_without_a_reference_set(tiny_mocks, split_catalogue, tmp_path):
    model = tmp_path / "model"                                  # a model without a reference set
    train = pd.read_parquet(tiny_mocks[0] / "train.parquet")
    Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(train, V)).save_pretrained(model)
    first = produce_vac(model, split_catalogue / "jpas.parquet", tmp_path / "a", chunk_rows=400, umap_fit_rows=500)
    again = produce_vac(model, split_catalogue / "jpas.parquet", tmp_path / "b", chunk_rows=400, umap_fit_rows=500)
    assert first["reference"] is None and "VAC itself" in first["outlier_score"]
    assert first["outside_training"] is None and first["summary"]["outside_training"] == 0
    assert (tmp_path / "a" / "map" / "umap.npy").exists()
    for p, q in zip(first["partitions"], again["partitions"]):
        assert (tmp_path / "a" / p["path"]).read_bytes() == (tmp_path / "b" / q["path"]).read_bytes()


def test_a_3_worker_dask_cluster_gives_the_same_vac(model_with_reference, split_catalogue, tiny_mocks, tmp_path):
    from dask.distributed import LocalCluster

    # With the mocks' zero points: the workers put the photometry on the synthetic system as this process does.
    zero_points = ZeroPoints.load(tiny_mocks[0] / ZERO_POINTS_FILE)
    single = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "a", chunk_rows=400,
                         zero_points=zero_points)
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dasked = produce_vac(model_with_reference, split_catalogue / "parts", tmp_path / "c",
                             scheduler=cluster.scheduler_address, zero_points=zero_points)
    assert single["zero_points"] == dasked["zero_points"] == zero_points.to_dict()
    a, c = _vac(tmp_path / "a", single), _vac(tmp_path / "c", dasked)
    neighbour_columns = ["OUTLIER_SCORE", "UMAP_X", "UMAP_Y"]
    pd.testing.assert_frame_equal(a.drop(columns=neighbour_columns), c.drop(columns=neighbour_columns), rtol=1e-4)
    for name in neighbour_columns:
        close = np.isclose(a[name], c[name], rtol=1e-3, atol=1e-3, equal_nan=True)
        assert close.mean() >= ANN_AGREEMENT, name
    assert dasked["scheduler"] == cluster.scheduler_address


def test_worker_processes_give_the_same_vac_as_one_process(model_with_reference, split_catalogue, tmp_path):
    one = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "one", chunk_rows=400,
                      workers=1)
    two = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "two", chunk_rows=400,
                      workers=2)
    assert one["workers"] == 1 and two["workers"] == 2 and len(two["partitions"]) > 2
    a, b = _vac(tmp_path / "one", one), _vac(tmp_path / "two", two)
    pd.testing.assert_frame_equal(a, b, rtol=1e-5)
    assert one["summary"] == two["summary"]


def test_the_compiled_network_pass_gives_the_eager_vac(model_with_reference, split_catalogue, tmp_path):
    # float32, so that the two passes differ only by the order of float32 sums: the compiled pass's token
    # layout (every row holds the catalogue's tokens in one order, missing values as padding) changes nothing.
    eager = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "eager", chunk_rows=400)
    compiled = produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "compiled",
                           chunk_rows=400, compiled=True)
    assert compiled["compiled"] and not eager["compiled"]
    a, b = _vac(tmp_path / "eager", eager), _vac(tmp_path / "compiled", compiled)
    neighbour_columns = ["OUTLIER_SCORE", "UMAP_X", "UMAP_Y"]
    assert list(a.columns) == list(b.columns)
    for name in a.columns.drop(neighbour_columns):
        if a[name].dtype.kind == "f":
            # Within 1e-4, or 1e-5 of the column's scale: a difference of two logs near zero (LOG_NII_HA)
            # is not held to its own size.
            scale = float(np.nanmax(np.abs(a[name]))) if a[name].notna().any() else 0.0
            np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)
        else:
            pd.testing.assert_series_equal(b[name], a[name])
    for name in neighbour_columns:
        assert np.isclose(a[name], b[name], rtol=1e-3, atol=1e-3, equal_nan=True).mean() >= ANN_AGREEMENT, name
    # A VAC is not resumed with the other path: its rows would not all come from one.
    with pytest.raises(InputError, match="other options \\(compiled\\)"):
        produce_vac(model_with_reference, split_catalogue / "jpas.parquet", tmp_path / "eager", chunk_rows=400,
                    compiled=True)


def test_compiling_without_a_cxx_compiler_is_refused_before_anything_is_written(model_with_reference,
                                                                                 split_catalogue, tmp_path, capsys):
    import torch._inductor.config as inductor_config

    out = tmp_path / "vac"
    with inductor_config.patch({"cpp.cxx": (None, "no-such-c++")}):
        assert main(["vac", "--model", str(model_with_reference), "--catalog", str(split_catalogue / "jpas.parquet"),
                     "--out", str(out), "--compile"]) == 2
    err = capsys.readouterr().err
    assert "C++ compiler ('no-such-c++' is not on PATH)" in err and err.count("\n") == 1
    assert not out.exists()


def test_duplicate_ids_are_found_across_partitions_of_a_streamed_file(model_with_reference, split_catalogue,
                                                                       tmp_path):
    cat = pd.read_parquet(split_catalogue / "jpas.parquet")
    repeated = pd.concat([cat, cat.iloc[[3, 900]]], ignore_index=True)          # two ids seen before
    repeated.to_parquet(tmp_path / "repeated.parquet")
    manifest = produce_vac(model_with_reference, tmp_path / "repeated.parquet", tmp_path / "vac", chunk_rows=400)
    vac = _vac(tmp_path / "vac", manifest)
    flagged = (vac["QUALITY_FLAG"].to_numpy() & QUALITY_FLAGS["DUPLICATE_ID"]) > 0
    assert np.flatnonzero(flagged).tolist() == [len(cat), len(cat) + 1]           # the second occurrences only
    assert vac["CLASS"].iloc[-2:].isna().all() and manifest["summary"]["duplicate_id"] == 2


_ALLOCATE = """
import resource, sys
import torch
from ojala_core.vac.produce import keep_freed_memory

def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        torch.ones(4 << 20).sum()          # a 16 MB tensor, written and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
assert keep_freed_memory()
faults()                                   # the heap grows once
print(before, faults())
"""


def test_workers_keep_freed_memory_under_dasks_trim_setting(tmp_path):
    """Under the MALLOC_TRIM_THRESHOLD_ that Dask's nanny sets, every freed 16 MB block goes back to the
    system and is faulted in again; after `keep_freed_memory` the same loop reuses the heap."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", _ALLOCATE], env=env, capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert before > 40 * 3000                            # ~4,096 page faults per block: each one mapped afresh
    assert after < before / 10
