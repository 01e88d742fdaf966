"""Roles live in the vocabulary: consumers ask it, expanded models carry their new targets to the VAC,
layers only point down, and no module outside the vocabulary re-lists token names."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ojala_core.lines import EMISSION_LINES, MEASURED_LINES
from ojala_core.model.config import MODEL_PRESETS
from ojala_core.model.expand import expand_vocabulary
from ojala_core.model.pretrained import Ojala
from ojala_core.model.tokenizer import Normalisation
from ojala_core.scoring import headline_scores
from ojala_core.vac.columns import derived_columns
from ojala_core.vac.produce import produce_vac
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.vocabulary import Token, Vocabulary

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "ojala-small"
LIBRARY = ROOT / "ojala_core"
# Modules allowed to spell out token names as data: the table itself, the line table it is made
# from, the paper's values (keyed by the token they score) and the sky's physics, which writes the
# truth of what it simulates. Elsewhere a list of three or more token names is a role the
# vocabulary should answer, unless its line says why it is a fixed physical space
# (``# token-list: reason``, e.g. the paper's density space for stars).
TOKEN_TABLES = {LIBRARY / "vocabulary.py", LIBRARY / "lines.py", LIBRARY / "paper.py"}
SKY_PHYSICS = LIBRARY / "sky"
PRAGMA = "# token-list:"


def test_every_line_ew_token_is_a_default_galaxy_target_of_its_line():
    for name in MEASURED_LINES:
        line = EMISSION_LINES[name]
        assert V[line.ew_token].line == name and V[line.ew_token].is_target
        assert V[line.ew_token].applies_to == ("GALAXY",)
        assert line.continuum_token in V and V[line.continuum_token].line in MEASURED_LINES
    assert V.line_ew_tokens == {n: EMISSION_LINES[n].ew_token for n in MEASURED_LINES}


def test_roles_split_the_vocabulary():
    assert set(V.observations) | set(V.labels) == set(V.names)
    assert not set(V.observations) & set(V.labels)
    assert V.redshifts == ["Z_GAL", "Z_QSO"]
    assert V.targets[0] == "SPECTYPE" and set(V.targets) == set(V.labels)
    assert "MORPHTYPE" in V.classes and "MORPHTYPE" in V.observations
    assert V.targets_for("STAR") == ["TEFF", "LOGG", "FEH", "ALPHAFE"]
    assert "Z_GAL" not in V.targets_for("STAR") and "TEFF" not in V.targets_for("GALAXY")
    assert V.legacy_magnitudes == {"G": "MAG_G", "R": "MAG_R", "Z": "MAG_Z", "W1": "MAG_W1", "W2": "MAG_W2"}


def test_records_saved_before_the_roles_get_them_from_the_default_table():
    old = [{k: v for k, v in r.items() if k not in ("is_target", "is_redshift", "line")} for r in V.to_records()]
    assert Vocabulary.from_records(old).tokens == V.tokens
    assert Ojala.from_pretrained(SHIPPED).vocabulary.targets == V.targets


def test_headline_scores_follow_the_vocabulary():
    table = pd.DataFrame({"SPECTYPE": ["GALAXY"] * 3 + ["STAR"] * 2, "Z_GAL": [0.1, 0.2, 0.3, np.nan, np.nan],
                          "TEFF": [np.nan] * 3 + [5000.0, 6000.0],
                          "HALPHA_6562_EW": [10.0, 100.0, 1.0, np.nan, np.nan]})
    pred = table.assign(Z_GAL=[0.1, 0.2, 0.3 + 1.3 * 0.2, 0.5, 0.5], TEFF=[9e3, 9e3, 9e3, 5100.0, 6100.0],
                        HALPHA_6562_EW=[10.0, 10.0, -5.0, 3.0, 3.0])
    scores = headline_scores(table, pred, V)
    assert scores["weighted_f1"] == 1.0
    assert scores["Z_GAL"]["n"] == 3 and scores["Z_GAL"]["outlier_fraction"] == pytest.approx(1 / 3)
    assert scores["TEFF"] == {"bias": pytest.approx(100.0), "sigma_nmad": 0.0, "n": 2}      # stars only
    assert scores["HALPHA_6562_EW"]["n_predicted_nonpositive"] == 1                        # floored, not dropped
    assert "LOGM" not in scores                                                             # no such column


def test_an_expanded_models_new_target_appears_in_its_vac(tiny_sky, tmp_path):
    model = Ojala.from_pretrained(SHIPPED)
    new = Token("LOG_MBH", "regression", "dex(Msun)", applies_to=("QSO",), is_label=True, is_target=True)
    expand_vocabulary(model, [new]).save_pretrained(tmp_path / "expanded")
    catalogue = tiny_sky / "jpas" / "jpas-catalogue.fits"
    manifest = produce_vac(tmp_path / "expanded", catalogue, tmp_path / "vac", chunk_rows=2000)
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    assert "LOG_MBH" in manifest["targets"]
    assert {"LOG_MBH", "LOG_MBH_ERR"} <= set(vac.columns) and vac["LOG_MBH"].notna().any()


def test_a_model_without_a_default_target_still_makes_its_vac(tiny_sky, tiny_mocks, tmp_path):
    vocab = Vocabulary(t for t in V.tokens if t.name not in ("HBETA_CONT", "TEFF"))
    train = pd.read_parquet(tiny_mocks[0] / "train.parquet")
    Ojala(MODEL_PRESETS["tiny"], vocab, Normalisation.fit(train, vocab)).save_pretrained(tmp_path / "m")
    produce_vac(tmp_path / "m", tiny_sky / "jpas" / "jpas-catalogue.fits", tmp_path / "vac", chunk_rows=2000)
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    assert "TEFF" not in vac and "Z_GAL" in vac
    assert vac["HBETA_FLUX"].isna().all()
    # The untrained model may call nothing a galaxy: the derived columns of its predictions, read as galaxies.
    pred = vac.assign(SPECTYPE="GALAXY")
    derived = derived_columns(pred, vac["MAG_i"].to_numpy(float), np.zeros(len(vac)))
    assert np.isnan(derived["HBETA_FLUX"]).all() and np.isfinite(derived["HALPHA_FLUX"]).any()


def _python_files(*folders):
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imports(path: Path):
    """(module parts of every import) of a file, relative imports resolved against its package."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (tuple(a.name.split(".")) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            module = tuple((node.module or "").split(".")) if node.module else ()
            if module:
                yield base + module
            else:
                yield from (base + (a.name,) for a in node.names)


def test_the_library_never_imports_the_apps_and_its_parts_form_no_cycle():
    graph: dict[str, set] = {}
    for path in _python_files("ojala_core"):
        parts = path.relative_to(LIBRARY).with_suffix("").parts
        unit = parts[0]
        for imported in _imports(path):
            assert imported[0] not in ("dashboard", "training"), f"{path.relative_to(ROOT)} imports {imported[0]}"
            if imported[0] == "ojala_core" and len(imported) > 1 and imported[1] != unit:
                graph.setdefault(unit, set()).add(imported[1])

    def reach(start, seen):
        for nxt in graph.get(start, ()):
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    cycles = sorted(u for u in graph if u in reach(u, set()))
    assert not cycles, f"import cycles through {cycles}: {({u: sorted(graph[u]) for u in cycles})}"


def test_no_module_outside_the_vocabulary_lists_token_names():
    names = set(V.names)
    offenders = []
    for path in _python_files("ojala_core", "dashboard", "training"):
        if path in TOKEN_TABLES or SKY_PHYSICS in path.parents:
            continue
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            items = node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else \
                node.keys if isinstance(node, ast.Dict) else []
            tokens = [e.value for e in items if isinstance(e, ast.Constant) and e.value in names]
            if len(tokens) >= 3 and PRAGMA not in lines[node.lineno - 1]:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {tokens}")
    assert not offenders, "token names listed outside the vocabulary (ask it for the role):\n" + "\n".join(offenders)


def test_the_code_passes_the_linter():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
