"""`ojala vac` and `ojala mocks` take J-PAS archive files with a named filter table (issue 13)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ojala_core.cli import build_parser, main
from ojala_core.vac.produce import produce_vac
from ojala_core.vac.store import VacStore

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MODEL = ROOT / "models" / "ojala-small"


def test_ojala_vac_reads_an_archive_file_through_its_filter_table(tmp_path):
    out = tmp_path / "vac"
    assert main(["vac", "--model", str(MODEL), "--catalog", str(DATA / "minijpas_archive.fits"), "--out", str(out),
                 "--jpas-filters", "minijpas", "--umap-fit-rows", "8"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jpas_filters"] == "minijpas" and manifest["flags_threshold"] == 4
    store = VacStore(out)
    assert len(store) == 8 and store.frame["MORPHTYPE"].astype(str).tolist()[:2] == ["PSF", "REX"]
    tokens = store.tokens([1, 5])
    assert tokens["J0378"].iloc[0] == pytest.approx(10 ** 0.4, rel=1e-5)       # row 1: J0378 at its index
    assert tokens["MAG_i"].to_numpy() == pytest.approx([19.0, 20.0], abs=1e-3)
    assert np.isnan(tokens["J0500"].iloc[1])                                   # MASK_FLAGS re-read from the VAC
    stored = pd.read_parquet(out / "catalogue" / "part-00000.parquet")
    assert {"APER_COR_3_0_J0378", "APER_COR_3_0_J0378_ERR", "FLAGS_J0660", "MASK_FLAGS_J0500"} <= set(stored.columns)
    assert stored["APER_COR_3_0_iSDSS"].iloc[0] == pytest.approx(10 ** (-0.4 * (20.8 + 48.6)) * 2.99792458e18
                                                                 / 7656.1969 ** 2, rel=1e-4)   # erg/s/cm²/Å


def test_a_vac_of_a_tap_export_streams_array_cells_in_chunks(tmp_path):
    manifest = produce_vac(MODEL, DATA / "minijpas_tap_export.csv", tmp_path / "vac", chunk_rows=4,
                           jpas_filters="jnep", umap_fit_rows=6)
    assert [p["rows"] for p in manifest["partitions"]] == [4, 2]
    tokens = VacStore(tmp_path / "vac").tokens([0, 4, 5])
    assert tokens["J0378"].iloc[0] == pytest.approx(1.0, rel=1e-4)
    assert np.isnan(tokens["J0660"].iloc[1]) and np.isnan(tokens["J0500"].iloc[2])   # FLAGS 4, MASK_FLAGS


def _tap_export_with_numbers(path, numbers):
    """The TAP export with its `number` column replaced (CSV cells kept as the archive wrote them)."""
    frame = pd.read_csv(DATA / "minijpas_tap_export.csv", comment="#", dtype=str, keep_default_na=False)
    frame["minijpas.magabdualobj.number"] = numbers
    frame.to_csv(path, index=False)
    return path


def test_19_digit_ids_of_a_tap_export_reach_the_vac_exactly(tmp_path):
    numbers = [str(9_000_000_000_000_000_000 + 7 * i) for i in range(6)]
    catalogue = _tap_export_with_numbers(tmp_path / "ids.csv", numbers)
    produce_vac(MODEL, catalogue, tmp_path / "vac", jpas_filters="jnep", umap_fit_rows=6)
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    tiles = pd.read_csv(catalogue, dtype=str)["minijpas.magabdualobj.tile_id"]
    assert vac["JPAS_ID"].tolist() == [f"{t}-{n}" for t, n in zip(tiles, numbers)]


def test_a_blank_id_cell_of_a_tap_export_is_one_message(tmp_path, capsys):
    numbers = [str(9_000_000_000_000_000_000 + i) for i in range(6)]
    numbers[2] = ""
    catalogue = _tap_export_with_numbers(tmp_path / "ids.csv", numbers)
    assert main(["vac", "--model", str(MODEL), "--catalog", str(catalogue), "--out", str(tmp_path / "vac"),
                 "--jpas-filters", "jnep"]) == 2
    err = capsys.readouterr().err
    assert "ids.csv: column 'NUMBER': blank object id (rows [2])" in err
    assert sorted(p.name for p in (tmp_path / "vac").rglob("*")) == []


def test_ojala_vac_without_a_filter_table_says_which_option_names_it(tmp_path, capsys):
    assert main(["vac", "--model", str(MODEL), "--catalog", str(DATA / "minijpas_archive.fits"),
                 "--out", str(tmp_path / "vac")]) == 2
    assert "name the filter table (--jpas-filters minijpas or jnep" in capsys.readouterr().err


def test_ojala_mocks_takes_the_filter_table_and_the_flags_threshold():
    args = build_parser().parse_args(["mocks", "--out", "m", "--jpas", "cat.csv", "--jpas-filters", "filters.txt",
                                      "--jpas-flags-threshold", "8"])
    assert args.jpas_filters == "filters.txt" and args.jpas_flags_threshold == 8
    assert build_parser().parse_args(["mocks", "--out", "m"]).jpas_flags_threshold == 4


def test_ojala_mocks_on_the_flat_layout_equals_the_archive_layout(tiny_sky, tiny_mocks, tmp_path):
    """The sky writes the CEFCA archive layout; the same catalogue flattened (one column per band, the
    FILTER HDU gone, so nothing to index) makes the same mocks."""
    from ojala_core.io.jpas import flat_catalogue
    from ojala_core.mocks.build import MockInputs

    sky = MockInputs.from_sky(tiny_sky)
    flat = tmp_path / "jpas-flat.parquet"
    flat_catalogue(sky.jpas_catalogue).to_parquet(flat)
    out = tmp_path / "mocks"
    assert main(["mocks", "--out", str(out), "--desi-zcat", sky.desi_zcatalog, "--desi-spectra", *sky.desi_spectra,
                 "--desi-fastspec", sky.desi_fastspec, "--desi-cigale", sky.desi_cigale, "--desi-mws", sky.desi_mws,
                 "--desi-bhmass", sky.desi_bhmass, "--jpas", str(flat), "--seed", "1"]) == 0
    mine, reference = (pd.read_parquet(d / "test_real.parquet") for d in (out, tiny_mocks[0]))
    assert len(mine) == len(reference) > 0 and mine["JPAS_ID"].tolist() == reference["JPAS_ID"].tolist()
    for col in ("J0378", "J0378_ERR", "J0660", "J0910", "MAG_i", "MAG_G"):
        assert np.allclose(mine[col], reference[col], rtol=1e-6, equal_nan=True), col
    assert mine["MORPHTYPE"].tolist() == reference["MORPHTYPE"].tolist()
