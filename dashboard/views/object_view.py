"""The open object: its J-spectrum with the model's reconstruction of each band (that band
hidden) and ±1σ, emission lines at the predicted redshift, the DESI spectrum and values when
cross-matched, broad-band magnitudes, predictions with errors and class probabilities.
"""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
import panel as pn

from ojala_core.lines import EMISSION_LINES
from ojala_core.model.whatif import reconstruct_bands
from ojala_core.vac.store import LABEL_PREFIX

from .diagrams import CLASS_COLOURS
from .locking import edit_in_document_lock

__all__ = ["ObjectView", "JSpectrum", "fnu_microjansky"]

_MICROJY = 1e29                      # erg s⁻¹ cm⁻² Hz⁻¹ -> μJy
_C_ANGSTROM = 2.99792458e18
_QSO_LINES = {"Lyα": 1215.67, "CIV": 1549.06, "CIII]": 1908.73, "MgII": 2798.75}
# Zoom presets: rest-frame windows [Å] around the lines of the BPT and WHAN diagrams, shifted
# to the object's redshift (OJALA's); wide enough to hold the J-PAS bands that see them.
ZOOMS = {"full": None, "Hα+[NII]": (6150.0, 6950.0), "Hβ+[OIII]": (4550.0, 5300.0)}
DESI_BIN = 8.0                        # default DESI binning [Å]
HEAD_HEIGHT, DETAILS_HEIGHT = 64, 230  # [px] the object's title lines; its values


def fnu_microjansky(ratio, fnu_isdss):
    """NB token values (f_ν / f_ν(iSDSS)) back to f_ν [μJy]."""
    return np.asarray(ratio, dtype=float) * float(fnu_isdss) * _MICROJY


def _pivots(model, bands):
    return np.array([model.vocabulary[b].pivot_wavelength for b in bands])


def _legend(label, legend):
    return {"legend_label": label} if legend else {}


class JSpectrum:
    """A Bokeh J-spectrum figure whose data sources are swapped per object (no new figure per click):
    observed NB f_ν with errors, the reconstruction ±1σ, emission lines, the DESI spectrum.

    Its Bokeh models are edited only inside the document lock: a click arrives from a
    HoloViews stream callback, which runs outside it (see `_in_document_lock`).
    """

    def __init__(self, height=300, width=560, title="", legend=True, observed_label="J-PAS"):
        from bokeh.models import ColumnDataSource, HoverTool, LabelSet, Range1d, Whisker
        from bokeh.plotting import figure

        self.sources = {k: ColumnDataSource(data=dict(x=[], y=[], lo=[], hi=[], label=[]))
                        for k in ("model", "desi", "lines", "desi_lines")}
        self.sources["obs"] = ColumnDataSource(data=dict(x=[], y=[], lo=[], hi=[], band=[], err=[], rec=[],
                                                         rec_err=[]))
        self.sources["missing"] = ColumnDataSource(data=dict(x=[], y=[], band=[]))
        self.sources["hidden"] = ColumnDataSource(data=dict(x=[], y=[], band=[]))
        # A fixed x range, set per object and zoom preset (an automatic range would undo a preset).
        fig = figure(height=height, width=width, title=title, x_axis_label="λ [Å]", y_axis_label="f_ν [μJy]",
                     x_range=Range1d(3300.0, 9700.0),
                     tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above", min_border_left=60)
        fig.line("x", "y", source=self.sources["desi"], color="#7f7f7f", alpha=0.7,
                 **_legend("DESI (scaled)", legend))
        fig.varea("x", "lo", "hi", source=self.sources["model"], color="#2ca02c", alpha=0.25,
                  **_legend("model ±1σ", legend))
        fig.line("x", "y", source=self.sources["model"], color="#2ca02c",
                 **_legend("model (band hidden)", legend))
        fig.add_layout(Whisker(source=self.sources["obs"], base="x", lower="lo", upper="hi", line_color="black"))
        observed = fig.scatter("x", "y", source=self.sources["obs"], color="black", size=5,
                               **_legend(observed_label, legend))
        missing = fig.scatter("x", "y", source=self.sources["missing"], marker="x", color="#9467bd", size=8,
                              **_legend("no measurement", legend))
        fig.scatter("x", "y", source=self.sources["hidden"], marker="circle", fill_color=None, line_color="#ff7f0e",
                    line_width=2, size=11, **_legend("hidden (what-if)", legend))
        fig.add_tools(HoverTool(renderers=[observed], tooltips=[
            ("band", "@band"), ("J-PAS", "@y{0.000} ± @err{0.000} μJy"),
            ("model (band hidden)", "@rec{0.000} ± @rec_err{0.000} μJy")]),
            HoverTool(renderers=[missing], tooltips=[("band", "@band"), ("", "no measurement")]))
        fig.segment("x", "lo", "x", "hi", source=self.sources["desi_lines"], color="#555555", line_dash="dashed",
                    alpha=0.6)
        fig.add_layout(LabelSet(x="x", y="lo", text="label", source=self.sources["desi_lines"], text_font_size="7pt",
                                text_color="#555555", angle=1.5708, text_align="left", text_baseline="bottom",
                                x_offset=-2, y_offset=2))
        fig.segment("x", "lo", "x", "hi", source=self.sources["lines"], color="#d62728", line_dash="dotted")
        # Rotated labels hang down from the top of their line (right-aligned), inside the frame.
        fig.add_layout(LabelSet(x="x", y="hi", text="label", source=self.sources["lines"], text_font_size="8pt",
                                text_color="#d62728", angle=1.5708, text_align="right", text_baseline="bottom",
                                x_offset=-2, y_offset=-2))
        if legend:               # below the frame, in columns: seven entries would hide the spectrum
            box = fig.legend[0]
            fig.center.remove(box)
            box.orientation, box.ncols = "vertical", 3
            box.label_text_font_size, box.glyph_height, box.glyph_width = "8pt", 12, 16
            box.spacing, box.padding, box.margin = 0, 2, 2
            fig.add_layout(box, "below")
        self.figure = fig

    def _in_document_lock(self, edit):
        """Run `edit` (which changes this figure's models) inside the document lock (see `locking`)."""
        edit_in_document_lock(self.figure, edit)

    def _send(self, data, title=None, x_range=None):
        def edit():
            for name, values in data.items():
                self.sources[name].data = values
            if title is not None:
                self.figure.title.text = title
            if x_range is not None:
                self.figure.x_range.start, self.figure.x_range.end = x_range
        self._in_document_lock(edit)

    def clear(self):
        self._send({name: {k: [] for k in source.data} for name, source in self.sources.items()})

    def zoom(self, x_range):
        """Show wavelengths `x_range` = (start, end) [Å]."""
        self._send({}, x_range=x_range)

    def show(self, model, token_row, recon=None, z=None, cls=None, desi=None, title=None, desi_z=None,
             x_range=None, hidden=()):
        """Draw one object (`token_row`: its one-row token table with FNU_iSDSS), with line markers at
        OJALA's redshift `z` (and DESI's `desi_z`, dashed, when given); returns the number of narrow
        bands with a measured flux."""
        bands = list(recon.index) if recon is not None else model.vocabulary.narrow_bands
        wave = _pivots(model, bands)
        scale = token_row["FNU_iSDSS"].iat[0]
        obs = fnu_microjansky([token_row[b].iat[0] for b in bands], scale)
        err = fnu_microjansky([token_row[f"{b}_ERR"].iat[0] for b in bands], scale)
        ok = np.isfinite(obs) & np.isfinite(err)
        names = np.array(bands, dtype=object)
        if recon is not None:
            mean = fnu_microjansky(recon["VALUE"], scale)
            sigma = fnu_microjansky(recon["ERR"], scale)
            data = {"model": dict(x=wave, y=mean, lo=mean - sigma, hi=mean + sigma)}
        else:
            mean = sigma = np.full(len(bands), np.nan)
            data = {"model": dict(x=[], y=[], lo=[], hi=[])}
        data["obs"] = dict(x=wave[ok], y=obs[ok], lo=obs[ok] - err[ok], hi=obs[ok] + err[ok], band=names[ok],
                           err=err[ok], rec=mean[ok], rec_err=sigma[ok])
        top = float(np.nanmax(obs[ok] + err[ok])) if ok.any() else 1.0
        bottom = float(np.nanmin(obs[ok] - err[ok])) if ok.any() else 0.0
        data["missing"] = dict(x=wave[~ok], y=[bottom] * int((~ok).sum()), band=names[~ok])
        shown_hidden = ok & np.isin(names, list(hidden))
        data["hidden"] = dict(x=wave[shown_hidden], y=obs[shown_hidden], band=names[shown_hidden])
        data["desi"] = dict(x=desi[0], y=desi[1]) if desi is not None else dict(x=[], y=[])
        data["lines"] = self._lines(z, cls, wave, bottom, top)
        data["desi_lines"] = self._lines(desi_z, cls, wave, bottom, top, prefix="DESI ")
        self._send(data, title, x_range or (float(wave.min()) - 150.0, float(wave.max()) + 150.0))
        return int(ok.sum())

    @staticmethod
    def _lines(z, cls, wave, bottom, top, prefix=""):
        """Line markers at redshift `z` inside the band range (none without a redshift)."""
        xs, names = [], []
        if z is not None and np.isfinite(z):
            lines = _QSO_LINES if cls == "QSO" else {ln.label: ln.wavelength for ln in EMISSION_LINES.values()
                                                     if ln.marked}
            for name, rest in lines.items():
                if wave.min() - 100 < rest * (1 + z) < wave.max() + 100:
                    xs.append(rest * (1 + z))
                    names.append(prefix + name)
        return dict(x=xs, lo=[bottom] * len(xs), hi=[top] * len(xs), label=names)


def desi_curve(spectra, targetid, wave_nb, obs_nb, bin_width=DESI_BIN):
    """The DESI spectrum of `targetid` as f_ν [μJy], averaged in `bin_width` Å bins (the smoothing)
    and scaled to the NB photometry."""
    if spectra is None or pd.isna(targetid) or str(targetid) in ("", "nan"):
        return None                     # no DESI match: a float NaN after the label join
    got = spectra.spectrum(int(float(targetid)))
    if got is None:
        return None
    wave, flux, ivar = got
    edges = np.arange(wave.min(), wave.max(), float(bin_width))
    idx = np.digitize(wave, edges)
    good = ivar > 0
    sums = np.bincount(idx[good], weights=flux[good], minlength=len(edges) + 1)
    counts = np.bincount(idx[good], minlength=len(edges) + 1)
    keep = counts > 0
    centres = np.append(edges, edges[-1] + bin_width)[keep[:len(edges) + 1]] - bin_width / 2
    flam = sums[keep] / counts[keep] * 1e-17
    fnu = flam * centres ** 2 / _C_ANGSTROM * _MICROJY
    ok = np.isfinite(obs_nb)
    model_at = np.interp(wave_nb[ok], centres, fnu)
    factor = np.nanmedian(obs_nb[ok] / model_at) if ok.any() else 1.0
    return centres, fnu * factor


def _redshift(vac, cls, prefix=""):
    """(z, error) of class `cls` from the `prefix`ed columns of one VAC row: Z_QSO for QSOs,
    Z_GAL for galaxies, (None, None) for stars, unknown classes or a missing value."""
    name = {"QSO": "Z_QSO", "GALAXY": "Z_GAL"}.get(str(cls))
    value = vac.get(prefix + name) if name else None
    if value is None or pd.isna(value):
        return None, None
    err = vac.get(prefix + name + "_ERR")
    return float(value), (float(err) if err is not None and pd.notna(err) else np.nan)


def _attr(value):
    return "" if value is None else f"{value:.6g}"


class ObjectView(pn.viewable.Viewer):
    """Everything about `state.current_row`; says what is wrong instead of failing on a bad object."""

    def __init__(self, state, **params):
        super().__init__(**params)
        self.state = state
        # min_border_left and a title from the start: the first object does not resize the axes and title
        # With zero points the fluxes shown are the catalogue's on the synthetic system, as the model saw them.
        self.spectrum = JSpectrum(width=480, height=380, title="J-spectrum",
                                  observed_label="J-PAS" if state.store.zero_points is None else
                                  "J-PAS (zero points applied)")
        self._spectrum_pane = pn.Column(pn.pane.Bokeh(self.spectrum.figure), css_classes=["jspectrum"])
        # Fixed heights: a click changes their text, not their size, so the browser does not lay the
        # whole page out again on every click (a galaxy's ten rows of predictions fit; more scroll).
        self._head = pn.pane.HTML("Click an object in a diagram or the table.", sizing_mode="stretch_width",
                                  height=HEAD_HEIGHT)
        self._message = pn.pane.Alert("", alert_type="warning", visible=False)
        self._details = pn.pane.HTML("", sizing_mode="stretch_width", height=DETAILS_HEIGHT,
                                     styles={"overflow-y": "auto"})
        self.zoom = pn.widgets.RadioButtonGroup(options=list(ZOOMS), value="full", name="zoom", button_type="light",
                                                css_classes=["zoom"])
        self.smoothing = pn.widgets.IntSlider(name="DESI smoothing [Å]", start=2, end=40, step=2, value=int(DESI_BIN),
                                              width=170)
        self.previous = pn.widgets.Button(name="◀ previous", width=95)
        self.next = pn.widgets.Button(name="next ▶", width=80)
        self.previous.on_click(lambda *_: self.step(-1))
        self.next.on_click(lambda *_: self.step(+1))
        self.zoom.param.watch(self._on_zoom, "value")
        self.smoothing.param.watch(self._update, "value_throttled")
        self._z = None                   # the open object's OJALA redshift, for the zoom presets
        # Fixed panes whose content changes: a click sends text and data, not new widgets.
        self._body = pn.Column(self._head, self._message, pn.Row(self.previous, self.next, self.zoom),
                               self.smoothing, self._spectrum_pane, self._details,
                               sizing_mode="stretch_width", css_classes=["object-view"])
        state.param.watch(self._update, ["current_row", "hidden_bands"])
        if state.current_row is not None:          # e.g. opened by the page URL before this view existed
            self._update()

    def step(self, direction: int):
        """Open the next (+1) or previous (-1) object of the shown set (filters ∧ selection), in
        table order; from no object, the first."""
        rows = self.state.shown_rows
        if not len(rows):
            return
        current = self.state.current_row
        if current is None:
            self.state.current_row = int(rows[0])
            return
        at = np.searchsorted(rows, current)
        if direction > 0:
            at = at + 1 if at < len(rows) and rows[at] == current else at
        else:
            at -= 1
        self.state.current_row = int(rows[at % len(rows)])

    def _x_range(self):
        window = ZOOMS[self.zoom.value]
        if window is None:
            return None
        z = self._z if self._z is not None and np.isfinite(self._z) else 0.0
        return window[0] * (1 + z), window[1] * (1 + z)

    def _on_zoom(self, *_):
        if self.state.current_row is not None:
            self._update()

    def _update(self, *_):
        try:
            self._render(self.state.current_row)
        except Exception as exc:           # one bad object must not take the explorer down
            self._show_message(f"Cannot show this object: {escape(str(exc))}", "danger")

    def _show_message(self, text, kind):
        self._message.object, self._message.alert_type, self._message.visible = text, kind, True
        self.spectrum.clear()
        self._details.object = ""

    def _render(self, row):
        if row is None:
            return
        s = self.state
        vac = s.vac_row(row)
        jpas_id = escape(str(vac["JPAS_ID"]))          # catalogue text: shown as text, never as HTML
        self._head.object = f'<h3 id="object-title" data-jpas-id="{jpas_id}">Object {jpas_id}</h3>'
        if pd.isna(vac["CLASS"]):
            self._show_message(f"Not predicted (QUALITY_FLAG {int(vac['QUALITY_FLAG'])}: duplicate id or too "
                               "little photometry).", "warning")
            return
        tokens = s.tokens_of(row)
        recon = s.cached("reconstruction", row, lambda: reconstruct_bands(s.model, tokens))
        cls = str(vac["CLASS"])
        z, z_err = _redshift(vac, cls)
        desi_class = vac.get(LABEL_PREFIX + "SPECTYPE")
        desi_class = escape(str(desi_class)) if pd.notna(desi_class) else ""
        desi_z, _ = _redshift(vac, desi_class, LABEL_PREFIX)
        self._z = z
        wave = _pivots(s.model, list(recon.index))
        obs = fnu_microjansky(recon["OBSERVED"], tokens["FNU_iSDSS"].iat[0])
        desi = desi_curve(s.spectra, vac.get(LABEL_PREFIX + "TARGETID"), wave, obs, self.smoothing.value)
        n_bands = self.spectrum.show(s.model, tokens, recon, z, cls, desi, title=f"J-spectrum — {cls}",
                                     desi_z=desi_z, x_range=self._x_range(), hidden=s.hidden_bands)
        self._message.visible = False
        ojala_z = f", z = {z:.4f} ± {z_err:.4f}" if z is not None else ""
        if desi_class:
            matched = f"DESI <b>{desi_class}</b>" + (f", z = {desi_z:.4f}" if desi_z is not None else "")
        else:
            matched = "no DESI match"
        self._head.object = (f'<h3 id="object-title" data-jpas-id="{jpas_id}" data-bands="{n_bands}" '
                             f'data-class="{cls}" data-desi-class="{desi_class}" data-z="{_attr(z)}" '
                             f'data-desi-z="{_attr(desi_z)}">Object {jpas_id}</h3>'
                             f'<p id="object-classes" style="margin:0">OJALA <b>{cls}</b> '
                             f'(P {float(vac[f"P_{cls}"]):.2f}){ojala_z} · {matched}</p>')
        self._details.object = (f"<div style='display:flex;gap:16px'>{self._predictions(vac, cls)}<div>"
                                f"{self._probabilities(vac)}{self._broad_bands(tokens)}</div></div>")

    def _predictions(self, vac, cls):
        """The targets that mean something for this class (no z or log M* for a star)."""
        vocabulary = self.state.model.vocabulary
        rows = []
        for name in vocabulary.targets_for(cls):
            if name not in vac or f"{name}_ERR" not in vac:
                continue                 # a target this VAC lacks
            desi = vac.get(LABEL_PREFIX + name, np.nan)
            desi = f"{desi:.4g}" if pd.notna(desi) else ""
            rows.append(f"<tr data-name='{name}'><td>{name}</td><td>{vac[name]:.4g}</td>"
                        f"<td>{vac[f'{name}_ERR']:.2g}</td><td>{desi}</td></tr>")
        return ("<table id='object-predictions' style='font-size:12px'><tr><th>parameter</th>"
                f"<th>OJALA</th><th>±1σ</th><th>DESI</th></tr>{''.join(rows)}</table>")

    def _probabilities(self, vac):
        bars = "".join(f"<tr><td>{c}</td><td><div style='background:{CLASS_COLOURS.get(c, '#888')};height:10px;"
                       f"width:{120 * float(vac[f'P_{c}']):.0f}px'></div></td><td>{float(vac[f'P_{c}']):.3f}</td></tr>"
                       for c in self.state.param.classes.objects)
        return f"<b>P(class)</b><table style='font-size:12px'>{bars}</table>"

    def _broad_bands(self, tokens):
        names = [n for n in self.state.model.vocabulary.broad_band_magnitudes if n in tokens]
        text = " · ".join(f"{n[4:]} {tokens[n].iat[0]:.2f}" for n in names if np.isfinite(tokens[n].iat[0]))
        return f"<p style='font-size:12px;width:220px'><b>Broad bands [AB]:</b> {text or 'none'}</p>"

    def __panel__(self):
        return self._body
