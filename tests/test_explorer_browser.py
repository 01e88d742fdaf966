"""The explorer in a real browser (Debian Chromium driven by Playwright) on the tiny sky, used as
a person does: clicks and drags at the screen position of data points, computed from each plot's
ranges and frame on screen.

The test starts ``ojala serve`` on a free port over a copy of the tiny VAC in which two
catalogue ids hold HTML and script (they must show as text and run nothing); screenshots go to
test-artifacts/explorer/. After every test: no console error and no server traceback.
Fails when /usr/bin/chromium is absent (.ci/run installs it).
"""
from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dashboard.views.whatif import filters_near_line
from ojala_core.lines import EMISSION_LINES
from ojala_core.model.pretrained import Ojala
from ojala_core.vac.store import VacStore
from ojala_core.vocabulary import DEFAULT_VOCABULARY

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "explorer"
MODEL = Path(__file__).resolve().parent.parent / "models" / "ojala-small"
# Catalogue ids a stranger could write; each would set window.__ojala_xss if it ran.
HOSTILE_IDS = {1: '<img src=x onerror="window.__ojala_xss=1">', 3: "<script>window.__ojala_xss=2</script>"}
# The tiny VAC's first table page is all DESI-matched; this row gets an id DESI does not know.
UNMATCHED = {5: "no-desi-match-5"}
AXES = {"BPT": ("LOG_NII_HA", "LOG_OIII_HB"), "WHAN": ("LOG_NII_HA", "LOG_HALPHA_EW"), "SFMS": ("LOGM", "LOGSFR"),
        "CMD": ("MAG_i", "G_R"), "UMAP": ("UMAP_X", "UMAP_Y")}
CLASS_RGB = {"GALAXY": (0x1F, 0x77, 0xB4), "QSO": (0xD6, 0x27, 0x28), "STAR": (0xFF, 0x7F, 0x0E)}
VIEWPORTS = [(1280, 720), (1366, 768), (1600, 900), (1920, 1080)]
# A Bokeh plot's frame on screen, its ranges and its legend's box (null if none), found by the plot's title
# (shadow DOM included).
_PLOT_GEOMETRY = """(title) => {
  for (const v of Bokeh.index.query(v => v.model != null && (v.model.type === "Figure" || v.model.type === "Plot"))) {
    const t = v.model.title;
    const text = t == null ? null : (typeof t === "string" ? t : t.text);
    const canvas = v.canvas_view.el.getBoundingClientRect();
    if (text !== title || canvas.width === 0) continue;
    const f = v.frame.bbox;
    const lv = v.all_renderer_views.find(r => r.model.type === "Legend" && r.model.visible && r.model.items.length);
    const l = lv == null ? null : lv.bbox;
    return {left: canvas.left + f.left, top: canvas.top + f.top, width: f.width, height: f.height,
            x0: v.model.x_range.start, x1: v.model.x_range.end, y0: v.model.y_range.start, y1: v.model.y_range.end,
            legend: l == null || l.width === 0 ? null
                    : {left: canvas.left + l.left, top: canvas.top + l.top, width: l.width, height: l.height}};
  }
  return null;
}"""
# The selection outlines a diagram draws, as [x0, x1, y0, y1] per outline (what the browser has).
_OUTLINES = """(title) => {
  for (const v of Bokeh.index.query(v => v.model != null && v.model.type === "Figure")) {
    const t = v.model.title;
    if ((t == null ? null : (typeof t === "string" ? t : t.text)) !== title) continue;
    const r = v.model.renderers.find(r => r.name === "selection-outline");
    if (r == null) return null;
    const d = r.data_source.data;
    return Array.from(d.xs, (xs, k) => [Math.min(...xs), Math.max(...xs), Math.min(...d.ys[k]), Math.max(...d.ys[k])]);
  }
  return null;
}"""
# The shown objects' image of a diagram as the browser holds it: its place and size in data coordinates,
# the plot's ranges, and its place among the renderers (above the grey layer, under the reference lines).
_SHOWN_IMAGE = """(title) => {
  for (const v of Bokeh.index.query(v => v.model != null && v.model.type === "Figure")) {
    const t = v.model.title;
    if ((t == null ? null : (typeof t === "string" ? t : t.text)) !== title) continue;
    const all = v.model.renderers, k = all.findIndex(r => r.name === "shown-objects");
    if (k < 0) return null;
    const d = all[k].data_source.data;
    return {x: d.x[0], y: d.y[0], dw: d.dw[0], dh: d.dh[0], index: k,
            later: all.slice(k + 1).map(r => r.glyph == null ? "" : r.glyph.type),
            x0: v.model.x_range.start, x1: v.model.x_range.end, y0: v.model.y_range.start, y1: v.model.y_range.end};
  }
  return null;
}"""
# The J-PAS points drawn in the object view's J-spectrum (what the browser has, not what the server sent).
_JSPECTRUM_POINTS = """() => {
  for (const v of Bokeh.index.query(v => v.model != null && v.model.type === "Figure")) {
    const t = v.model.title;
    if (t == null || !String(t.text).startsWith("J-spectrum") || v.canvas_view.el.getBoundingClientRect().width === 0)
      continue;
    for (const r of v.model.renderers)
      if (r.glyph != null && r.glyph.type === "Scatter") return Array.from(r.data_source.data.y);
  }
  return null;
}"""

# The object view's J-spectrum as the browser holds it: its scatter layers (J-PAS, no measurement,
# hidden), the DESI curve's length, the line labels at both redshifts and the wavelength range.
_JSPECTRUM_STATE = """() => {
  for (const v of Bokeh.index.query(v => v.model != null && v.model.type === "Figure")) {
    const t = v.model.title;
    if (t == null || !String(t.text).startsWith("J-spectrum") || v.canvas_view.el.getBoundingClientRect().width === 0)
      continue;
    const scatter = v.model.renderers.filter(r => r.glyph != null && r.glyph.type === "Scatter")
                                     .map(r => r.data_source.data);
    const line = v.model.renderers.find(r => r.glyph != null && r.glyph.type === "Line");
    const labels = v.model.center.filter(m => m.type === "LabelSet").map(m => Array.from(m.source.data.label));
    const canvas = v.canvas_view.el.getBoundingClientRect(), f = v.frame.bbox;
    return {obs: {x: Array.from(scatter[0].x), y: Array.from(scatter[0].y), band: Array.from(scatter[0].band)},
            missing: Array.from(scatter[1].band), hidden: Array.from(scatter[2].band),
            desi: line.data_source.data.x.length, labels: labels.flat(),
            x0: v.model.x_range.start, x1: v.model.x_range.end, y0: v.model.y_range.start, y1: v.model.y_range.end,
            left: canvas.left + f.left, top: canvas.top + f.top, width: f.width, height: f.height};
  }
  return null;
}"""


def _jspectrum(page, accept=lambda s: True, timeout=30.0):
    deadline = time.time() + timeout
    while (state := page.evaluate(_JSPECTRUM_STATE)) is None or not accept(state):
        if time.time() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failed-jspectrum.png"), full_page=True)
            raise AssertionError(f"the J-spectrum did not reach the expected state: {state}")
        page.wait_for_timeout(200)
    return state


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    if not CHROMIUM.exists():     # a failure, not a skip: CI (.ci/run) installs it
        pytest.fail("Debian chromium is not installed: apt-get update && apt-get install chromium")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def hostile_vac(tiny_vac, tmp_path_factory):
    """A copy of the tiny VAC whose rows in HOSTILE_IDS carry HTML/script as JPAS_ID (and the row in
    UNMATCHED an id without DESI match)."""
    out = tmp_path_factory.mktemp("hostile") / "vac"
    shutil.copytree(tiny_vac, out)
    part = out / "catalogue" / "part-00000.parquet"
    table = pq.read_table(part)
    ids = table.column("JPAS_ID").to_pylist()
    for row, text in {**HOSTILE_IDS, **UNMATCHED}.items():
        ids[row] = text
    at = table.schema.get_field_index("JPAS_ID")
    pq.write_table(table.set_column(at, table.schema.field(at), pa.array(ids, type=table.schema.field(at).type)),
                   part)
    return out


@pytest.fixture(scope="module")
def vac(hostile_vac, tiny_mocks):
    """The served VAC as the explorer holds it (derived columns and DESI values joined), with the diagrams'
    axes as they are drawn: a prediction only for the classes the vocabulary says it applies to (no star
    in the SFMS)."""
    frame = VacStore(hostile_vac, pd.read_parquet(tiny_mocks[0] / "test_real.parquet")).frame.copy()
    for name in {c for axes in AXES.values() for c in axes}:
        if name in DEFAULT_VOCABULARY and DEFAULT_VOCABULARY[name].applies_to:
            frame[name] = frame[name].where(frame["CLASS"].isin(DEFAULT_VOCABULARY[name].applies_to))
    return frame


@pytest.fixture(scope="module")
def server(hostile_vac, tiny_mocks, tiny_sky):
    port = _free_port()
    log_path = hostile_vac.parent / "serve.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "ojala_core.cli", "serve", "--vac", str(hostile_vac), "--mocks",
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
                raise RuntimeError(f"ojala serve did not start: {log_path.read_text()[-2000:]}")
            time.sleep(1)
    server = type("Server", (), {"url": url, "log": log_path})()
    yield server
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _server_errors(text):
    """Tracebacks and warnings in the serve log, less a closed browser tab's socket (not a server fault)."""
    text = re.sub(r"ERROR asyncio: Task exception was never retrieved.*?WebSocketClosedError\n", "", text,
                  flags=re.S)
    return [line for line in text.splitlines()
            if re.search(r"Traceback|Error|WARNING|_pending_writes|Callable raised", line)]


def _open_page(browser, url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
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
    page.goto(url, timeout=120_000)
    page.wait_for_selector("#table-count", timeout=120_000)
    page.wait_for_function("() => window.Bokeh !== undefined", timeout=60_000)
    page.wait_for_timeout(2000)
    return page


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = _open_page(browser, server.url, 1600, 1000)       # the size a new user tried (issue 12)
    yield page
    page.context.close()


@pytest.fixture(autouse=True)
def _no_errors(request, server):
    """Every test leaves no console error, no external request, no executed catalogue script and
    no new server traceback."""
    start = server.log.stat().st_size
    yield
    if "page" in request.fixturenames:
        page = request.getfixturevalue("page")
        assert page.console_errors == [] and page.external == []
        assert page.evaluate("() => window.__ojala_xss === undefined")
    with open(server.log) as log:
        log.seek(start)
        assert _server_errors(log.read()) == []


def _rows_shown(page):
    return int(page.locator("#table-count").get_attribute("data-rows"))


def _wait_for(page, selector, attribute, accept, timeout=60.0):
    """Poll an attribute through Playwright locators (they pierce Panel's shadow DOM)."""
    deadline = time.time() + timeout
    while True:
        value = page.locator(selector).first.get_attribute(attribute) if page.locator(selector).count() else None
        if value is not None and accept(value):
            return value
        if time.time() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failed-wait.png"), full_page=True)
            raise AssertionError(f"{selector}[{attribute}] is {value!r} after {timeout} s")
        page.wait_for_timeout(200)


def _geometry(page, title, timeout=60.0):
    deadline = time.time() + timeout
    while (g := page.evaluate(_PLOT_GEOMETRY, title)) is None or not np.isfinite(g["x0"]):
        if time.time() > deadline:
            raise AssertionError(f"no plot titled {title!r} on screen")
        page.wait_for_timeout(300)
    return g


def _to_screen(g, x, y):
    """Data coordinates -> page pixels in the plot of geometry `g`."""
    return (g["left"] + (np.asarray(x) - g["x0"]) / (g["x1"] - g["x0"]) * g["width"],
            g["top"] + (g["y1"] - np.asarray(y)) / (g["y1"] - g["y0"]) * g["height"])


def _off_legend(g, px, py, margin):
    """True where screen points (px, py) are at least `margin` pixels outside the plot's legend box."""
    box = g.get("legend")
    if box is None:
        return np.ones(np.shape(px), dtype=bool)
    return ~((px > box["left"] - margin) & (px < box["left"] + box["width"] + margin)
             & (py > box["top"] - margin) & (py < box["top"] + box["height"] + margin))


def _isolated_points(page, vac, diagram, k=2):
    """The k shown objects farthest on screen from any other (rows, screen x, screen y), inside the
    frame and away from its legend (a click there lands on the legend, not on the point)."""
    g = _geometry(page, diagram)
    x, y = (vac[c].to_numpy(float) for c in AXES[diagram])
    ok = vac["CLASS"].notna().to_numpy() & np.isfinite(x) & np.isfinite(y)
    px, py = _to_screen(g, x, y)
    rows = np.flatnonzero(ok)
    inside = rows[(px[rows] > g["left"] + 15) & (px[rows] < g["left"] + g["width"] - 15)
                  & (py[rows] > g["top"] + 15) & (py[rows] < g["top"] + g["height"] - 15)
                  & _off_legend(g, px[rows], py[rows], margin=15)]
    d = np.hypot(px[inside, None] - px[None, rows], py[inside, None] - py[None, rows])
    d[d == 0] = np.inf
    best = inside[np.argsort(-d.min(axis=1))[:k]]
    return [(int(r), float(px[r]), float(py[r])) for r in best]


def _drag(page, x0, y0, x1, y1):
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)
    page.mouse.up()


def _region(page):
    return json.loads(page.locator("#selection").get_attribute("data-region"))


def _in_region(vac, region):
    x, y = vac[region["x"]], vac[region["y"]]
    (x0, x1), (y0, y1) = region["x_range"], region["y_range"]
    return vac["CLASS"].notna() & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _pixels(page, g, rgb, min_ink=40):
    """How many pixels of colour `rgb`, at any opacity over white, a plot's frame shows outside its legend
    (whose swatches would count). Datashader makes sparse pixels translucent: a pixel p over
    white is 255 - a (255 - rgb), so 255 - p points the way 255 - rgb does; `min_ink` is the
    least |255 - p| counted (grey and black point the same way: black needs more ink)."""
    left, top = g["left"] + 2, g["top"] + 2
    png = page.screenshot(clip={"x": left, "y": top, "width": g["width"] - 4, "height": g["height"] - 4})
    rgb_image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)
    rows, cols = np.indices(rgb_image.shape[:2])
    rgb_image[~_off_legend(g, left + cols, top + rows, margin=2)] = 255.0
    ink = 255.0 - rgb_image.reshape(-1, 3)
    target = 255.0 - np.asarray(rgb, dtype=float)
    strong = np.linalg.norm(ink, axis=1) > min_ink
    cosine = ink[strong] @ target / (np.linalg.norm(ink[strong], axis=1) * np.linalg.norm(target))
    return int((cosine > 0.98).sum())


def _wait_for_pixels(page, diagram, rgb, at_least, timeout=30.0, min_ink=40, at_most=None):
    """Wait until `diagram` shows at least `at_least` (or at most `at_most`) pixels of colour `rgb`."""
    deadline = time.time() + timeout
    while True:
        n = _pixels(page, _geometry(page, diagram), rgb, min_ink)
        if (n <= at_most) if at_most is not None else (n >= at_least):
            return
        if time.time() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failed-pixels.png"), full_page=True)
            raise AssertionError(f"{diagram} shows {n} pixels of colour {rgb} after {timeout} s")
        page.wait_for_timeout(500)


def _checkbox(page, label):
    """The input of a Bokeh checkbox labelled `label` (label and input share one shadow root)."""
    return page.get_by_text(label, exact=True).first.evaluate_handle(
        "e => e.getRootNode().querySelector('input[type=checkbox]')")


def _show_tab(page, name):
    page.locator(".bk-tab", has_text=name).first.click()
    page.wait_for_timeout(500)


def _clear(page):
    page.get_by_role("button", name="Clear selection").click()
    _wait_for(page, "#selection", "data-label", lambda v: v == "no selection")


def _open_from_table(page, vac, accept):
    """Click the first row of the table's first page whose VAC row satisfies `accept`; return that row."""
    shown = np.flatnonzero(vac["CLASS"].notna().to_numpy())[:15]
    position = next(i for i, r in enumerate(shown) if accept(vac.iloc[r]))
    cell = page.locator(".tabulator-row").nth(position).locator(".tabulator-cell[tabulator-field='JPAS_ID']")
    deadline = time.time() + 30                   # the table shows every object (no selection left over)
    while cell.inner_text() != vac["JPAS_ID"].iat[shown[position]]:
        assert time.time() < deadline, f"table row {position} is {cell.inner_text()!r}: a selection is left over"
        page.wait_for_timeout(200)
    page.locator(".tabulator-row").nth(position).click()
    return int(shown[position])


def _expect_object(page, vac, row, previous_points=None):
    """The object view shows VAC row `row`: its id, its J-spectrum in the browser, its numbers."""
    jpas_id = vac["JPAS_ID"].iat[row]
    _wait_for(page, "#object-title", "data-jpas-id", lambda v: v == jpas_id)
    n_bands = int(_wait_for(page, "#object-title", "data-bands", lambda v: True))
    deadline = time.time() + 30
    while (points := page.evaluate(_JSPECTRUM_POINTS)) is None or len(points) != n_bands or points == previous_points:
        assert time.time() < deadline, (f"the J-spectrum in the browser did not change to the clicked object (row "
                                        f"{row}, {None if points is None else len(points)} points, {n_bands} bands)")
        page.wait_for_timeout(200)
    assert n_bands >= 40
    cls = str(vac["CLASS"].iat[row])
    model = _model()
    shown = page.locator("#object-predictions tr[data-name]").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert shown and {"GALAXY": "LOGM", "QSO": "Z_QSO", "STAR": "TEFF"}[cls] in shown
    for name in shown:                            # no galaxy quantity for a star, no stellar one for a galaxy
        assert not model.vocabulary[name].applies_to or cls in model.vocabulary[name].applies_to, name
    first = page.locator(f"#object-predictions tr[data-name='{shown[0]}'] td").nth(1).inner_text()
    assert first == f"{vac[shown[0]].iat[row]:.4g}"
    return points


_MODEL = []


def _model():
    if not _MODEL:
        _MODEL.append(Ojala.from_pretrained(MODEL))
    return _MODEL[0]


def test_page_loads_offline_without_console_errors(page, vac):
    page.screenshot(path=str(ARTIFACTS / "01-loaded.png"), full_page=True)
    assert _rows_shown(page) == int(vac["CLASS"].notna().sum())     # every predicted object, no filter


def test_colour_by_class_with_one_class_shown_draws_coloured_points(page, vac):
    galaxies = int((vac["CLASS"] == "GALAXY").sum())
    for name in ("QSO", "STAR"):
        page.get_by_role("button", name=name, exact=True).click()
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(galaxies))
    _wait_for_pixels(page, "CMD", CLASS_RGB["STAR"], 0, at_most=0)          # the new image reached the screen
    for diagram in ("BPT", "WHAN", "CMD"):
        _wait_for_pixels(page, diagram, CLASS_RGB["GALAXY"], 20)
    page.screenshot(path=str(ARTIFACTS / "02-galaxies-only.png"))
    page.get_by_role("button", name="GALAXY", exact=True).click()               # no class at all, then all again
    _wait_for(page, "#table-count", "data-rows", lambda v: v == "0")
    for name in ("GALAXY", "QSO", "STAR"):
        page.get_by_role("button", name=name, exact=True).click()
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(int(vac["CLASS"].notna().sum())))
    assert page.locator(".tabulator-row").count() > 0
    _wait_for_pixels(page, "CMD", CLASS_RGB["STAR"], 20)


def test_the_bpt_and_sfms_legends_sit_where_no_object_is(page, vac):
    for diagram in ("BPT", "SFMS"):
        g = _geometry(page, diagram)
        assert g["legend"] is not None, f"{diagram} has no legend"
        x, y = (vac[c].to_numpy(float) for c in AXES[diagram])
        ok = vac["CLASS"].notna().to_numpy() & np.isfinite(x) & np.isfinite(y)
        px, py = _to_screen(g, x[ok], y[ok])
        covered = int((~_off_legend(g, px, py, margin=0)).sum())
        assert covered <= 0.01 * ok.sum(), f"the {diagram} legend covers {covered} of {ok.sum()} objects"


def test_empty_box_then_clear_brings_every_diagram_back_with_its_lines(page, vac):
    g = _geometry(page, "BPT")
    x, y = vac["LOG_NII_HA"], vac["LOG_OIII_HB"]
    assert not ((x > 0.55) & (y > 1.15)).any()                    # the BPT's top right corner is empty
    _drag(page, *_to_screen(g, 0.6, 1.4), *_to_screen(g, 0.95, 1.2))
    _wait_for(page, "#selection", "data-n", lambda v: v == "0")
    _wait_for(page, "#table-count", "data-rows", lambda v: v == "0")
    page.wait_for_timeout(1500)
    _clear(page)
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(int(vac["CLASS"].notna().sum())))
    for diagram in ("BPT", "WHAN", "SFMS", "CMD"):
        _wait_for_pixels(page, diagram, CLASS_RGB["GALAXY"], 20)
        if diagram != "CMD":                                       # Ke01/Ka03/S06, the WHAN cuts, Speagle+14
            _wait_for_pixels(page, diagram, (0, 0, 0), 5, min_ink=330)     # none when the lines are gone
    page.screenshot(path=str(ARTIFACTS / "03-after-clear.png"))


def test_box_zoom_redraws_the_shown_objects_for_the_new_ranges(browser, server, vac):
    # a page of its own: the zoom and the Box Zoom tool it leaves active would change the shared page
    page = _open_page(browser, server.url, 1600, 1000)
    try:
        _zoom_and_check(page)
        problems = page.console_errors + page.external
    finally:
        page.context.close()
    assert problems == []


def _zoom_and_check(page):
    g = _geometry(page, "BPT")
    before = page.evaluate(_SHOWN_IMAGE, "BPT")
    assert before["index"] == 1 and "Line" in before["later"], before     # over the grey layer, under the lines
    # the Box Zoom tool of the BPT's own toolbar (right of its frame), then a drag around the star-forming branch
    buttons = page.locator('[title^="Box Zoom"]')
    mine = [b for b in buttons.all() if (box := b.bounding_box()) and g["left"] + g["width"] - 5 < box["x"]
            < g["left"] + g["width"] + 80 and g["top"] - 10 < box["y"] < g["top"] + g["height"]]
    assert len(mine) == 1, f"{len(mine)} Box Zoom buttons beside the BPT frame"
    mine[0].click()
    _drag(page, *_to_screen(g, -1.0, 0.8), *_to_screen(g, -0.2, -0.4))
    deadline = time.time() + 30
    while True:        # the image now spans the zoomed ranges, not the old ones stretched
        now = page.evaluate(_SHOWN_IMAGE, "BPT")
        if abs(now["x1"] - now["x0"]) < 0.9 and np.allclose([now["x"], now["x"] + now["dw"], now["y"],
                                                              now["y"] + now["dh"]],
                                                             [now["x0"], now["x1"], now["y0"], now["y1"]], atol=1e-6):
            break
        assert time.time() < deadline, (before, now)
        page.wait_for_timeout(300)
    _wait_for_pixels(page, "BPT", CLASS_RGB["GALAXY"], 20)
    page.screenshot(path=str(ARTIFACTS / "04-bpt-zoomed.png"))


def test_bpt_box_select_filters_the_table_with_a_readable_label(page, vac):
    g = _geometry(page, "BPT")
    _drag(page, *_to_screen(g, -0.9, 0.9), *_to_screen(g, 0.1, -0.6))
    label = _wait_for(page, "#selection", "data-label", lambda v: v.startswith("BPT box"))
    assert not re.search(r"\d\.\d{4,}", label)                    # no 16-digit floats for people
    region = _region(page)
    expected = int(_in_region(vac, region).sum())
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(expected))
    assert expected > 0 and _rows_shown(page) == expected
    deadline = time.time() + 30                   # the drawn box stays on screen, in BPT only
    while (outline := page.evaluate(_OUTLINES, "BPT")) != [[*region["x_range"], *region["y_range"]]]:
        assert time.time() < deadline, outline
        page.wait_for_timeout(200)
    assert page.evaluate(_OUTLINES, "WHAN") == []
    page.screenshot(path=str(ARTIFACTS / "04-bpt-selection.png"), full_page=True)


def test_export_writes_exactly_the_selected_rows(page, vac, tmp_path):
    expected = set(vac.loc[_in_region(vac, _region(page)), "JPAS_ID"])
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Export shown rows").click()
    path = tmp_path / "selection.csv"
    download.value.save_as(path)
    exported = pd.read_csv(path, dtype={"JPAS_ID": str})
    assert len(exported) == len(expected) and set(exported["JPAS_ID"]) == expected
    assert "APER_COR_3_0_J0660" in exported and "Z_GAL" in exported      # inputs and predictions


def test_selection_whatif_draws_the_bpt_move_and_reset_reticks_the_trays(page):
    _show_tab(page, "What-if")
    toggle = _checkbox(page, "use T2")
    toggle.click()
    page.wait_for_function("el => !el.checked", arg=toggle, timeout=30_000)
    page.get_by_role("button", name=re.compile("Apply mask to the selection")).click()
    page.wait_for_function("() => [...Bokeh.index.query(v => v.model.type === 'Figure')]"
                           ".some(v => String(v.model.title?.text).startsWith('BPT of'))", timeout=60_000)
    g = _geometry(page, next(t for t in page.evaluate(
        "() => [...Bokeh.index.query(v => v.model.type === 'Figure')].map(v => v.model.title?.text)")
        if t and t.startswith("BPT of")))
    assert _pixels(page, g, (0xD6, 0x27, 0x28)) > 10              # the masked galaxies, in red,
    assert _pixels(page, g, (0x9A, 0x9A, 0x9A), min_ink=150) > 10   # moved off their places (grey)
    page.screenshot(path=str(ARTIFACTS / "05-whatif-selection.png"), full_page=True)
    page.get_by_role("button", name="Reset mask").click()
    page.wait_for_function("el => el.checked", arg=toggle, timeout=30_000)
    _show_tab(page, "Diagrams")
    _clear(page)


def test_subsets_combine_by_or_and_not_undo_and_show_in_their_colour_in_every_diagram(page, vac):
    _show_tab(page, "Diagrams")
    _clear(page)
    g = _geometry(page, "BPT")
    _drag(page, *_to_screen(g, -0.9, 0.9), *_to_screen(g, 0.1, -0.6))
    _wait_for(page, "#selection", "data-label", lambda v: v.startswith("BPT box"))
    a = _region(page)
    in_a = _in_region(vac, a)
    _wait_for(page, "#selection", "data-n", lambda v: v == str(int(in_a.sum())))
    page.get_by_role("button", name="Keep as subset").click()
    kept = page.locator("#subset-legend li[data-subset='S1']")
    kept.wait_for(timeout=30_000)
    assert kept.get_attribute("data-n") == str(int(in_a.sum()))
    page.wait_for_timeout(1500)                   # every diagram has redrawn its kept-subset layer
    colour = kept.get_attribute("data-colour")
    page.get_by_role("button", name="OR", exact=True).click()
    page.wait_for_timeout(800)                    # the mode reaches the server before the next drag
    _drag(page, *_to_screen(g, 0.2, 1.3), *_to_screen(g, 0.9, -1.3))            # the AGN side, disjoint from A
    label = _wait_for(page, "#selection", "data-label", lambda v: " OR (BPT box" in v)
    b = _region(page)["combine"][1][1]
    in_b = _in_region(vac, b)
    assert in_b.sum() > 0 and not (in_a & in_b).any(), label
    _wait_for(page, "#selection", "data-n", lambda v: v == str(int((in_a | in_b).sum())))
    page.get_by_role("button", name="Undo selection").click()
    _wait_for(page, "#selection", "data-n", lambda v: v == str(int(in_a.sum())))
    page.get_by_role("button", name="AND NOT", exact=True).click()
    page.wait_for_timeout(800)                    # the mode reaches the server before the next drag
    _drag(page, *_to_screen(g, -0.5, 0.5), *_to_screen(g, 0.5, -0.2))
    _wait_for(page, "#selection", "data-label", lambda v: " AND NOT (BPT box" in v)
    in_c = _in_region(vac, _region(page)["combine"][1][1])
    assert 0 < (in_a & in_c).sum() < in_a.sum()
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(int((in_a & ~in_c).sum())))
    page.get_by_role("button", name="new", exact=True).click()
    page.wait_for_timeout(800)                    # the mode reaches the server before the next drag
    _clear(page)
    rgb = tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))
    for diagram in ("BPT", "WHAN", "SFMS", "CMD"):                # the kept subset, in its colour, everywhere
        _wait_for_pixels(page, diagram, rgb, 10)
    page.screenshot(path=str(ARTIFACTS / "16-kept-subset.png"), full_page=True)
    page.get_by_role("button", name="Select it").click()
    _wait_for(page, "#selection", "data-n", lambda v: v == str(int(in_a.sum())))
    page.get_by_role("button", name="Drop it").click()
    page.locator("#subset-legend li").first.wait_for(state="detached", timeout=30_000)
    _clear(page)


def test_shift_drag_adds_to_the_selection_and_a_plain_drag_replaces_it(page, vac):
    _show_tab(page, "Diagrams")
    _clear(page)
    g = _geometry(page, "BPT")
    _drag(page, *_to_screen(g, -0.9, 0.9), *_to_screen(g, 0.1, -0.6))
    _wait_for(page, "#selection", "data-label", lambda v: v.startswith("BPT box"))
    in_a = _in_region(vac, _region(page))
    page.keyboard.down("Shift")
    _drag(page, *_to_screen(g, 0.2, 1.3), *_to_screen(g, 0.9, -1.3))
    page.keyboard.up("Shift")                     # released at once: the press of the drag is what counts
    label = _wait_for(page, "#selection", "data-label", lambda v: " OR (BPT box" in v)
    in_b = _in_region(vac, _region(page)["combine"][1][1])
    assert in_b.sum() > 0 and not (in_a & in_b).any(), label
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(int((in_a | in_b).sum())))
    _drag(page, *_to_screen(g, -0.9, 0.9), *_to_screen(g, 0.1, -0.6))        # no Shift: a new selection
    _wait_for(page, "#selection", "data-label", lambda v: v.startswith("BPT box") and " OR " not in v)
    _wait_for(page, "#table-count", "data-rows", lambda v: v == str(int(in_a.sum())))
    _clear(page)


def test_open_an_object_without_desi_match_from_the_table(page, vac):
    row = _open_from_table(page, vac, lambda v: pd.isna(v["DESI_TARGETID"]) and v.name not in HOSTILE_IDS)
    _expect_object(page, vac, row)
    assert page.locator("#object-title").get_attribute("data-desi-class") == ""
    assert "no DESI match" in page.locator("#object-classes").inner_text()
    assert page.get_by_text("Cannot show this object").count() == 0


def test_matched_object_shows_its_desi_class(page, vac):
    row = _open_from_table(page, vac, lambda v: pd.notna(v["DESI_TARGETID"]))
    _expect_object(page, vac, row)
    assert page.locator("#object-title").get_attribute("data-desi-class") == str(vac["DESI_SPECTYPE"].iat[row])


@pytest.mark.parametrize("diagram", ["BPT", "WHAN", "SFMS", "CMD", "UMAP"])
def test_click_a_point_opens_that_object_then_another(page, vac, diagram):
    _show_tab(page, "Embedding map" if diagram == "UMAP" else "Diagrams")
    points = page.evaluate(_JSPECTRUM_POINTS)
    title = page.locator("#object-title")
    open_id = title.get_attribute("data-jpas-id") if title.count() else None
    # two objects other than the one already open (a click on it changes nothing, rightly)
    targets = [t for t in _isolated_points(page, vac, diagram, k=3) if vac["JPAS_ID"].iat[t[0]] != open_id][:2]
    for row, x, y in targets:
        page.mouse.click(x, y)
        points = _expect_object(page, vac, row, points)
    page.screenshot(path=str(ARTIFACTS / f"06-click-{diagram}.png"))


_DEEP_TEXT = """e => { const deep = n => (n.shadowRoot ? deep(n.shadowRoot) : '') +
    Array.from(n.childNodes).map(c => c.nodeType === 3 ? c.textContent : deep(c)).join(' '); return deep(e); }"""


@pytest.mark.parametrize("diagram", ["BPT", "WHAN", "SFMS", "CMD", "UMAP"])
def test_hovering_a_point_shows_its_id_class_probability_redshift_and_i(page, vac, diagram):
    _show_tab(page, "Embedding map" if diagram == "UMAP" else "Diagrams")
    row, x, y = _isolated_points(page, vac, diagram, k=1)[0]
    jpas_id = vac["JPAS_ID"].iat[row]
    tooltip = page.locator(".bk-Tooltip", has_text=jpas_id).first
    deadline = time.time() + 30
    page.mouse.move(x - 25, y - 25)
    while not tooltip.is_visible():          # the server places the ring; Bokeh's hover needs a move over it
        assert time.time() < deadline, f"no tooltip with {jpas_id} over its point in {diagram}"
        page.mouse.move(x + 1, y, steps=3)
        page.wait_for_timeout(300)
        page.mouse.move(x, y, steps=3)
        page.wait_for_timeout(300)
    text = " ".join(tooltip.evaluate(_DEEP_TEXT).split())
    cls = str(vac["CLASS"].iat[row])
    assert cls in text and f"{vac[f'P_{cls}'].iat[row]:.3f}" in text and f"{vac['MAG_i'].iat[row]:.2f}" in text
    if cls != "STAR":
        z = vac["Z_QSO" if cls == "QSO" else "Z_GAL"].iat[row]
        assert f"{z:.3f}" in text
    page.screenshot(path=str(ARTIFACTS / f"15-hover-{diagram}.png"))
    page.mouse.move(5, 5)


def test_click_far_from_every_point_opens_nothing(page, vac):
    _show_tab(page, "Diagrams")
    g = _geometry(page, "BPT")
    before = page.locator("#object-title").get_attribute("data-jpas-id")
    x, y = _to_screen(g, 0.85, 1.3)                                  # the empty top right corner
    px, py = _to_screen(g, vac["LOG_NII_HA"].to_numpy(float), vac["LOG_OIII_HB"].to_numpy(float))
    assert np.nanmin(np.hypot(px - x, py - y)) > 40
    page.mouse.click(x, y)
    page.wait_for_timeout(3000)
    assert page.locator("#object-title").get_attribute("data-jpas-id") == before


def test_click_opens_the_jspectrum_and_whatif_changes_halpha(page, vac):
    row = _open_from_table(page, vac, lambda v: 0.02 < v["Z_GAL"] < 0.3 and v["CLASS"] == "GALAXY"
                           and v.name not in HOSTILE_IDS)
    _expect_object(page, vac, row)
    page.screenshot(path=str(ARTIFACTS / "07-object.png"), full_page=True)
    _show_tab(page, "What-if")
    page.wait_for_selector("#whatif-table", timeout=30_000)
    bands = filters_near_line(_model(), EMISSION_LINES["HALPHA"].wavelength, float(vac["Z_GAL"].iat[row]))
    assert bands
    for band in bands:
        page.get_by_text(band, exact=True).click()
    page.wait_for_selector(f"#whatif-hidden[data-n='{len(bands)}']", timeout=30_000)
    marked = _jspectrum(page, lambda s: len(s["hidden"]) == len(bands))["hidden"]
    assert sorted(marked) == sorted(bands)                    # the J-spectrum marks the hidden bands
    tr = page.locator("#whatif-table tr[data-name='HALPHA_6562_EW']")
    before, after = float(tr.get_attribute("data-before")), float(tr.get_attribute("data-after"))
    assert np.isfinite(before) and np.isfinite(after) and before != after
    assert "Δ" in page.locator("#whatif-table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "08-whatif.png"), full_page=True)
    page.get_by_role("button", name="Reset mask").click()


def test_similarity_gallery_is_sorted_by_distance(page):
    _show_tab(page, "Similar")
    page.wait_for_selector("#similarity-info[data-k='8']", timeout=30_000)
    distances = [float(d) for d in
                 page.locator("tr.neighbour").evaluate_all("rows => rows.map(r => r.dataset.distance)")]
    assert len(distances) == 8 and all(np.diff(distances) >= 0)
    page.screenshot(path=str(ARTIFACTS / "09-similar.png"), full_page=True)


def test_a_neighbour_card_opens_that_neighbour(page, vac):
    _show_tab(page, "Similar")
    page.wait_for_selector("#similarity-info[data-k='8']", timeout=30_000)
    ids = page.locator("tr.neighbour").evaluate_all("rows => rows.map(r => r.dataset.jpasId)")
    before = page.locator("#object-title").get_attribute("data-jpas-id")
    target = next(i for i in ids if i != before)
    page.get_by_role("button", name=f"open {target}", exact=True).click()
    _wait_for(page, "#object-title", "data-jpas-id", lambda v: v == target)
    row = int(np.flatnonzero(vac["JPAS_ID"].to_numpy() == target)[0])
    _expect_object(page, vac, row)


def test_catalogue_ids_with_html_show_as_text_and_run_nothing(page, vac):
    _show_tab(page, "Similar")
    page.locator(".tabulator-row").nth(0).wait_for()
    table_text = page.locator(".tabulator").first.inner_text()
    assert all(text in table_text for text in HOSTILE_IDS.values())
    page.locator(".tabulator-row").nth(list(HOSTILE_IDS).pop(0)).click()
    _expect_object(page, vac, 1)
    assert page.locator("#object-title").inner_text() == f"Object {HOSTILE_IDS[1]}"
    page.wait_for_selector("#similarity-info[data-k='8']", timeout=30_000)
    page.get_by_role("button", name="Select these objects").click()
    label = _wait_for(page, "#selection", "data-label", lambda v: "neighbours of" in v)
    assert label.endswith(HOSTILE_IDS[1])
    assert HOSTILE_IDS[1] in page.locator("#selection").inner_text()
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "10-hostile-ids.png"), full_page=True)
    _clear(page)
    _show_tab(page, "Diagrams")


def _overlaps(a, b):
    return (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
            and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1)


def _inside(inner, outer):
    return (inner["x"] >= outer["x"] - 1 and inner["y"] >= outer["y"] - 1
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1)


def _assert_apart(page, names):
    """The named boxes do not intersect, and every visible plot toolbar lies inside exactly one of them."""
    boxes = {}
    for name, selector in names.items():
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["width"] > 0, name
        boxes[name] = box
    for (a, box_a), (b, box_b) in combinations(boxes.items(), 2):
        assert not _overlaps(box_a, box_b), f"{a} overlaps {b}"
    toolbars = [t for t in (page.locator(".bk-Toolbar").nth(i).bounding_box()
                            for i in range(page.locator(".bk-Toolbar").count())) if t and t["width"] > 0]
    assert len(toolbars) >= len(names) - 1
    for toolbar in toolbars:
        owners = [n for n, box in boxes.items() if _overlaps(toolbar, box)]
        assert len(owners) == 1 and _inside(toolbar, boxes[owners[0]]), f"a toolbar at {toolbar} meets {owners}"


@pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_layout_does_not_overlap(browser, server, vac, width, height):
    page = _open_page(browser, server.url, width, height)
    try:
        _open_from_table(page, vac, lambda v: v["CLASS"] == "GALAXY" and v.name not in HOSTILE_IDS)
        page.wait_for_selector("#object-predictions", timeout=60_000)
        page.wait_for_timeout(1500)
        diagrams = {n: f".diagram-{n}" for n in ("BPT", "WHAN", "SFMS", "CMD")}
        _assert_apart(page, {**diagrams, "object view": ".object-view", "table": ".tabulator"})
        page.screenshot(path=str(ARTIFACTS / f"layout-{width}x{height}.png"), full_page=True)
        _show_tab(page, "What-if")
        page.wait_for_selector("#whatif-table", timeout=60_000)
        _assert_apart(page, {"what-if masks": ".whatif-masks", "object view": ".object-view"})
        page.screenshot(path=str(ARTIFACTS / f"layout-{width}x{height}-whatif.png"), full_page=True)
        _show_tab(page, "Similar")
        page.wait_for_selector(".similarity-gallery", timeout=60_000)
        page.wait_for_timeout(1500)
        _assert_apart(page, {"similar objects": ".similarity-gallery", "object view": ".object-view"})
        page.screenshot(path=str(ARTIFACTS / f"layout-{width}x{height}-similar.png"), full_page=True)
        assert page.console_errors == [] and page.external == []
    finally:
        page.context.close()


def test_table_headers_have_units_and_numbers_a_fixed_precision(page, vac):
    _clear(page)
    titles = page.locator(".tabulator-col-title").all_inner_texts()
    assert "MAG_i [mag]" in titles and "LOGM [dex(Msun)]" in titles and "TEFF [K]" in titles
    first = np.flatnonzero(vac["CLASS"].notna().to_numpy())[0]
    cell = page.locator(".tabulator-row").first.locator(".tabulator-cell[tabulator-field='Z_GAL']")
    assert cell.inner_text() == f"{vac['Z_GAL'].iat[first]:.4f}"
    cell = page.locator(".tabulator-row").first.locator(".tabulator-cell[tabulator-field='MAG_i']")
    assert cell.inner_text() == f"{vac['MAG_i'].iat[first]:.2f}"


def test_table_pages_and_sorts_on_the_server(page, vac):
    _clear(page)
    shown = vac[vac["CLASS"].notna()]
    first_cell = page.locator(".tabulator-row").first.locator(".tabulator-cell[tabulator-field='JPAS_ID']")
    page.locator(".table-next button").click()
    _wait_for(page, "#table-page", "data-page", lambda v: v == "2")
    assert first_cell.inner_text() == shown["JPAS_ID"].iat[15]
    page.locator(".table-sort select").select_option("MAG_i")
    _wait_for(page, "#table-page", "data-page", lambda v: v == "1")          # a new order starts at page 1
    deadline = time.time() + 30
    while first_cell.inner_text() != shown.sort_values("MAG_i", kind="stable")["JPAS_ID"].iat[0]:
        assert time.time() < deadline, first_cell.inner_text()
        page.wait_for_timeout(200)
    page.locator(".table-desc input").click()
    faintest = shown.sort_values("MAG_i", ascending=False, kind="stable")["JPAS_ID"].iat[0]
    deadline = time.time() + 30
    while first_cell.inner_text() != faintest:
        assert time.time() < deadline, first_cell.inner_text()
        page.wait_for_timeout(200)
    pages = int(page.locator("#table-page").get_attribute("data-pages"))
    assert pages == -(-len(shown) // 15)
    page.locator(".table-desc input").click()
    page.locator(".table-sort select").select_option("")
    _wait_for(page, "#table-page", "data-page", lambda v: v == "1")


def test_column_chooser_removes_and_adds_a_column(page):
    page.get_by_text("Columns", exact=True).first.click()            # open the chooser's card
    item = page.locator(".choices__item[data-value='OUTLIER_SCORE']").first
    item.wait_for(timeout=10_000)
    item.locator(".choices__button").click()
    deadline = time.time() + 20
    while "OUTLIER_SCORE" in page.locator(".tabulator-col-title").all_inner_texts():
        assert time.time() < deadline, "the removed column is still in the table"
        page.wait_for_timeout(200)
    page.locator(".choices input[type=search]").first.fill("OUTLIER")
    page.locator(".choices__list--dropdown .choices__item[data-value='OUTLIER_SCORE']").first.click()
    deadline = time.time() + 20
    while "OUTLIER_SCORE" not in page.locator(".tabulator-col-title").all_inner_texts():
        assert time.time() < deadline, "the column chosen again is not back in the table"
        page.wait_for_timeout(200)
    page.keyboard.press("Escape")                                   # close the dropdown, then the card
    page.get_by_text("Columns", exact=True).first.click()


def test_expression_filter_keeps_what_it_says_and_explains_a_typo(page, vac):
    everything = _rows_shown(page)
    box = page.get_by_placeholder("e.g. Z_GAL > 0.5 and P_QSO < 0.1")
    box.fill("Z_GAL > 0.5 and P_QSO < 0.1")
    page.get_by_role("button", name="Apply filter").click()
    expected = int((vac["CLASS"].notna() & (vac["Z_GAL"] > 0.5) & (vac["P_QSO"] < 0.1)).sum())
    assert 0 < expected < everything
    _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == expected)
    box.fill("Z_GAL > 0.5 and P_QSO <")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_selector("#expression-error", timeout=20_000)
    assert "expected a column name, a number or '('" in page.locator("#expression-error").inner_text()
    _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == everything)   # a typo filters nothing
    page.screenshot(path=str(ARTIFACTS / "11-expression-error.png"), full_page=True)
    box.fill("")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_selector("#expression-error", state="detached", timeout=20_000)


def test_find_by_id_opens_that_object_and_says_when_there_is_none(page, vac):
    classed = np.flatnonzero(vac["CLASS"].notna().to_numpy())
    row = int(next(r for r in classed[::-1] if r not in HOSTILE_IDS))         # far beyond the first page
    box = page.get_by_placeholder("catalogue id, then Enter")
    box.fill(str(vac["JPAS_ID"].iat[row]))
    box.press("Enter")
    _expect_object(page, vac, row)
    box.fill("no-such-object")
    box.press("Enter")
    page.wait_for_selector("#search-message", timeout=20_000)
    assert "no object with JPAS_ID 'no-such-object'" in page.locator("#search-message").inner_text()


_FIGURE_BACKENDS = """() => Array.from(Bokeh.index.query(v => v.model != null && v.model.type === "Figure"))
    .map(v => v.model.output_backend)"""


def test_opening_objects_of_every_class_keeps_the_object_view_in_place_on_canvas_plots(page, vac):
    """A click changes the object view's text and data, not its size (no page re-layout per click), and
    every figure draws on a 2D canvas (copying WebGL canvases back cost half a click without a GPU)."""
    backends = page.evaluate(_FIGURE_BACKENDS)
    assert backends and set(backends) == {"canvas"}, backends
    classed = np.flatnonzero(vac["CLASS"].notna().to_numpy())
    box = page.get_by_placeholder("catalogue id, then Enter")
    view = page.locator(".object-view").first
    boxes = []
    for cls in ("GALAXY", "QSO", "STAR", "GALAXY"):
        row = int(next(r for r in classed[::-1] if vac["CLASS"].iat[r] == cls and r not in HOSTILE_IDS))
        box.fill(str(vac["JPAS_ID"].iat[row]))
        box.press("Enter")
        _expect_object(page, vac, row)
        page.wait_for_timeout(300)
        boxes.append(view.bounding_box())
    assert all(b == boxes[0] for b in boxes), boxes


def test_viewer_shows_both_redshifts_zooms_and_steps_through_the_shown_set(page, vac):
    _clear(page)
    row = _open_from_table(page, vac, lambda v: v["CLASS"] == "GALAXY" and v["DESI_SPECTYPE"] == "GALAXY"
                           and 0.05 < v["Z_GAL"] < 0.4 and v.name not in HOSTILE_IDS)
    _expect_object(page, vac, row)
    z, desi_z = float(vac["Z_GAL"].iat[row]), float(vac["DESI_Z_GAL"].iat[row])
    text = page.locator("#object-classes").inner_text()
    assert f"z = {z:.4f}" in text and f"DESI GALAXY, z = {desi_z:.4f}" in text
    state = _jspectrum(page, lambda s: s["desi"] > 0 and any(t.startswith("DESI ") for t in s["labels"]))
    assert "Hα" in state["labels"] and "DESI Hα" in state["labels"]        # markers at both redshifts
    page.get_by_role("button", name="Hα+[NII]").click()
    state = _jspectrum(page, lambda s: abs(s["x0"] - 6150 * (1 + z)) < 1)
    assert abs(state["x1"] - 6950 * (1 + z)) < 1
    page.screenshot(path=str(ARTIFACTS / "12-zoom-halpha.png"), full_page=True)
    page.get_by_role("button", name="Hβ+[OIII]").click()
    _jspectrum(page, lambda s: abs(s["x0"] - 4550 * (1 + z)) < 1)
    page.get_by_role("button", name="full").click()
    _jspectrum(page, lambda s: s["x0"] < 3800 and s["x1"] > 9100)          # every band again
    shown = np.flatnonzero(vac["CLASS"].notna().to_numpy())
    after = int(shown[np.searchsorted(shown, row) + 1])
    page.get_by_role("button", name="next ▶").click()
    _expect_object(page, vac, after)
    page.get_by_role("button", name="◀ previous").click()
    _expect_object(page, vac, row)


def test_desi_smoothing_rebins_the_desi_spectrum(page, vac):
    _expect_object(page, vac, _open_from_table(page, vac, lambda v: pd.notna(v["DESI_TARGETID"])
                                               and v.name not in HOSTILE_IDS))
    before = _jspectrum(page, lambda s: s["desi"] > 0)["desi"]
    handles = [h for h in page.locator(".noUi-handle").all() if h.is_visible()]
    handle = next(h for h in handles if float(h.get_attribute("aria-valuenow")) == 8)   # the smoothing [Å]
    handle.focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    after = _jspectrum(page, lambda s: s["desi"] < 0.8 * before)["desi"]
    assert after < before


def test_jspectrum_band_hover_tells_band_flux_and_model(page, vac):
    _expect_object(page, vac, _open_from_table(page, vac, lambda v: v["CLASS"] == "GALAXY"
                                               and v.name not in HOSTILE_IDS))
    state = _jspectrum(page, lambda s: len(s["obs"]["x"]) >= 40)
    k = len(state["obs"]["x"]) // 2
    x = state["left"] + (state["obs"]["x"][k] - state["x0"]) / (state["x1"] - state["x0"]) * state["width"]
    y = state["top"] + (state["y1"] - state["obs"]["y"][k]) / (state["y1"] - state["y0"]) * state["height"]
    page.mouse.move(x - 30, y)
    page.mouse.move(x, y, steps=5)
    tooltip = page.locator(".bk-Tooltip", has_text=state["obs"]["band"][k]).first
    tooltip.wait_for(timeout=10_000)
    text = tooltip.evaluate(_DEEP_TEXT)
    assert "J-PAS" in text and "μJy" in text and "model (band hidden)" in text
    page.screenshot(path=str(ARTIFACTS / "13-band-hover.png"), full_page=True)
    page.mouse.move(5, 5)


def test_a_saved_selection_loads_back_as_its_region_and_as_an_id_list(page, vac, tmp_path):
    from playwright.sync_api import expect

    _clear(page)
    _show_tab(page, "Diagrams")
    g = _geometry(page, "WHAN")
    _drag(page, *_to_screen(g, -1.0, 2.5), *_to_screen(g, -0.2, 1.0))
    _wait_for(page, "#selection", "data-label", lambda v: v.startswith("WHAN box"))
    n = int(_in_region(vac, _region(page)).sum())
    _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == n)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Save selection (JSON)").click()
    saved = tmp_path / "whan-box.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text())
    assert document["region"]["diagram"] == "WHAN" and len(document["jpas_ids"]) == n
    _clear(page)
    page.locator("input[type=file]").first.set_input_files(str(saved))
    _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == n)
    expect(page.locator("#subset-message")).to_contain_text("region re-applied", timeout=30_000)
    assert page.locator("#selection").get_attribute("data-label").startswith("WHAN box")
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join([*vac["JPAS_ID"].iloc[[0, 2, 4]], "not-an-id"]) + "\n")
    page.locator("input[type=file]").first.set_input_files(str(ids))
    _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == 3)
    expect(page.locator("#subset-message")).to_contain_text("3 of 4 ids found", timeout=30_000)
    _clear(page)


def test_the_page_url_restores_filters_selection_object_and_tab(browser, server, vac):
    page = _open_page(browser, server.url, 1600, 1000)
    try:
        g = _geometry(page, "BPT")
        _drag(page, *_to_screen(g, -0.9, 0.9), *_to_screen(g, 0.1, -0.6))
        _wait_for(page, "#selection", "data-label", lambda v: v.startswith("BPT box"))
        kept = _in_region(vac, _region(page)) & (vac["MAG_i"] < 21)
        page.get_by_role("button", name="Keep as subset").click()             # a kept subset travels too
        page.locator("#subset-legend li[data-subset='S1']").wait_for(timeout=30_000)
        page.get_by_placeholder("e.g. Z_GAL > 0.5 and P_QSO < 0.1").fill("MAG_i < 21")
        page.get_by_role("button", name="Apply filter").click()
        _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == int(kept.sum()))
        row = int(np.flatnonzero(kept.to_numpy())[-1])
        search = page.get_by_placeholder("catalogue id, then Enter")
        search.fill(vac["JPAS_ID"].iat[row])
        search.press("Enter")
        _expect_object(page, vac, row)
        _show_tab(page, "Similar")
        deadline = time.time() + 20
        while not all(f"{key}=" in page.url for key in ("region", "subsets", "where", "object", "tab")):
            assert time.time() < deadline, f"the URL does not hold the page state: {page.url}"
            page.wait_for_timeout(200)
        url = page.url
    finally:
        page.context.close()
    page = _open_page(browser, url, 1600, 1000)                    # a reload, or a link someone sent
    try:
        _wait_for(page, "#table-count", "data-rows", lambda v: int(v) == int(kept.sum()))
        _expect_object(page, vac, row)
        assert page.locator(".bk-tab.bk-active").first.inner_text() == "Similar"
        assert page.get_by_placeholder("e.g. Z_GAL > 0.5 and P_QSO < 0.1").input_value() == "MAG_i < 21"
        assert page.locator("#selection").get_attribute("data-label").startswith("BPT box")
        restored = page.locator("#subset-legend li[data-subset='S1']")
        restored.wait_for(timeout=30_000)
        assert restored.get_attribute("data-n") == str(int(_in_region(vac, _region(page)).sum()))
        page.screenshot(path=str(ARTIFACTS / "14-restored-from-url.png"), full_page=True)
        assert page.console_errors == [] and page.external == []
    finally:
        page.context.close()
