"""The validation report: every figure rendered and referenced, metrics.json as documented, fair baselines."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ojala_core.comparison import BETTER, winner
from ojala_core.validation.lephare import lephare_status, run_lephare
from ojala_core.validation.predictions import context_tokens, hide_line_filters, line_filters
from ojala_core.validation.report import build_report
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.vocabulary import TRAYS

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ojala-small"
LEPHARE_DATA = ROOT.parent / "shared" / "baselines" / "lephare-data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vac_dir(tiny_vac):
    return tiny_vac


@pytest.fixture(scope="module")
def report(vac_dir, tiny_mocks, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    metrics = build_report(vac_dir, tiny_mocks[0], out, min_count=20, lephare=False, hgb_max_iter=10,
                           finetune_steps=100)
    return out, metrics


def _leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(tree, list) and tree and isinstance(tree[0], dict):
        for item in tree:
            yield from _leaves(item, prefix + "[]")
    else:
        yield prefix, tree


def _documented_keys():
    """(regex, optional) for every key of the table in docs/metrics.md."""
    sample = r"(test_real|test_synth)"
    out = []
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if not match:
            continue
        pattern = re.escape(match.group(1)).replace(r"\[\]", r"\[\]")
        pattern = pattern.replace(re.escape("<scored>"), rf"({sample}|baselines\.hgb\.{sample})")
        pattern = pattern.replace(re.escape("<sample>"), sample).replace(re.escape("<path>"), r".+")
        pattern = re.sub(r"<[a-z]+>", r"[^.\\[\\]]+", pattern)
        out.append((re.compile(pattern + "$"), "(optional)" in line))
    return out


def test_index_references_every_figure_and_each_is_a_png(report):
    out, _ = report
    page = (out / "index.html").read_text()
    figures = sorted((out / "figures").glob("*.png"))
    assert len(figures) >= 14                      # 7–8 figures for each of Test-Real and Test-Synth
    referenced = set(re.findall(r"src='(figures/[^']+)'", page))
    assert referenced == {f"figures/{p.name}" for p in figures}
    for path in figures:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert "http://" not in page and "https://" not in page  # opens offline
    assert "LePHARE baseline not run" in page                 # says why, never crashes


def test_metrics_json_keys_are_exactly_the_documented_ones(report):
    out, metrics = report
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics
    documented = _documented_keys()
    written = [path for path, _ in _leaves(on_disk)]
    undocumented = [p for p in written if not any(rx.match(p) for rx, _ in documented)]
    assert not undocumented, undocumented[:10]
    unwritten = [rx.pattern for rx, optional in documented if not optional and not any(rx.match(p) for p in written)]
    assert not unwritten, unwritten[:10]


def test_metric_values_are_finite_where_there_are_enough_objects(report):
    _, m = report
    for sample in ("test_real", "test_synth"):
        for tree in (m[sample], m["baselines"]["hgb"][sample]):
            assert 0.5 < tree["classification"]["full"]["weighted_f1"] <= 1.0
            for kind in ("galaxy", "qso"):
                z = tree["photoz"][kind]
                assert z["n"] >= 20 and all(math.isfinite(z[k]) for k in ("bias", "sigma_nmad", "outlier_fraction"))
                assert z["vs_mag"] and all(b["n"] >= 20 for b in z["vs_mag"])
            for name in ("TEFF", "LOGG", "FEH"):
                assert math.isfinite(tree["stars"][name]["sigma_nmad"])
            for name, scores in tree["lines"].items():
                assert scores["n"] >= 20 and math.isfinite(scores["sigma_nmad"]), name
            assert math.isfinite(tree["mass_sfr"]["LOGM"]["sigma_nmad"])
            assert math.isfinite(tree["halpha_luminosity"]["all"]["sigma_nmad"])
            assert math.isfinite(tree["bh_mass"]["LOG_MBH"]["sigma_nmad"])
        for context in ("full", "no_morph", "no_T3_T4", "T1_BB_morph", "BB", "BB_morph"):
            assert math.isfinite(m[sample]["classification"][context]["weighted_f1"])
        for scores in m[sample]["masked_lines"].values():
            assert scores["n"] >= 20 and math.isfinite(scores["sigma_nmad"]) and scores["mean_bands_hidden"] >= 1
    assert m["test_real"]["source"]["source"] == "VAC" and m["test_real"]["source"]["not_in_vac"] == 0
    assert m["meta"]["bh_mass"]["finetuned_here"]


def test_who_wins_agrees_with_the_numbers(report):
    _, m = report
    for sample in ("test_real", "test_synth"):
        rows = m["comparison"][sample]
        assert any(r["winner"] for r in rows)
        for r in rows:
            values = {k: r[k] for k in ("ojala", "hgb", "lephare") if r[k] is not None}
            if len(values) < 2:
                assert r["winner"] is None
                continue
            score = {"abs_min": abs, "min": lambda v: v, "max": lambda v: -v}[BETTER[r["metric"]]]
            best = min(score(v) for v in values.values())
            leaders = [k for k, v in values.items() if score(v) == best]
            expected = "tie" if len(leaders) > 1 else {"ojala": "OJALA", "hgb": "HGB", "lephare": "LePHARE"}[leaders[0]]
            assert r["winner"] == expected, r


def test_winner_of_hand_made_values():
    assert winner("bias", {"ojala": -0.01, "hgb": 0.02}) == "OJALA"
    assert winner("sigma_nmad", {"ojala": 0.05, "hgb": 0.03, "lephare": 0.04}) == "HGB"
    assert winner("f1", {"ojala": 0.8, "hgb": 0.8}) == "tie"
    assert winner("f1", {"ojala": 0.8, "hgb": None}) is None


def test_baseline_and_ojala_are_scored_on_the_same_objects(report):
    _, m = report
    for sample in ("test_real", "test_synth"):
        ojala, hgb = m[sample], m["baselines"]["hgb"][sample]
        assert ojala["classification"]["full"]["n"] == hgb["classification"]["full"]["n"]
        for kind in ("galaxy", "qso"):
            assert ojala["photoz"][kind]["n"] == hgb["photoz"][kind]["n"]
            bins = [[b["mag"] for b in tree["photoz"][kind]["vs_mag"]] for tree in (ojala, hgb)]
            assert bins[0] == bins[1]
        for name in ("TEFF", "LOGG", "FEH"):
            assert ojala["stars"][name]["n"] == hgb["stars"][name]["n"]
        assert ojala["mass_sfr"]["LOGSFR_SF"]["n"] == hgb["mass_sfr"]["LOGSFR_SF"]["n"]
        assert ojala["bh_mass"]["LOG_MBH"]["n"] == hgb["bh_mass"]["LOG_MBH"]["n"]


def test_halpha_at_z_0_1_hides_J0720():
    hidden = line_filters("HALPHA", [0.1, 0.0], V)
    assert "J0720" in hidden[0] and 1 <= len(hidden[0]) <= 3     # 6562.8 × 1.1 = 7219 Å
    assert "J0660" in hidden[1] and "J0720" not in hidden[1]


def test_hidden_line_bands_become_missing_values_and_nothing_else(tiny_mocks):
    table = pd.read_parquet(tiny_mocks[0] / "test_real.parquet").head(30)
    z = np.full(len(table), 0.1)
    masked, hidden = hide_line_filters(table, "HALPHA", z, V)
    assert masked["J0720"].isna().all() and masked["J0720_ERR"].isna().all()
    untouched = [b for b in V.narrow_bands if b not in hidden[0]]
    pd.testing.assert_frame_equal(masked[untouched], table[untouched])


def test_contexts_come_from_the_trays_of_the_vocabulary():
    no_red = context_tokens(V, "no_T3_T4")
    assert not set(no_red) & set(TRAYS["T3"] + TRAYS["T4"]) and set(TRAYS["T1"] + TRAYS["T2"]) <= set(no_red)
    t1 = context_tokens(V, "T1_BB_morph")
    assert set(t1) == set(TRAYS["T1"]) | set(V.broad_band_magnitudes) | {"MORPHTYPE"}
    assert context_tokens(V, "full") is None and set(context_tokens(V, "BB")) == set(V.broad_band_magnitudes)
    assert set(context_tokens(V, "no_morph")) == set(V.observations) - {"MORPHTYPE"}
    assert not any(V[t].is_label for t in no_red + t1)


@pytest.mark.skipif(not LEPHARE_DATA.is_dir(), reason="no offline LePHARE data on this machine")
def test_lephare_gives_finite_redshifts_for_bright_galaxies(tiny_mocks, tmp_path, monkeypatch):
    monkeypatch.setenv("LEPHAREDIR", str(LEPHARE_DATA))
    available, reason = lephare_status()
    if not available:
        pytest.skip(reason)
    table = pd.read_parquet(tiny_mocks[0] / "test_real.parquet")
    bright = table[(table["SPECTYPE"] == "GALAXY") & (table["MAG_i"] < 20)].head(10)
    # a ~8-s library; with some Calzetti dust, as the sky's galaxies have it (A_V to 3 mag)
    quick = {"Z_STEP": "0.05,0.,1.0", "EB_V": "0.,0.15,0.3", "MOD_EXTINC": "0,1000", "EM_LINES": "NO"}
    result = run_lephare(bright, tmp_path, settings=quick)
    assert np.isfinite(result["Z_LEPHARE"]).all()
    dz = np.abs(result["Z_LEPHARE"] - bright["Z_GAL"]) / (1 + bright["Z_GAL"])
    assert (dz < 0.15).mean() >= 0.6
    assert (result["N_BANDS_GIVEN"] >= 50).all()


def test_lephare_says_why_it_cannot_run(monkeypatch):
    monkeypatch.delenv("LEPHAREDIR", raising=False)
    available, reason = lephare_status()
    assert not available and "LEPHAREDIR" in reason
