"""VAC production: every input column kept, predictions and derived columns, bad rows flagged, resuming."""
import json

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from ojala_core.io.jpas import flat_catalogue
from ojala_core.model.config import MODEL_PRESETS
from ojala_core.model.pretrained import Ojala
from ojala_core.model.tokenizer import Normalisation
from ojala_core.vac.produce import QUALITY_FLAGS, produce_vac
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V


@pytest.fixture(scope="module")
def model_dir(tiny_mocks, tmp_path_factory):
    path = tmp_path_factory.mktemp("vacmodel")
    train = pd.read_parquet(tiny_mocks[0] / "train.parquet")
    Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(train, V)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def bad_catalogue(tiny_sky, tmp_path_factory):
    cat = flat_catalogue(tiny_sky / "jpas" / "jpas-catalogue.fits")      # the sky's archive file, flattened
    cat.loc[0, "APER_COR_3_0_J0660"] = np.nan                 # NaN flux
    cat.loc[1, "APER_COR_3_0_J0500"] = -1e-18                 # negative flux
    cat.loc[2, "MAG_G"] = 99.0                                # 99 magnitude
    nb = [c for c in cat.columns if c.startswith("APER_COR_3_0_J") and not c.endswith("_ERR")]
    cat.loc[3, nb] = np.nan                                   # all narrow bands missing
    cat.loc[3, "APER_COR_3_0_iSDSS"] = np.nan                 # ... and iSDSS: broad bands only
    cat.loc[6, nb + ["APER_COR_3_0_iSDSS"]] = np.nan          # nothing usable at all
    cat.loc[6, ["MAG_AUTO_iSDSS", "MAG_G", "MAG_R", "MAG_Z", "MAG_W1", "MAG_W2"]] = 99.0
    cat.loc[4, ["TILE_ID", "NUMBER"]] = cat.loc[5, ["TILE_ID", "NUMBER"]].to_numpy()   # duplicate id
    path = tmp_path_factory.mktemp("cat") / "jpas.parquet"
    cat.to_parquet(path)
    return path, cat


def test_vac_keeps_inputs_adds_predictions_and_flags_bad_rows(model_dir, bad_catalogue, tmp_path):
    path, cat = bad_catalogue
    manifest = produce_vac(model_dir, path, tmp_path / "vac", chunk_rows=400)
    vac = pd.concat(pd.read_parquet(tmp_path / "vac" / p["path"]) for p in manifest["partitions"])
    assert len(vac) == len(cat) and set(cat.columns) <= set(vac.columns)
    for col in ("CLASS", "P_GALAXY", "P_STAR", "P_QSO", "Z_GAL", "Z_GAL_ERR", "LOGM_ERR", "HALPHA_FLUX",
                "BALMER_DECREMENT", "LOG_SFR_HALPHA", "BPT_Ke01", "WHAN_CLASS", "QUALITY_FLAG", "EMBEDDING_ROW"):
        assert col in vac
    summary = manifest["summary"]
    assert summary["rows"] == len(cat) and summary["duplicate_id"] == 1 and summary["no_photometry"] >= 1
    assert summary["masked_band_values"] >= 1                  # the negative flux became a missing value
    row3, row5, row6 = vac.iloc[3], vac.iloc[5], vac.iloc[6]
    assert row3["QUALITY_FLAG"] & QUALITY_FLAGS["FEW_BANDS"] and row3["QUALITY_FLAG"] & QUALITY_FLAGS["NO_ISDSS"]
    assert pd.notna(row3["CLASS"])                             # still predicted, from its broad bands
    assert row6["QUALITY_FLAG"] & QUALITY_FLAGS["NO_PHOTOMETRY"] and pd.isna(row6["Z_GAL"])
    assert vac.iloc[5]["QUALITY_FLAG"] & QUALITY_FLAGS["DUPLICATE_ID"] and pd.isna(row5["CLASS"])
    assert vac.iloc[0]["QUALITY_FLAG"] == 0 and pd.notna(vac.iloc[0]["CLASS"])
    probs = vac[["P_GALAXY", "P_STAR", "P_QSO"]].dropna().sum(axis=1)
    assert np.allclose(probs, 1.0, atol=1e-5)
    emb = np.concatenate([np.load(tmp_path / "vac" / "embeddings" / f"part-{k:05d}.npy")
                          for k in range(len(manifest["partitions"]))])
    assert emb.shape == (len(cat), 32) and np.isnan(emb[6]).all() and np.isfinite(emb[0]).all()
    assert list(vac["EMBEDDING_ROW"]) == list(range(len(cat)))
    assert np.isnan(vac.iloc[6]["OUTLIER_SCORE"]) and vac["OUTLIER_SCORE"].notna().sum() == len(cat) - 2
    assert (tmp_path / "vac" / "similarity.faiss").exists()


def test_vac_resumes_by_partition(model_dir, bad_catalogue, tmp_path):
    path, _ = bad_catalogue
    first = produce_vac(model_dir, path, tmp_path / "vac", chunk_rows=400)
    before = pd.concat(pd.read_parquet(tmp_path / "vac" / p["path"]) for p in first["partitions"])
    embeddings = sorted((tmp_path / "vac" / "embeddings").glob("part-*.npy"))
    stamps = {p.name: p.stat().st_mtime_ns for p in embeddings}
    (tmp_path / "vac" / "catalogue" / "part-00001.parquet").unlink()    # as if killed in partition 1
    embeddings[1].unlink()
    again = produce_vac(model_dir, path, tmp_path / "vac", chunk_rows=400)
    recomputed = [p.name for p in sorted((tmp_path / "vac" / "embeddings").glob("part-*.npy"))
                  if p.stat().st_mtime_ns != stamps.get(p.name)]
    assert recomputed == [embeddings[1].name]               # only the missing partition is predicted again
    after = pd.concat(pd.read_parquet(tmp_path / "vac" / p["path"]) for p in again["partitions"])
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
    assert first["summary"] == again["summary"]
    assert json.loads((tmp_path / "vac" / "manifest.json").read_text())["summary"]["rows"] == first["summary"]["rows"]


def test_vac_partitioned_input_through_dask_equals_streaming(model_dir, bad_catalogue, tmp_path):
    _, cat = bad_catalogue
    cat = cat.copy()
    cat.loc[700, ["TILE_ID", "NUMBER"]] = cat.loc[10, ["TILE_ID", "NUMBER"]].to_numpy()   # a duplicate across files
    single = tmp_path / "jpas.parquet"
    cat.to_parquet(single)
    folder = tmp_path / "parts"
    folder.mkdir()
    for k, start in enumerate(range(0, len(cat), 500)):
        cat.iloc[start:start + 500].to_parquet(folder / f"jpas-{k:03d}.parquet")
    streamed = produce_vac(model_dir, single, tmp_path / "a", chunk_rows=500)
    dasked = produce_vac(model_dir, folder, tmp_path / "b", scheduler="local", fits=True)
    assert dasked["summary"] == streamed["summary"] and streamed["summary"]["duplicate_id"] == 2
    assert [p["rows"] for p in dasked["partitions"]] == [p["rows"] for p in streamed["partitions"]]
    a, b = (pd.concat(pd.read_parquet(tmp_path / d / p["path"]) for p in m["partitions"]).reset_index(drop=True)
            for d, m in (("a", streamed), ("b", dasked)))
    assert b.loc[700, "QUALITY_FLAG"] & QUALITY_FLAGS["DUPLICATE_ID"] and pd.isna(b.loc[700, "CLASS"])
    umap_cols = ["UMAP_X", "UMAP_Y"]
    # Same predictions from worker processes (1 thread) as in-process, to float32 round-off.
    pd.testing.assert_frame_equal(a.drop(columns=umap_cols), b.drop(columns=umap_cols), rtol=1e-4)
    for frame in (a, b):
        predicted = frame["CLASS"].notna()
        assert np.isfinite(frame.loc[predicted, umap_cols].to_numpy()).all()
        assert frame.loc[~predicted, umap_cols].isna().all().all()
    fits_rows = sum(len(Table.read(p)) for p in sorted((tmp_path / "b" / "fits").glob("part-*.fits")))
    assert fits_rows == len(cat)
    exported = Table.read(tmp_path / "b" / "fits" / "part-00000.fits")
    assert str(exported["HALPHA_FLUX"].unit) == "erg / (s cm2)" and exported["CLASS"][0] == b.loc[0, "CLASS"]
