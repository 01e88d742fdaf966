"""The realism check (issue 14): external spectra through the J-PAS catalogue → `ojala vac` path,
scored by set, MORPHTYPE and magnitude."""
import numpy as np
import pandas as pd
import pytest

from ojala_core.io.jpas import read_jpas_catalogue
from ojala_core.realism import SETS, external_catalogue, run_realism, score_realism, summarise_realism


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    out = tmp_path_factory.mktemp("realism")
    return out, external_catalogue(out, n_per_set=30, seed=3)


def test_the_external_catalogue_reads_as_a_jpas_archive_file_with_its_truth(external):
    out, path = external
    photometry = read_jpas_catalogue(path)
    truth = pd.read_parquet(out / "external-truth.parquet")
    assert set(truth["SET"]) == set(SETS) and len(photometry) == len(truth) > 160
    # the control (the sky's own objects) rides in the same file, every set of it
    assert set(truth.loc[truth["SOURCE"] == "sky", "SET"]) == set(SETS)
    assert truth.loc[truth["SOURCE"] == "sky", "TEMPLATE"].nunique() > 4
    assert set(photometry["JPAS_ID"] if "JPAS_ID" in photometry else photometry.index.astype(str)) \
        == set(truth["JPAS_ID"])
    assert 0.3 < truth["HAS_MORPHTYPE"].mean() < 0.7
    assert (truth.loc[~truth["HAS_MORPHTYPE"], "GIVEN_MORPHTYPE"] == "").all()
    # the drawn i magnitudes are what the survey model measures, within its noise
    assert np.nanmedian(np.abs(truth["MAG_SYN_iSDSS"] - truth["MAG_I_TRUE"])) < 0.01


def test_scores_are_computed_from_the_predictions(external):
    out, _ = external
    truth = pd.read_parquet(out / "external-truth.parquet")
    perfect = pd.DataFrame({"JPAS_ID": truth["JPAS_ID"], "CLASS": truth["SET"], "Z_GAL": truth["TRUE_Z"],
                            "Z_QSO": truth["TRUE_Z"], "TEFF": truth["TRUE_TEFF"]})
    table = score_realism(perfect, truth)
    assert (table["correct_class"] == 1.0).all() and table["n"].sum() == len(truth)
    assert set(table["source"]) == {"external", "sky"}
    assert np.nanmax(table["z_sigma_nmad"]) == 0.0 and np.nanmax(table["teff_sigma_nmad"]) == 0.0
    wrong = perfect.assign(CLASS="STAR", Z_GAL=perfect["Z_GAL"] + 0.3)
    table = score_realism(wrong, truth)
    galaxies = table[table["set"] == "GALAXY"]
    assert (galaxies["correct_class"] == 0.0).all() and (galaxies["z_outliers"] > 0.5).all()


def test_the_summary_scores_each_set_over_every_magnitude_and_goes_in_the_model_card(external):
    from ojala_core.model.card import _realism_lines

    out, _ = external
    truth = pd.read_parquet(out / "external-truth.parquet")
    external_galaxy = ((truth["SET"] == "GALAXY") & (truth["SOURCE"] == "external")).to_numpy()
    # external galaxies off by -5 %, 0 or +5 % in (1+z) in turn (σ_NMAD 1.48 × 0.05); the control exact;
    # every other external star called a QSO
    step = 0.05 * (np.cumsum(external_galaxy) % 3 - 1)
    z = np.where(external_galaxy, truth["TRUE_Z"] + step * (1 + truth["TRUE_Z"]), truth["TRUE_Z"])
    star = ((truth["SET"] == "STAR") & (truth["SOURCE"] == "external")).to_numpy()
    cls = truth["SET"].where(~(star & (np.cumsum(star) % 2 == 0)), "QSO")
    vac = pd.DataFrame({"JPAS_ID": truth["JPAS_ID"], "CLASS": cls, "Z_GAL": z, "Z_QSO": truth["TRUE_Z"],
                        "TEFF": truth["TRUE_TEFF"] + 100.0})
    summary = {(r["source"], r["set"]): r for r in summarise_realism(vac, truth)}
    assert set(summary) == {(s, name) for s in ("external", "sky") for name in SETS}
    assert summary[("external", "GALAXY")]["n"] == external_galaxy.sum()
    assert summary[("external", "GALAXY")]["z_sigma_nmad"] == pytest.approx(1.48 * 0.05, rel=1e-6)
    assert summary[("sky", "GALAXY")]["z_sigma_nmad"] == 0.0
    assert summary[("external", "STAR")]["correct_class"] == pytest.approx(np.mean(np.cumsum(star)[star] % 2))
    assert summary[("sky", "STAR")]["correct_class"] == 1.0
    realism = {"model": "models/x", "n_per_set": 30, "seed": 3, "sources": {"GALAXY": "Brown et al. 2014 atlas (x)"},
               "summary": list(summary.values())}
    card = "\n".join(_realism_lines(realism))
    star_class = f"{summary[('external', 'STAR')]['correct_class']:.3f}"
    assert f"| STAR (?) | class right (n {int(star.sum())} / " in card and f"| {star_class} | 1.000 |" in card
    assert "| GALAXY (Brown et al. 2014 atlas) |" in card and "| | z σ_NMAD / η [%] | 0.074 / 0 | 0.000 / 0 |" in card
    with pytest.raises(ValueError, match="no 'summary'"):
        _realism_lines({"rows": []})


@pytest.mark.slow
def test_run_realism_goes_through_ojala_vac_and_writes_its_report(tmp_path):
    from pathlib import Path
    model = Path(__file__).resolve().parent.parent / "models" / "ojala-small"
    table = run_realism(model, tmp_path, n_per_set=15, seed=5)
    assert {"realism.json", "realism.md", "realism.png"} <= {p.name for p in tmp_path.iterdir()}
    assert set(table["set"]) == set(SETS) and table["n"].sum() > 35
    report = (tmp_path / "realism.md").read_text()
    assert "| external | GALAXY | absent |" in report and "| sky | STAR | given |" in report
    summary = pd.read_json(tmp_path / "realism.json", typ="series")["summary"]
    assert {(r["source"], r["set"]) for r in summary} == {(s, name) for s in ("external", "sky") for name in SETS}
