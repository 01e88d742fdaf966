"""Similarity: the open object's k nearest neighbours in embedding space (FAISS over the VAC's
stored embeddings), as a gallery of J-spectra and parameters, selectable as a set.
"""
from __future__ import annotations

import time
from html import escape

import numpy as np
import panel as pn
import param

from . import TabView
from .object_view import JSpectrum

__all__ = ["SimilarityView"]


class SimilarityView(pn.viewable.Viewer, TabView):
    """Neighbours of ``state.current_row``; 'Select these' makes them the selection, each card's
    'open' button opens that neighbour (and shows its own neighbours)."""

    k = param.Integer(default=8, bounds=(1, 50))

    def __init__(self, state, **params):
        super().__init__(**params)
        self.state = state
        self.rows, self.distances, self.seconds = np.array([], int), np.array([]), 0.0
        self.select_button = pn.widgets.Button(name="Select these objects", button_type="primary")
        self.select_button.on_click(self._select)
        self.body = pn.Column(pn.pane.Markdown("Open an object to see its nearest neighbours."))
        state.param.watch(self.refresh, "current_row")
        self.param.watch(self.refresh, "k")

    def query(self, row):
        """Neighbour rows and distances of `row`; times the FAISS search alone."""
        t0 = time.perf_counter()
        rows, distances = self.state.store.similar(row, self.k)
        self.seconds = time.perf_counter() - t0
        return rows, distances

    def update(self):
        row = self.state.current_row
        if row is None:
            return
        try:
            self.rows, self.distances = self.query(row)
            self.body.objects = [self._cards(), self._gallery()]
        except Exception as exc:
            self.body.objects = [pn.pane.Alert(f"No neighbours: {escape(str(exc))}", alert_type="warning")]

    def _cards(self):
        frame = self.state.frame
        items = []
        for rank, (r, d) in enumerate(zip(self.rows, self.distances), 1):
            v = frame.iloc[r]
            z = v["Z_QSO"] if v["CLASS"] == "QSO" else v["Z_GAL"]
            jpas_id = escape(str(v["JPAS_ID"]))             # catalogue text, shown as text
            items.append(f"<tr class='neighbour' data-rank='{rank}' data-distance='{float(d)!r}' "
                         f"data-jpas-id='{jpas_id}'><td>{rank}</td><td>{jpas_id}</td><td>{v['CLASS']}</td><td>{z:.3f}</td>"
                         f"<td>{v['LOGM']:.2f}</td><td>{v['MAG_i']:.2f}</td><td>{d:.4f}</td></tr>")
        return pn.pane.HTML(
            f"<p id='similarity-info' data-k='{len(self.rows)}' data-ms='{1000 * self.seconds:.2f}'>"
            f"{len(self.rows)} nearest neighbours (FAISS search {1000 * self.seconds:.1f} ms)</p>"
            "<table id='similarity-table' style='font-size:12px'><tr><th>#</th><th>JPAS_ID</th><th>class</th>"
            f"<th>z</th><th>log M*</th><th>i</th><th>distance</th></tr>{''.join(items)}</table>",
            sizing_mode="stretch_width")

    def _gallery(self):
        s = self.state
        figures = []
        neighbours = s.store.tokens(self.rows)              # one read per partition for all k
        for j, (r, d) in enumerate(zip(self.rows, self.distances)):
            v = s.frame.iloc[r]
            spectrum = JSpectrum(height=170, width=255, legend=False)   # 3 across the tab
            spectrum.show(s.model, neighbours.iloc[[j]], title=f"{v['JPAS_ID']} {v['CLASS']} d={d:.3f}")
            # a button's label is text, never HTML: catalogue ids are safe in it
            button = pn.widgets.Button(name=f"open {v['JPAS_ID']}", width=255, height=30,
                                       css_classes=["open-neighbour"])
            button.on_click(lambda _, row=int(r): setattr(s, "current_row", row))
            figures.append(pn.Column(button, pn.pane.Bokeh(spectrum.figure), width=255))
        return pn.GridBox(*figures, ncols=3, css_classes=["similarity-gallery"])

    def _select(self, *_):
        if len(self.rows):
            jpas_id = self.state.frame["JPAS_ID"].iat[self.state.current_row]
            self.state.select(self.rows, f"{len(self.rows)} neighbours of {jpas_id}")

    def __panel__(self):
        return pn.Column("### Similar objects", pn.Row(pn.widgets.IntSlider.from_param(self.param.k, width=200),
                                                       self.select_button), self.body, sizing_mode="stretch_width")
