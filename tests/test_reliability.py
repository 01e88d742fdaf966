"""Bad input, faults and resumption: every ordinary bad file is one line and exit 2, nothing half-written.

Each case builds one bad input from the tiny sky's files, runs the CLI in-process and checks
the exit code, the one-line message (file, column, row), that no traceback is printed and that
``--out`` holds nothing new. The kill -9 tests run the real command in a subprocess.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from ojala_core.cli import main
from ojala_core.io.jpas import flat_catalogue
from ojala_core.sky.build import SKY_FILES
from ojala_core.vac.produce import QUALITY_FLAGS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "ojala-small"
N_ROWS = 40


# -- shared inputs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good(tiny_sky, tmp_path_factory):
    """A 40-row J-PAS catalogue (FITS, CSV, Parquet), the sky's DESI files and the shipped model."""
    d = tmp_path_factory.mktemp("good")
    # The sky writes the archive layout; the bad-input cases edit the flat one (one column per band).
    frame = flat_catalogue(tiny_sky / SKY_FILES["jpas_catalogue"][0]).iloc[:N_ROWS].reset_index(drop=True)
    table = Table.from_pandas(frame)
    for name in table.colnames:
        if name.startswith(("APER_COR_3_0_", "AUTO_")):
            table[name].unit = "erg/(s cm2 Angstrom)"
    table.write(d / "cat.fits")
    frame.to_csv(d / "cat.csv", index=False)
    frame.to_parquet(d / "cat.parquet")
    sky = {key: tiny_sky / path for key, (path, _, _) in SKY_FILES.items()}
    return SimpleNamespace(dir=d, fits=d / "cat.fits", csv=d / "cat.csv", parquet=d / "cat.parquet", frame=frame,
                           sky=tiny_sky, zcat=sky["desi_zcatalog"],
                           coadd=sorted((tiny_sky / "desi" / "spectra").glob("coadd-main-*.fits"))[-1],
                           fastspec=sky["desi_fastspec"], cigale=sky["desi_cigale"], mws=sky["desi_mws"],
                           bhmass=sky["desi_bhmass"], jpas=sky["jpas_catalogue"])


@pytest.fixture(scope="module")
def good_vac(good, tmp_path_factory):
    """A finished VAC of the 40-row catalogue (for resume refusals)."""
    out = tmp_path_factory.mktemp("goodvac") / "vac"
    assert main(["vac", "--model", str(SHIPPED), "--catalog", str(good.parquet), "--out", str(out),
                 "--chunk-rows", "20"]) == 0
    return out


def _snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    if folder.is_file():
        return {str(folder): folder.stat().st_mtime_ns}
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def assert_refused(argv, out, capsys, *expected):
    """Exit 2, one line ``ojala CMD: error: ...`` naming every `expected` text, no traceback, nothing new in `out`."""
    capsys.readouterr()
    before = _snapshot(out)
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(errors) == 1, err
    line = errors[0]
    assert line.startswith(f"ojala {argv[0]}: error: ") and err.rstrip().endswith(line), err
    print("REFUSED:", line)
    for text in expected:
        assert text in line, line
    assert _snapshot(out) == before
    return line


def vac_args(model, catalogue, out, *extra):
    return ["vac", "--model", model, "--catalog", catalogue, "--out", out, *extra]


def mocks_args(good, out, **replace):
    files = {"zcat": good.zcat, "spectra": good.coadd, "jpas": good.jpas, "fastspec": good.fastspec,
             "cigale": good.cigale, "mws": good.mws, "bhmass": good.bhmass, **replace}
    return ["mocks", "--desi-zcat", files["zcat"], "--desi-spectra", files["spectra"], "--jpas", files["jpas"],
            "--desi-fastspec", files["fastspec"], "--desi-cigale", files["cigale"], "--desi-mws", files["mws"],
            "--desi-bhmass", files["bhmass"], "--out", out]


def _truncate(src, dst, fraction=None, keep=None):
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[:keep if keep is not None else int(len(data) * fraction)])
    return dst


def _model_copy(tmp_path, edit=None) -> Path:
    model = tmp_path / "model"
    shutil.copytree(SHIPPED, model)
    if edit is not None:
        config = json.loads((model / "config.json").read_text())
        edit(config)
        (model / "config.json").write_text(json.dumps(config))
    return model


# -- catalogue cases (ojala vac) -------------------------------------------------------------------
CATALOGUE_CASES = {}


def catalogue_case(name):
    def register(build):
        CATALOGUE_CASES[name] = build
        return build
    return register


@catalogue_case("missing file")
def _(good, d):
    return d / "nope.fits", ["nope.fits", "no catalogue file"]


@catalogue_case("empty file")
def _(good, d):
    (d / "empty.csv").write_text("")
    return d / "empty.csv", ["empty.csv", "empty"]


@catalogue_case("header only")
def _(good, d):
    good.frame.iloc[:0].to_csv(d / "header.csv", index=False)
    return d / "header.csv", ["header.csv", "empty"]


@catalogue_case("FITS truncated in its data")
def _(good, d):
    return _truncate(good.fits, d / "cut.fits", 0.6), ["cut.fits", "truncated"]


@catalogue_case("FITS truncated in its header")
def _(good, d):
    return _truncate(good.fits, d / "cut.fits", keep=4000), ["cut.fits", "truncated"]


@catalogue_case("PNG named .fits")
def _(good, d):
    (d / "image.fits").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    return d / "image.fits", ["image.fits", "not a FITS file"]


@catalogue_case("CSV named .dat")
def _(good, d):
    shutil.copy(good.csv, d / "cat.dat")
    return d / "cat.dat", ["cat.dat", "unknown table format '.dat'"]


@catalogue_case("gzipped FITS")
def _(good, d):
    import gzip
    (d / "cat.fits.gz").write_bytes(gzip.compress(good.fits.read_bytes()))
    return d / "cat.fits.gz", ["cat.fits.gz", "gunzip"]


@catalogue_case("Parquet truncated")
def _(good, d):
    return _truncate(good.parquet, d / "cut.parquet", 0.5), ["cut.parquet", "unreadable"]


@catalogue_case("Parquet flux column of text ('n/a')")
def _(good, d):
    frame = good.frame.copy()
    frame["APER_COR_3_0_J0660"] = frame["APER_COR_3_0_J0660"].astype(str)
    frame.loc[3, "APER_COR_3_0_J0660"] = "n/a"
    frame.to_parquet(d / "text.parquet")
    return d / "text.parquet", ["text.parquet", "APER_COR_3_0_J0660"]


@catalogue_case("CSV flux column with a word")
def _(good, d):
    frame = good.frame.copy().astype({"APER_COR_3_0_J0500": object})
    frame.loc[5, "APER_COR_3_0_J0500"] = "bad"
    frame.to_csv(d / "word.csv", index=False)
    return d / "word.csv", ["word.csv", "APER_COR_3_0_J0500"]


@catalogue_case("flux column missing")
def _(good, d):
    good.frame.drop(columns="APER_COR_3_0_J0660").to_parquet(d / "nocol.parquet")
    return d / "nocol.parquet", ["nocol.parquet", "missing column", "APER_COR_3_0_J0660"]


@catalogue_case("coordinates missing")
def _(good, d):
    good.frame.drop(columns="DELTA_J2000").to_csv(d / "nodec.csv", index=False)
    return d / "nodec.csv", ["nodec.csv", "DELTA_J2000"]


@catalogue_case("blank cell in a CSV column of 19-digit ids")
def _(good, d):
    frame = good.frame.drop(columns="TILE_ID").astype({"NUMBER": object})
    frame["NUMBER"] = [str(9_000_000_000_000_000_000 + i) for i in range(len(frame))]
    frame.loc[3, "NUMBER"] = ""
    frame.to_csv(d / "blank-id.csv", index=False)
    return d / "blank-id.csv", ["blank-id.csv", "NUMBER", "blank object id", "rows [3]"]


@catalogue_case("folder without tables")
def _(good, d):
    (d / "folder").mkdir()
    (d / "folder" / "notes.md").write_text("no tables here")
    return d / "folder", ["folder", "no catalogue file"]


@catalogue_case("folder with one file lacking a column")
def _(good, d):
    (d / "parts").mkdir()
    good.frame.iloc[:20].to_parquet(d / "parts" / "a.parquet")
    good.frame.iloc[20:].drop(columns="APER_COR_3_0_J0400").to_parquet(d / "parts" / "b.parquet")
    return d / "parts", ["b.parquet", "APER_COR_3_0_J0400"]


@catalogue_case("folder whose last file holds text in a flux column (Dask)")
def _(good, d):
    (d / "parts").mkdir()
    good.frame.iloc[:20].to_parquet(d / "parts" / "a.parquet")
    bad = good.frame.iloc[20:].copy()
    bad["APER_COR_3_0_J0400"] = bad["APER_COR_3_0_J0400"].astype(str)
    bad.loc[bad.index[3], "APER_COR_3_0_J0400"] = "n/a"
    bad.to_parquet(d / "parts" / "b.parquet")
    return d / "parts", ["b.parquet", "APER_COR_3_0_J0400", "row 3", "'n/a' is not a number"]


@pytest.mark.parametrize("name", list(CATALOGUE_CASES))
def test_bad_catalogue_is_one_line_exit_2(name, good, tmp_path, capsys):
    catalogue, expected = CATALOGUE_CASES[name](good, tmp_path)
    out = tmp_path / "vac"
    assert_refused(vac_args(SHIPPED, catalogue, out), out, capsys, *expected)
    assert not out.exists()


def test_unknown_id_column_is_named(good, tmp_path, capsys):
    out = tmp_path / "vac"
    assert_refused(vac_args(SHIPPED, good.parquet, out, "--id-column", "OBJ_ID"), out, capsys, "cat.parquet", "OBJ_ID")


# -- model folders (ojala vac --model) -------------------------------------------------------------
MODEL_CASES = {}


def model_case(name):
    def register(build):
        MODEL_CASES[name] = build
        return build
    return register


@model_case("no such folder")
def _(d):
    return d / "nomodel", ["nomodel", "not a model folder"]


@model_case("no model.safetensors")
def _(d):
    model = _model_copy(d)
    (model / "model.safetensors").unlink()
    return model, ["model.safetensors", "not found"]


@model_case("config.json not JSON")
def _(d):
    model = _model_copy(d)
    (model / "config.json").write_text("{format_version: 1,")
    return model, ["config.json", "not valid JSON"]


@model_case("config.json truncated")
def _(d):
    model = _model_copy(d)
    _truncate(SHIPPED / "config.json", model / "config.json", 0.5)
    return model, ["config.json", "not valid JSON"]


@model_case("format version 2")
def _(d):
    return _model_copy(d, lambda c: c.update(format_version=2)), ["config.json", "model format 2 is not supported",
                                                                  "reads format 1"]


@model_case("format version missing")
def _(d):
    return _model_copy(d, lambda c: c.pop("format_version")), ["config.json", "model format None"]


@model_case("unknown top-level key")
def _(d):
    return _model_copy(d, lambda c: c.update(learning_rate=1e-3)), ["config.json", "unknown key 'learning_rate'"]


@model_case("unknown architecture key")
def _(d):
    return _model_copy(d, lambda c: c["model"].update(d_modell=64)), ["config.json", "'d_modell'"]


@model_case("unknown vocabulary record key")
def _(d):
    return _model_copy(d, lambda c: c["vocabulary"][2].update(colour="red")), ["config.json", "vocabulary record 2",
                                                                               "'colour'"]


@model_case("two vocabulary records swapped")
def _(d):
    def swap(c):
        v = c["vocabulary"]
        v[0], v[1] = v[1], v[0]
    return _model_copy(d, swap), ["checksum mismatch"]


@model_case("vocabulary record dropped")
def _(d):
    def drop(c):
        c["vocabulary"].pop()
        for key in ("mean", "std"):
            c["normalisation"][key].pop()
    return _model_copy(d, drop), ["model.safetensors", "do not fit", "75 tokens"]


@model_case("normalisation shorter than the vocabulary")
def _(d):
    return _model_copy(d, lambda c: c["normalisation"]["std"].pop()), ["config.json", "normalisation 'std'"]


@model_case("architecture changed")
def _(d):
    return _model_copy(d, lambda c: c["model"].update(encoder_layers=3)), ["model.safetensors", "do not fit"]


@model_case("model.safetensors is garbage")
def _(d):
    model = _model_copy(d)
    (model / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    return model, ["model.safetensors", "corrupt or truncated"]


@model_case("model.safetensors truncated")
def _(d):
    model = _model_copy(d)
    _truncate(SHIPPED / "model.safetensors", model / "model.safetensors", 0.7)
    return model, ["model.safetensors", "corrupt or truncated"]


@model_case("a bit flipped in the weights")
def _(d):
    model = _model_copy(d)
    data = bytearray((model / "model.safetensors").read_bytes())
    data[-4] ^= 0x01                                   # lowest mantissa byte of the last float: still finite
    (model / "model.safetensors").write_bytes(bytes(data))
    return model, ["checksum mismatch"]


@model_case("NaN weights in a folder without checksum")
def _(d):
    from safetensors.torch import load_file, save_file

    model = _model_copy(d, lambda c: c.pop("checksum"))
    state = load_file(str(model / "model.safetensors"))
    state["net.class_head.bias"][0] = float("nan")
    save_file(state, str(model / "model.safetensors"))
    return model, ["model.safetensors", "net.class_head.bias", "non-finite"]


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_bad_model_folder_is_one_line_exit_2(name, good, tmp_path, capsys):
    model, expected = MODEL_CASES[name](tmp_path)
    out = tmp_path / "vac"
    assert_refused(vac_args(model, good.parquet, out), out, capsys, *expected)
    assert not out.exists()


def test_model_folder_without_checksum_loads_with_a_warning(tmp_path, caplog):
    from ojala_core.model.pretrained import Ojala

    model = _model_copy(tmp_path, lambda c: c.pop("checksum"))
    with caplog.at_level("WARNING"):
        Ojala.from_pretrained(model)
    assert "no checksum" in caplog.text


def test_saved_model_stores_a_checksum_that_load_checks(tmp_path):
    from ojala_core.model.pretrained import Ojala, weights_checksum

    model = Ojala.from_pretrained(SHIPPED)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["checksum"]["sha256"] == weights_checksum(model.state_dict(), model.vocabulary.names)
    Ojala.from_pretrained(tmp_path / "m")


# -- DESI files (ojala mocks) ----------------------------------------------------------------------
DESI_CASES = {}


def desi_case(name):
    def register(build):
        DESI_CASES[name] = build
        return build
    return register


def _edit_table(src, dst, column, edit):
    """A copy of FITS `src` at `dst` with `edit(hdu)` applied to the first table holding `column`."""
    with fits.open(src) as hdul:
        hdus = [h.copy() for h in hdul]
    edit(next(h for h in hdus if isinstance(h, fits.BinTableHDU) and column in h.columns.names))
    fits.HDUList(hdus).writeto(dst)


@desi_case("zcat without Z")
def _(good, d):
    path = d / "zall.fits"
    t = Table.read(good.zcat, hdu="ZCATALOG")
    t.remove_column("Z")
    t.meta["EXTNAME"] = "ZCATALOG"
    t.write(path)
    return {"zcat": path}, ["zall.fits", "missing column", "'Z'"]


@desi_case("zcat with a duplicate TARGETID")
def _(good, d):
    t = Table.read(good.zcat, hdu="ZCATALOG")
    # two primary rows of objects J-PAS saw (rows outside its footprint are never read, duplicates or not)
    truth = pd.read_parquet(good.sky / SKY_FILES["truth"][0], columns=["TARGETID", "IN_JPAS"])
    seen = set(truth.loc[truth["IN_JPAS"] & (truth["TARGETID"] >= 0), "TARGETID"])
    first, second = [i for i, (tid, primary) in enumerate(zip(t["TARGETID"], t["ZCAT_PRIMARY"]))
                     if primary and tid in seen][:2]
    for column in ("TARGETID", "TARGET_RA", "TARGET_DEC"):
        t[column][second] = t[column][first]
    t.meta["EXTNAME"] = "ZCATALOG"
    t.write(d / "zall.fits")
    return {"zcat": d / "zall.fits"}, ["zall.fits", "duplicate TARGETID"]


@desi_case("zcat fluxes in cgs f_nu under a nanomaggy unit")
def _(good, d):
    def cgs(table):
        table.data["FLUX_R"] = table.data["FLUX_R"] * 3.631e-29     # erg/s/cm2/Hz values, still called nanomaggies
        table.columns["FLUX_R"].unit = "nanomaggy"

    _edit_table(good.zcat, d / "zall.fits", "FLUX_R", cgs)
    return {"zcat": d / "zall.fits"}, ["zall.fits", "'FLUX_R'", "median AB magnitude of 9", "unit"]


@desi_case("CIGALE masses in solar masses, not log10")
def _(good, d):
    def linear(table):
        table.data["LOGM"] = np.where(table.data["LOGM"] > 0, 10.0 ** table.data["LOGM"], table.data["LOGM"])

    _edit_table(good.cigale, d / "cigale.fits", "LOGM", linear)
    return {"cigale": d / "cigale.fits"}, ["cigale.fits", "'LOGM'", "not a plausible LOGM", "log10"]


@desi_case("MWS TEFF declared in eV")
def _(good, d):
    def in_ev(table):
        table.columns["TEFF"].unit = "eV"

    _edit_table(good.mws, d / "mws.fits", "TEFF", in_ev)
    return {"mws": d / "mws.fits"}, ["mws.fits", "'TEFF'", "'eV'", "not K"]


@desi_case("zcat is a PNG")
def _(good, d):
    (d / "zall.fits").write_bytes(b"\x89PNG\r\n\x1a\n" * 400)
    return {"zcat": d / "zall.fits"}, ["zall.fits", "not a FITS file"]


@desi_case("FastSpecFit without HALPHA_EW")
def _(good, d):
    t = Table.read(good.fastspec, hdu="FASTSPEC")
    t.remove_column("HALPHA_EW")
    t.meta["EXTNAME"] = "FASTSPEC"
    t.write(d / "fastspec.fits")
    return {"fastspec": d / "fastspec.fits"}, ["fastspec.fits", "HALPHA_EW"]


@desi_case("coadd truncated")
def _(good, d):
    return {"spectra": _truncate(good.coadd, d / "coadd-cut.fits", 0.6)}, ["coadd-cut.fits", "truncated"]


@desi_case("coadd without FIBERMAP")
def _(good, d):
    with fits.open(good.coadd) as hdul:
        fits.HDUList([h.copy() for h in hdul if h.name != "FIBERMAP"]).writeto(d / "coadd-nofm.fits")
    return {"spectra": d / "coadd-nofm.fits"}, ["coadd-nofm.fits", "FIBERMAP"]


@desi_case("coadd whose flux has the wrong shape")
def _(good, d):
    with fits.open(good.coadd) as hdul:
        hdus = [h.copy() for h in hdul]
    for h in hdus:
        if h.name == "R_FLUX":
            h.data = h.data[:, :-5]
    fits.HDUList(hdus).writeto(d / "coadd-shape.fits")
    return {"spectra": d / "coadd-shape.fits"}, ["coadd-shape.fits", "R_FLUX", "shape"]


@desi_case("spectra glob matching nothing")
def _(good, d):
    return {"spectra": d / "coadd-*.fits"}, ["coadd-*.fits", "no file matches"]


@desi_case("J-PAS catalogue truncated")
def _(good, d):
    return {"jpas": _truncate(good.jpas, d / "jpas-cut.fits", 0.5)}, ["jpas-cut.fits", "truncated"]


@pytest.mark.parametrize("name", list(DESI_CASES))
def test_bad_desi_file_is_one_line_exit_2(name, good, tmp_path, capsys):
    replace, expected = DESI_CASES[name](good, tmp_path)
    out = tmp_path / "mocks"
    assert_refused(mocks_args(good, out, **replace), out, capsys, *expected)
    assert not out.exists()


def test_sky_folder_without_manifest(tmp_path, capsys):
    (tmp_path / "sky").mkdir()
    out = tmp_path / "mocks"
    assert_refused(["mocks", "--sky", tmp_path / "sky", "--out", out], out, capsys, "manifest.json", "ojala sky")


# -- output folders --------------------------------------------------------------------------------
def test_vac_out_that_is_a_file(good, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert_refused(vac_args(SHIPPED, good.parquet, tmp_path / "taken"), tmp_path / "taken", capsys,
                   "taken", "is a file, not a folder")


def test_vac_out_below_a_file(good, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert_refused(vac_args(SHIPPED, good.parquet, tmp_path / "taken" / "vac"), tmp_path / "taken", capsys,
                   "taken", "is a file, not a folder")


def test_mocks_out_that_is_a_file(good, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert_refused(mocks_args(good, tmp_path / "taken"), tmp_path / "taken", capsys, "taken", "is a file")


def test_sky_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert_refused(["sky", "--preset", "tiny", "--out", tmp_path / "taken"], tmp_path / "taken", capsys, "taken")


def test_vac_over_another_catalogues_vac_is_refused(good, good_vac, tmp_path, capsys):
    out = tmp_path / "vac"
    shutil.copytree(good_vac, out)
    other = tmp_path / "other.parquet"
    good.frame.iloc[::-1].reset_index(drop=True).to_parquet(other)
    assert_refused(vac_args(SHIPPED, other, out, "--chunk-rows", "20"), out, capsys,
                   str(out), "another catalogue", "new --out", "delete")


def test_vac_with_another_model_over_a_vac_is_refused(good, good_vac, tmp_path, capsys):
    out = tmp_path / "vac"
    shutil.copytree(good_vac, out)
    model = _model_copy(tmp_path, lambda c: c["info"].update(notes=["retrained"]))
    assert_refused(vac_args(model, good.parquet, out, "--chunk-rows", "20"), out, capsys, "another model")


def test_vac_over_a_folder_of_unrecorded_partitions_is_refused(good, good_vac, tmp_path, capsys):
    out = tmp_path / "vac"
    shutil.copytree(good_vac, out)
    (out / "run.json").unlink()
    assert_refused(vac_args(SHIPPED, good.parquet, out, "--chunk-rows", "20"), out, capsys, "without a record")


def test_full_disk_is_one_line(good, tmp_path, capsys, monkeypatch):
    import errno

    from ojala_core.io import files

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files.os, "replace", full)
    out = tmp_path / "vac"
    capsys.readouterr()
    assert main([str(a) for a in vac_args(SHIPPED, good.parquet, out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.rstrip().splitlines()[-1].startswith("ojala vac: error: ")
    assert "No space left on device — free some space" in err
    assert not list(out.rglob("*.partial")) and not list(out.rglob("part-*"))


# -- what is kept and flagged ----------------------------------------------------------------------
def test_out_of_range_coordinates_are_flagged(good, tmp_path):
    frame = good.frame.copy()
    frame.loc[0, "DELTA_J2000"] = 95.0
    frame.loc[1, "ALPHA_J2000"] = 400.0
    frame.loc[2, "ALPHA_J2000"] = np.inf
    frame.to_parquet(tmp_path / "sky.parquet")
    assert main(vac_args(str(SHIPPED), str(tmp_path / "sky.parquet"), str(tmp_path / "vac"))) == 0
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    bad = (vac["QUALITY_FLAG"] & QUALITY_FLAGS["BAD_COORDINATES"]) > 0
    assert bad.tolist() == [True, True, True] + [False] * (len(vac) - 3)
    manifest = json.loads((tmp_path / "vac" / "manifest.json").read_text())
    assert manifest["summary"]["bad_coordinates"] == 3


@pytest.mark.parametrize("rows", [1, 3])
def test_a_catalogue_of_a_few_rows_makes_its_vac(good, tmp_path, rows):
    good.frame.iloc[:rows].to_parquet(tmp_path / "few.parquet")
    assert main(vac_args(str(SHIPPED), str(tmp_path / "few.parquet"), str(tmp_path / "vac"))) == 0
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    assert len(vac) == rows and np.isfinite(vac[["UMAP_X", "UMAP_Y"]].to_numpy()).all()
    assert np.isfinite(vac["Z_GAL"]).all()


def test_19_digit_csv_ids_are_kept_exactly(good, tmp_path):
    frame = good.frame.drop(columns="TILE_ID")
    ids = [str(9_000_000_000_000_000_000 + 7 * i) for i in range(len(frame))]
    frame.assign(NUMBER=ids).to_csv(tmp_path / "ids.csv", index=False)
    assert main(vac_args(str(SHIPPED), str(tmp_path / "ids.csv"), str(tmp_path / "vac"))) == 0
    vac = pd.read_parquet(tmp_path / "vac" / "catalogue" / "part-00000.parquet")
    assert vac["JPAS_ID"].tolist() == ids and (vac["QUALITY_FLAG"] & QUALITY_FLAGS["DUPLICATE_ID"] == 0).all()


def test_nan_spectra_and_dropped_rows_are_reported(good, tmp_path):
    with fits.open(good.coadd) as hdul:
        hdus = [h.copy() for h in hdul]
    n = len(hdus[1].data)
    for h in hdus:
        if h.name == "B_FLUX":
            h.data[:] = np.nan
    coadd = tmp_path / "coadd-main-dark-nan.fits"
    fits.HDUList(hdus).writeto(coadd)
    assert main([str(a) for a in mocks_args(good, tmp_path / "mocks", spectra=coadd)]) == 0
    dropped = json.loads((tmp_path / "mocks" / "manifest.json").read_text())["dropped_spectra"]
    assert dropped["spectra"] == n and dropped["nan_spectra"] == n


def test_outputs_follow_the_umask(good, tmp_path):
    old = os.umask(0o027)
    try:
        assert main(vac_args(str(SHIPPED), str(good.parquet), str(tmp_path / "vac"))) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "vac").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o640}, modes


# -- resumption ------------------------------------------------------------------------------------
def _ojala(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ojala_core.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def _kill_when(proc, ready, timeout=120):
    """kill -9 the command and every process it started (its session) once `ready()`."""
    t0 = time.time()
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _vac_frame(out):
    parts = sorted((out / "catalogue").glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_vac_killed_then_resumed_equals_an_uninterrupted_run(good, tmp_path):
    big = tmp_path / "big.parquet"
    pd.concat([good.frame.assign(NUMBER=good.frame["NUMBER"] + 10_000 * k) for k in range(6)],
              ignore_index=True).to_parquet(big)
    args = ("vac", "--model", SHIPPED, "--catalog", big, "--chunk-rows", N_ROWS)
    proc = _ojala(*args, "--out", tmp_path / "a")
    _kill_when(proc, lambda: (tmp_path / "a" / "resume" / "part-00001.json").exists())
    (tmp_path / "a" / "catalogue" / ".part-00005.parquet.stale.partial").write_text("left by a kill")
    resumed = _ojala(*args, "--out", tmp_path / "a")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resumed: reused" in out and "temporary file" in err
    assert not list((tmp_path / "a").rglob("*.partial"))
    whole = _ojala(*args, "--out", tmp_path / "b")
    assert whole.wait(timeout=300) == 0
    a, b = _vac_frame(tmp_path / "a"), _vac_frame(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)


def test_mocks_killed_then_resumed_equals_an_uninterrupted_run(good, tmp_path):
    args = ("mocks", "--sky", good.sky)
    proc = _ojala(*args, "--out", tmp_path / "a")
    _kill_when(proc, lambda: len(list((tmp_path / "a" / "parts").glob("0*.json"))) >= 3)
    resumed = _ojala(*args, "--out", tmp_path / "a")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "reused" in err
    assert _ojala(*args, "--out", tmp_path / "b").wait(timeout=300) == 0
    for split in ("train", "test_synth", "test_real", "jpas_unlabelled"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f"{split}.parquet"),
                                      pd.read_parquet(tmp_path / "b" / f"{split}.parquet"))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["reused_parts"] >= 3 and manifest["dropped_spectra"]["spectra"] > 0


def _same_files(a: Path, b: Path, names):
    """Every table of every file in `names` holds the same values under `a` and under `b`."""
    for name in names:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
            continue
        with fits.open(a / name) as ha, fits.open(b / name) as hb:
            assert [h.name for h in ha] == [h.name for h in hb], name
            for x, y in zip(ha, hb):
                if x.data is None:
                    continue
                if isinstance(x, fits.BinTableHDU):
                    assert x.columns.names == y.columns.names, (name, x.name)
                    for column in x.columns.names:
                        np.testing.assert_array_equal(x.data[column], y.data[column], err_msg=f"{name} {column}")
                else:
                    np.testing.assert_array_equal(x.data, y.data, err_msg=f"{name} {x.name}")


def test_sky_killed_then_resumed_equals_an_uninterrupted_run(tiny_sky, tmp_path):
    """kill -9 with some shards written (and a temporary file left), resume: the same products as
    the session's uninterrupted tiny sky (same preset and seed)."""
    out = tmp_path / "sky"
    args = ("sky", "--preset", "tiny", "--seed", "42", "--out", out)
    proc = _ojala(*args)
    _kill_when(proc, lambda: len(list((out / "shards").glob("*.parquet"))) >= 3, timeout=300)
    built = sorted(p.name for p in (out / "shards").glob("*.parquet"))
    assert not (out / "manifest.json").exists()
    (out / "shards" / ".BGS-0.parquet.stale.partial").write_text("left by a kill")
    resumed = _ojala(*args)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"reused {len(built)}" in err and "temporary file" in err, err
    assert not list(out.rglob("*.partial"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reused_shards"] == len(built)
    expected = json.loads((tiny_sky / "manifest.json").read_text())
    assert manifest["counts"] == expected["counts"]
    names = [f["path"] for f in expected["files"]]
    assert names == [f["path"] for f in manifest["files"]]
    _same_files(out, tiny_sky, names)


def test_mocks_over_another_skys_parts_is_refused(good, tmp_path, capsys):
    out = tmp_path / "mocks"
    assert main(["mocks", "--sky", str(good.sky), "--out", str(out)]) == 0
    assert_refused(["mocks", "--sky", good.sky, "--out", out, "--seed", "7"], out, capsys,
                   str(out), "other options", "new --out")


def test_vac_is_byte_identical_for_the_same_inputs_and_seed(good, tmp_path):
    for name in ("a", "b"):
        assert main(vac_args(str(SHIPPED), str(good.parquet), str(tmp_path / name), "--seed", "3")) == 0
    parts = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "catalogue").glob("part-*.parquet"))
    assert parts
    for part in parts:
        assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes(), part
