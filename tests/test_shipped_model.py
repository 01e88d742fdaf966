"""The committed default weights load with today's code and do their job on a fresh tiny sky."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ojala_core.evaluation import evaluate_table
from ojala_core.model.pretrained import Ojala
from ojala_core.vocabulary import DEFAULT_VOCABULARY

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "ojala-small"


@pytest.fixture(scope="module")
def shipped():
    return Ojala.from_pretrained(SHIPPED, expected_vocabulary=DEFAULT_VOCABULARY)


def test_shipped_weights_are_small_and_documented(shipped):
    assert (SHIPPED / "model.safetensors").stat().st_size < 20e6
    assert (SHIPPED / "MODEL_CARD.md").exists()
    assert shipped.info["train_config"]["preset"] == "small"


def test_shipped_model_scores_a_sky_it_never_saw(shipped, tiny_mocks, tiny_sky):
    # The tiny sky has another size and footprint than the default sky it was trained on, and
    # kinds of objects that sky lacked: faint labelled stars, M dwarfs below 3,500 K, hot stars,
    # white dwarfs (atmosphere grids instead of a parametric model) and QSOs Legacy calls
    # extended. On the kinds the old sky held the weights must still do their job.
    test_real = pd.read_parquet(tiny_mocks[0] / "test_real.parquet")
    scores = evaluate_table(shipped, test_real)
    truth = pd.read_parquet(tiny_sky / "truth.parquet", columns=["TARGETID", "POPULATION", "TEFF", "MORPHTYPE"])
    kinds = test_real[["TARGETID"]].merge(truth, on="TARGETID", how="left")
    old_kinds = np.where(kinds["POPULATION"].isin(["MWS", "FAINT_STAR"]),
                         (kinds["POPULATION"] == "MWS") & kinds["TEFF"].between(3500.0, 10000.0),
                         (kinds["POPULATION"] != "QSO") | (kinds["MORPHTYPE"] == "PSF"))
    assert evaluate_table(shipped, test_real[old_kinds])["weighted_f1"] > 0.9
    assert scores["Z_GAL"]["sigma_nmad"] < 0.08 and scores["Z_GAL"]["outlier_fraction"] < 0.1
    assert scores["TEFF"]["sigma_nmad"] < 300
    assert np.isfinite(scores["HALPHA_6562_EW"]["sigma_nmad"])


def test_shipped_model_classifies_every_kind_of_the_new_sky(shipped, tiny_mocks):
    scores = evaluate_table(shipped, pd.read_parquet(tiny_mocks[0] / "test_real.parquet"))
    assert scores["weighted_f1"] > 0.9


def test_bfloat16_inference_is_within_its_stated_tolerance_of_float32(shipped, tiny_mocks):
    # The tolerance of PRECISIONS["bfloat16"]: within 0.2 σ for 99 % of objects, the same class for 99.5 %.
    from ojala_core.model.inference import predict

    table = pd.read_parquet(tiny_mocks[0] / "test_real.parquet")
    exact, emb32 = predict(shipped, table)
    fast, emb16 = predict(shipped, table, precision="bfloat16")
    _assert_within_bfloat16_tolerance(shipped, exact, emb32, fast, emb16)


def _assert_within_bfloat16_tolerance(model, exact, emb32, fast, emb16):
    assert (exact["SPECTYPE"] == fast["SPECTYPE"]).mean() >= 0.995
    for name in model.vocabulary.targets:
        if f"{name}_ERR" not in exact:
            continue
        ok = exact[name].notna()
        shift = np.abs(fast[name][ok] - exact[name][ok]) / exact[f"{name}_ERR"][ok]
        assert np.quantile(shift, 0.99) < 0.2, name
    assert np.isfinite(emb16).all() and np.abs(emb16 - emb32).max() < 0.1 * np.abs(emb32).max()


def test_compiled_bfloat16_inference_is_within_the_bfloat16_tolerance_of_float32(shipped, tiny_mocks):
    # The fast path of `ojala vac --precision bfloat16 --compile`: one compiled pass over the table's own token
    # layout (missing values are padding; the tiny sky's Test-Real lacks bands for some objects, and its last
    # batch is short). Its stated tolerance is bfloat16's.
    from ojala_core.model.inference import predict

    table = pd.read_parquet(tiny_mocks[0] / "test_real.parquet")
    exact, emb32 = predict(shipped, table, batch_size=128)
    fast, emb16 = predict(shipped, table, precision="bfloat16", compiled=True, batch_size=128)
    assert len(table) % 128 and (fast["N_CONTEXT"] < fast["N_CONTEXT"].max()).any()
    _assert_within_bfloat16_tolerance(shipped, exact, emb32, fast, emb16)


def test_an_unknown_precision_is_refused(shipped, tiny_mocks):
    from ojala_core.model.inference import predict

    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        predict(shipped, pd.read_parquet(tiny_mocks[0] / "test_real.parquet").head(3), precision="float16")
