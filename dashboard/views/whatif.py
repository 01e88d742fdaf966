"""What-if: hide single filters, trays T1–T4, iSDSS, broad bands or morphology and see the open
object's predictions change next to the unmasked ones; optionally the same mask on the
current selection, shown as the population's move in the BPT diagram.
"""
from __future__ import annotations

from html import escape

import holoviews as hv
import pandas as pd
import panel as pn
import param

from ojala_core.diagnostics import bpt_class
from ojala_core.lines import EMISSION_LINES
from ojala_core.model.whatif import mask_groups, whatif_predict
from ojala_core.vac.columns import derived_columns, passive_threshold_of

from . import TabView

__all__ = ["WhatIfView", "filters_near_line"]

MAX_SELECTION = 500        # galaxies predicted again (a seeded sample of whole row groups of the selection)


def filters_near_line(model, rest_wavelength, z, half_width=150.0):
    """Narrow bands whose pivot lies within `half_width` Å of the line redshifted to `z`."""
    observed = rest_wavelength * (1 + z)
    return [b for b in model.vocabulary.narrow_bands
            if abs(model.vocabulary[b].pivot_wavelength - observed) <= half_width]


class WhatIfView(pn.viewable.Viewer, TabView):
    """Mask tokens, predict again, show the change (open object; optionally the selection)."""

    kept = param.Dict(default={})

    def __init__(self, state, **params):
        super().__init__(**params)
        self.state = state
        model = state.model
        self.groups = mask_groups(model)
        self.boxes = {tray: pn.widgets.CheckBoxGroup(name=tray, options=bands, value=list(bands), inline=True)
                      for tray, bands in self.groups.items() if tray.startswith("T")}
        self.toggles = {name: pn.widgets.Checkbox(name=f"use {name}", value=True)
                        for name in self.groups if not name.startswith("T")}
        self.tray_toggles = {tray: pn.widgets.Checkbox(name=f"use {tray}", value=True) for tray in self.boxes}
        for tray, toggle in self.tray_toggles.items():
            toggle.param.watch(lambda e, t=tray: setattr(self.boxes[t], "value",
                                                         list(self.groups[t]) if e.new else []), "value")
        for widget in [*self.boxes.values(), *self.toggles.values()]:
            widget.param.watch(self.refresh, "value")
            widget.param.watch(lambda *_: setattr(state, "hidden_bands", self.hidden()), "value")
        self.hide_halpha = pn.widgets.Button(name="Hide the filters around Hα", button_type="warning")
        self.hide_halpha.on_click(self._hide_halpha)
        self.reset = pn.widgets.Button(name="Reset mask")
        self.reset.on_click(self._reset)
        self.apply = pn.widgets.Button(name=f"Apply mask to the selection (≤ {MAX_SELECTION})", button_type="primary")
        self.apply.on_click(self._apply_to_selection)
        self.result = pn.Column(pn.pane.Markdown("Open an object, then untick filters."), name="whatif-result")
        # The selection's BPT move: one plot made with the page and fed new points (a new plot per click
        # would send a whole new Bokeh figure to the browser).
        self._moves = hv.streams.Pipe(data=None)
        self._bpt = pn.pane.HoloViews(hv.DynamicMap(self._bpt_moves, streams=[self._moves]), linked_axes=False,
                                      visible=False)
        self._counts = pn.pane.DataFrame(pd.DataFrame(), name="bpt-moves", visible=False)
        self._note = pn.pane.Alert("No galaxy in the selection.", alert_type="info", visible=False)
        self.population = pn.Column(self._note, self._bpt, self._counts)
        state.param.watch(self.refresh, "current_row")

    def hidden(self) -> list[str]:
        hidden = [b for tray, box in self.boxes.items() for b in self.groups[tray] if b not in box.value]
        hidden += [t for name, toggle in self.toggles.items() if not toggle.value for t in self.groups[name]]
        return hidden

    def _hide_halpha(self, *_):
        row = self.state.current_row
        if row is None:
            return
        z = float(self.state.frame["Z_GAL"].iat[row])
        near = set(filters_near_line(self.state.model, EMISSION_LINES["HALPHA"].wavelength, z))
        for tray, box in self.boxes.items():
            box.value = [b for b in box.value if b not in near]

    def _reset(self, *_):
        for tray, box in self.boxes.items():
            box.value = list(self.groups[tray])
        for toggle in [*self.toggles.values(), *self.tray_toggles.values()]:
            toggle.value = True

    def update(self):
        row = self.state.current_row
        hidden = self.hidden()
        if row is None:
            return
        try:
            tokens = self.state.tokens_of(row)
            before = self.state.cached("unmasked", row, lambda: whatif_predict(self.state.model, tokens, []))
            after = whatif_predict(self.state.model, tokens, hidden) if hidden else before
            cls = str(self.state.frame["CLASS"].iat[row])
            self.result.objects = [self._table(before, after, hidden, cls)]
        except Exception as exc:           # the explorer says what is wrong, never dies
            self.result.objects = [pn.pane.Alert(f"What-if failed for this object: {escape(str(exc))}",
                                                 alert_type="danger")]

    def _table(self, before, after, hidden, cls):
        """Before/after of the class tokens and of the targets that mean something for class `cls`."""
        vocabulary = self.state.model.vocabulary
        rows = []
        for name in [c for c in vocabulary.classes if c in before]:
            b, a = before[name].iat[0], after[name].iat[0]
            rows.append(f"<tr data-name='{name}'><td>{name}</td><td>{b}</td><td>{a}</td><td></td></tr>")
        for name in vocabulary.targets_for(cls):
            if name not in before:
                continue
            b, a = before[name].iat[0], after[name].iat[0]
            eb, ea = before[f"{name}_ERR"].iat[0], after[f"{name}_ERR"].iat[0]
            rows.append(f"<tr data-name='{name}' data-before='{float(b)!r}' data-after='{float(a)!r}'><td>{name}</td>"
                        f"<td>{b:.4g} ± {eb:.2g}</td><td>{a:.4g} ± {ea:.2g}</td><td>{a - b:+.3g}</td></tr>")
        masked = ", ".join(hidden) if hidden else "nothing"
        return pn.pane.HTML(
            f"<p id='whatif-hidden' data-n='{len(hidden)}'><b>Hidden:</b> {masked}</p>"
            "<table id='whatif-table' style='font-size:12px'><tr><th>parameter</th><th>all tokens</th>"
            f"<th>masked</th><th>Δ</th></tr>{''.join(rows)}</table>", sizing_mode="stretch_width")

    def _apply_to_selection(self, *_):
        s = self.state
        rows = s.shown_rows
        cls = s.frame["CLASS"].array                     # categorical: compared by code, no string per object
        galaxy = cls.categories.get_loc("GALAXY") if "GALAXY" in cls.categories else -2
        galaxies = s.store.local_sample(rows[cls.codes[rows] == galaxy], MAX_SELECTION)
        self._note.visible = len(galaxies) == 0
        if len(galaxies) == 0:
            self._bpt.visible = self._counts.visible = False
            return
        tokens = s.store.tokens(galaxies)
        after = whatif_predict(s.model, tokens, self.hidden())
        derived = derived_columns(after, tokens["MAG_i"].to_numpy(float), tokens["MAG_i_ERR"].to_numpy(float),
                                  passive_threshold_of(s.model), s.model.vocabulary)
        x0, y0 = s.store.values("LOG_NII_HA", galaxies), s.store.values("LOG_OIII_HB", galaxies)
        x1, y1 = derived["LOG_NII_HA"], derived["LOG_OIII_HB"]
        self._moves.send((x0, y0, x1, y1))
        before_cls = pd.Series(bpt_class(x0, y0)).value_counts()
        after_cls = pd.Series(bpt_class(x1, y1)).value_counts()
        self._counts.object = pd.DataFrame({"all tokens": before_cls, "masked": after_cls}).fillna(0).astype(int)
        self._bpt.visible = self._counts.visible = True

    @staticmethod
    def _bpt_moves(data):
        """The galaxies' BPT places with all tokens (grey) and with the mask (red)."""
        x0, y0, x1, y1 = data if data is not None else ([],) * 4
        axes = ["LOG_NII_HA", "LOG_OIII_HB"]             # both are key dimensions of a Points element
        plot = (hv.Points((x0, y0), axes, label="all tokens").opts(color="#9a9a9a", size=3)
                * hv.Points((x1, y1), axes, label="masked").opts(color="#d62728", size=3))
        title = f"BPT of {len(x0)} galaxies" if data is not None else "BPT: apply the mask to a selection"
        return plot.opts(xlim=(-2, 1), ylim=(-1.5, 1.5), width=420, height=320, title=title)

    def __panel__(self):
        trays = [pn.Column(self.tray_toggles[t], self.boxes[t]) for t in self.boxes]
        return pn.Column("### What-if: hide tokens and predict again",
                         pn.Column(pn.Row(*self.toggles.values()), *trays, css_classes=["whatif-masks"]),
                         pn.Row(self.hide_halpha, self.reset, self.apply), self.result, self.population,
                         sizing_mode="stretch_width")
