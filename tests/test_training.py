"""Training end to end on the tiny mocks: Lightning run, resume, --no-da, fine-tuning a head."""
import json

import numpy as np
import pandas as pd
import pytest

from ojala_core.metrics import sigma_nmad
from ojala_core.model.inference import predict
from ojala_core.model.pretrained import Ojala
from ojala_core.train.config import TrainConfig
from ojala_core.train.finetune import finetune_head
from ojala_core.train.run import train_model
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V

CONFIG = dict(preset="tiny", batch_size=32, max_steps=40, eval_every_steps=20, eval_objects=200, warmup_steps=5)


@pytest.fixture(scope="module")
def trained(tiny_mocks, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    train_model(tiny_mocks[0], out, TrainConfig(**CONFIG))
    return out


def test_training_writes_weights_checkpoints_and_a_metric_log(trained):
    model = Ojala.from_pretrained(trained, expected_vocabulary=V)
    assert model.info["steps"] == 40 and model.info["train_config"]["domain_adaptation"]
    assert (trained / "checkpoints" / "last.ckpt").exists()
    log = pd.read_csv(next(trained.glob("logs/*/metrics.csv")))
    assert {"train/loss", "train/mmd2", "test_real/weighted_f1", "test_synth/Z_GAL_sigma_nmad"} <= set(log.columns)
    assert log["test_real/weighted_f1"].notna().sum() == 2          # evaluated every 20 steps


def test_resume_continues_from_the_last_checkpoint(trained, tiny_mocks, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(trained, copy)
    model = train_model(tiny_mocks[0], copy, TrainConfig(**{**CONFIG, "max_steps": 60}), resume=True)
    assert model.info["steps"] == 60
    log = pd.concat(pd.read_csv(p) for p in copy.glob("logs/*/metrics.csv"))
    assert log["step"].max() >= 59


def test_no_da_ablation_trains_without_the_mmd_term(tiny_mocks, tmp_path):
    model = train_model(tiny_mocks[0], tmp_path, TrainConfig(**{**CONFIG, "max_steps": 10, "domain_adaptation": False}))
    log = pd.read_csv(next(tmp_path.glob("logs/*/metrics.csv")))
    assert "train/mmd2" not in log.columns
    assert not model.info["train_config"]["domain_adaptation"]


def test_a_run_started_from_a_trained_model_begins_with_its_weights_and_records_the_chain(trained, tiny_mocks,
                                                                                          tmp_path):
    import torch

    start = Ojala.from_pretrained(trained)
    config = TrainConfig(**{**CONFIG, "max_steps": 1, "learning_rate": 1e-12, "warmup_steps": 1,
                            "domain_adaptation": False, "dropout": 0.0, "init_from": str(trained)})
    model = train_model(tiny_mocks[0], tmp_path, config)
    # One step at a vanishing learning rate: the weights are the starting model's, not a fresh draw.
    for name, tensor in start.net.state_dict().items():
        assert torch.allclose(model.net.state_dict()[name], tensor, atol=1e-6), name
    assert np.allclose(model.normalisation.mean, start.normalisation.mean)
    assert model.config.dropout == 0.0
    assert model.info["earlier_runs"][0]["steps"] == 40 and model.info["steps"] == 1
    from ojala_core.evaluation import evaluate_table
    from ojala_core.model.card import write_model_card

    scores = {s: evaluate_table(model, pd.read_parquet(tiny_mocks[0] / f"{s}.parquet")) for s in ("test_synth",
                                                                                               "test_real")}
    card = write_model_card(tmp_path, scores, "ojala train --init-from M").read_text()
    assert "Continued from earlier runs (40 steps in" in card and "41 steps and" in card
    with pytest.raises(Exception, match="architecture"):
        train_model(tiny_mocks[0], tmp_path / "other", TrainConfig(**{**CONFIG, "preset": "small",
                                                                       "init_from": str(trained)}))


def test_a_fine_tuned_bh_mass_head_beats_the_spread_of_the_labels(trained, tiny_mocks, tmp_path):
    model = Ojala.from_pretrained(trained)
    train = pd.read_parquet(tiny_mocks[0] / "train.parquet")
    result = finetune_head(model, train, "LOG_MBH", steps=400)
    assert result["n_objects"] > 30
    model.save_pretrained(tmp_path / "ft")
    again = Ojala.from_pretrained(tmp_path / "ft")
    qso = train[np.isfinite(train["LOG_MBH"])]
    pred, _ = predict(again, qso, targets=["LOG_MBH"])
    residual = pred["LOG_MBH"].to_numpy() - qso["LOG_MBH"].to_numpy()
    assert np.isfinite(residual).all() and (pred["LOG_MBH_ERR"] > 0).all()
    assert sigma_nmad(residual) < np.std(qso["LOG_MBH"])
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["heads"]["LOG_MBH"]


def test_evaluation_scores_and_model_card_come_from_the_model(trained, tiny_mocks):
    from ojala_core.evaluation import evaluate_table
    from ojala_core.model.card import write_model_card

    model = Ojala.from_pretrained(trained)
    scores = {s: evaluate_table(model, pd.read_parquet(tiny_mocks[0] / f"{s}.parquet"))
              for s in ("test_synth", "test_real")}
    real = scores["test_real"]
    assert 0.0 <= real["weighted_f1"] <= 1.0 and real["Z_GAL"]["n"] > 50
    assert np.isfinite(real["Z_GAL"]["sigma_nmad"]) and np.isfinite(real["HALPHA_6562_EW"]["sigma_nmad"])
    card = write_model_card(trained, scores, "ojala train --config tiny").read_text()
    assert f"{real['Z_GAL']['sigma_nmad']:.4f}" in card and "ojala train --config tiny" in card
    assert "40 steps" in card


def test_model_card_compares_ojala_with_the_trees_and_lephare_from_a_report(trained, tiny_mocks):
    from ojala_core.evaluation import evaluate_table
    from ojala_core.model.card import write_model_card

    model = Ojala.from_pretrained(trained)
    scores = {s: evaluate_table(model, pd.read_parquet(tiny_mocks[0] / f"{s}.parquet"))
              for s in ("test_synth", "test_real")}
    sample = {"classification": {"full": {"weighted_f1": 0.93}, "no_morph": {"weighted_f1": 0.81}},
              "photoz": {"galaxy": {"sigma_nmad": 0.02, "outlier_fraction": 0.01}},
              "stars": {"TEFF": {"sigma_nmad": 150.0}}}
    trees = {"classification": {"full": {"weighted_f1": 0.95}},
             "photoz": {"galaxy": {"sigma_nmad": 0.03, "outlier_fraction": 0.01}},
             "stars": {"TEFF": {"sigma_nmad": 90.0}}}
    lephare = {"photoz": {"galaxy": {"sigma_nmad": 0.05, "outlier_fraction": 0.1, "n": 300}},
               "same_objects": {"ojala": {"sigma_nmad": 0.021, "outlier_fraction": 0.02},
                                "hgb": {"sigma_nmad": 0.031, "outlier_fraction": 0.02}}}
    report = {"meta": {"vac": "vac-x", "mag_limit": 21.0}, "test_real": sample, "test_synth": sample,
              "baselines": {"hgb": {"test_real": trees, "test_synth": trees},
                            "lephare": {"test_real": lephare, "test_synth": None}}}
    card = write_model_card(trained, scores, "ojala train", report).read_text()
    real = card[card.index("### Test-Real"):card.index("### Test-Synth")]
    assert "| weighted F1 | 0.930 | 0.950 | – | 0.900 | HGB |" in real
    assert "| galaxy z σ_NMAD | 0.0200 | 0.0300 | – | 0.0100 | OJALA |" in real
    assert "| galaxy z η | 0.0100 | 0.0100 | – | 0.0500 | tie |" in real
    assert "| TEFF σ_NMAD | 150 | 90 | – | – | HGB |" in real
    assert "no MORPHTYPE in the input (OJALA only) | 0.810 | – |" in real
    assert "| galaxy z σ_NMAD, LePHARE's 300 galaxies | 0.0210 | 0.0310 | 0.0500 | – | OJALA |" in real
    assert "OJALA is better than HGB on 1 of 4 rows compared" in real
