"""The explorer app: load a VAC, the model and (optionally) DESI labels and spectra once, then
serve one linked page per browser session. Entry point of ``ojala serve``.
"""
from __future__ import annotations

import functools
import glob
import json
import logging
import os
from html import escape
from pathlib import Path

# Bokeh/Panel JavaScript and CSS come from this server, never from a CDN (offline machines).
os.environ.setdefault("BOKEH_RESOURCES", "server")

import holoviews as hv  # noqa: E402
import panel as pn  # noqa: E402

from ojala_core.io.desi import CoaddIndex  # noqa: E402
from ojala_core.model.pretrained import Ojala  # noqa: E402
from ojala_core.vac.store import VacStore  # noqa: E402

from . import url  # noqa: E402
from .state import ExplorerState  # noqa: E402
from .views.catalogue import CatalogueView, table_columns  # noqa: E402
from .views.diagrams import DIAGRAMS, DiagramView  # noqa: E402
from .views.object_view import ObjectView  # noqa: E402
from .views.similarity import SimilarityView  # noqa: E402
from .views.subsets import SubsetsView  # noqa: E402
from .views.validation import ValidationView  # noqa: E402
from .views.whatif import WhatIfView  # noqa: E402

__all__ = ["load_resources", "build_app", "serve"]

log = logging.getLogger(__name__)

# Layout widths [px]: sidebar, the tab area (two diagrams side by side) and the object view.
# The tab area and the object view sit in one wrapping flex row: side by side from ~1600 px,
# the object view below the tabs on narrower screens; nothing overlaps at any width.
SIDEBAR_WIDTH, TABS_WIDTH, OBJECT_WIDTH = 250, 800, 500


def explorer_columns(vocabulary) -> list[str]:
    """The VAC columns held in memory for every object: the table's default columns, the diagrams'
    axes and what the views read for each shown object. Any other column is read from the
    partitions when first asked for (colour by, a filter, the table's column chooser)."""
    axes = [c for spec in DIAGRAMS.values() for c in (spec.x, spec.y)]
    classes = [c for name in vocabulary.classes for c in vocabulary[name].categories]
    return list(dict.fromkeys([*table_columns(vocabulary, classes), *axes, *vocabulary.redshifts,
                               "MAG_i", "QUALITY_FLAG", "OUTLIER_SCORE"]))


@functools.lru_cache(maxsize=4)
def load_resources(vac_dir, model_dir=None, mocks_dir=None, spectra=None):
    """(VacStore, model, CoaddIndex or None), loaded once per server and shared by sessions."""
    import pandas as pd

    labels = None
    if mocks_dir:
        path = Path(mocks_dir) / "test_real.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{mocks_dir}: no test_real.parquet (a mocks folder made by 'ojala mocks')")
        labels = pd.read_parquet(path)
    manifest = Path(vac_dir) / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{vac_dir}: no manifest.json (an unfinished or missing VAC; run 'ojala vac')")
    model = Ojala.from_pretrained(model_dir or json.loads(manifest.read_text())["model"])
    store = VacStore(vac_dir, labels, columns=explorer_columns(model.vocabulary))
    store.index                                   # similarity search ready before the first click
    paths = sorted(glob.glob(spectra)) if spectra else []
    index = CoaddIndex(paths) if paths else None
    return store, model, index


def build_app(vac_dir, model_dir=None, mocks_dir=None, spectra=None):
    """One session's page: header, sidebar filters, diagrams / map / what-if / similarity /
    validation tabs, the object view and the catalogue table, all over one state."""
    hv.extension("bokeh")
    # Canvas, not WebGL: every diagram is a datashaded image plus a few glyphs, which WebGL does not
    # speed up, and a browser without GPU acceleration (remote desktops, VMs, headless) pays for
    # copying each WebGL canvas back on every repaint (half of a click's time in Chromium here).
    hv.renderer("bokeh").webgl = False
    store, model, index = load_resources(str(vac_dir), model_dir and str(model_dir), mocks_dir and str(mocks_dir),
                                         spectra)
    state = ExplorerState(store, model, index)
    catalogue = CatalogueView(state)
    diagrams = {name: DiagramView(state, spec, **({"height": 520, "width": 680} if name == "UMAP" else {}))
                for name, spec in DIAGRAMS.items()}
    clear = pn.widgets.Button(name="Clear selection", width=140)
    clear.on_click(state.clear_selection)
    label = pn.pane.HTML(_selection_html(state), sizing_mode="stretch_width")
    state.param.watch(lambda *_: setattr(label, "object", _selection_html(state)), ["update_ms", "selection_label",
                                                                                   "selection_region"])
    views = [("Diagrams", pn.FlexBox(*(diagrams[n] for n in ("BPT", "WHAN", "SFMS", "CMD")), flex_wrap="wrap",
                                     sizing_mode="stretch_width")),
             ("Embedding map", diagrams["UMAP"]), ("What-if", WhatIfView(state)), ("Similar", SimilarityView(state)),
             ("Validation", ValidationView(state))]
    tabs = pn.Tabs(*views, dynamic=True, width=TABS_WIDTH)

    def _show(event):       # tab views compute only while shown
        for k, (_, view) in enumerate(views):
            if hasattr(view, "active"):
                view.active = k == event.new
    tabs.param.watch(_show, "active")
    doc = pn.state.curdoc
    if pn.state.location is not None and doc is not None and doc.session_context is not None:
        # A served page keeps its state in the URL: a reload or a shared link restores it.
        url.keep(state, tabs, pn.state.location)
        query = {key: values[-1].decode("utf-8", "replace") for key, values in pn.state.session_args.items()}
        for problem in url.restore(state, tabs, query):
            log.warning("page link: %s", problem)
    header = pn.Row(pn.pane.HTML(f"<h2 style='margin:4px'>OJALA explorer</h2><small>{len(store):,} objects · "
                                 f"{escape(str(store.path))}</small>"), label, clear, sizing_mode="stretch_width")
    views_and_object = pn.FlexBox(tabs, pn.Column(ObjectView(state), width=OBJECT_WIDTH), flex_wrap="wrap",
                                  align_items="flex-start", sizing_mode="stretch_width")
    sidebar = pn.Column(catalogue.filters(width=SIDEBAR_WIDTH), SubsetsView(state, width=SIDEBAR_WIDTH - 20),
                        width=SIDEBAR_WIDTH)
    page = pn.Row(sidebar,
                  pn.Column(header, views_and_object, catalogue, sizing_mode="stretch_width"),
                  sizing_mode="stretch_width")
    page.explorer_state = state          # for tests and notebooks: the session's state
    return page


def _selection_html(state):
    """The header's selection line; the label can hold catalogue ids, so it is escaped."""
    n = int(state.mask.sum())
    label = escape(state.selection_label)
    region = escape(json.dumps(state.selection_region)) if state.selection_region else ""
    return (f"<div id='selection' data-n='{n}' data-label='{label}' data-region='{region}' "
            f"data-ms='{state.update_ms:.1f}'>"
            f"<b>Selection:</b> {label} — {n:,} shown</div>")


def serve(vac_dir, model_dir=None, mocks_dir=None, spectra=None, port=5006, address="127.0.0.1", show=False):
    """Serve the explorer until interrupted (loads everything before accepting sessions)."""
    from bokeh.document import Document

    # One page rendered before the port opens: loads the VAC and model and compiles
    # datashader's kernels, so the first visitor does not wait for them.
    page = build_app(vac_dir, model_dir, mocks_dir, spectra)
    page.get_root(Document())
    state = page.explorer_state              # and one selection and click: their kernels compile too
    if len(state.shown_rows):
        state.select(state.shown_rows[::2], "warm-up")
        state.current_row = int(state.shown_rows[0])
        state.clear_selection()
    origins = [f"{host}:{port}" for host in ("localhost", "127.0.0.1", address)]
    print(f"OJALA explorer on http://{address}:{port}/  (Ctrl-C to stop)", flush=True)
    pn.serve({"/": lambda: build_app(vac_dir, model_dir, mocks_dir, spectra)}, port=port, address=address,
             show=show, websocket_origin=origins, title="OJALA explorer", threaded=False, start=True,
             print_url=False)
