"""The explorer in a real browser (Debian Chromium driven by Playwright) on the tiny sky.

The test starts ``ojala serve`` on a free port and stops it; screenshots go to
test-artifacts/explorer/. Fails when /usr/bin/chromium is absent (.ci/run installs it).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.views.whatif import filters_near_line
from ojala_core.constants import EMISSION_LINES
from ojala_core.model.pretrained import Ojala

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "explorer"
MODEL = Path(__file__).resolve().parent.parent / "models" / "ojala-small"


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    if not CHROMIUM.exists():     # a failure, not a skip: CI (.ci/run) installs it
        pytest.fail("Debian chromium is not installed: apt-get update && apt-get install chromium")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_vac, tiny_mocks, tiny_sky):
    port = _free_port()
    log = open(tiny_vac.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ojala_core.cli", "serve", "--vac", str(tiny_vac), "--mocks",
                             str(tiny_mocks[0]), "--desi-spectra", str(tiny_sky / "desi" / "spectra" / "coadd-*.fits"),
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=60).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"ojala serve did not start: {(tiny_vac.parent / 'serve.log').read_text()[-2000:]}")
            time.sleep(1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(viewport={"width": 1900, "height": 1300}, accept_downloads=True)
        page = context.new_page()
        page.console_errors, page.external = [], []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))

        def route(r):
            if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
                r.continue_()
            else:
                page.external.append(r.request.url)
                r.abort()
        page.route("**/*", route)
        page.goto(server, timeout=120_000)
        page.wait_for_selector("#table-count", timeout=120_000)
        page.wait_for_timeout(3000)
        yield page
        browser.close()


def _vac(tiny_vac):
    return pd.concat(pd.read_parquet(p) for p in sorted((tiny_vac / "catalogue").glob("part-*.parquet")))\
        .reset_index(drop=True)


def _rows_shown(page):
    return int(page.locator("#table-count").get_attribute("data-rows"))


def test_page_loads_offline_without_console_errors(page, tiny_vac):
    page.screenshot(path=str(ARTIFACTS / "01-loaded.png"), full_page=True)
    assert page.console_errors == [] and page.external == []
    vac = _vac(tiny_vac)
    assert _rows_shown(page) == int(vac["CLASS"].notna().sum())     # every predicted object, no filter


def test_bpt_box_select_filters_the_table(page, tiny_vac):
    canvas = page.locator(".diagram-BPT canvas").first
    box = canvas.bounding_box()
    x0, y0 = box["x"] + 0.30 * box["width"], box["y"] + 0.25 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 0.25 * box["width"], y0 + 0.45 * box["height"], steps=12)
    page.mouse.up()
    label = _wait_for_label(page, "BPT box")
    (bx0, bx1), (by0, by1) = _bounds(label)
    vac = _vac(tiny_vac)
    x, y = vac["LOG_NII_HA"], vac["LOG_OIII_HB"]
    expected = int((vac["CLASS"].notna() & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1)).sum())
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(expected))
    assert expected > 0 and _rows_shown(page) == expected
    page.screenshot(path=str(ARTIFACTS / "02-bpt-selection.png"), full_page=True)


def test_export_writes_exactly_the_selected_rows(page, tiny_vac, tmp_path):
    label = page.locator("#selection").get_attribute("data-label")
    (bx0, bx1), (by0, by1) = _bounds(label)
    vac = _vac(tiny_vac)
    x, y = vac["LOG_NII_HA"], vac["LOG_OIII_HB"]
    expected = set(vac.loc[vac["CLASS"].notna() & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1), "JPAS_ID"])
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Export shown rows").click()
    path = tmp_path / "selection.csv"
    download.value.save_as(path)
    exported = pd.read_csv(path, dtype={"JPAS_ID": str})
    assert len(exported) == len(expected) and set(exported["JPAS_ID"]) == expected
    assert "APER_COR_3_0_J0660" in exported and "Z_GAL" in exported      # inputs and predictions


def test_click_opens_the_jspectrum_and_whatif_changes_halpha(page, tiny_vac):
    vac = _vac(tiny_vac)
    label = page.locator("#selection").get_attribute("data-label")
    (bx0, bx1), (by0, by1) = _bounds(label)
    x, y = vac["LOG_NII_HA"], vac["LOG_OIII_HB"]
    shown = vac[vac["CLASS"].notna() & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1)]
    position = next(i for i, z in enumerate(shown["Z_GAL"].head(15)) if 0.02 < z < 0.3)
    target = shown.iloc[position]
    page.locator(".tabulator-row").nth(position).click()
    page.wait_for_selector(f"#object-title[data-jpas-id='{target['JPAS_ID']}']", timeout=30_000)
    page.locator(".jspectrum canvas").first.wait_for(timeout=30_000)
    n_bands = int(_wait_for(page, "#object-title", "data-bands", lambda v: True))
    assert n_bands >= 40                                      # the J-spectrum's NB points were sent
    page.screenshot(path=str(ARTIFACTS / "03-object.png"), full_page=True)

    page.locator(".bk-tab", has_text="What-if").click()
    page.wait_for_selector("#whatif-table", timeout=30_000)
    model = Ojala.from_pretrained(MODEL)
    bands = filters_near_line(model, EMISSION_LINES["HALPHA"]["wavelength"], float(target["Z_GAL"]))
    assert bands
    for band in bands:
        page.get_by_text(band, exact=True).click()
    page.wait_for_selector(f"#whatif-hidden[data-n='{len(bands)}']", timeout=30_000)
    row = page.locator("#whatif-table tr[data-name='HALPHA_6562_EW']")
    before, after = float(row.get_attribute("data-before")), float(row.get_attribute("data-after"))
    assert np.isfinite(before) and np.isfinite(after) and before != after
    assert "Δ" in page.locator("#whatif-table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "04-whatif.png"), full_page=True)


def test_similarity_gallery_is_sorted_by_distance(page):
    page.locator(".bk-tab", has_text="Similar").click()
    page.wait_for_selector("#similarity-info[data-k='8']", timeout=30_000)
    distances = [float(d) for d in page.locator("tr.neighbour").evaluate_all("rows => rows.map(r => r.dataset.distance)")]
    assert len(distances) == 8 and all(np.diff(distances) >= 0)
    page.screenshot(path=str(ARTIFACTS / "05-similar.png"), full_page=True)
    assert page.console_errors == [] and page.external == []


def _wait_for(page, selector, attribute, accept, timeout=30.0):
    """Poll an attribute through Playwright locators (they pierce Panel's shadow DOM)."""
    deadline = time.time() + timeout
    while True:
        value = page.locator(selector).first.get_attribute(attribute) if page.locator(selector).count() else None
        if value is not None and accept(value):
            return value
        if time.time() > deadline:
            raise AssertionError(f"{selector}[{attribute}] is {value!r} after {timeout} s")
        page.wait_for_timeout(200)


def _wait_for_label(page, start):
    return _wait_for(page, "#selection", "data-label", lambda v: v.startswith(start))


def _bounds(label):
    """((x0, x1), (y0, y1)) from 'BPT box: X in [a, b], Y in [c, d]'."""
    parts = label.split(" in [")
    x = parts[1].split("]")[0].split(", ")
    y = parts[2].split("]")[0].split(", ")
    return (float(x[0]), float(x[1])), (float(y[0]), float(y[1]))
